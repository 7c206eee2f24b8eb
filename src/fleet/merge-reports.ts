// One fleet report from the JSON reports of sharded runs (`--shard K/N
// --json`): the hosts of every shard, one exit code with a run's meaning.
// Reports that cannot be one run's are refused: a host in two of them,
// different modes, shards of different splits, or a missing shard (its
// controller failed or its report was not collected), since an incomplete
// report with exit 0 would hide hosts nobody looked at.

import { readFileSync } from 'node:fs';
import { InputError } from '../core/diagnostics.js';
import type { RunResult } from '../core/result.js';

export interface ShardReport {
  file: string;
  run: RunResult;
}

export function readReport(file: string): ShardReport {
  let run: RunResult;
  try {
    run = JSON.parse(readFileSync(file, 'utf8')) as RunResult;
  } catch (e) {
    throw new InputError({ message: `not a JSON report: ${(e as Error).message}`, where: { file }, hint: 'write each shard\'s report with --json (converge highstate --shard K/N --json > shard-K.json)' });
  }
  if (!run || (run.mode !== 'check' && run.mode !== 'apply') || !Array.isArray(run.hosts)) {
    throw new InputError({ message: 'not a converge run report (no mode and hosts)', where: { file }, hint: 'merge the files that `converge highstate --json` wrote' });
  }
  return { file, run };
}

const article = (mode: string) => (mode === 'apply' ? 'an apply' : `a ${mode}`);

export function mergeRuns(reports: ShardReport[]): RunResult {
  if (!reports.length) throw new InputError({ message: 'no reports to merge', where: { path: 'merge-reports' }, hint: 'name each shard\'s JSON report' });
  const [first] = reports;
  const seen = new Map<string, string>();
  for (const { file, run } of reports) {
    if (run.mode !== first.run.mode) throw new InputError({ message: `${article(run.mode)} report, while ${first.file} is ${article(first.run.mode)} report`, where: { file }, hint: 'merge the reports of one run: every shard with --check, or every shard without' });
    for (const h of run.hosts) {
      const other = seen.get(h.host);
      if (other) throw new InputError({ message: `host ${h.host} is also in ${other}`, where: { file }, hint: 'each host belongs to one shard: were two reports of the same shard (or an unsharded run) given?' });
      seen.set(h.host, file);
    }
  }
  const sharded = reports.filter((r) => r.run.shard);
  if (sharded.length) {
    const n = sharded[0].run.shard!.n;
    const bad = reports.find((r) => r.run.shard?.n !== n);
    if (bad) throw new InputError({ message: bad.run.shard ? `shard ${bad.run.shard.k}/${bad.run.shard.n} of another split than ${sharded[0].file} (of ${n})` : 'not a sharded run, while others are', where: { file: bad.file }, hint: 'merge the reports of one run, all made with the same --shard K/N' });
    const have = new Set(reports.map((r) => r.run.shard!.k));
    const missing = Array.from({ length: n }, (_, i) => i + 1).filter((k) => !have.has(k));
    if (missing.length) throw new InputError({ message: `shard${missing.length > 1 ? 's' : ''} ${missing.map((k) => `${k}/${n}`).join(', ')} missing`, where: { path: 'merge-reports' }, hint: 'its controller failed or its report was not collected: rerun it, or merge after it finished' });
    if (have.size !== reports.length) throw new InputError({ message: 'a shard is given twice', where: { path: 'merge-reports' }, hint: 'name each shard\'s report once' });
  }
  return {
    mode: first.run.mode,
    hosts: reports.flatMap((r) => r.run.hosts),
    // The shards ran side by side: the fleet took as long as the slowest.
    durationMs: Math.max(...reports.map((r) => r.run.durationMs)),
    interrupted: reports.some((r) => r.run.interrupted),
  };
}
