// service and cmd on a real systemd host: a unit file managed by a file
// resource, a service that watches it, and cmds guarded by creates and
// unless or triggered by onchanges. The unit counts its own starts (its
// ExecStartPre appends to a file), so "no restart" and "restarted once" are
// exact.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { converge, resourcesOf } from '../support/cli.js';
import { startFleet, type Fleet } from '../support/fleet.js';
import { snapshot } from '../support/snapshot.js';

const HOST = 'svc-1';
const UNIT = '/etc/systemd/system/converge-demo.service';
const STARTS = '/var/tmp/converge-demo-starts';

const demoState = `
resources:
  demo-unit:
    file:
      path: ${UNIT}
      content: |
        [Unit]
        Description=converge demo
        [Service]
        Environment=GREETING={{ greeting }}
        ExecStartPre=/bin/sh -c 'echo start >> ${STARTS}'
        ExecStart=/bin/sleep infinity
        [Install]
        WantedBy=multi-user.target
  demo:
    service: { name: converge-demo, enabled: true, running: true }
    watch: [demo-unit]
  make-marker:
    cmd: { run: "mkdir -p /srv/made && echo made > /srv/made/marker", creates: /srv/made/marker }
  on-unit-change:
    cmd: { run: "echo changed >> /var/tmp/unit-changed" }
    onchanges: [demo-unit]
  greet:
    cmd:
      run: 'echo "$GREETING from $(id -un) in $(pwd)" > greeting'
      runas: nobody
      cwd: /var/tmp
      env: { GREETING: "hello it's me" }
      unless: test -s greeting
`;

// A command that does not create its creates path, a failing command, and a unit that does not exist.
const brokenState = `
resources:
  forgets-creates:
    cmd: { run: "true", creates: /srv/never-made }
  fails:
    cmd: { run: "echo boom-output; echo boom-error >&2; exit 3", creates: /srv/never-made-either }
  missing-unit:
    service: { name: converge-no-such-unit, running: true }
`;

const IDS = ['demo-unit', 'demo', 'make-marker', 'on-unit-change', 'greet'];

