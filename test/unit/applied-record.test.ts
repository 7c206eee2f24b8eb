// The applied record (src/engine/applied-record.ts): fingerprints, the
// drift / pending / new classification, when the record is rewritten, and
// the engine using it on the local transport: a no-op still costs one exec.

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ResourceType } from '../../src/core/resource.js';
import { exitCode, type RunResult } from '../../src/core/result.js';
import { canonicalJson, classify, fingerprint, nextRecord, parseRecord, reactionClass, RECORD_FILE } from '../../src/engine/applied-record.js';
import { HostRun } from '../../src/engine/host-run.js';
import { buildGraph } from '../../src/graph/graph.js';
import type { Host } from '../../src/inventory/inventory.js';
import type { Resource } from '../../src/state/compile.js';
import { LocalTransport } from '../../src/transport/local.js';
import { reportSchemaErrors } from '../support/report-schema.js';

const origin = { revision: 'a'.repeat(40), dirty: false, login: 'ci@controller' };
const res = (naturalId: string, spec: unknown) => ({ naturalId, spec }) as Resource;

describe('fingerprints and classes', () => {
  it('a spec hashes the same whatever its key order, and differently per resource and value', () => {
    expect(canonicalJson({ b: 1, a: [{ y: 2, x: 1 }], u: undefined })).toBe('{"a":[{"x":1,"y":2}],"b":1}');
    const a = fingerprint(res('file:/etc/motd', { mode: '0644', content: 'hi' }));
    expect(fingerprint(res('file:/etc/motd', { content: 'hi', mode: '0644' }))).toBe(a);
    expect(fingerprint(res('file:/etc/issue', { content: 'hi', mode: '0644' }))).not.toBe(a);
    expect(fingerprint(res('file:/etc/motd', { content: 'ho', mode: '0644' }))).not.toBe(a);
    // a hash, never the value
    expect(a).toMatch(/^[0-9a-f]{32}$/);
  });

  it('classifies against the record: same spec drift, other spec pending, absent new', () => {
    const r = res('file:/etc/motd', { content: 'hi' });
    const record = nextRecord(undefined, [r], origin)!;
    expect(classify(r, record)).toBe('drift');
    expect(classify(res('file:/etc/motd', { content: 'changed in git' }), record)).toBe('pending');
    expect(classify(res('file:/etc/other', { content: 'hi' }), record)).toBe('new');
    expect(classify(r, undefined)).toBe('new');
  });

  it('a reaction takes the class of what triggered it', () => {
    expect(reactionClass([undefined, 'new', 'drift'])).toBe('drift');
    expect(reactionClass(['new', 'pending'])).toBe('pending');
    expect(reactionClass([undefined])).toBe('pending');
  });

  it('is rewritten only when missing or out of date, keeping entries of resources not in the run', () => {
    const a = res('file:/a', { v: 1 });
    const b = res('file:/b', { v: 1 });
    const first = nextRecord(undefined, [a, b], origin, new Date('2026-01-01T00:00:00Z'))!;
    expect(first).toMatchObject({ version: 1, at: '2026-01-01T00:00:00.000Z', revision: origin.revision, dirty: false, login: 'ci@controller' });
    expect(nextRecord(first, [a, b], origin)).toBeUndefined();
    expect(nextRecord(first, [], origin)).toBeUndefined();
    const next = nextRecord(first, [res('file:/a', { v: 2 })], origin)!;
    expect(next.resources['file:/b']).toBe(first.resources['file:/b']);
    expect(next.resources['file:/a']).not.toBe(first.resources['file:/a']);
  });

  it('an unreadable or foreign record is no record', () => {
    expect(parseRecord('')).toBeUndefined();
    expect(parseRecord('{"version":1')).toBeUndefined();
    expect(parseRecord('{"version":99,"resources":{}}')).toBeUndefined();
    expect(parseRecord('{"version":1,"at":"t","login":"l","resources":{"x":"y"}}')?.resources).toEqual({ x: 'y' });
  });
});

