// One host's run: facts (one batched exec per run-as user), pure plans,
// then (unless --check) apply in dependency order with watch/onchanges,
// re-planning after upstream changes and verifying each applied resource.

import { errorMessage, HostError } from '../core/diagnostics.js';
import type { ApplyContext, Change, Facts, PlanContext } from '../core/resource.js';
import type { ResourceResult, ResourceStatus } from '../core/result.js';
import type { Graph } from '../graph/graph.js';
import type { Host } from '../inventory/inventory.js';
import type { Resource } from '../state/compile.js';
import type { ExecResult, Transport } from '../transport/transport.js';
import { gatherFacts } from './facts.js';

export type HostPhase = 'connecting' | 'facts' | 'planning' | 'applying' | 'done' | 'failed';
export interface HostEvent {
  host: string;
  phase: HostPhase;
  done?: number;
  total?: number;
  resource?: string;
}

export interface HostRunOptions {
  check: boolean;
  statesDir: string;
  signal: AbortSignal;
  /** Opens a fresh transport to the same host (for ApplyContext.canReconnect). */
  reconnect?(): Promise<Transport>;
  onEvent?(e: HostEvent): void;
}

interface Planned {
  facts: Facts;
  changes: Change[];
  error?: { message: string; hint?: string };
}

export class HostRun {
  private readonly results = new Map<Resource, ResourceResult>();
  private readonly planned = new Map<Resource, Planned>();

  constructor(
    private readonly host: Host,
    private readonly graph: Graph,
    private readonly transport: Transport,
    private readonly opts: HostRunOptions,
  ) {}

  private planContext(r: Resource): PlanContext {
    return { host: { name: this.host.name, sshPort: this.host.port, loginUser: this.host.user }, statesDir: this.opts.statesDir, sensitive: r.sensitive };
  }

  private applyContext(r: Resource): ApplyContext {
    const exec = (cmd: { script: string; stdin?: string | Buffer; runAs?: string }): Promise<ExecResult> =>
      this.transport.exec(cmd.script, { stdin: cmd.stdin, runAs: cmd.runAs, signal: this.opts.signal });
    return {
      ...this.planContext(r),
      signal: this.opts.signal,
      exec,
      canReconnect: async () => {
        if (!this.opts.reconnect) return true;
        try {
          const fresh = await this.opts.reconnect();
          try {
            return (await fresh.exec('true')).code === 0;
          } finally {
            await fresh.close();
          }
        } catch {
          return false;
        }
      },
      run: async (cmd, purpose) => {
        const res = await exec(cmd);
        if (res.code !== 0) {
          const detail = (res.stderr.trim() || res.stdout.trim()).split('\n').slice(-4).join(' / ');
          throw new HostError(`${purpose} failed (exit ${res.code})${detail ? `: ${detail}` : ''}`);
        }
        return res;
      },
    };
  }

  /** Facts for some resources (one exec per run-as user), then their pure plans. */
  private async plan(resources: Resource[]): Promise<Map<Resource, Planned>> {
    const facts = await gatherFacts(
      this.transport,
      resources.map((r) => ({ owner: r, queries: r.type.facts(r.spec, this.planContext(r)) })),
      this.opts.signal,
    );
    const out = new Map<Resource, Planned>();
    for (const r of resources) {
      const f = facts.get(r)!;
      try {
        out.set(r, { facts: f, changes: r.type.plan(r.spec, f, this.planContext(r)) });
      } catch (e) {
        out.set(r, { facts: f, changes: [], error: { message: `cannot plan: ${errorMessage(e)}`, hint: (e as HostError).hint } });
      }
    }
    return out;
  }

  private record(r: Resource, status: ResourceStatus, reason: string, started: number, extra: Partial<ResourceResult> = {}): void {
    this.results.set(r, { id: r.id, naturalId: r.naturalId, kind: r.kind, status, reason, changes: [], durationMs: Date.now() - started, ...extra });
  }

  private upstreamStatus(r: Resource) {
    const ups = this.graph.upstream(r);
    const st = (kind?: string) => ups.filter((e) => !kind || e.kind === kind).map((e) => ({ id: e.from.id, status: this.results.get(e.from)?.status }));
    const changed = (s?: ResourceStatus) => s === 'changed' || s === 'would-change';
    return {
      blocked: st().find((u) => u.status === 'failed' || u.status === 'skipped'),
      anyChanged: st().some((u) => changed(u.status)),
      hasOnchanges: r.requisites.onchanges.length > 0,
      onchangesFired: st('onchanges').filter((u) => changed(u.status)).map((u) => u.id),
      watchFired: st('watch').filter((u) => changed(u.status)).map((u) => u.id),
    };
  }

  async run(): Promise<ResourceResult[]> {
    const order = this.graph.order;
    this.opts.onEvent?.({ host: this.host.name, phase: 'facts' });
    const initial = await this.plan(order);
    initial.forEach((p, r) => this.planned.set(r, p));
    this.opts.onEvent?.({ host: this.host.name, phase: this.opts.check ? 'planning' : 'applying', done: 0, total: order.length });
    let done = 0;
    for (const r of order) {
      if (!this.results.has(r)) {
        if (this.opts.signal.aborted) this.record(r, 'skipped', 'not attempted: the run was interrupted', Date.now());
        else if (this.opts.check) this.checkOne(r);
        else await this.applyOne(r);
      }
      this.opts.onEvent?.({ host: this.host.name, phase: this.opts.check ? 'planning' : 'applying', done: ++done, total: order.length, resource: r.id });
    }
    return order.map((r) => this.results.get(r)!);
  }

