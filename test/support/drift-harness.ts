// Runs the rows of the drift table (test/support/drift-table.ts) on a fleet,
// as Terraform's acceptance tests fail when the plan is not empty after
// apply: all rows of a fleet are one state, so each step is one converge
// run for all of them.
//
//   stateResources(rows)        the state file's resources: every row's resource and needs
//   expectConverged(run, rows)  a run changes nothing (exit 0, every resource unchanged)
//   driftCheckRepair(...)       drift by hand, --check reports exactly the table's
//                               changes (exit 2) and changes nothing, apply repairs
//                               exactly the drifted resources, a further check is clean

import { expect } from 'vitest';
import { resourcesOf, type CliResult } from './cli.js';
import type { DriftRow, StateResource } from './drift-table.js';
import type { Fleet } from './fleet.js';
import { snapshot } from './snapshot.js';

/** Runs converge (highstate with --json) with extra arguments, e.g. '--check'. */
export type Run = (...args: string[]) => Promise<CliResult>;

/** The `resources:` of one state holding every row (and what it needs). */
export function stateResources(rows: DriftRow[]): Record<string, StateResource> {
  const out: Record<string, StateResource> = {};
  const add = (id: string, res: StateResource, from: string) => {
    if (id in out && JSON.stringify(out[id]) !== JSON.stringify(res)) throw new Error(`drift table: ${from} gives state id ${id} another resource than an earlier row`);
    out[id] = res;
  };
  for (const row of rows) {
    for (const [id, res] of Object.entries(row.needs ?? {})) add(id, res, `row ${row.type}`);
    if (!(row.type in row.resource)) throw new Error(`drift table: row ${row.type} has no ${row.type} resource`);
    add(row.id, row.resource, `row ${row.type}`);
  }
  return out;
}

const hostsOf = (rows: DriftRow[]) => [...new Set(rows.map((r) => r.host))];

/** status of every resource of a host, by state id. */
const statuses = (json: unknown, host: string) => Object.fromEntries(Object.entries(resourcesOf(json, host)).map(([id, r]) => [id, (r as { status: string }).status]));

/** The resources of `host` that are not unchanged, as id -> status. */
function notUnchanged(json: unknown, host: string): Record<string, string> {
  return Object.fromEntries(Object.entries(statuses(json, host)).filter(([, s]) => s !== 'unchanged'));
}

/** A run that must change nothing: exit 0, every resource of every host unchanged. */
export async function expectConverged(run: Run, hosts: string[], ...args: string[]): Promise<CliResult> {
  const r = await run(...args);
  expect(r.code, r.stderr + r.stdout).toBe(0);
  for (const h of hosts) expect(notUnchanged(r.json, h), `${h}: ${args.join(' ')}`).toEqual({});
  return r;
}

async function sh(fleet: Fleet, host: string, cmd: string, what: string): Promise<string> {
  const r = await fleet.exec(host, cmd);
  if (r.code !== 0) throw new Error(`${what} on ${host} exited ${r.code}: ${cmd}\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

/** Each row's witness output, and a snapshot of each host (/etc and `paths`): what --check must not change. */
async function hostState(fleet: Fleet, rows: DriftRow[], paths: string[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const row of rows) out[`${row.host} ${row.type} ${row.id}`] = (await fleet.exec(row.host, row.witness)).stdout;
  for (const h of hostsOf(rows)) out[`${h} snapshot`] = await snapshot(fleet, h, paths);
  return out;
}

export interface DriftResult {
  /** The --check run on the drifted hosts. */
  check: CliResult;
  /** ms of each step. */
  timings: Record<string, number>;
}

/**
 * Drifts every row by hand, then: --check exits 2 and reports for each
 * row's resource exactly the row's changes (every other resource
 * unchanged), and the witnesses and host snapshots are what they were
 * before it; apply changes exactly the drifted resources (exit 0); a further
 * --check exits 0 with every resource unchanged.
 */
export async function driftCheckRepair(fleet: Fleet, rows: DriftRow[], run: Run, snapshotPaths: string[] = []): Promise<DriftResult> {
  const timings: Record<string, number> = {};
  const timed = async <T>(label: string, f: () => Promise<T>) => {
    const t = Date.now();
    try {
      return await f();
    } finally {
      timings[label] = Date.now() - t;
    }
  };
  const hosts = hostsOf(rows);
  const drifted = (host: string, status: string) => Object.fromEntries(rows.filter((r) => r.host === host).map((r) => [r.id, status]));

  await timed('drift', async () => {
    for (const row of rows) await sh(fleet, row.host, row.drift, `the drift of ${row.type} (${row.id})`);
  });
  const before = await hostState(fleet, rows, snapshotPaths);

  const check = await timed('check', () => run('--check'));
  expect(check.code, check.stderr + check.stdout).toBe(2);
  for (const h of hosts) {
    expect(notUnchanged(check.json, h), `${h}: what --check reports besides the drifted rows`).toEqual(drifted(h, 'would-change'));
    // One comparison for all rows, so a failure shows every row that differs.
    const res = resourcesOf(check.json, h);
    const mine = rows.filter((r) => r.host === h);
    const reported = Object.fromEntries(mine.map((row) => [`${row.type} (${row.id})`, ((res[row.id]?.changes ?? []) as { path: string; action: string }[]).map((c) => [c.path, c.action])]));
    expect(reported, `${h}: the changes --check reports for each drifted row`).toEqual(Object.fromEntries(mine.map((row) => [`${row.type} (${row.id})`, row.changes])));
  }
  expect(await hostState(fleet, rows, snapshotPaths), '--check changed the host').toEqual(before);

  const apply = await timed('repair', () => run());
  expect(apply.code, apply.stderr + apply.stdout).toBe(0);
  for (const h of hosts) expect(notUnchanged(apply.json, h), `${h}: what the repair changed`).toEqual(drifted(h, 'changed'));

  await timed('clean check', () => expectConverged(run, hosts, '--check'));
  return { check, timings };
}