describe('--fail-on', () => {
  const run = (classes: ('drift' | 'pending' | 'new')[]): RunResult => ({
    mode: 'check',
    interrupted: false,
    durationMs: 1,
    hosts: [{ host: 'h', roles: [], status: 'drift', execCount: 1, durationMs: 1, resources: classes.map((c, i) => ({ id: `r${i}`, naturalId: `x:${i}`, kind: 'x', status: 'would-change', class: c, reason: '', changes: [], durationMs: 0 })) }],
  });
  it('exits 2 for any would-change by default, and only for the named classes with --fail-on', () => {
    expect(exitCode(run(['pending']))).toBe(2);
    expect(exitCode(run(['pending', 'new']), ['drift'])).toBe(0);
    expect(exitCode(run(['pending', 'drift']), ['drift'])).toBe(2);
    expect(exitCode(run(['new']), ['drift', 'new'])).toBe(2);
    expect(exitCode(run([]), ['any'])).toBe(0);
  });
});

describe('the engine keeps the record', { timeout: 60_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'converge-ar-'));
  const stateDir = mkdtempSync(join(tmpdir(), 'converge-ar-state-'));
  const type: ResourceType<{ name: string; value: string }> = {
    kind: 'toy',
    id: (s) => `toy:${s.name}`,
    facts: (s) => ({ value: { key: `toy:${s.name}`, script: `cat ${join(dir, s.name)} 2>/dev/null || true`, parse: (o) => o } }),
    plan: (s, f) => (f.value === s.value ? [] : [{ path: 'value', action: 'update', before: f.value, after: s.value }]),
    apply: async (s, _c, _f, ctx) => void (await ctx.run({ script: `printf %s '${s.value}' > ${join(dir, s.name)}` }, 'write')),
  };
  const host: Host = { name: 'local', address: 'localhost', port: 22, user: 'root', knownHostsFile: '/dev/null', transport: 'local', roles: [], vars: {} };
  const resource = (name: string, value: string): Resource => {
    const where = { file: 't.yaml', line: 1 };
    return { id: name, kind: 'toy', type, spec: { name, value }, naturalId: `toy:${name}`, requisites: { require: [], watch: [], onchanges: [], before: [], require_in: [], watch_in: [], onchanges_in: [] }, remote: [], where, at: () => where, sensitive: false };
  };
  const run = async (rs: Resource[], check: boolean) => {
    const t = new LocalTransport('local');
    const hr = new HostRun(host, buildGraph(rs), t, { check, statesDir: '/', stateDir, origin, signal: new AbortController().signal });
    const results = await hr.run();
    const report: RunResult = { mode: check ? 'check' : 'apply', interrupted: false, durationMs: 1, hosts: [{ host: 'local', roles: [], status: 'changed', resources: results, lastConverged: hr.lastConverged, execCount: t.execCount, durationMs: 1 }] };
    expect(reportSchemaErrors(JSON.parse(JSON.stringify(report)))).toEqual([]);
    return { classes: Object.fromEntries(results.filter((r) => r.class).map((r) => [r.id, `${r.status}:${r.class}`])), execs: t.execCount, last: hr.lastConverged };
  };

  it('new, then drift after a hand edit, pending after a state edit; a no-op costs one exec', async () => {
    const first = await run([resource('a', '1'), resource('b', '1')], false);
    expect(first.classes).toEqual({ a: 'changed:new', b: 'changed:new' });
    expect(first.last).toBeUndefined();
    expect(JSON.parse(readFileSync(join(stateDir, RECORD_FILE), 'utf8'))).toMatchObject({ login: origin.login, revision: origin.revision });

    const noop = await run([resource('a', '1'), resource('b', '1')], false);
    expect(noop).toMatchObject({ classes: {}, execs: 1, last: { login: origin.login, revision: origin.revision, dirty: false } });

    writeFileSync(join(dir, 'a'), 'by hand');
    const check = await run([resource('a', '1'), resource('b', '2'), resource('c', '1')], true);
    expect(check.classes).toEqual({ a: 'would-change:drift', b: 'would-change:pending', c: 'would-change:new' });
    expect(check.execs).toBe(1);

    await run([resource('a', '1'), resource('b', '2'), resource('c', '1')], false);
    const after = await run([resource('a', '1'), resource('b', '2'), resource('c', '1')], true);
    expect(after).toMatchObject({ classes: {}, execs: 1 });
  });
});
