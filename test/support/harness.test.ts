// Integration test of the test harness itself (test/support/fleet.ts): two hosts
// come up, take root logins by key over SSH on 127.0.0.1, have distinct host
// keys, share the .deb pool without sharing apt's lock, and go away on close.

import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { docker } from './docker.js';
import { APT_POOL_MOUNT, startFleet, unreachableHost, type Fleet, type HostEntry } from './fleet.js';

interface SshRun {
  stdout: string;
  code: number | null;
}

/** Logs in with ssh2, accepting only `expectedKey` (base64 blob) as host key, and runs each command. */
function sshRun(h: HostEntry, commands: string[], expectedKey?: string): Promise<SshRun[]> {
  return new Promise((resolve, reject) => {
    const conn = new Client();
    const results: SshRun[] = [];
    const next = (i: number): void => {
      if (i === commands.length) {
        conn.end();
        resolve(results);
        return;
      }
      conn.exec(commands[i], (err, stream) => {
        if (err) return reject(err);
        let stdout = '';
        stream.on('data', (d: Buffer) => (stdout += d.toString()));
        stream.stderr.on('data', () => undefined);
        stream.on('close', (code: number | null) => {
          results.push({ stdout, code });
          next(i + 1);
        });
      });
    };
    conn.on('ready', () => next(0));
    conn.on('error', reject);
    conn.connect({
      host: h.address,
      port: h.port,
      username: h.user,
      privateKey: readFileSync(h.keyPath),
      readyTimeout: 20_000,
      algorithms: { serverHostKey: ['ssh-ed25519'] },
      hostVerifier: (key: Buffer) => expectedKey === undefined || key.toString('base64') === expectedKey,
    });
  });
}

