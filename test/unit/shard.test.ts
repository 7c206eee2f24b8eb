// Sharded push (src/fleet): the split is stable and even, and the merge of
// the shards' reports is one run's report with one exit code, or refused.

import { describe, expect, it } from 'vitest';
import type { HostResult, RunResult } from '../../src/core/result.js';
import { exitCode } from '../../src/core/result.js';
import { mergeRuns } from '../../src/fleet/merge-reports.js';
import { inShard, parseShard, shardOf } from '../../src/fleet/shard.js';

const names = (n: number, prefix = 'web-') => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

describe('the split', () => {
  it('parses K/N and refuses anything else, saying the form', () => {
    expect(parseShard('2/4')).toEqual({ k: 2, n: 4 });
    for (const bad of ['0/4', '5/4', '4', 'a/b', '1/0']) expect(() => parseShard(bad)).toThrow(/--shard: must be K\/N with 1 <= K <= N/);
  });

  it('puts every host in exactly one shard, each about 1/N of them', () => {
    const hosts = names(1000).map((name) => ({ name }));
    const parts = [1, 2, 3, 4].map((k) => inShard(hosts, { k, n: 4 }));
    expect(parts.flat().map((h) => h.name).sort()).toEqual(hosts.map((h) => h.name).sort());
    for (const p of parts) expect(p.length).toBeGreaterThan(200);
    for (const p of parts) expect(p.length).toBeLessThan(300);
  });

  it('adding a host to 1000, or reordering them, moves no other host', () => {
    const before = new Map(names(1000).map((h) => [h, shardOf(h, 4)]));
    const after = [...names(1000).reverse(), 'web-new'];
    const moved = after.filter((h) => before.has(h) && shardOf(h, 4) !== before.get(h));
    expect(moved).toEqual([]);
  });

  it('a fifth controller takes about 1/5 of the hosts, and only from the others', () => {
    const hosts = names(1000);
    const moved = hosts.filter((h) => shardOf(h, 4) !== shardOf(h, 5));
    expect(moved.every((h) => shardOf(h, 5) === 5)).toBe(true);
    expect(moved.length).toBeGreaterThan(150);
    expect(moved.length).toBeLessThan(250);
  });
});

const host = (name: string, status: HostResult['status']): HostResult => ({
  host: name,
  roles: ['web'],
  status,
  resources: status === 'drift' ? [{ id: 'conf', naturalId: 'file:/etc/x', kind: 'file', status: 'would-change', reason: 'would change: content', changes: [], durationMs: 1 }] : [],
  execCount: 1,
  durationMs: 10,
});
const report = (file: string, mode: RunResult['mode'], hosts: HostResult[], shard?: { k: number; n: number }) => ({ file, run: { mode, hosts, durationMs: hosts.length * 100, interrupted: false, shard } });

describe('merging the shards\' reports', () => {
  it('gives every host once, the slowest shard\'s time, and the exit code of one run', () => {
    const clean = mergeRuns([report('a', 'check', [host('w1', 'unchanged')], { k: 1, n: 2 }), report('b', 'check', [host('w2', 'unchanged'), host('w3', 'unchanged')], { k: 2, n: 2 })]);
    expect(clean.hosts.map((h) => h.host)).toEqual(['w1', 'w2', 'w3']);
    expect(clean.durationMs).toBe(200);
    expect(clean.shard).toBeUndefined();
    expect(exitCode(clean)).toBe(0);
    const drift = mergeRuns([report('a', 'check', [host('w1', 'drift')], { k: 1, n: 2 }), report('b', 'check', [host('w2', 'unchanged')], { k: 2, n: 2 })]);
    expect(exitCode(drift)).toBe(2);
    expect(drift.hosts.flatMap((h) => h.resources).filter((r) => r.status === 'would-change')).toHaveLength(1);
    const failed = mergeRuns([report('a', 'check', [host('w1', 'drift')], { k: 1, n: 2 }), report('b', 'check', [host('w2', 'unreachable')], { k: 2, n: 2 })]);
    expect(exitCode(failed)).toBe(1);
    expect(exitCode(mergeRuns([report('a', 'apply', [host('w1', 'changed')], { k: 1, n: 1 })]))).toBe(0);
  });

  it('refuses what cannot be one run: a host twice, mixed modes, a missing shard, another split', () => {
    expect(() => mergeRuns([report('a', 'check', [host('w1', 'unchanged')]), report('b', 'check', [host('w1', 'unchanged')])])).toThrow(/b: host w1 is also in a/);
    expect(() => mergeRuns([report('a', 'check', [host('w1', 'unchanged')]), report('b', 'apply', [host('w2', 'unchanged')])])).toThrow(/b: an apply report, while a is a check report/);
    expect(() => mergeRuns([report('a', 'check', [host('w1', 'unchanged')], { k: 1, n: 3 }), report('b', 'check', [host('w2', 'unchanged')], { k: 3, n: 3 })])).toThrow(/shard 2\/3 missing/);
    expect(() => mergeRuns([report('a', 'check', [], { k: 1, n: 2 }), report('b', 'check', [], { k: 2, n: 3 })])).toThrow(/b: shard 2\/3 of another split than a \(of 2\)/);
  });
});
