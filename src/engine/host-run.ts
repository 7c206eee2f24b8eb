// One host's run: facts (one batched exec per run-as user), pure plans,
// then (unless --check) apply in dependency order with watch/onchanges,
// re-planning after upstream changes and verifying each applied resource.
// A converged host costs exactly the fact exec: the run lock and the
// reaction journal are touched only when something is to be done.

import { errorMessage, HostError } from '../core/diagnostics.js';
import type { ApplyContext, Change, Facts, PlanContext } from '../core/resource.js';
import type { LastConverged, ResourceResult, ResourceStatus } from '../core/result.js';
import type { Graph } from '../graph/graph.js';
import type { Host } from '../inventory/inventory.js';
import type { Resource } from '../state/compile.js';
import { commandFailure, type ExecResult, type Held, type Transport } from '../transport/transport.js';
import { classify, lastConverged, nextRecord, reactionClass, recordQuery, runOrigin, writeRecord, type AppliedRecord, type RunOrigin } from './applied-record.js';
import { gatherFacts, type FactRequest } from './facts.js';
import { sameFacts } from './facts-cache.js';
import { HOST_FACTS_SCRIPT, parseHostFacts, type HostFacts } from './host-facts.js';
import { factDifferences, hostPlan, type HostPlan } from './saved-plan.js';
import { acquireRunLock, activeFile, addPending, clearPending, DEFAULT_STATE_DIR, journalQuery, type LockResult } from './host-state.js';

export type HostPhase = 'connecting' | 'facts' | 'planning' | 'waiting-lock' | 'applying' | 'done' | 'failed';
export interface HostEvent {
  host: string;
  phase: HostPhase;
  /** Resources finished so far, of total. */
  done?: number;
  total?: number;
  /** The resource being planned or applied now. */
  resource?: string;
  /** What the host is waiting for, e.g. "waiting for the dpkg lock (held by ...)". */
  note?: string;
  /** A resource just finished (its result is final): plain progress prints a line for it. */
  finished?: { id: string; status: ResourceStatus; seconds: number };
}

export interface HostRunOptions {
  check: boolean;
  statesDir: string;
  signal: AbortSignal;
  /** Seconds to wait for another run's lock; undefined refuses at once. */
  waitLock?: number;
  /** converge's state directory on the host (lock, journal); /var/lib/converge by default. */
  stateDir?: string;
  /** --check --out: receives what was planned, as hashes (saved-plan.ts). */
  onPlan?(plan: HostPlan): void;
  /** apply-plan: the host's saved plan; the run is refused when the host's facts differ from it. */
  expectPlan?: HostPlan;
  /** Stamped into the host's applied record; by default read from statesDir. */
  origin?: RunOrigin;
  /** Opens a fresh transport to the same host (for ApplyContext.canReconnect). */
  reconnect?(): Promise<Transport>;
  /** Cross-host requisites (fleet/fleet-run.ts): what this host's resources wait for on other hosts. */
  remote?: RemoteRequisites;
  /** Rolling changes (fleet/rollout.ts), for resources with a rolling option. */
  rollout?: Rollout;
  onEvent?(e: HostEvent): void;
  /**
   * The host's facts ride in the first fact batch: when they differ from
   * those the host was compiled with, it is compiled again and planned
   * again (a second exec); a converged host with unchanged facts costs one.
   */
  hostFacts?: {
    compiledWith?: HostFacts;
    recompile(facts: HostFacts): Graph;
    /** The facts as read, when they differ from compiledWith (to keep for the next run). */
    read(facts: HostFacts): void;
  };
}

/** How a resource of another host ended (or, outside --target, whether it is in sync). */
export interface RemoteOutcome {
  status: ResourceStatus;
  reason?: string;
}

export interface RemoteRequisites {
  /** The other hosts' resources r waits for. */
  upstream(r: Resource): { kind: 'require' | 'watch' | 'onchanges'; host: string; id: string }[];
  wait(host: string, id: string): Promise<RemoteOutcome>;
  /** This host's resource r is done: hosts waiting on it go on. */
  settle(r: Resource, outcome: RemoteOutcome): void;
}

