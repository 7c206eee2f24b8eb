// Engine semantics on the local transport against a temp directory: watch,
// onchanges, skipped dependents, verification after apply, merged groups,
// and check mode changing nothing.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ResourceType } from '../../src/core/resource.js';
import { HostRun, type Rollout } from '../../src/engine/host-run.js';
import type { PreparedHost } from '../../src/engine/run.js';
import { Rollouts } from '../../src/fleet/rollout.js';
import type { Inventory } from '../../src/inventory/inventory.js';
import { buildGraph } from '../../src/graph/graph.js';
import type { Host } from '../../src/inventory/inventory.js';
import type { Resource } from '../../src/state/compile.js';
import { LocalTransport } from '../../src/transport/local.js';
import { runSteps } from '../../src/resources/lib/steps.js';
import { acquireRunLock } from '../../src/engine/host-state.js';

interface Toy {
  name: string;
  value?: string;
  /** apply writes this instead of value: a resource that does not converge */
  broken?: boolean;
}

function toyType(dir: string, calls: string[], group?: string): ResourceType<Toy> {
  const path = (s: Toy) => join(dir, s.name);
  const write = (s: Toy) => ({ script: `printf %s '${s.broken ? 'wrong' : s.value}' > ${path(s)}` });
  const base: ResourceType<Toy> = {
    kind: group ? 'gtoy' : 'toy',
    id: (s) => `toy:${s.name}`,
    facts: (s) => ({ value: { key: `toy:${s.name}`, script: `cat ${path(s)} 2>/dev/null || true`, parse: (o) => o } }),
    plan: (s, f) => (s.value === undefined || f.value === s.value ? [] : [{ path: 'value', action: 'update', before: f.value, after: s.value }]),
    async apply(s, _c, _f, ctx) {
      calls.push(`apply ${s.name}`);
      await ctx.run(write(s), `writing ${s.name}`);
    },
    async onWatch(s, _f, applied) {
      if (applied.length) return undefined;
      calls.push(`react ${s.name}`);
      return 'restarted';
    },
    watchVerb: () => 'restart',
  };
  if (!group) return base;
  return {
    ...base,
    group,
    together: `one ${group} step`,
    // Each member's own failure, as a file group reports it: a value "fail" exits 3.
    async applyGroup(items, ctx) {
      calls.push(`group ${items.map((i) => i.spec.name).join(',')}`);
      return runSteps(items.map((i) => (i.spec.value === 'fail' ? { script: 'echo refused >&2; exit 3', purpose: `writing ${i.spec.name}` } : { ...write(i.spec), purpose: `writing ${i.spec.name}` })), ctx);
    },
  };
}

const host: Host = { name: 'local', address: 'localhost', port: 22, user: 'root', knownHostsFile: '/dev/null', transport: 'local', roles: [], vars: {} };

function resource(type: ResourceType<Toy>, id: string, spec: Toy, req: Partial<Resource['requisites']> = {}): Resource {
  const where = { file: 'test.yaml', line: 1, path: `resources.${id}` };
  return { id, kind: type.kind, type, spec, naturalId: type.id!(spec), requisites: { require: [], watch: [], onchanges: [], before: [], require_in: [], watch_in: [], onchanges_in: [], ...req }, remote: [], where, at: () => where, sensitive: false };
}

/** converge's state directory "on the host": this machine, so each test file gets its own. */
const STATE_DIR = mkdtempSync(join(tmpdir(), 'converge-state-'));

async function run(resources: Resource[], check = false, rollout?: Rollout) {
  const transport = new LocalTransport('local');
  const results = await new HostRun(host, buildGraph(resources), transport, { check, statesDir: '/', stateDir: STATE_DIR, signal: new AbortController().signal, rollout }).run();
  return { byId: Object.fromEntries(results.map((r) => [r.id, r])), execs: transport.execCount };
}