describe('service and cmd on a systemd host', () => {
  let fleet: Fleet;
  let inventory: string;
  let exec: (cmd: string) => Promise<string>;
  const writeInventory = (greeting: string) => fleet.writeInventory(inventory, { roles: { demo: [HOST] }, states: join(fleet.dir, 'states'), vars: { greeting } });
  const run = (...args: string[]) => converge(['highstate', '-i', inventory, '--json', ...args]);
  const statuses = (json: unknown) => Object.fromEntries(Object.entries(resourcesOf(json, HOST)).map(([id, r]) => [id, r.status]));
  const mainPid = async () => (await exec('systemctl show -p MainPID --value converge-demo')).trim();
  const starts = async () => (await exec(`cat ${STARTS} 2>/dev/null`)).split('\n').filter(Boolean).length;

  beforeAll(async () => {
    fleet = await startFleet([HOST]);
    exec = async (cmd) => (await fleet.exec(HOST, cmd)).stdout;
    const states = join(fleet.dir, 'states');
    mkdirSync(states);
    writeFileSync(join(states, 'top.yaml'), 'roles:\n  demo: [demo]\n');
    writeFileSync(join(states, 'demo.yaml'), demoState);
    writeFileSync(join(states, 'broken.yaml'), brokenState);
    inventory = join(fleet.dir, 'inventory.yaml');
    writeInventory('hello');
  });

  afterAll(async () => {
    await fleet?.close();
  });

  it('check on a fresh host plans the service whose unit file does not exist yet, and changes nothing', async () => {
    const before = await snapshot(fleet, HOST, ['/srv', '/var/tmp']);
    const t = Date.now();
    const r = await run('--check', '--accept-new-host-keys');
    console.log(`[service-cmd] fresh check: ${Date.now() - t} ms`);
    expect(r.code, r.stderr).toBe(2);
    const res = resourcesOf(r.json, HOST);
    expect(statuses(r.json)).toEqual({ 'demo-unit': 'would-change', demo: 'would-change', 'make-marker': 'would-change', 'on-unit-change': 'would-change', greet: 'would-change' });
    expect(res.demo.changes).toEqual([
      { path: 'enabled', action: 'update', before: 'not-found', after: true },
      { path: 'running', action: 'update', before: 'not-found', after: true },
    ]);
    expect(res['on-unit-change'].notified).toEqual(['would run (demo-unit would change)']);
    expect(res.greet.changes).toEqual([{ path: 'command', action: 'run', before: 'unless check failed', after: res.greet.changes[0].after }]);
    expect(await snapshot(fleet, HOST, ['/srv', '/var/tmp'])).toBe(before);
  });

  it('converges: the unit is found, enabled and started once; the commands run once each', async () => {
    const t = Date.now();
    const r = await run();
    console.log(`[service-cmd] first run: ${Date.now() - t} ms`);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(statuses(r.json)).toEqual(Object.fromEntries(IDS.map((id) => [id, 'changed'])));
    const res = resourcesOf(r.json, HOST);
    // Just started by its own apply, so the watched unit file does not restart it again.
    expect(res.demo.notified).toBeUndefined();
    expect(res['on-unit-change'].notified).toEqual(['ran (demo-unit changed)']);

    expect(await exec('systemctl show -p LoadState,UnitFileState,ActiveState,NeedDaemonReload converge-demo | sort')).toBe(
      'ActiveState=active\nLoadState=loaded\nNeedDaemonReload=no\nUnitFileState=enabled\n',
    );
    expect(await starts()).toBe(1);
    expect(await exec('cat /srv/made/marker /var/tmp/unit-changed')).toBe('made\nchanged\n');
    // env from stdin, as runas, in cwd.
    expect(await exec("stat -c %U /var/tmp/greeting && cat /var/tmp/greeting")).toBe("nobody\nhello it's me from nobody in /var/tmp\n");
  });

  it('converges again with no change and no restart', async () => {
    const pid = await mainPid();
    const since = await exec('systemctl show -p ActiveEnterTimestampMonotonic --value converge-demo');
    const t = Date.now();
    const r = await run();
    console.log(`[service-cmd] no-op run: ${Date.now() - t} ms`);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(statuses(r.json)).toEqual(Object.fromEntries(IDS.map((id) => [id, 'unchanged'])));
    expect(await mainPid()).toBe(pid);
    expect(await exec('systemctl show -p ActiveEnterTimestampMonotonic --value converge-demo')).toBe(since);
    expect(await starts()).toBe(1);
    expect(await exec('cat /var/tmp/unit-changed')).toBe('changed\n');
  });

  it('check reports a service stopped by hand, exactly, and changes nothing', async () => {
    await exec('systemctl stop converge-demo');
    const before = await snapshot(fleet, HOST, ['/srv', '/var/tmp']);
    const r = await run('--check');
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(statuses(r.json)).toEqual({ ...Object.fromEntries(IDS.map((id) => [id, 'unchanged'])), demo: 'would-change' });
    expect(resourcesOf(r.json, HOST).demo.changes).toEqual([{ path: 'running', action: 'update', before: false, after: true }]);
    expect(await snapshot(fleet, HOST, ['/srv', '/var/tmp'])).toBe(before);
    expect(await exec('systemctl is-active converge-demo')).toBe('inactive\n');

    const fix = await run();
    expect(fix.code, fix.stdout + fix.stderr).toBe(0);
    expect(statuses(fix.json)).toEqual({ ...Object.fromEntries(IDS.map((id) => [id, 'unchanged'])), demo: 'changed' });
    expect(await starts()).toBe(2);
  });

  it('a changed unit file reloads systemd and restarts the service once, and fires onchanges', async () => {
    const pid = await mainPid();
    writeInventory('bonjour');
    const check = await run('--check');
    expect(check.code).toBe(2);
    expect(resourcesOf(check.json, HOST).demo.notified).toEqual(['would restart (demo-unit would change)']);

    const r = await run();
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(statuses(r.json)).toEqual({ ...Object.fromEntries(IDS.map((id) => [id, 'unchanged'])), 'demo-unit': 'changed', demo: 'changed', 'on-unit-change': 'changed' });
    const demo = resourcesOf(r.json, HOST).demo;
    expect(demo.changes.map((c: { path: string }) => c.path)).toEqual(['unit']);
    expect(demo.notified).toEqual(['restarted (demo-unit changed)']);
    expect(await starts()).toBe(3);
    const newPid = await mainPid();
    expect(newPid).not.toBe(pid);
    // The new process runs with the new unit: systemd was reloaded before the restart.
    expect(await exec(`tr '\\0' '\\n' < /proc/${newPid}/environ | grep GREETING`)).toBe('GREETING=bonjour\n');
    expect(await exec('cat /var/tmp/unit-changed')).toBe('changed\nchanged\n');

    const again = await run();
    expect(statuses(again.json)).toEqual(Object.fromEntries(IDS.map((id) => [id, 'unchanged'])));
    expect(await mainPid()).toBe(newPid);
  });

  it('fails a command that does not satisfy its creates, a failing command with its output, and a unit that does not exist', async () => {
    const r = await converge(['apply', 'broken', '-i', inventory, '--json']);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    const res = resourcesOf(r.json, HOST);
    expect(res['forgets-creates'].status).toBe('failed');
    expect(res['forgets-creates'].reason).toMatch(/still differs in: command/);
    expect(res.fails.status).toBe('failed');
    expect(res.fails.reason).toMatch(/running "echo boom-output.*" failed \(exit 3\): boom-output \/ boom-error/);
    expect(res['missing-unit'].status).toBe('failed');
    expect(res['missing-unit'].reason).toMatch(/unit converge-no-such-unit.service does not exist/);
  });
});
