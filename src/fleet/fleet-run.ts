// A run with cross-host requisites (fleet-graph.ts): every host runs its
// own pipeline side by side with the others, and a resource that names
// another host's resource waits until that one is done, then goes on as
// after a local requisite (a failed or skipped one skips it, a change
// fires its watch/onchanges). Hosts the requisites name but --target left
// out are read in check mode, never changed: a resource there that is not
// in sync skips what waits for it, with the reason.

import { InputError } from '../core/diagnostics.js';
import type { HostResult, RunResult } from '../core/result.js';
import type { RemoteOutcome, RemoteRequisites } from '../engine/host-run.js';
import { runFleet, runHost, type PreparedHost, type RunOptions } from '../engine/run.js';
import type { Host, Inventory } from '../inventory/inventory.js';
import { buildFleetGraph, namedHostsBesides, type FleetGraph } from './fleet-graph.js';

/** How each resource of the fleet ended, as hosts finish them; waiters are told at once. */
export class FleetOutcomes {
  private readonly done = new Map<string, RemoteOutcome>();
  /** A host whose run ended: its resources not settled one by one take this outcome. */
  private readonly hostDone = new Map<string, RemoteOutcome>();
  private readonly waiters = new Map<string, ((o: RemoteOutcome) => void)[]>();

  private static key(host: string, id: string): string {
    return `${host}\0${id}`;
  }

  settle(host: string, id: string, outcome: RemoteOutcome): void {
    const k = FleetOutcomes.key(host, id);
    if (this.done.has(k)) return;
    this.done.set(k, outcome);
    this.waiters.get(k)?.forEach((w) => w(outcome));
    this.waiters.delete(k);
  }

  /** The host's run is over (or never started): whatever of it is still awaited ends with `outcome`. */
  settleHost(host: string, outcome: RemoteOutcome): void {
    if (!this.hostDone.has(host)) this.hostDone.set(host, outcome);
    for (const [k, ws] of this.waiters) {
      if (!k.startsWith(`${host}\0`)) continue;
      this.waiters.delete(k);
      ws.forEach((w) => w(this.hostDone.get(host)!));
    }
  }

  wait(host: string, id: string): Promise<RemoteOutcome> {
    const k = FleetOutcomes.key(host, id);
    const known = this.done.get(k) ?? this.hostDone.get(host);
    if (known) return Promise.resolve(known);
    return new Promise((resolve) => this.waiters.set(k, [...(this.waiters.get(k) ?? []), resolve]));
  }
}

/** One host's view of the fleet graph and outcomes, for its HostRun; map: how its own outcomes are announced. */
export function remoteRequisites(graph: FleetGraph, outcomes: FleetOutcomes, host: string, map: (o: RemoteOutcome) => RemoteOutcome = (o) => o): RemoteRequisites {
  // Asked several times per resource (waiting for it, whether onchanges gates it, whether a package group may take it): built once per resource.
  const upstream = new Map<string, ReturnType<RemoteRequisites['upstream']>>();
  return {
    upstream: (r) => {
      let up = upstream.get(r.id);
      if (!up) upstream.set(r.id, (up = graph.upstream(host, r.id).map((e) => ({ kind: e.kind, host: e.from.host, id: e.from.id }))));
      return up;
    },
    wait: (h, id) => outcomes.wait(h, id),
    settle: (r, o) => outcomes.settle(host, r.id, map(o)),
  };
}

/** The targeted hosts' requisites on other hosts, and the hosts outside the target they name (prepared to be read). */
export interface CrossHost {
  graph: FleetGraph;
  /** Named hosts outside the target: checked, never changed. */
  outside: PreparedHost[];
  /** Named hosts that could not be read or compiled: what waits on them is skipped. */
  unavailable: HostResult[];
}

/**
 * undefined when no targeted resource names another host's. prepareOthers
 * compiles the named hosts outside the target (their facts read as for any
 * host) and returns those it could not read.
 */
export async function crossHost(
  prepared: PreparedHost[],
  inventory: Inventory,
  prepareOthers: (hosts: Host[]) => Promise<{ prepared: PreparedHost[]; failed: HostResult[] }>,
  known: HostResult[],
): Promise<CrossHost | undefined> {
  const besides = namedHostsBesides(prepared, inventory, known.map((k) => k.host));
  if (!besides) return undefined;
  const others = await prepareOthers(besides);
  const graph = buildFleetGraph([...prepared, ...others.prepared], inventory);
  return { graph, outside: others.prepared, unavailable: [...known, ...others.failed] };
}

/** What --batch and cross-host requisites cannot do together. */
export function checkBatch(cross: CrossHost | undefined, batchSize: number | undefined, hosts: number): void {
  if (cross && batchSize !== undefined && batchSize < hosts) {
    throw new InputError({
      message: '--batch cannot be used with requisites on other hosts: a host of a later batch may be what an earlier one waits for',
      where: { file: '(command line)' },
      hint: 'leave out --batch: hosts wait for exactly what they name, and the others run side by side',
    });
  }
}

/** Outside the target, a resource is read, never changed: one not in sync holds up what waits for it. */
export function outsideOutcome(host: string, o: RemoteOutcome): RemoteOutcome {
  if (o.status === 'would-change') return { status: 'failed', reason: `not in sync on ${host}, which is outside --target (read, not changed): converge it first` };
  return o;
}

/** runFleet, with each host waiting for what it names on the others (and the hosts outside the target read alongside). */
export async function runWithCrossHost(prepared: PreparedHost[], opts: RunOptions, known: HostResult[], cross: CrossHost | undefined): Promise<RunResult> {
  if (!cross) return runFleet(prepared, opts, known);
  const outcomes = new FleetOutcomes();
  for (const h of cross.unavailable) outcomes.settleHost(h.host, { status: 'failed', reason: `${h.host} ${h.status}: ${h.error?.message ?? ''}`.trim() });
  const remoteFor = (host: string, map?: (o: RemoteOutcome) => RemoteOutcome) => remoteRequisites(cross.graph, outcomes, host, map);
  const hostEnded = (r: HostResult) => outcomes.settleHost(r.host, { status: 'failed', reason: r.error ? `${r.host} ${r.status}: ${r.error.message}` : `${r.host} did not get to it` });
  // Outside the target: checked side by side with the run, reported nowhere but in what waits for them.
  const reads = cross.outside.map(async (p) => {
    const r = await runHost({ ...p, graph: cross.graph.graph(p.host.name) }, { ...opts, check: true, onHostPlan: undefined, expectPlans: undefined, onEvent: undefined, remoteFor: (h) => remoteFor(h, (o) => outsideOutcome(h, o)) });
    hostEnded(r);
  });
  const order = new Map(cross.graph.hostOrder.map((h, i) => [h, i]));
  const ordered = [...prepared].sort((a, b) => order.get(a.host.name)! - order.get(b.host.name)!).map((p) => ({ ...p, graph: cross.graph.graph(p.host.name) }));
  const run = await runFleet(ordered, {
    ...opts,
    remoteFor: (h) => remoteFor(h),
    onHostDone: (r) => {
      hostEnded(r);
      opts.onHostDone?.(r);
    },
  }, known);
  await Promise.all(reads);
  return { ...run, across: cross.graph.edges.map((e) => ({ from: `${e.from.host} ${e.from.id}`, to: `${e.to.host} ${e.to.resource.id}`, kind: e.kind })) };
}