  private checkOne(r: Resource): void {
    const started = Date.now();
    const p = this.planned.get(r)!;
    const up = this.upstreamStatus(r);
    if (p.error) return this.record(r, 'failed', p.error.message, started, { hint: p.error.hint, where: r.where });
    if (up.blocked) return this.record(r, 'skipped', `requisite ${up.blocked.id} ${up.blocked.status}`, started);
    if (up.hasOnchanges && up.onchangesFired.length === 0) return this.record(r, 'unchanged', 'no change in its onchanges requisites', started);
    const fired = [...up.watchFired, ...up.onchangesFired];
    const notified = fired.length && r.type.onWatch ? [`would ${r.type.watchVerb?.(r.spec) ?? 'react'} (${fired.join(', ')} would change)`] : undefined;
    if (p.changes.length === 0 && !notified) return this.record(r, 'unchanged', 'in sync', started);
    const reason = p.changes.length ? `would change: ${p.changes.map((c) => c.path).join(', ')}` : notified![0];
    const caveat = up.anyChanged ? ' (planned against current state; upstream changes come first)' : '';
    this.record(r, 'would-change', reason + caveat, started, { changes: p.changes, notified });
  }

  private async applyOne(r: Resource): Promise<void> {
    const started = Date.now();
    const up = this.upstreamStatus(r);
    if (up.blocked) return this.record(r, 'skipped', `requisite ${up.blocked.id} ${up.blocked.status}`, started);
    if (up.hasOnchanges && up.onchangesFired.length === 0) return this.record(r, 'unchanged', 'no change in its onchanges requisites', started);
    const ctx = this.applyContext(r);
    try {
      // Upstream changes can change what this resource sees (a package that
      // ships a config file, a user that now exists): read its facts again.
      let p = this.planned.get(r)!;
      if (up.anyChanged) p = (await this.plan([r])).get(r)!;
      if (p.error) return this.record(r, 'failed', p.error.message, started, { hint: p.error.hint, where: r.where });
      if (p.changes.length) {
        if (r.type.group && r.type.applyGroup) return await this.applyGroup(r, p, ctx, started);
        await r.type.apply(r.spec, p.changes, p.facts, ctx);
        const failure = await this.verify([r]);
        if (failure.has(r)) return this.record(r, 'failed', failure.get(r)!, started, { changes: p.changes, where: r.where });
      }
      const notified = await this.react(r, p, ctx, [...up.watchFired, ...up.onchangesFired]);
      if (!p.changes.length && !notified.length) return this.record(r, 'unchanged', 'in sync', started);
      const reason = [p.changes.length ? `changed: ${p.changes.map((c) => c.path).join(', ')}` : '', ...notified].filter(Boolean).join('; ');
      this.record(r, 'changed', reason, started, { changes: p.changes, notified: notified.length ? notified : undefined });
    } catch (e) {
      this.record(r, 'failed', errorMessage(e), started, { hint: (e as HostError).hint, changes: this.planned.get(r)?.changes ?? [], where: r.where });
    }
  }

  private async react(r: Resource, p: Planned, ctx: ApplyContext, fired: string[]): Promise<string[]> {
    if (!fired.length || !r.type.onWatch) return [];
    const did = await r.type.onWatch(r.spec, p.facts, p.changes, ctx);
    return did ? [`${did} (${fired.join(', ')} changed)`] : [];
  }

  /** Re-read facts and require empty plans: a resource that does not converge has failed. */
  private async verify(resources: Resource[]): Promise<Map<Resource, string>> {
    const again = await this.plan(resources);
    const failures = new Map<Resource, string>();
    for (const [r, p] of again) {
      if (p.error) failures.set(r, p.error.message);
      else if (p.changes.length) failures.set(r, `applied, but still differs in: ${p.changes.map((c) => c.path).join(', ')} (the change did not take effect)`);
    }
    return failures;
  }

  /**
   * Merge r with every later resource of its group that is ready now (all its
   * upstream done, none changed, not gated by onchanges): one apt transaction.
   */
  private async applyGroup(r: Resource, p: Planned, ctx: ApplyContext, started: number): Promise<void> {
    const members = [r];
    for (const o of this.graph.order) {
      if (o === r || this.results.has(o) || o.type.group !== r.type.group || o.requisites.onchanges.length) continue;
      const ups = this.graph.upstream(o);
      const ready = ups.every((e) => {
        const s = this.results.get(e.from)?.status;
        return s === 'unchanged';
      });
      const op = this.planned.get(o)!;
      if (ready && !op.error && op.changes.length) members.push(o);
    }
    const items = members.map((m) => ({ spec: m.spec, changes: m === r ? p.changes : this.planned.get(m)!.changes, facts: m === r ? p.facts : this.planned.get(m)!.facts }));
    try {
      await r.type.applyGroup!(items, ctx);
    } catch (e) {
      for (const [i, m] of members.entries()) this.record(m, 'failed', errorMessage(e), started, { hint: (e as HostError).hint, changes: items[i].changes, where: m.where });
      return;
    }
    const failures = await this.verify(members);
    for (const [i, m] of members.entries()) {
      const f = failures.get(m);
      const with_ = members.length > 1 ? ` (one ${r.type.group} transaction with ${members.length - 1} more)` : '';
      if (f) this.record(m, 'failed', f, started, { changes: items[i].changes, where: m.where });
      else this.record(m, 'changed', `changed: ${items[i].changes.map((c) => c.path).join(', ')}${with_}`, started, { changes: items[i].changes });
    }
  }
}
