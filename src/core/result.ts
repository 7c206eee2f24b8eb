// One result record for every resource and host, shared by the text and
// JSON reports.

import type { Change } from './resource.js';
import type { Where } from './diagnostics.js';

export type ResourceStatus = 'unchanged' | 'changed' | 'would-change' | 'failed' | 'skipped';

export interface ResourceResult {
  id: string;
  naturalId: string;
  kind: string;
  status: ResourceStatus;
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
}

export function countStatuses(resources: ResourceResult[]): Record<ResourceStatus, number> {
  const counts: Record<ResourceStatus, number> = { unchanged: 0, changed: 0, 'would-change': 0, failed: 0, skipped: 0 };
  for (const r of resources) counts[r.status]++;
  return counts;
}

/** 0 converged / no drift, 2 check found drift, 1 any host failed, 130 interrupted. */
export function exitCode(run: RunResult): number {
  if (run.interrupted) return 130;
  if (run.hosts.some((h) => h.status === 'failed' || h.status === 'unreachable' || h.status === 'not-attempted')) return 1;
  if (run.mode === 'check' && run.hosts.some((h) => h.status === 'drift')) return 2;
  return 0;
}