/** How a change made through a rollout ended: what the host's run records. */
export interface ChangeOutcome {
  status: ResourceStatus;
  reason: string;
  extra?: Partial<ResourceResult>;
}

/** Rolling changes (fleet/rollout.ts): a resource with a rolling option changes when its host's turn comes. */
export interface Rollout {
  /** What --check says about how r's change would be made. */
  note(r: Resource): string;
  /** Makes change() in this host's turn (out of the balancer's pool, health-checked): its outcome, or why it was not made. */
  through(r: Resource, exec: (script: string) => Promise<ExecResult>, change: () => Promise<ChangeOutcome>): Promise<ChangeOutcome>;
}

interface Planned {
  facts: Facts;
  changes: Change[];
  error?: { message: string; hint?: string };
  /** Facts could not be read as the runas user (yet). */
  unavailable?: boolean;
}

const JOURNAL = Symbol('journal');
const HOST_FACTS = Symbol('host facts');
const hostFactsQuery = { key: 'host-facts', script: HOST_FACTS_SCRIPT, parse: parseHostFacts };
const NO_TRIGGERS: readonly string[] = Object.freeze([]);
const changedStatus = (s?: ResourceStatus) => s === 'changed' || s === 'would-change';
const blockedBy = (b: { id: string; status: ResourceStatus; reason?: string }) => `requisite ${b.id} ${b.status}${b.reason && b.status !== 'skipped' ? `: ${b.reason}` : b.reason ? ` (${b.reason})` : ''}`;

/** What HostRun.upstreamStatus gathers from a resource's upstream requisites, one at a time (see). */
interface UpstreamSeen {
  blocked: { id: string; status: ResourceStatus; reason?: string } | undefined;
  anyChanged: boolean;
  onchangesFired: boolean;
  fired: string[] | undefined;
}

/** One upstream requisite's outcome, into `up`: a function rather than a closure made per resource of every host. */
function see(up: UpstreamSeen, kind: string, name: string, status: ResourceStatus | undefined, reason?: string): void {
  if (!up.blocked && (status === 'failed' || status === 'skipped')) up.blocked = { id: name, status, reason };
  if (!changedStatus(status)) return;
  up.anyChanged = true;
  if (kind === 'watch' || kind === 'onchanges') (up.fired ??= []).push(name);
  if (kind === 'onchanges') up.onchangesFired = true;
}

/**
 * The lock, or undefined when the run is interrupted while waiting for it
 * (--wait-lock): nothing has changed yet, so that is a safe point to stop.
 * A lock that comes later is let go at once.
 */
