// The fleet: compile and graph every targeted host first (bad input stops
// the run before any host is touched), then run hosts concurrently. One
// failing host never stops the others.

import PQueue from 'p-queue';
import { errorMessage, HostError, InputError, type Diagnostic } from '../core/diagnostics.js';
import type { HostResult, HostStatus, ResourceResult, RunResult } from '../core/result.js';
import { buildGraph, type Graph } from '../graph/graph.js';
import type { Host, Inventory } from '../inventory/inventory.js';
import { compileHost } from '../state/compile.js';
import { EntryCache } from '../state/entry-cache.js';
import type { StateTree } from '../state/states.js';
import { Templates } from '../state/template.js';
import { LocalTransport } from '../transport/local.js';
import { SshTransport, UnreachableError } from '../transport/ssh.js';
import type { Transport } from '../transport/transport.js';
import { FactsCache } from './facts-cache.js';
import type { HostFacts } from './host-facts.js';
import { runOrigin, type RunOrigin } from './applied-record.js';
import { HostRun, type HostEvent, type RemoteRequisites, type Rollout } from './host-run.js';
import type { HostPlan } from './saved-plan.js';

export interface PreparedHost {
  host: Host;
  graph: Graph;
  /** Ids a `when` left out on this host (another host's requisite naming one is met). */
  dropped: ReadonlySet<string>;
  /** The facts the host was compiled with; undefined: without any. */
  facts?: HostFacts;
  /** Compiles the host again with other facts (they changed since they were cached); throws InputError. */
  recompile(facts: HostFacts): Graph;
  /** Execs this host cost before the run (its facts read for the first time). */
  execsBefore?: number;
}

/**
 * Loads the state files every host gets (YAML, includes, the top file's
 * names) without compiling: what can be wrong in them regardless of any
 * host's facts is reported before a host is contacted, even to read facts.
 */
export function loadHostStates(tree: StateTree, hosts: Host[], stateNames?: string[]): void {
  for (const h of hosts) {
    if (stateNames) tree.entries(stateNames, 'apply');
    else tree.entries(tree.statesFor(h.roles));
  }
}

/**
 * Compile and order every host's resources, with the facts factsOf gives
 * (the cached ones, or those just read); throws InputError on bad input.
 * missingFiles (validate): lookup('file') of a file not there is a
 * placeholder, its path listed in the set, instead of an error.
 */
export function prepareHosts(
  inventory: Inventory,
  tree: StateTree,
  hosts: Host[],
  stateNames?: string[],
  factsOf: (h: Host) => HostFacts | undefined = () => undefined,
  missingFiles?: Set<string>,
): PreparedHost[] {
  const templates = new Templates(tree.dir, missingFiles);
  const cache = new EntryCache();
  const compile = (host: Host, facts: HostFacts | undefined) => {
    const { resources, dropped } = compileHost(host, inventory, tree, templates, cache, stateNames, facts);
    return { graph: buildGraph(resources, dropped), dropped };
  };
  // Every host's errors, not the first host's: one mistake that many hosts
  // share is reported once, naming them all.
  const errors = new Map<string, Diagnostic>();
  const prepared: PreparedHost[] = [];
  for (const host of hosts) {
    try {
      const facts = factsOf(host);
      prepared.push({ host, ...compile(host, facts), facts, recompile: (f) => compile(host, f).graph });
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      for (const d of e.diagnostics) {
        const key = JSON.stringify([d.message, d.hint, d.where.file, d.where.line, d.where.path, d.where.resource]);
        const seen = errors.get(key);
        if (!seen) errors.set(key, { ...d, where: { ...d.where } });
        else if (seen.where.host && d.where.host && !seen.where.host.split(', ').includes(d.where.host)) seen.where.host += `, ${d.where.host}`;
      }
    }
  }
  if (errors.size) throw new InputError([...errors.values()]);
  return prepared;
}

/** Opens a transport to a host; timeoutMs bounds the SSH handshake. */
export type Connect = (host: Host, timeoutMs?: number) => Promise<Transport>;

/** A firewall that drops converge's packets shows as a handshake that never ends: probe briefly. */
const RECONNECT_TIMEOUT_MS = 6000;

export interface RunOptions {
  check: boolean;
  /** --check --out: each host's plan, as hashes. */
  onHostPlan?(host: string, plan: HostPlan): void;
  /** apply-plan: the saved plan each host must still match. */
  expectPlans?: Record<string, HostPlan>;
  /** The state revision and login stamped into hosts' applied records (read once per run). */
  origin?: RunOrigin;
  forks: number;
  /** Rolling runs: hosts per batch (a batch starts when the previous one is done). */
  batchSize?: number;
  /** Stop starting hosts once more than this many have failed or were unreachable. */
  maxFail?: number;
  /** Seconds to wait for another run's lock on a host; undefined refuses at once. */
  waitLock?: number;
  statesDir: string;
  acceptNewHostKeys?: boolean;
  signal: AbortSignal;
  connect?: Connect;
  onEvent?(e: HostEvent): void;
  onHostDone?(r: HostResult): void;
  /** Where facts read during the run are kept for the next (none: not kept, e.g. the simulation). */
  factsCache?: FactsCache;
  /** Requisites on other hosts' resources (fleet/fleet-run.ts), per host. */
  remoteFor?(host: string): RemoteRequisites;
  /** Rolling changes (fleet/rollout.ts), per host. */
  rolloutFor?(host: string): Rollout;
}

