// package on a real Debian 12 container: three packages (one held) in one
// apt transaction, a second run with nothing to do, drift by hand seen by
// --check (which changes nothing, not even the package lists) and repaired
// after the refresh a new apt source calls for, removal, purge and unhold,
// and a run that waits for a dpkg lock held by someone else and gives up
// naming it.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { converge, resourcesOf } from '../support/cli.js';
import { startFleet, type Fleet } from '../support/fleet.js';
import { snapshot } from '../support/snapshot.js';

const HOST = 'pkg-1';

describe('package resource on a container', () => {
  let fleet: Fleet;
  let inventory: string;
  let states: string;
  const timings: Record<string, number> = {};

  /** Writes states/packages.yaml with these resources. */
  const writeState = (resources: Record<string, unknown>) => writeFileSync(join(states, 'packages.yaml'), JSON.stringify({ resources }, null, 2));
  const run = async (label: string, args: string[], env?: Record<string, string>) => {
    const started = Date.now();
    const res = await converge(['highstate', '-i', inventory, '--json', ...args], { env });
    timings[label] = Date.now() - started;
    return res;
  };
  const sh = async (cmd: string) => {
    const r = await fleet.exec(HOST, cmd);
    expect(r.code, `${cmd}: ${r.stderr}`).toBe(0);
    return r.stdout;
  };
  /** Transactions apt has logged (apt-get update and apt-mark log none). */
  const aptTransactions = async () => Number((await sh('grep -c "^Start-Date" /var/log/apt/history.log || true')).trim() || 0);
  const dpkgStatus = async (name: string) => (await fleet.exec(HOST, `dpkg-query -W -f '\${db:Status-Abbrev}' ${name}`)).stdout.trim();

  beforeAll(async () => {
    const started = Date.now();
    fleet = await startFleet([HOST]);
    timings.start = Date.now() - started;
    states = join(fleet.dir, 'states');
    mkdirSync(states);
    writeFileSync(join(states, 'top.yaml'), 'roles:\n  pkg: [packages]\n');
    inventory = join(fleet.dir, 'inventory.yaml');
    fleet.writeInventory(inventory, { roles: { pkg: [HOST] }, states });
  });

  afterAll(async () => {
    console.log(`[package] timings (ms): ${JSON.stringify(timings)}`);
    await fleet?.close();
  });

  it('installs two packages and a held one in one apt transaction', async () => {
    writeState({
      hello: { package: { name: 'hello' } },
      tree: { package: { name: 'tree', ensure: 'present' } },
      figlet: { package: { name: 'figlet', held: true } },
    });
    // Lists two hours old (whenever the image was built): the install refreshes them first.
    await sh("touch -d '2 hours ago' /var/lib/apt/lists/*_Packages && rm -f /var/lib/apt/periodic/update-success-stamp");
    const before = await aptTransactions();
    const res = await run('install', ['--accept-new-host-keys']);
    expect(res.code, res.stderr + res.stdout).toBe(0);
    const rs = resourcesOf(res.json, HOST);
    for (const id of ['hello', 'tree', 'figlet']) expect(rs[id].status, rs[id].reason).toBe('changed');
    expect(rs.hello.reason).toMatch(/one apt transaction with 2 more/);
    expect(rs.figlet.changes.map((c: { path: string }) => c.path)).toEqual(['installed', 'held', 'apt-index']);
    expect(await sh('test -e /var/lib/apt/periodic/update-success-stamp && echo refreshed')).toBe('refreshed\n');
    expect(await aptTransactions()).toBe(before + 1);
    for (const name of ['hello', 'tree']) expect(await dpkgStatus(name)).toBe('ii');
    expect(await dpkgStatus('figlet')).toBe('hi');
    expect(await sh('apt-mark showhold')).toBe('figlet\n');
    expect(await sh('hello')).toBe('Hello, world!\n');
  });

  it('changes nothing on a second run', async () => {
    const before = await aptTransactions();
    const res = await run('noop', []);
    expect(res.code, res.stderr).toBe(0);
    const statuses = Object.values(resourcesOf(res.json, HOST)).map((r) => r.status);
    expect(statuses).toEqual(['unchanged', 'unchanged', 'unchanged']);
    // The three resources share one prefetch: one exec for the whole host.
    expect(res.json.hosts[0].execCount).toBe(1);
    expect(await aptTransactions()).toBe(before);
  });

  it('--check reports a package removed by hand, exactly, and changes nothing', async () => {
    await sh('DEBIAN_FRONTEND=noninteractive apt-get remove -y -q hello >/dev/null 2>&1');
    // Package lists by name, size and mtime (hashing 80 MB twice is slow): an apt-get update would show.
    const lists = () => sh('find /var/lib/apt/lists /var/lib/apt/periodic -printf "%p %s %T@\\n" | sort');
    const paths = ['/var/lib/dpkg/status'];
    const before = (await snapshot(fleet, HOST, paths)) + (await lists());
    const res = await run('check', ['--check']);
    expect(res.code, res.stderr).toBe(2);
    const rs = resourcesOf(res.json, HOST);
    expect(Object.entries(rs).filter(([, r]) => r.status !== 'unchanged').map(([id, r]) => [id, r.status])).toEqual([['hello', 'would-change']]);
    // The lists were refreshed by the first run: no refresh planned.
    expect(rs.hello.changes).toEqual([{ path: 'installed', action: 'create', before: 'absent', after: 'installed' }]);
    expect((await snapshot(fleet, HOST, paths)) + (await lists())).toBe(before);

    // A source added since the last refresh (as a vendor repository would be): the repair refreshes first.
    await sh("echo '# a vendor repository' > /etc/apt/sources.list.d/vendor.list");
    const fix = await run('repair', []);
    expect(fix.code, fix.stderr).toBe(0);
    const hello = resourcesOf(fix.json, HOST).hello;
    expect(hello.status).toBe('changed');
    expect(hello.changes[1]).toEqual({ path: 'apt-index', action: 'run', before: 'apt sources changed since the last refresh', after: 'apt-get update' });
    expect(await dpkgStatus('hello')).toBe('ii');
  });

  it('removes, purges and releases a hold', async () => {
    writeState({
      hello: { package: { name: 'hello', ensure: 'absent' } },
      tree: { package: { name: 'tree', ensure: 'purged' } },
      figlet: { package: { name: 'figlet', held: false } },
    });
    const res = await run('remove', []);
    expect(res.code, res.stderr + res.stdout).toBe(0);
    const rs = resourcesOf(res.json, HOST);
    for (const id of ['hello', 'tree', 'figlet']) expect(rs[id].status, rs[id].reason).toBe('changed');
    expect((await fleet.exec(HOST, 'dpkg -s hello')).code).not.toBe(0);
    expect((await fleet.exec(HOST, 'dpkg -s tree')).code).not.toBe(0);
    expect(await dpkgStatus('figlet')).toBe('ii');
    expect(await sh('apt-mark showhold')).toBe('');
    const again = await run('remove-noop', []);
    expect(Object.values(resourcesOf(again.json, HOST)).map((r) => r.status)).toEqual(['unchanged', 'unchanged', 'unchanged']);
  });

  it('waits for a dpkg lock held by another process, then fails naming it', async () => {
    writeState({ hello: { package: { name: 'hello' } } });
    // dpkg --set-selections holds the dpkg locks (fcntl, as apt takes them) while it reads stdin.
    // (flock(1) takes flock(2) locks, which apt and dpkg do not see.)
    await sh('(sleep 60 | dpkg --set-selections) >/dev/null 2>&1 & sleep 1; grep -c POSIX /proc/locks');
    const started = Date.now();
    const res = await run('locked', [], { CONVERGE_DPKG_LOCK_TIMEOUT: '5' });
    const waited = Date.now() - started;
    expect(res.code).toBe(1);
    const host = res.json.hosts.find((h: { host: string }) => h.host === HOST);
    expect(host.status).toBe('failed');
    const hello = resourcesOf(res.json, HOST).hello;
    expect(hello.status).toBe('failed');
    expect(hello.reason).toMatch(/^installing hello: gave up after waiting 5s for the dpkg lock: \/var\/lib\/dpkg\/lock(-frontend)? held by process \d+ \(dpkg\)$/);
    expect(hello.hint).toMatch(/CONVERGE_DPKG_LOCK_TIMEOUT/);
    // While it waits, the live progress says what for.
    expect(res.stderr).toMatch(new RegExp(`${HOST}: waiting up to [45]s for the dpkg lock: /var/lib/dpkg/lock(-frontend)? held by process \\d+ \\(dpkg\\)`));
    expect(waited).toBeGreaterThanOrEqual(5000);
    expect(await dpkgStatus('hello')).not.toBe('ii');
  });
});