async function unlessAborted(lock: Promise<LockResult>, signal: AbortSignal): Promise<LockResult | undefined> {
  let onAbort = () => {};
  const aborted = new Promise<undefined>((resolve) => {
    onAbort = () => resolve(undefined);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    const got = await Promise.race([lock, aborted]);
    if (!got) lock.then((late) => late.held.release(), () => undefined);
    return got;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

export class HostRun {
  private readonly results = new Map<Resource, ResourceResult>();
  private planned = new Map<Resource, Planned>();
  /** Reactions owed on the host's journal (resource ids)... */
  private pending = new Set<string>();
  /** ...and those of them an earlier, interrupted run left. */
  private owedFromEarlier = new Set<string>();
  /** What converge last applied or verified here (applied-record.ts), as the run found it. */
  private applied: AppliedRecord | undefined;
  /** How the other hosts' resources each resource waited for ended. */
  private readonly remoteDone = new Map<Resource, { kind: string; name: string; outcome: RemoteOutcome }[]>();
  /** The run lock, once taken. */
  private lock: Held | undefined;
  /** Plans read ahead, in the exec of an earlier step (planAhead): each used once, in its resource's turn. */
  private readonly ahead = new Map<Resource, Planned>();

  get lastConverged(): LastConverged | undefined {
    return lastConverged(this.applied);
  }

  constructor(
    private readonly host: Host,
    private graph: Graph,
    private readonly transport: Transport,
    private readonly opts: HostRunOptions,
  ) {
    this.stateDir = opts.stateDir ?? DEFAULT_STATE_DIR;
    const context = (sensitive: boolean): PlanContext => ({ host: { name: host.name, sshPort: host.port, loginUser: host.user }, statesDir: opts.statesDir, sensitive });
    this.planContexts = [context(false), context(true)];
  }

  private readonly stateDir: string;

  private event(phase: HostPhase, extra: Partial<HostEvent> = {}): void {
    this.opts.onEvent?.({ host: this.host.name, phase, ...extra });
  }

  /** The two plan contexts of this host (not sensitive, sensitive): shared by its resources rather than made for each. */
  private readonly planContexts: readonly [PlanContext, PlanContext];

  private planContext(r: Resource): PlanContext {
    return this.planContexts[r.sensitive ? 1 : 0];
  }

  private applyContext(r: Resource): ApplyContext {
    // Every change runs under the run lock's companion (host-state.ts), and
    // is never signalled once started: an interrupted run lets it finish.
    const exec = (cmd: { script: string; stdin?: string | Buffer; runAs?: string }): Promise<ExecResult> =>
      this.transport.exec(cmd.script, { stdin: cmd.stdin, runAs: cmd.runAs, guard: activeFile(this.stateDir), onProgress: (note) => this.event('applying', { resource: r.id, note }) });
    return {
      ...this.planContext(r),
      signal: this.opts.signal,
      exec,
      run: async (cmd, purpose) => {
        const res = await exec(cmd);
        if (res.code !== 0) throw commandFailure(purpose, res, this.host.name);
        return res;
      },
      canReconnect: async () => {
        // No way to open a fresh connection is no proof that one would get in: fail closed.
        if (!this.opts.reconnect) return false;
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
    };
  }

  /** Facts for some resources (one exec per run-as user), then their pure plans. */
  /** What a run asks a host first: every resource's facts and the reaction journal (the benchmark's floor sends exactly this). */
  factRequests(resources: Resource[], withJournal: boolean, withHostFacts = false): FactRequest<Resource | typeof JOURNAL | typeof HOST_FACTS>[] {
    const requests: FactRequest<Resource | typeof JOURNAL | typeof HOST_FACTS>[] = resources.map((r) => ({ owner: r, queries: r.type.facts(r.spec, this.planContext(r)) }));
    if (withJournal) requests.push({ owner: JOURNAL, queries: { pending: journalQuery(this.stateDir), applied: recordQuery(this.stateDir) } });
    if (withHostFacts) requests.push({ owner: HOST_FACTS, queries: { facts: hostFactsQuery } });
    return requests;
  }

  /** The facts of the first batch, when they differ from those the host was compiled with: compile again. */
  private recompileIfFactsChanged(fresh: HostFacts): boolean {
    const hf = this.opts.hostFacts!;
    if (sameFacts(fresh, hf.compiledWith)) return false;
    hf.read(fresh);
    try {
      this.graph = hf.recompile(fresh);
    } catch (e) {
      throw new HostError(`with the host's facts as they are now, its states do not compile: ${errorMessage(e)}`, 'fix the states (or the inventory) for this host; `converge facts` shows its facts');
    }
    return true;
  }

  private async plan(resources: Resource[], withJournal = false, withHostFacts = false): Promise<Map<Resource, Planned>> {
    // The requests are made by a function, not kept (their scripts would live while the batch is in flight),
    // and the answers are read here, after the await (see gatherFacts).
    const { facts, unavailable, failed } = (await gatherFacts(this.transport, () => this.factRequests(resources, withJournal, withHostFacts)))();
    for (const owner of [JOURNAL, HOST_FACTS] as const) {
      const why = failed.get(owner);
      if (why) throw new HostError(why, 'the query is converge\'s own: run `converge facts` on the host and report the error');
    }
    // factRequests puts the journal's and the host facts' requests after the resources'.
    if (withJournal) {
      const journal = facts[resources.length]!;
      this.pending = new Set(journal.pending as string[]);
      this.owedFromEarlier = new Set(this.pending);
      this.applied = journal.applied as AppliedRecord | undefined;
    }
    if (withHostFacts && this.recompileIfFactsChanged(facts[facts.length - 1]!.facts as HostFacts)) return this.plan(this.graph.order, withJournal);
    const out = new Map<Resource, Planned>();
    for (let i = 0; i < resources.length; i++) {
      const r = resources[i];
      const missing = unavailable.get(r);
      if (missing) {
        out.set(r, { facts: {}, changes: [], error: { message: `cannot plan: ${missing}`, hint: 'a runas user must exist before its resources run: manage the user and require it' }, unavailable: true });
        continue;
      }
      const why = failed.get(r);
      if (why) {
        out.set(r, { facts: {}, changes: [], error: { message: `cannot plan: ${why}`, hint: 'the query reads the host without changing it: run its script there by hand to see why it fails' } });
        continue;
      }
      const f = facts[i]!;
      try {
        out.set(r, { facts: f, changes: r.type.plan(r.spec, f, this.planContext(r)) });
      } catch (e) {
        out.set(r, { facts: f, changes: [], error: { message: `cannot plan: ${errorMessage(e)}`, hint: (e as HostError).hint } });
      }
    }
    return out;
  }

  private record(r: Resource, status: ResourceStatus, reason: string, started: number, extra: Partial<ResourceResult> = {}): void {
    // Every failure says what to do next, even when the code that failed had no better hint.
    const hint = extra.hint ?? (status === 'failed' ? `fix the cause named above on ${this.host.name}, or change the resource at ${r.where.file}:${r.where.line}, then run again` : undefined);
    const durationMs = Date.now() - started;
    // A pure reaction, or a resource that runs only on its onchanges (a migration), is the kind of change that triggered it.
    const cls = changedStatus(status) ? ((!extra.changes?.length && extra.notified) || this.hasOnchanges(r) ? this.triggerClass(r) : classify(r, this.applied)) : undefined;
    this.results.set(r, { id: r.id, naturalId: r.naturalId, kind: r.kind, status, class: cls, reason, changes: [], durationMs, ...extra, hint });
    this.opts.remote?.settle(r, { status, reason });
    // Per resource of every host: its event is built only for a listener.
    if (this.opts.onEvent) this.event(this.opts.check ? 'planning' : 'applying', { done: this.results.size, total: this.graph.order.length, finished: { id: r.id, status, seconds: durationMs / 1000 } });
  }

  /** The class of a reaction without changes of its own: that of what triggered it. */
  private triggerClass(r: Resource) {
    const fired = this.graph.upstream(r).filter((e) => e.kind === 'watch' || e.kind === 'onchanges');
    return reactionClass(fired.map((e) => this.results.get(e.from)?.class));
  }

  /** At the end of an apply: the record of what is now in sync here, written only when it differs. */
  private async updateRecord(): Promise<void> {
    const inSync = this.graph.order.filter((r) => {
      const res = this.results.get(r);
      return res?.status === 'changed' || (res?.status === 'unchanged' && res.reason === 'in sync');
    });
    const next = nextRecord(this.applied, inSync, this.opts.origin ?? runOrigin(this.opts.statesDir));
    if (next) await writeRecord(this.transport, this.stateDir, next);
  }

  /** How r's upstream went: blocked by a failure, changed, and which watch/onchanges triggers fired. */
  private upstreamStatus(r: Resource) {
    // Local edges and other hosts' outcomes read in place: this runs for every resource of every host.
    const up: UpstreamSeen = { blocked: undefined, anyChanged: false, onchangesFired: false, fired: undefined };
    for (let k = 0, n = this.graph.upstreamCount(r); k < n; k++) {
      const from = this.graph.upstreamFrom(r, k);
      see(up, this.graph.upstreamKind(r, k), from.id, this.results.get(from)?.status);
    }
    // Most resources waited on no other host: no loop (over a shared frozen empty list it made an iterator per call).
    const remote = this.remoteDone.get(r);
    if (remote) for (const u of remote) see(up, u.kind, u.name, u.outcome.status, u.outcome.reason);
    const owed = this.owedFromEarlier.has(r.id);
    // Most resources have no trigger: they share one empty list.
    const triggers = up.fired || owed ? [up.fired && `${up.fired.join(', ')} ${this.opts.check ? 'would change' : 'changed'}`, owed && 'owed by an earlier run that did not finish it'].filter((t): t is string => !!t) : NO_TRIGGERS;
    return {
      blocked: up.blocked,
      anyChanged: up.anyChanged,
      /** onchanges present and nothing triggered it */
      gated: !owed && !up.onchangesFired && this.hasOnchanges(r),
      /** Why r must react, e.g. "conf changed", or none. */
      triggers,
    };
  }

  async run(): Promise<ResourceResult[]> {
    this.event('facts');
    this.planned = await this.plan(this.graph.order, true, !!this.opts.hostFacts);
    // The graph the plans are of: compiled again when the host's facts changed.
    const order = this.graph.order;
    try {
      // Another run went first: what we planned may no longer hold.
      if (!this.opts.check && this.somethingToDo() && (await this.takeLock())?.waited) this.planned = await this.plan(order, true);
      this.savedPlan(order);
      const phase = this.opts.check ? 'planning' : 'applying';
      for (let done = 0; done < order.length; done++) {
        const r = order[done];
        // Before, not after: a slow resource shows while it runs.
        if (this.opts.onEvent) this.event(phase, { done, total: order.length, resource: r.id });
        if (!this.results.has(r)) {
          // Most resources wait for no other host: no promise to await for them.
          if (this.opts.remote?.upstream(r).length) await this.awaitRemote(r, phase);
          if (this.opts.signal.aborted) this.record(r, 'skipped', 'not attempted: the run was interrupted', Date.now());
          else if (this.opts.check) this.checkOne(r);
          else await this.applyOne(r);
        }
      }
      // Not when interrupted while waiting for the lock: nothing was applied or verified.
      if (!this.opts.check && (this.lock || !this.somethingToDo())) await this.updateRecord();
    } finally {
      await this.lock?.release();
    }
    const results = order.map((r) => this.results.get(r)!);
    // This run (and the promise of its first plan) were promoted while its
    // batch was in flight: emptied, its plans (their facts and the outputs
    // they are cut from) are not kept by them through young-generation GCs.
    this.planned.clear();
    return results;
  }

  /** The run lock (once): undefined when the run was interrupted while waiting for it. */
  private async takeLock(): Promise<LockResult | undefined> {
    if (this.lock) return undefined;
    this.event('waiting-lock');
    const got = await unlessAborted(
      acquireRunLock(this.transport, this.stateDir, this.opts.waitLock, (note) => this.event('waiting-lock', { note })),
      this.opts.signal,
    );
    this.lock = got?.held;
    return got;
  }

  /** Waits until the other hosts' resources r names are done (fleet/fleet-run.ts), and keeps how they ended. */
  private async awaitRemote(r: Resource, phase: HostPhase): Promise<void> {
    const up = this.opts.remote!.upstream(r);
    this.event(phase, { resource: r.id, note: `waiting for ${up.map((u) => `${u.id} on ${u.host}`).join(', ')}` });
    const outcomes = await Promise.all(up.map((u) => this.opts.remote!.wait(u.host, u.id)));
    this.remoteDone.set(r, up.map((u, i) => ({ kind: u.kind, name: `${u.id} on ${u.host}`, outcome: outcomes[i] })));
  }

  /** r runs only when an onchanges requisite changed: its own onchanges, or another's onchanges_in. */
  private hasOnchanges(r: Resource): boolean {
    for (let k = 0, n = this.graph.upstreamCount(r); k < n; k++) if (this.graph.upstreamKind(r, k) === 'onchanges') return true;
    return !!this.opts.remote?.upstream(r).some((u) => u.kind === 'onchanges');
  }

  /** Hand the plan to --out, or hold it against a saved plan: a host that moved since is refused before anything is applied. */
  private savedPlan(order: Resource[]): void {
    if (!this.opts.onPlan && !this.opts.expectPlan) return;
    const planned = order.map((r) => ({ resource: r, ...this.planned.get(r)! }));
    this.opts.onPlan?.(hostPlan(planned));
    const moved = this.opts.expectPlan && factDifferences(this.opts.expectPlan, planned);
    if (moved) throw new HostError(`refused: ${moved}`, 'nothing was applied to this host: check again (--check --out) and review the new plan');
  }

  private somethingToDo(): boolean {
    return this.pending.size > 0 || [...this.planned.values()].some((p) => p.changes.length > 0 || p.error);
  }

  private checkOne(r: Resource): void {
    const started = Date.now();
    const p = this.planned.get(r)!;
    const up = this.upstreamStatus(r);
    // The user it runs as is created upstream in this run: plan it then.
    if (p.unavailable && up.anyChanged) return this.record(r, 'would-change', `cannot be planned until upstream changes apply (${p.error!.message.replace(/^cannot plan: /, '')})`, started);
    if (p.error) return this.record(r, 'failed', p.error.message, started, { hint: p.error.hint, where: r.where });
    if (up.blocked) return this.record(r, 'skipped', blockedBy(up.blocked), started);
    if (up.gated) return this.record(r, 'unchanged', 'no change in its onchanges requisites', started);
    const notified = up.triggers.length && r.type.onWatch ? [`would ${r.type.watchVerb?.(r.spec) ?? 'react'} (${up.triggers.join('; ')})`] : undefined;
    if (p.changes.length === 0 && !notified) return this.record(r, 'unchanged', 'in sync', started);
    const reason = p.changes.length ? `would change: ${p.changes.map((c) => c.path).join(', ')}` : notified![0];
    const caveat = up.anyChanged ? ' (planned against current state; upstream changes come first)' : '';
    const rolled = r.rolling && this.opts.rollout ? `; ${this.opts.rollout.note(r)}` : '';
    this.record(r, 'would-change', reason + caveat + rolled, started, { changes: p.changes, notified });
  }

  private async applyOne(r: Resource): Promise<void> {
    const started = Date.now();
    const up = this.upstreamStatus(r);
    if (up.blocked) return this.record(r, 'skipped', blockedBy(up.blocked), started);
    if (up.gated) return this.record(r, 'unchanged', 'no change in its onchanges requisites', started);
    // Only another host's change moved this one (a reaction, or facts to read again): the lock is taken now.
    if (!this.lock && up.anyChanged && !(await this.takeLock())) return this.record(r, 'skipped', 'not attempted: the run was interrupted', started);
    const ctx = this.applyContext(r);
    try {
      // Upstream changes can change what this resource sees (a package that
      // ships a config file, a user that now exists): read its facts again.
      let p = this.planned.get(r)!;
      if (up.anyChanged) p = await this.replan(r);
      if (p.error) return this.record(r, 'failed', p.error.message, started, { hint: p.error.hint, where: r.where });
      const acts = p.changes.length > 0 || (up.triggers.length > 0 && !!r.type.onWatch);
      if (acts && r.rolling && this.opts.rollout) return await this.rolled(r, p, ctx, up.triggers, started);
      if (p.changes.length && r.type.group) return await this.applyGroup(r, p, ctx, started);
      const o = await this.change(r, p, ctx, up.triggers);
      this.record(r, o.status, o.reason, started, o.extra);
    } catch (e) {
      this.record(r, 'failed', errorMessage(e), started, { hint: (e as HostError).hint, changes: this.planned.get(r)?.changes ?? [], where: r.where });
    }
  }

  /** r's changes applied and verified, then its reaction (restart ...): what to record. */
  private async change(r: Resource, p: Planned, ctx: ApplyContext, triggers: readonly string[]): Promise<ChangeOutcome> {
    if (p.changes.length) {
      await r.type.apply(r.spec, p.changes, p.facts, ctx);
      const failure = await this.verify([r]);
      if (failure.has(r)) return { status: 'failed', reason: failure.get(r)!, extra: { changes: p.changes, where: r.where } };
      await this.owe([r]);
    }
    const notified = await this.react(r, p, ctx, triggers);
    if (!p.changes.length && !notified.length) return { status: 'unchanged', reason: 'in sync' };
    const reason = [p.changes.length ? `changed: ${p.changes.map((c) => c.path).join(', ')}` : '', ...notified].filter(Boolean).join('; ');
    return { status: 'changed', reason, extra: { changes: p.changes, notified: notified.length ? notified : undefined } };
  }

  /** r's change made in this host's turn of its rollout (alone: never merged into a package transaction). */
  private async rolled(r: Resource, p: Planned, ctx: ApplyContext, triggers: readonly string[], started: number): Promise<void> {
    const o = await this.opts.rollout!.through(r, (script) => ctx.exec({ script }), () => this.change(r, p, ctx, triggers));
    // A restart made but not proven healthy is owed again: the next run makes it, in its turn, and puts the host back.
    if (o.status === 'failed' && r.type.onWatch && !this.pending.has(r.id)) {
      await addPending(this.transport, this.stateDir, [r.id]);
      this.pending.add(r.id);
    }
    this.record(r, o.status, o.reason, started, { where: o.status === 'failed' ? r.where : undefined, ...o.extra });
  }

  /**
   * Changed resources owe their watchers a reaction: write that to the
   * host's journal before going on, so an interruption cannot lose it.
   */
  private async owe(changed: Resource[]): Promise<void> {
    const ids = changed.flatMap((c) => this.graph.downstream(c).filter((e) => e.kind === 'watch' || e.kind === 'onchanges').map((e) => e.to.id));
    const fresh = [...new Set(ids)].filter((id) => !this.pending.has(id));
    if (!fresh.length) return;
    await addPending(this.transport, this.stateDir, fresh);
    fresh.forEach((id) => this.pending.add(id));
  }

  private async react(r: Resource, p: Planned, ctx: ApplyContext, triggers: readonly string[]): Promise<string[]> {
    if (!triggers.length || !r.type.onWatch) return [];
    const did = await r.type.onWatch(r.spec, p.facts, p.changes, ctx);
    if (this.pending.delete(r.id)) await clearPending(this.transport, this.stateDir, r.id);
    return did ? [`${did} (${triggers.join('; ')})`] : [];
  }

  /** Re-read facts and require empty plans: a resource that does not converge has failed. */
  private async verify(resources: Resource[]): Promise<Map<Resource, string>> {
    const again = await this.planAhead(resources, resources);
    const failures = new Map<Resource, string>();
    for (const r of resources) {
      const p = again.get(r)!;
      if (p.error) failures.set(r, p.error.message);
      else if (p.changes.length) failures.set(r, `applied, but still differs in: ${p.changes.map((c) => c.path).join(', ')} (the change did not take effect)`);
    }
    return failures;
  }

  /** r's plan after an upstream change: read ahead by an earlier step, or now. */
  private async replan(r: Resource): Promise<Planned> {
    const early = this.ahead.get(r);
    this.ahead.delete(r);
    // A query that failed early (a runas user a later, unrelated resource creates) is asked again in r's turn.
    if (early && !early.error) return early;
    return (await this.planAhead([r], [])).get(r)!;
  }

  /**
   * The plans of `resources`, read in one exec with those of every later
   * resource that is ready once `finishing` is done: its upstream on this
   * host all done (or finishing), one of them changed (or finishing), none
   * failed, nothing awaited from another host. All a resource's upstream
   * changes are made by then, which is what its re-plan promises (reading
   * facts after them), so the first apply's chains of package -> directory
   * -> file -> service cost one exec per step instead of two: each
   * resource's facts ride in its last upstream's verification.
   */
  private async planAhead(resources: Resource[], finishing: readonly Resource[]): Promise<Map<Resource, Planned>> {
    const later = this.graph.order.filter((o) => !this.results.has(o) && !this.ahead.has(o) && !resources.includes(o) && !this.opts.remote?.upstream(o).length && !!this.settled(o, finishing)?.changed);
    const plans = await this.plan(later.length ? [...resources, ...later] : resources);
    for (const o of later) this.ahead.set(o, plans.get(o)!);
    return plans;
  }

  /**
   * o's plan when o can join a group's step now: its upstream all done,
   * none failed, nothing to react to, no onchanges gate, no rollout, no
   * other host to wait for, and a plan read after its upstream's changes
   * (read ahead, see planAhead) when any changed.
   */
  private readyPlan(o: Resource): Planned | undefined {
    if (this.results.has(o) || this.hasOnchanges(o) || o.rolling || this.owedFromEarlier.has(o.id) || this.opts.remote?.upstream(o).length) return undefined;
    const up = this.settled(o);
    if (!up || (up.watchFired && o.type.onWatch)) return undefined;
    const p = up.changed ? this.ahead.get(o) : this.planned.get(o);
    return p && !p.error && p.changes.length ? p : undefined;
  }

  /**
   * How o's upstream on this host stands once all of it is done (or among
   * `finishing`, counted as changed) and none failed or was skipped: whether
   * one changed, and whether a watched one did; undefined before then.
   * Read-ahead (which facts to read) and groups (who may join) both ask it.
   */
  private settled(o: Resource, finishing: readonly Resource[] = []): { changed: boolean; watchFired: boolean } | undefined {
    let changed = false;
    let watchFired = false;
    // Asked for every later resource at each step of an apply: edges read in place.
    for (let k = 0, n = this.graph.upstreamCount(o); k < n; k++) {
      const from = this.graph.upstreamFrom(o, k);
      if (finishing.includes(from)) {
        changed = true;
        continue;
      }
      const status = this.results.get(from)?.status;
      if (status === undefined || status === 'failed' || status === 'skipped') return undefined;
      if (changedStatus(status)) {
        changed = true;
        watchFired ||= this.graph.upstreamKind(o, k) === 'watch';
      }
    }
    return { changed, watchFired };
  }

  /**
   * Merge r with every later resource of its group that is ready now
   * (readyPlan): one apt transaction, one exec for a host's files. A type
   * that reports each member's failure fails only those; otherwise a
   * failure fails all.
   */
  private async applyGroup(r: Resource, p: Planned, ctx: ApplyContext, started: number): Promise<void> {
    const members = [r];
    const items = [{ spec: r.spec, changes: p.changes, facts: p.facts }];
    for (const o of this.graph.order) {
      if (o === r || o.type.group !== r.type.group) continue;
      const op = this.readyPlan(o);
      if (!op) continue;
      members.push(o);
      items.push({ spec: o.spec, changes: op.changes, facts: op.facts });
      this.ahead.delete(o);
    }
    let failed: (HostError | undefined)[] | void;
    try {
      failed = await r.type.applyGroup!(items, ctx);
    } catch (e) {
      for (const [i, m] of members.entries()) this.record(m, 'failed', errorMessage(e), started, { hint: (e as HostError).hint, changes: items[i].changes, where: m.where });
      return;
    }
    const applied = members.filter((_, i) => !failed?.[i]);
    const failures = applied.length ? await this.verify(applied) : new Map<Resource, string>();
    await this.owe(applied.filter((m) => !failures.has(m)));
    const others = members.length > 1 ? ` (${r.type.together} with ${members.length - 1} more)` : '';
    for (const [i, m] of members.entries()) {
      const f = failed?.[i];
      if (f) this.record(m, 'failed', f.message, started, { hint: f.hint, changes: items[i].changes, where: m.where });
      else if (failures.has(m)) this.record(m, 'failed', failures.get(m)!, started, { changes: items[i].changes, where: m.where });
      else this.record(m, 'changed', `changed: ${items[i].changes.map((c) => c.path).join(', ')}${others}`, started, { changes: items[i].changes });
    }
  }
}