describe('optional capabilities', () => {
  it('are all or nothing: a type cannot be half watchable or half groupable (tsc refuses it)', () => {
    const base = toyType('/nowhere', []);
    const { onWatch: _w, watchVerb: _v, ...plain } = base;
    // @ts-expect-error onWatch without watchVerb
    const halfWatch: ResourceType<Toy> = { ...plain, onWatch: base.onWatch };
    // @ts-expect-error a group with nothing to apply it
    const halfGroup: ResourceType<Toy> = { ...plain, group: 'g' };
    expect([halfWatch.kind, halfGroup.kind]).toEqual(['toy', 'toy']);
  });
});

describe('host run', { timeout: 60_000 }, () => {
  it('reads every fact in one exec, and a converged host costs exactly that', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'converge-hr-'));
    const t = toyType(dir, []);
    const rs = Array.from({ length: 20 }, (_, i) => resource(t, `r${i}`, { name: `r${i}`, value: 'v' }));
    await run(rs);
    const again = await run(rs);
    expect(again.execs).toBe(1);
    expect(Object.values(again.byId).every((r) => r.status === 'unchanged')).toBe(true);
  });

  it('restarts a watcher once when what it watches changed, and not on the next run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'converge-hr-'));
    const calls: string[] = [];
    const t = toyType(dir, calls);
    const rs = () => [resource(t, 'conf', { name: 'conf', value: 'a' }), resource(t, 'svc', { name: 'svc' }, { watch: ['conf'] })];
    const first = await run(rs());
    expect(first.byId.svc).toMatchObject({ status: 'changed', notified: ['restarted (conf changed)'] });
    expect(calls).toEqual(['apply conf', 'react svc']);
    calls.length = 0;
    const second = await run(rs());
    expect(second.byId.svc.status).toBe('unchanged');
    expect(calls).toEqual([]);
  });

  it('runs onchanges resources only when a named resource changed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'converge-hr-'));
    const calls: string[] = [];
    const t = toyType(dir, calls);
    writeFileSync(join(dir, 'code'), 'v1');
    const rs = (v: string) => [resource(t, 'code', { name: 'code', value: v }), resource(t, 'migrate', { name: 'migrate' }, { onchanges: ['code'] })];
    expect((await run(rs('v1'))).byId.migrate).toMatchObject({ status: 'unchanged', reason: 'no change in its onchanges requisites' });
    expect((await run(rs('v2'))).byId.migrate).toMatchObject({ status: 'changed' });
    expect(calls).toEqual(['apply code', 'react migrate']);
  });

  it('watch_in and onchanges_in on the upstream resource act as watch and onchanges on the named one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'converge-hr-'));
    const calls: string[] = [];
    const t = toyType(dir, calls);
    writeFileSync(join(dir, 'code'), 'v1');
    const rs = (v: string) => [
      resource(t, 'code', { name: 'code', value: v }, { onchanges_in: ['migrate'], watch_in: ['svc'] }),
      resource(t, 'migrate', { name: 'migrate' }),
      resource(t, 'svc', { name: 'svc' }),
    ];
    const same = await run(rs('v1'));
    expect(same.byId.migrate).toMatchObject({ status: 'unchanged', reason: 'no change in its onchanges requisites' });
    expect(same.byId.svc.status).toBe('unchanged');
    const changed = await run(rs('v2'));
    expect(changed.byId.migrate.status).toBe('changed');
    expect(changed.byId.svc).toMatchObject({ status: 'changed', notified: ['restarted (code changed)'] });
    expect(calls).toEqual(['apply code', 'react migrate', 'react svc']);
  });

  it('the lock-out guard fails closed: without a way to reconnect, canReconnect says no', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'converge-hr-'));
    const seen: boolean[] = [];
    const t = toyType(dir, []);
    const guarded: ResourceType<Toy> = { ...t, kind: 'guarded', async apply(s, c, f, ctx) {
      seen.push(await ctx.canReconnect());
      await t.apply(s, c, f, ctx);
    } };
    await run([resource(guarded, 'g', { name: 'g', value: 'v' })]);
    expect(seen).toEqual([false]);
  });

  it('skips dependents of a failed resource and still applies independent ones', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'converge-hr-'));
    const t = toyType(dir, []);
    const { byId } = await run([
      resource(t, 'bad', { name: 'bad', value: 'x', broken: true }),
      resource(t, 'dependent', { name: 'dependent', value: 'y' }, { require: ['bad'] }),
      resource(t, 'independent', { name: 'independent', value: 'z' }),
    ]);
    expect(byId.bad).toMatchObject({ status: 'failed', reason: expect.stringContaining('still differs in: value') });
    expect(byId.dependent).toMatchObject({ status: 'skipped', reason: 'requisite bad failed' });
    expect(byId.independent.status).toBe('changed');
    expect(existsSync(join(dir, 'dependent'))).toBe(false);
  });

  it('check mode reports drift and would-restart, and changes nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'converge-hr-'));
    const calls: string[] = [];
    const t = toyType(dir, calls);
    const { byId } = await run([resource(t, 'conf', { name: 'conf', value: 'a' }), resource(t, 'svc', { name: 'svc' }, { watch: ['conf'] })], true);
    expect(byId.conf).toMatchObject({ status: 'would-change', changes: [{ path: 'value', after: 'a' }] });
    expect(byId.svc).toMatchObject({ status: 'would-change', notified: ['would restart (conf would change)'] });
    expect(calls).toEqual([]);
    expect(existsSync(join(dir, 'conf'))).toBe(false);
  });

  it('reads the facts of what an upstream change freed in the same exec as that change\'s verification', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'converge-hr-'));
    const calls: string[] = [];
    const t = toyType(dir, calls);
    // pkg "ships" conf-0 (it writes the same file): conf-0 must be planned after pkg's change, and so find it in sync.
    const rs = [
      resource(t, 'pkg', { name: 'conf-0', value: 'shipped' }),
      ...Array.from({ length: 4 }, (_, i) => resource(t, `conf-${i}`, { name: `conf-${i}`, value: 'shipped' }, { require: ['pkg'] })),
      resource(t, 'svc', { name: 'svc' }, { watch: ['conf-1'] }),
    ];
    const { byId, execs } = await run(rs);
    expect(byId['conf-0']).toMatchObject({ status: 'unchanged', reason: 'in sync' });
    expect(['pkg', 'conf-1', 'conf-2', 'conf-3', 'svc'].map((id) => byId[id].status)).toEqual(['changed', 'changed', 'changed', 'changed', 'changed']);
    expect(calls).toEqual(['apply conf-0', 'apply conf-1', 'apply conf-2', 'apply conf-3', 'react svc']);
    // The first batch, the lock, then per change its apply and its verification (which also reads
    // the facts of every resource it freed), conf-1's debt to svc written to the journal and
    // cleared by svc's reaction (the toy's own reaction runs nothing), and the applied record.
    // A re-plan of their own for conf-0..3 and svc would add five.
    expect(execs).toBe(1 + 1 + 2 * 4 + 1 + 1 + 1);
  });

  it('merges ready members of a group into one step, keeping order for the rest', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'converge-hr-'));
    const calls: string[] = [];
    const g = toyType(dir, calls, 'apt');
    const t = toyType(dir, calls);
    const { byId } = await run([
      resource(g, 'p1', { name: 'p1', value: '1' }),
      resource(t, 'repo', { name: 'repo', value: 'r' }),
      resource(g, 'p2', { name: 'p2', value: '2' }),
      resource(g, 'p3', { name: 'p3', value: '3' }, { require: ['repo'] }),
    ]);
    expect(calls).toEqual(['group p1,p2', 'apply repo', 'group p3']);
    expect(['p1', 'p2', 'p3'].map((id) => byId[id].status)).toEqual(['changed', 'changed', 'changed']);
    expect(readFileSync(join(dir, 'p3'), 'utf8')).toBe('3');
  });

  it('merges members whose upstream changed once their plans were read after it, and fails a member alone', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'converge-hr-'));
    const calls: string[] = [];
    const g = toyType(dir, calls, 'file');
    const t = toyType(dir, calls);
    const { byId, execs } = await run([
      resource(t, 'dir', { name: 'dir', value: 'd' }),
      ...['f1', 'f2', 'f3'].map((n) => resource(g, n, { name: n, value: n === 'f2' ? 'fail' : n }, { require: ['dir'] })),
      resource(t, 'after-f2', { name: 'after-f2', value: 'x' }, { require: ['f2'] }),
      resource(t, 'after-f3', { name: 'after-f3', value: 'x' }, { require: ['f3'] }),
    ]);
    expect(calls).toEqual(['apply dir', 'group f1,f2,f3', 'apply after-f3']);
    expect(byId.f1).toMatchObject({ status: 'changed', reason: 'changed: value (one file step with 2 more)' });
    expect(byId.f2).toMatchObject({ status: 'failed', reason: 'writing f2 failed (exit 3): refused' });
    expect(byId['after-f2']).toMatchObject({ status: 'skipped', reason: expect.stringMatching(/^requisite f2 failed/) });
    expect([byId.f3.status, byId['after-f3'].status]).toEqual(['changed', 'changed']);
    expect(readFileSync(join(dir, 'f3'), 'utf8')).toBe('f3');
    // The batch, the lock; dir's apply and verification (reading f1-f3 ahead); the group's one exec
    // and one verification of f1 and f3 (reading after-f3 ahead); after-f3's apply and verification; the record.
    expect(execs).toBe(1 + 1 + 2 + 2 + 2 + 1);
  });

  it('performs a reaction an interrupted run owed, once, even though nothing differs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'converge-hr-'));
    const calls: string[] = [];
    const t = toyType(dir, calls);
    writeFileSync(join(dir, 'conf'), 'a');
    const rs = () => [resource(t, 'conf', { name: 'conf', value: 'a' }), resource(t, 'svc-owed', { name: 'svc-owed' }, { watch: ['conf'] })];
    writeFileSync(join(STATE_DIR, 'pending'), 'svc-owed\n');
    expect((await run(rs(), true)).byId['svc-owed']).toMatchObject({ status: 'would-change', notified: ['would restart (owed by an earlier run that did not finish it)'] });
    expect((await run(rs())).byId['svc-owed']).toMatchObject({ status: 'changed', notified: ['restarted (owed by an earlier run that did not finish it)'] });
    expect(readFileSync(join(STATE_DIR, 'pending'), 'utf8')).not.toContain('svc-owed');
    expect((await run(rs())).byId['svc-owed'].status).toBe('unchanged');
    expect(calls).toEqual(['react svc-owed']);
  });

  it('a rolled restart whose health check fails is owed again, and made (in its turn) by the next run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'converge-hr-'));
    const calls: string[] = [];
    const t = toyType(dir, calls);
    const rs = (value: string) => {
      const svc = { ...resource(t, 'svc-rolled', { name: 'svc-rolled' }, { watch: ['conf'] }), rolling: { health: { cmd: `test -e ${dir}/healthy`, timeout: 1, interval: 0.2 } } };
      return [resource(t, 'conf', { name: 'conf', value }), svc];
    };
    const rollout = (resources: Resource[]) =>
      Rollouts.of([{ host, graph: buildGraph(resources) } as unknown as PreparedHost], { hosts: [host] } as unknown as Inventory, () => Promise.reject(new Error('no balancer')))!.for(host.name);
    const first = rs('1');
    expect((await run(first, true, rollout(first))).byId['svc-rolled'].reason).toMatch(/; rolled 1 host\(s\) at a time$/);
    const broken = (await run(first, false, rollout(first))).byId['svc-rolled'];
    expect(broken).toMatchObject({ status: 'failed', reason: expect.stringMatching(/^restarted \(conf changed\); then its health check failed for 1 s .*; the rollout of svc-rolled stopped$/) });
    expect(readFileSync(join(STATE_DIR, 'pending'), 'utf8')).toContain('svc-rolled');
    writeFileSync(join(dir, 'healthy'), '');
    const again = rs('1');
    expect((await run(again, false, rollout(again))).byId['svc-rolled']).toMatchObject({ status: 'changed', notified: ['restarted (owed by an earlier run that did not finish it)'] });
    expect(readFileSync(join(STATE_DIR, 'pending'), 'utf8')).not.toContain('svc-rolled');
    expect(calls).toEqual(['apply conf', 'react svc-rolled', 'react svc-rolled']);
  });

  it('refuses to apply while another run holds the host lock, and takes it once released', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'converge-hr-'));
    const t = toyType(dir, []);
    const other = await acquireRunLock(new LocalTransport('other'), STATE_DIR, undefined);
    try {
      await expect(run([resource(t, 'x', { name: 'x', value: '1' })])).rejects.toThrow(/another converge run holds this host's lock \(.* pid \d+ since/);
      expect(existsSync(join(dir, 'x'))).toBe(false);
      // check mode needs no lock
      expect((await run([resource(t, 'x', { name: 'x', value: '1' })], true)).byId.x.status).toBe('would-change');
    } finally {
      await other.held.release();
    }
    expect((await run([resource(t, 'x', { name: 'x', value: '1' })])).byId.x.status).toBe('changed');
  });

  it('waits for commands a dead run left running (they hold run.active), saying which', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'converge-hr-'));
    const t = toyType(dir, []);
    // What a changing command of a run whose connection was lost looks like on the host.
    const leftover = spawn('flock', ['-s', '-o', join(STATE_DIR, 'run.active'), 'sleep', '60'], { stdio: 'ignore', detached: true });
    let stopped = false;
    const stop = () => {
      if (!stopped) process.kill(-leftover.pid!, 'SIGTERM');
      stopped = true;
    };
    const ended = new Promise((r) => leftover.on('exit', r));
    const child = () => spawnSync('ps', ['-o', 'args=', '--ppid', String(leftover.pid)], { encoding: 'utf8' }).stdout.trim();
    for (let i = 0; i < 100 && child() !== 'sleep 60'; i++) await new Promise((r) => setTimeout(r, 50));
    try {
      await expect(run([resource(t, 'y', { name: 'y', value: '1' })])).rejects.toThrow(/commands an interrupted converge run started are still running on this host \(sleep 60 \(pid \d+\)\)/);
      expect(existsSync(join(dir, 'y'))).toBe(false);
      const notes: string[] = [];
      // The leftover ends while the next run waits for it (once the run says it waits: a loaded machine may be slow to get there).
      const res = await new HostRun(host, buildGraph([resource(t, 'y', { name: 'y', value: '1' })]), new LocalTransport('local'), {
        check: false,
        statesDir: '/',
        stateDir: STATE_DIR,
        waitLock: 30,
        signal: new AbortController().signal,
        onEvent: (e) => {
          if (!e.note) return;
          notes.push(e.note);
          setTimeout(stop, 500);
        },
      }).run();
      expect(res[0].status).toBe('changed');
      expect(notes).toEqual([expect.stringMatching(/^waiting up to 30s for commands of an interrupted run to finish: sleep 60 \(pid \d+\)$/)]);
    } finally {
      if (leftover.exitCode === null && leftover.signalCode === null) stop();
      await ended;
    }
  });

  it('stops waiting for the lock when the run is interrupted: nothing was changed, nothing is attempted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'converge-hr-'));
    const t = toyType(dir, []);
    const other = await acquireRunLock(new LocalTransport('other'), STATE_DIR, undefined);
    try {
      const ctl = new AbortController();
      setTimeout(() => ctl.abort(), 300);
      const started = Date.now();
      const res = await new HostRun(host, buildGraph([resource(t, 'z', { name: 'z', value: '1' })]), new LocalTransport('local'), {
        check: false,
        statesDir: '/',
        stateDir: STATE_DIR,
        waitLock: 30,
        signal: ctl.signal,
      }).run();
      expect(Date.now() - started).toBeLessThan(5000);
      expect(res[0]).toMatchObject({ status: 'skipped', reason: 'not attempted: the run was interrupted' });
      expect(existsSync(join(dir, 'z'))).toBe(false);
    } finally {
      await other.held.release();
    }
  });
});
