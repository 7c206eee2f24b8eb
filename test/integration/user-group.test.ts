// user and group on a real host: a developers group, a project system user,
// and a developer with two ssh keys and passwordless sudo. Verified by docker
// exec and by logging in as the developer over SSH with one of its keys and
// running sudo -n. Then drift by hand (the user deleted, a stray key added)
// is reported exactly by --check, which changes nothing, and repaired.

import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { converge, resourcesOf } from '../support/cli.js';
import { startFleet, type Fleet } from '../support/fleet.js';
import { snapshot } from '../support/snapshot.js';

const HOST = 'ug-1';
const KEYS = '/home/alice/.ssh/authorized_keys';

/** `SHA256:... comment` of a .pub file, as ssh-keygen prints it (the report's label for a key). */
const label = (pub: string) => {
  const [, fp, ...rest] = execFileSync('ssh-keygen', ['-lf', pub], { encoding: 'utf8' }).trim().split(' ');
  return `${fp} ${rest.slice(0, -1).join(' ')}`;
};

/** Logs in as `user` with `keyFile` (host key checked) and runs a command: its exit code and stdout. */
function sshAs(fleet: Fleet, hostKey: string, user: string, keyFile: string, command: string): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve, reject) => {
    const conn = new Client();
    conn.on('ready', () =>
      conn.exec(command, (err, stream) => {
        if (err) return reject(err);
        let stdout = '';
        stream.on('data', (d: Buffer) => (stdout += d.toString()));
        stream.stderr.on('data', () => undefined);
        stream.on('close', (code: number | null) => {
          conn.end();
          resolve({ code, stdout });
        });
      }),
    );
    conn.on('error', reject);
    conn.connect({
      host: '127.0.0.1',
      port: fleet.host(HOST).port,
      username: user,
      privateKey: readFileSync(keyFile),
      readyTimeout: 20_000,
      algorithms: { serverHostKey: ['ssh-ed25519'] },
      hostVerifier: (key: Buffer) => key.toString('base64') === hostKey,
    });
  });
}

