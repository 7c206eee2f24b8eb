// The engine end to end on a 2-host fleet with every first resource type
// (file, directory, package, service, user, group, cmd): converge, converge
// again with 0 changes and no restart at one exec per host, drift by hand
// reported exactly by --check (which changes nothing), repair; an
// unreachable host fails alone; a changed host key is refused; bad input
// stops the run before any host is touched.

import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { converge, resourcesOf } from '../support/cli.js';
import { startFleet, unreachableHost, type Fleet } from '../support/fleet.js';
import { snapshot } from '../support/snapshot.js';

const HOSTS = ['app-1', 'app-2'];
const MANAGED = ['/srv/app', '/home'];
const TREE = join(import.meta.dirname, 'engine-tree');

describe('engine on a 2-host fleet', () => {
  let fleet: Fleet;
  let inv: string;
  const run = (...args: string[]) => converge([...args, '-i', inv, '--json', '--diff']);
  const statuses = (json: any, host: string) => Object.fromEntries(Object.entries(resourcesOf(json, host)).map(([id, r]) => [id, r.status]));
  const changedIds = (json: any, host: string) => Object.entries(statuses(json, host)).filter(([, s]) => s !== 'unchanged').map(([id, s]) => `${id}:${s}`).sort();
  const mainPid = async (host: string) => (await fleet.exec(host, 'systemctl show -p MainPID --value app')).stdout.trim();

  beforeAll(async () => {
    fleet = await startFleet(HOSTS);
    cpSync(join(TREE, 'states'), join(fleet.dir, 'states'), { recursive: true });
    const devKey = (name: string) => `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI${Buffer.from(name.padEnd(32, '.')).toString('base64').slice(0, 43)} ${name}@laptop`;
    inv = join(fleet.dir, 'inventory.yaml');
    fleet.writeInventory(inv, {
      roles: { app: HOSTS },
      states: 'states',
      vars: { project: 'demo', developers: [{ name: 'alice', keys: [devKey('alice')] }, { name: 'bob', keys: [devKey('bob')] }] },
      roleVars: { app: { workers: 2 } },
    });
  });
  afterAll(async () => fleet?.close());

  it('validates without connecting', async () => {
    const r = await converge(['validate', '-i', inv]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^valid: .* 2 host\(s\) \(\d+ resources\)/);
    expect(r.code).toBe(0);
  });

  it('check on fresh hosts reports drift and changes nothing', async () => {
    const before = await Promise.all(HOSTS.map((h) => snapshot(fleet, h, MANAGED)));
    const r = await run('highstate', '--check', '--accept-new-host-keys');
    expect(r.code, r.stderr).toBe(2);
    for (const h of HOSTS) expect(statuses(r.json, h)['app-conf']).toBe('would-change');
    expect(await Promise.all(HOSTS.map((h) => snapshot(fleet, h, MANAGED)))).toEqual(before);
  });

  it('converges both hosts', async () => {
    const r = await run('highstate');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    for (const h of HOSTS) {
      const st = statuses(r.json, h);
      expect(Object.values(st).every((s) => s === 'changed' || s === 'unchanged'), JSON.stringify(st)).toBe(true);
      expect(st['app-conf']).toBe('changed');
      expect(st.migrate).toBe('changed');
      expect((await fleet.exec(h, 'cat /srv/app/conf/app.ini')).stdout).toBe(`[app]\nname = demo\nhost = ${h}\nworkers = 2\n`);
      expect((await fleet.exec(h, 'stat -c "%U:%G %a" /srv/app/conf/app.ini /srv/app/conf')).stdout).toBe('app:app 640\napp:app 750\n');
      expect((await fleet.exec(h, 'systemctl is-active app; systemctl is-enabled app')).stdout).toBe('active\nenabled\n');
      expect((await fleet.exec(h, "dpkg-query -W -f '${Status}' tree")).stdout).toBe('install ok installed');
      expect((await fleet.exec(h, 'id -nG alice')).stdout.trim().split(' ').sort()).toEqual(['alice', 'developers']);
      expect((await fleet.exec(h, 'cat /etc/motd')).stdout).toContain(`${h} (app) is managed by converge.`);
      expect((await fleet.exec(h, 'wc -l < /srv/app/conf/migrations.log')).stdout.trim()).toBe('1');
    }
  });

  it('a second run changes nothing, restarts nothing, and costs one exec per host', async () => {
    const pids = await Promise.all(HOSTS.map(mainPid));
    const r = await run('highstate');
    expect(r.code).toBe(0);
    for (const h of HOSTS) {
      expect(changedIds(r.json, h)).toEqual([]);
      expect(r.json.hosts.find((x: any) => x.host === h).execCount).toBe(1);
    }
    expect(await Promise.all(HOSTS.map(mainPid))).toEqual(pids);
    const text = await converge(['highstate', '-i', inv]);
    expect(text.stdout).toMatch(/resources: 0 changed, 0 failed, 0 skipped/);
  });

  it('check reports exactly a hand-made drift, with a diff, and changes nothing', async () => {
    await fleet.exec('app-1', "sed -i 's/workers = 2/workers = 9/' /srv/app/conf/app.ini && userdel -r bob");
    await fleet.exec('app-2', 'systemctl stop app');
    const before = await Promise.all(HOSTS.map((h) => snapshot(fleet, h, MANAGED)));
    const r = await run('highstate', '--check');
    expect(r.code).toBe(2);
    // the edited file, what reacts to it, and the deleted user: nothing else
    expect(changedIds(r.json, 'app-1')).toEqual(['app-conf:would-change', 'app-service:would-change', 'dev-bob:would-change', 'migrate:would-change']);
    expect(changedIds(r.json, 'app-2')).toEqual(['app-service:would-change']);
    const conf = resourcesOf(r.json, 'app-1')['app-conf'];
    expect(conf.changes).toEqual([expect.objectContaining({ path: 'content', action: 'update' })]);
    expect(conf.changes[0].diff).toContain('-workers = 9\n+workers = 2');
    expect(resourcesOf(r.json, 'app-1')['app-service'].notified).toEqual(['would restart (app-conf would change)']);
    expect(resourcesOf(r.json, 'app-2')['app-service'].changes).toEqual([expect.objectContaining({ path: 'running', before: false, after: true })]);
    expect(await Promise.all(HOSTS.map((h) => snapshot(fleet, h, MANAGED)))).toEqual(before);
  });

  it('the next run repairs the drift, keeping a backup of the replaced file', async () => {
    const pid1 = await mainPid('app-1');
    const r = await run('highstate');
    expect(r.code, r.stdout).toBe(0);
    expect(changedIds(r.json, 'app-1')).toEqual(['app-conf:changed', 'app-service:changed', 'dev-bob:changed', 'migrate:changed']);
    expect(await mainPid('app-1')).not.toBe(pid1);
    expect((await fleet.exec('app-1', 'cat /srv/app/conf/app.ini.converge-bak-*')).stdout).toContain('workers = 9');
    expect((await run('highstate', '--check')).code).toBe(0);
  });

  it('an unreachable host fails alone; the others converge', async () => {
    const gone = await unreachableHost('gone-1');
    const inv2 = join(fleet.dir, 'inventory-gone.yaml');
    fleet.writeInventory(inv2, { roles: { app: [...HOSTS, 'gone-1'] }, states: 'states', extraHosts: [gone], vars: { project: 'demo', developers: [] }, roleVars: { app: { workers: 3 } } });
    const r = await converge(['highstate', '-i', inv2, '--json']);
    expect(r.code).toBe(1);
    const byHost = Object.fromEntries(r.json.hosts.map((h: any) => [h.host, h.status]));
    expect(byHost).toEqual({ 'app-1': 'changed', 'app-2': 'changed', 'gone-1': 'unreachable' });
    expect(r.json.hosts.find((h: any) => h.host === 'gone-1').error.message).toMatch(/cannot connect to root@127\.0\.0\.1:\d+/);
    // put the fleet back as it was
    expect((await run('highstate')).code).toBe(0);
  });

  it('refuses a host whose key changed, showing the fingerprint and how to accept it', async () => {
    const known = readFileSync(fleet.knownHostsFile, 'utf8');
    const other = (await fleet.hostKeyLine('app-2')).split(' ').slice(1).join(' ');
    const port = fleet.host('app-1').port;
    writeFileSync(fleet.knownHostsFile, known.split('\n').map((l) => (l.startsWith(`[127.0.0.1]:${port} `) ? `[127.0.0.1]:${port} ${other}` : l)).join('\n'));
    try {
      const r = await converge(['highstate', '-i', inv, '--json', '--target', 'app-1', '--accept-new-host-keys']);
      expect(r.code).toBe(1);
      const h = r.json.hosts[0];
      expect(h.status).toBe('unreachable');
      expect(h.error.message).toMatch(/host key for root@127\.0\.0\.1:\d+ CHANGED: the host offered ssh-ed25519 SHA256:\S+/);
      expect(h.error.hint).toMatch(/ssh-keygen -f .* -R/);
    } finally {
      writeFileSync(fleet.knownHostsFile, known);
    }
  });

  it('bad input stops the run before any host is touched', async () => {
    writeFileSync(join(fleet.dir, 'states/broken.yaml'), 'resources:\n  x:\n    file: { path: relative/path, mode: "999" }\n');
    const before = await snapshot(fleet, 'app-1', MANAGED);
    const r = await converge(['apply', 'broken', '-i', inv]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/broken\.yaml:3: resources\.x\.file\.path: does not match/);
    expect(r.stdout).toBe('');
    expect(await snapshot(fleet, 'app-1', MANAGED)).toBe(before);
  });
});