export function defaultConnect(acceptNewHostKeys: boolean): Connect {
  return async (host, timeoutMs) =>
    host.transport === 'local'
      ? new LocalTransport(host.name)
      : SshTransport.connect({
          hostName: host.name,
          address: host.address,
          port: host.port,
          user: host.user,
          keyFile: host.keyFile,
          knownHostsFile: host.knownHostsFile,
          acceptNewHostKeys,
          connectTimeoutMs: timeoutMs,
        });
}

function hostStatus(resources: ResourceResult[]): HostStatus {
  if (resources.some((r) => r.status === 'failed' || r.status === 'skipped')) return 'failed';
  if (resources.some((r) => r.status === 'changed')) return 'changed';
  if (resources.some((r) => r.status === 'would-change')) return 'drift';
  return 'unchanged';
}

export async function runHost(p: PreparedHost, opts: RunOptions): Promise<HostResult> {
  const { host, graph } = p;
  const started = Date.now();
  const base = { host: host.name, roles: host.roles };
  if (opts.signal.aborted) return { ...base, status: 'not-attempted', resources: [], execCount: 0, durationMs: 0, error: { message: 'not attempted: the run was interrupted' } };
  opts.onEvent?.({ host: host.name, phase: 'connecting' });
  let transport: Transport | undefined;
  try {
    const connect = opts.connect ?? defaultConnect(!!opts.acceptNewHostKeys);
    transport = await connect(host);
    const hostRun = new HostRun(host, graph, transport, {
      check: opts.check,
      statesDir: opts.statesDir,
      origin: opts.origin,
      onPlan: opts.onHostPlan && ((plan) => opts.onHostPlan!(host.name, plan)),
      expectPlan: opts.expectPlans?.[host.name],
      signal: opts.signal,
      waitLock: opts.waitLock,
      onEvent: opts.onEvent,
      reconnect: () => connect(host, RECONNECT_TIMEOUT_MS),
      remote: opts.remoteFor?.(host.name),
      rollout: opts.rolloutFor?.(host.name),
      hostFacts: {
        compiledWith: p.facts,
        recompile: p.recompile,
        // The controller keeps them, also in check mode: nothing on the host is written.
        read: (f) => opts.factsCache?.set(host, f),
      },
    });
    const resources = await hostRun.run();
    const status = hostStatus(resources);
    opts.onEvent?.({ host: host.name, phase: status === 'failed' ? 'failed' : 'done' });
    return { ...base, status, resources, lastConverged: hostRun.lastConverged, execCount: transport.execCount + (p.execsBefore ?? 0), durationMs: Date.now() - started };
  } catch (e) {
    opts.onEvent?.({ host: host.name, phase: 'failed' });
    return {
      ...base,
      status: e instanceof UnreachableError ? 'unreachable' : 'failed',
      error: { message: errorMessage(e), hint: e instanceof HostError ? e.hint : undefined },
      resources: [],
      execCount: (transport?.execCount ?? 0) + (p.execsBefore ?? 0),
      durationMs: Date.now() - started,
    };
  } finally {
    await transport?.close();
  }
}

function notAttempted(p: PreparedHost, why: string): HostResult {
  return { host: p.host.name, roles: p.host.roles, status: 'not-attempted', resources: [], execCount: 0, durationMs: 0, error: { message: `not attempted: ${why}` } };
}

/** `known`: hosts whose result is known before the run (their facts could not be read: first-facts.ts). */
export async function runFleet(prepared: PreparedHost[], opts: RunOptions, known: HostResult[] = []): Promise<RunResult> {
  const started = Date.now();
  const queue = new PQueue({ concurrency: Math.max(1, opts.forks) });
  const batchSize = opts.batchSize ?? prepared.length;
  const results: HostResult[] = [...known];
  // A check writes no record: no git processes (two spawns, ~20 ms of CPU) for an origin nothing stamps.
  opts = { ...opts, origin: opts.origin ?? (opts.check ? undefined : runOrigin(opts.statesDir)) };
  known.forEach((r) => opts.onHostDone?.(r));
  let failures = known.length;
  for (let i = 0; i < prepared.length; i += batchSize) {
    const batch = prepared.slice(i, i + batchSize);
    const done = await Promise.all(
      batch.map((p) =>
        queue.add(async () => {
          const r =
            opts.maxFail !== undefined && failures > opts.maxFail
              ? notAttempted(p, `more than ${opts.maxFail} host(s) failed (--max-fail)`)
              : await runHost(p, opts);
          if (r.status === 'failed' || r.status === 'unreachable') failures++;
          opts.onHostDone?.(r);
          return r;
        }),
      ),
    );
    results.push(...(done as HostResult[]));
  }
  return { mode: opts.check ? 'check' : 'apply', hosts: results, durationMs: Date.now() - started, interrupted: opts.signal.aborted };
}