describe('user and group on a container', () => {
  let fleet: Fleet;
  let inv: string;
  let hostKey: string;
  const key = (n: string) => join(fleet.dir, n);
  const run = (...extra: string[]) => converge(['highstate', '-i', inv, '--json', ...extra]);
  const statuses = (json: any) => Object.fromEntries(Object.entries(resourcesOf(json, HOST)).map(([id, r]) => [id, r.status]));
  const sh = async (cmd: string) => {
    const r = await fleet.exec(HOST, cmd);
    expect(r.code, `${cmd}: ${r.stderr}`).toBe(0);
    return r.stdout;
  };

  beforeAll(async () => {
    fleet = await startFleet([HOST]);
    for (const [name, comment] of [['laptop', 'alice@laptop'], ['desktop', 'alice@desktop'], ['stray', 'stray@elsewhere']]) {
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', key(name)]);
    }
    const pub = (n: string) => JSON.stringify(readFileSync(key(`${n}.pub`), 'utf8').trim());
    const states = join(fleet.dir, 'states');
    mkdirSync(states);
    writeFileSync(join(states, 'top.yaml'), 'roles:\n  dev: [users]\n');
    writeFileSync(
      join(states, 'users.yaml'),
      `resources:
  developers:
    group: { name: developers }
  myproj:
    user: { name: myproj, system: true, shell: /usr/sbin/nologin, home: /srv/myproj }
  myproj-home:
    directory: { path: /srv/myproj, owner: myproj, group: myproj, mode: "0750" }
  alice:
    user:
      name: alice
      shell: /bin/bash
      groups: [sudo, developers]
      ssh_keys: [${pub('laptop')}, ${pub('desktop')}]
      exclusive_keys: true
      sudo: nopasswd
`,
    );
    inv = join(fleet.dir, 'inventory.yaml');
    fleet.writeInventory(inv, { roles: { dev: [HOST] }, states });
    hostKey = (await fleet.hostKeyLine(HOST)).split(' ')[2];
  });

  afterAll(async () => {
    await fleet?.close();
  });

  it('converges: groups, a system user, a developer with keys and sudo', async () => {
    const r = await run('--accept-new-host-keys');
    expect(r.code, r.stderr).toBe(0);
    expect(statuses(r.json)).toEqual({ developers: 'changed', myproj: 'changed', 'myproj-home': 'changed', alice: 'changed' });
    expect(resourcesOf(r.json, HOST).alice.changes.map((c: any) => c.path)).toEqual(['user', 'ssh_keys', 'sudo']);

    const myproj = (await sh('getent passwd myproj')).trim().split(':');
    expect(Number(myproj[2])).toBeLessThan(1000);
    expect(myproj.slice(5)).toEqual(['/srv/myproj', '/usr/sbin/nologin']);
    expect(await sh('stat -c "%a %U:%G" /srv/myproj')).toBe('750 myproj:myproj\n');
    expect((await sh('getent passwd alice')).trim().split(':')[6]).toBe('/bin/bash');
    expect((await sh('id -Gn alice')).trim().split(' ').sort()).toEqual(['alice', 'developers', 'sudo']);
    expect(await sh(`stat -c "%a %U" /home/alice/.ssh ${KEYS}`)).toBe('700 alice\n600 alice\n');
    expect((await sh(`cat ${KEYS}`)).trim().split('\n')).toEqual([readFileSync(key('laptop.pub'), 'utf8').trim(), readFileSync(key('desktop.pub'), 'utf8').trim()]);
    expect(await sh('stat -c "%a %U:%G" /etc/sudoers.d/converge-alice')).toBe('440 root:root\n');
    expect(await sh('sudo -l -U alice')).toMatch(/\(ALL\) NOPASSWD: ALL/);
    expect(await sh('ls -a /etc/sudoers.d')).not.toContain('.converge-');
  });

  it('lets alice log in over ssh with her key and sudo without a password', async () => {
    const me = await sshAs(fleet, hostKey, 'alice', key('laptop'), 'id -un && sudo -n true');
    expect(me).toEqual({ code: 0, stdout: 'alice\n' });
    await expect(sshAs(fleet, hostKey, 'alice', key('stray'), 'true')).rejects.toThrow(/authentication/i);
  });

  it('changes nothing on a second run', async () => {
    const r = await run();
    expect(r.code, r.stderr).toBe(0);
    expect(Object.values(statuses(r.json))).toEqual(['unchanged', 'unchanged', 'unchanged', 'unchanged']);
  });

  it('reports exactly a user deleted by hand, changing nothing, and recreates it', async () => {
    // Her ssh session may still be winding down: userdel refuses while she has processes.
    await sh('for i in $(seq 50); do userdel -r alice 2>/dev/null && exit 0; sleep 0.2; done; exit 1');
    const before = await snapshot(fleet, HOST, ['/home', '/srv']);
    const check = await run('--check');
    expect(check.code, check.stderr).toBe(2);
    expect(statuses(check.json)).toEqual({ developers: 'unchanged', myproj: 'unchanged', 'myproj-home': 'unchanged', alice: 'would-change' });
    expect(resourcesOf(check.json, HOST).alice.changes).toEqual([
      { path: 'user', action: 'create', after: 'alice (groups sudo,developers, shell /bin/bash)' },
      { path: 'ssh_keys', action: 'create', after: [label(key('laptop.pub')), label(key('desktop.pub'))] },
    ]);
    expect(await snapshot(fleet, HOST, ['/home', '/srv'])).toBe(before);

    const fix = await run();
    expect(fix.code, fix.stderr).toBe(0);
    expect(statuses(fix.json).alice).toBe('changed');
    expect((await sshAs(fleet, hostKey, 'alice', key('desktop'), 'sudo -n true')).code).toBe(0);
  });

  it('with exclusive_keys reports a stray key added by hand, and removes it', async () => {
    await sh(`cat >> ${KEYS} <<'EOF'\n${readFileSync(key('stray.pub'), 'utf8').trim()}\nEOF`);
    expect((await sshAs(fleet, hostKey, 'alice', key('stray'), 'true')).code).toBe(0);
    const before = await snapshot(fleet, HOST, ['/home', '/srv']);
    const check = await run('--check');
    expect(check.code, check.stderr).toBe(2);
    expect(statuses(check.json)).toEqual({ developers: 'unchanged', myproj: 'unchanged', 'myproj-home': 'unchanged', alice: 'would-change' });
    expect(resourcesOf(check.json, HOST).alice.changes).toEqual([{ path: 'ssh_keys', action: 'update', before: [label(key('stray.pub'))], after: [] }]);
    expect(await snapshot(fleet, HOST, ['/home', '/srv'])).toBe(before);

    const fix = await run();
    expect(fix.code, fix.stderr).toBe(0);
    expect(statuses(fix.json).alice).toBe('changed');
    expect(await sh(`cat ${KEYS}`)).not.toContain('stray@elsewhere');
    expect(await sh(`stat -c "%a %U" ${KEYS}`)).toBe('600 alice\n');
    await expect(sshAs(fleet, hostKey, 'alice', key('stray'), 'true')).rejects.toThrow(/authentication/i);
  });
});