describe('test harness: fleet of SSH targets', () => {
  let fleet: Fleet;
  const started = Date.now();

  beforeAll(async () => {
    fleet = await startFleet(['harness-1', 'harness-2']);
    console.log(`[harness] 2 hosts up in ${Date.now() - started} ms`);
  });

  afterAll(async () => {
    const ids = fleet?.hosts.map((h) => h.containerId) ?? [];
    await fleet?.close();
    if (ids.length > 0) {
      const { stdout } = await docker(['ps', '-aq', '--no-trunc']);
      for (const id of ids) expect(stdout).not.toContain(id);
    }
  });

  it('publishes each sshd on 127.0.0.1 only, with its own port', async () => {
    expect(fleet.hosts.map((h) => h.name)).toEqual(['harness-1', 'harness-2']);
    expect(new Set(fleet.hosts.map((h) => h.port)).size).toBe(2);
    for (const h of fleet.hosts) {
      expect(h.address).toBe('127.0.0.1');
      const { stdout } = await docker(['port', h.containerId, '22/tcp']);
      expect(stdout.trim().split('\n')).toEqual([`127.0.0.1:${h.port}`]);
    }
  });

  it('logs in as root by key over ssh2; systemd is up; host keys match hostKeyLine and differ', async () => {
    const keys: string[] = [];
    for (const h of fleet.hosts) {
      const line = await fleet.hostKeyLine(h.name);
      expect(line).toMatch(new RegExp(`^\\[127\\.0\\.0\\.1\\]:${h.port} ssh-ed25519 AAAA[A-Za-z0-9+/=]+$`));
      const blob = line.split(' ')[2];
      keys.push(blob);
      const [state, uid, name] = await sshRun(h, ['systemctl is-system-running', 'id -u', 'hostname'], blob);
      expect(['running\n', 'degraded\n']).toContain(state.stdout);
      expect(uid).toEqual({ stdout: '0\n', code: 0 });
      expect(name.stdout).toBe(`${h.name}\n`);
    }
    expect(keys[0]).not.toBe(keys[1]);
    // A wrong host key is refused (the verifier is really consulted).
    await expect(sshRun(fleet.hosts[0], ['true'], keys[1])).rejects.toThrow();
    expect(statSync(fleet.knownHostsFile).size).toBe(0);
  });

  it('exec runs by docker exec and reports stdout, stderr and exit code', async () => {
    expect(await fleet.exec('harness-1', 'echo out; echo err >&2; exit 3')).toEqual({ stdout: 'out\n', stderr: 'err\n', code: 3 });
    expect((await fleet.exec('harness-2', ['cat', '/etc/hostname'])).stdout).toBe('harness-2\n');
  });

  it('shares the .deb pool between hosts, and two hosts can run apt at once', async () => {
    // Both containers see the same host directory.
    const marker = `marker-${Date.now()}`;
    expect((await fleet.exec('harness-1', `touch ${APT_POOL_MOUNT}/.${marker}`)).code).toBe(0);
    expect((await fleet.exec('harness-2', `test -e ${APT_POOL_MOUNT}/.${marker} && rm ${APT_POOL_MOUNT}/.${marker}`)).code).toBe(0);

    const aptGet = async (name: string, args: string) => {
      let r = await fleet.exec(name, `apt-get ${args} 2>&1`);
      if (r.code !== 0) {
        // The image's package lists may be older than the mirror: refresh once.
        await fleet.exec(name, 'apt-get update -qq 2>&1');
        r = await fleet.exec(name, `apt-get ${args} 2>&1`);
      }
      return r;
    };
    // harness-1 installs hello and publishes its .deb into the pool ...
    const first = await aptGet('harness-1', 'install -y --no-install-recommends hello');
    expect(first.code, first.stdout).toBe(0);
    expect((await fleet.exec('harness-1', `ls ${APT_POOL_MOUNT}`)).stdout).toMatch(/^hello_.*\.deb$/m);
    // ... and harness-2 (booted before that) picks it up without downloading it.
    await fleet.exec('harness-2', '/usr/local/sbin/converge-apt-pool');
    const second = await aptGet('harness-2', 'install -y --no-install-recommends hello');
    expect(second.code, second.stdout).toBe(0);
    expect(second.stdout).toMatch(/Need to get 0 B/);
    expect((await fleet.exec('harness-2', 'hello')).stdout).toBe('Hello, world!\n');

    // apt's archive lock is per host: simultaneous installs both succeed.
    const [a, b] = await Promise.all([
      aptGet('harness-1', 'install -y --no-install-recommends tree'),
      aptGet('harness-2', 'install -y --no-install-recommends tree'),
    ]);
    expect(a.code, a.stdout).toBe(0);
    expect(b.code, b.stdout).toBe(0);
  });

  it('writes an inventory of the fleet in the engine format', async () => {
    const gone = await unreachableHost('gone-1');
    const path = join(fleet.dir, 'inventory.yaml');
    fleet.writeInventory(path, {
      roles: { web: ['harness-1', 'harness-2'], db: ['harness-2'], lost: ['gone-1'] },
      roleVars: { web: { port: 8080 } },
      vars: { motd: 'hi' },
      extraHosts: [gone],
    });
    const inv = parse(readFileSync(path, 'utf8'));
    const [h1, h2] = fleet.hosts;
    expect(inv).toEqual({
      defaults: { user: 'root', key: fleet.keyPath, known_hosts: fleet.knownHostsFile },
      hosts: {
        'harness-1': { address: '127.0.0.1', port: h1.port, roles: ['web'] },
        'harness-2': { address: '127.0.0.1', port: h2.port, roles: ['web', 'db'] },
        'gone-1': { address: '127.0.0.1', port: gone.port, roles: ['lost'] },
      },
      roles: { web: { vars: { port: 8080 } }, db: { vars: {} }, lost: { vars: {} } },
      vars: { motd: 'hi' },
    });
    expect(() => fleet.writeInventory(path, { roles: { web: ['nope'] } })).toThrow(/unknown host nope/);
  });

  it('unreachableHost and stop() give hosts that refuse connections', async () => {
    const gone = await unreachableHost('gone-1');
    await expect(sshRun(gone, ['true'])).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await fleet.stop('harness-2');
    await expect(sshRun(fleet.host('harness-2'), ['true'])).rejects.toThrow();
    // The other host is unaffected.
    const [uid] = await sshRun(fleet.host('harness-1'), ['id -u']);
    expect(uid.stdout).toBe('0\n');
  });
});
