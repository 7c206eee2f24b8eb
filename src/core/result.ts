// One result record for every resource and host, shared by the text and
// JSON reports.

import type { Change } from './resource.js';
import type { Where } from './diagnostics.js';

export type ResourceStatus = 'unchanged' | 'changed' | 'would-change' | 'failed' | 'skipped';

/**
 * Whose change a change or would-change is (see engine/applied-record.ts):
 * drift = the host moved away from what converge last applied or verified;
 * pending = the declared state changed since; new = never managed here.
 */
export type ChangeClass = 'drift' | 'pending' | 'new';
export const CHANGE_CLASSES: readonly ChangeClass[] = ['drift', 'pending', 'new'];

/** When, from which state revision and by whom a host was last converged (its applied record). */
export interface LastConverged {
  /** ISO time of the apply that last wrote the record. */
  at: string;
  /** The state tree's git commit, when it was a checkout. */
  revision?: string;
  /** The checkout had uncommitted changes in the state tree. */
  dirty?: boolean;
  /** user@controller that ran it. */
  login: string;
}

export interface ResourceResult {
  id: string;
  naturalId: string;
  kind: string;
  status: ResourceStatus;
  /** Set on changed and would-change results. */
  class?: ChangeClass;
  /** One line a person can act on. */
  reason: string;
  changes: Change[];
  /** Watch reactions performed (or, in check mode, that would be). */
  notified?: string[];
  where?: Where;
  hint?: string;
  durationMs: number;
}

export type HostStatus = 'unchanged' | 'changed' | 'drift' | 'failed' | 'unreachable' | 'not-attempted';

export interface HostResult {
  host: string;
  roles: string[];
  status: HostStatus;
  /** Set when the host failed outside any one resource (connection, facts). */
  error?: { message: string; hint?: string };
  resources: ResourceResult[];
  /** The host's applied record as this run found it; absent when converge never applied there. */
  lastConverged?: LastConverged;
  /** SSH exec requests this run sent to the host. */
  execCount: number;
  durationMs: number;
}

export interface RunResult {
  mode: 'check' | 'apply';
  hosts: HostResult[];
  durationMs: number;
  interrupted: boolean;
  /** This run's part of a sharded run (--shard K/N); the merged report has none. */
  shard?: { k: number; n: number };
  /** Requisites across hosts (fleet/fleet-graph.ts), in the fleet's order: "db-1 db-role" before "web-1 migrate". */
  across?: { from: string; to: string; kind: string }[];
}

export function countStatuses(resources: ResourceResult[]): Record<ResourceStatus, number> {
  const counts: Record<ResourceStatus, number> = { unchanged: 0, changed: 0, 'would-change': 0, failed: 0, skipped: 0 };
  for (const r of resources) counts[r.status]++;
  return counts;
}

export function countClasses(resources: ResourceResult[]): Record<ChangeClass, number> {
  const counts: Record<ChangeClass, number> = { drift: 0, pending: 0, new: 0 };
  for (const r of resources) if (r.class) counts[r.class]++;
  return counts;
}

/** Which would-changes make a check exit 2 (--fail-on): any, or only those of some classes. */
export type FailOn = ChangeClass | 'any';

/**
 * 0 converged / no drift, 2 check found a would-change (of a --fail-on
 * class), 1 any host failed, 130 interrupted.
 */
export function exitCode(run: RunResult, failOn: FailOn[] = ['any']): number {
  if (run.interrupted) return 130;
  if (run.hosts.some((h) => h.status === 'failed' || h.status === 'unreachable' || h.status === 'not-attempted')) return 1;
  const counts = (r: ResourceResult) => r.status === 'would-change' && (failOn.includes('any') || (r.class !== undefined && failOn.includes(r.class)));
  if (run.mode === 'check' && run.hosts.some((h) => h.resources.some(counts))) return 2;
  return 0;
}
