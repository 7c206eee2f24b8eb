// Host-side failures as a person reads them: each says which host (and
// resource, with its file:line), what went wrong, and on the next line a
// `hint:` saying what to do. An unreachable host, an unknown and a changed
// host key, and a failing command, on one container.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { converge } from '../support/cli.js';
import { startFleet, unreachableHost, type Fleet } from '../support/fleet.js';

/** The lines of one host's report block in the text output. */
function hostBlock(stdout: string, host: string): string[] {
  const lines = stdout.split('\n');
  const start = lines.findIndex((l) => l.startsWith(`${host}  `));
  if (start < 0) throw new Error(`no report for ${host} in:\n${stdout}`);
  const end = lines.findIndex((l, i) => i > start && /^\S/.test(l));
  return lines.slice(start, end < 0 ? undefined : end);
}

/** The line matching `problem` in a host's block, and the hint right after it. */
function expectActionable(stdout: string, host: string, status: string, problem: RegExp): void {
  const block = hostBlock(stdout, host);
  expect(block[0]).toMatch(new RegExp(`^${host} {2}${status} `));
  const i = block.findIndex((l) => problem.test(l));
  expect(i, `no line matching ${problem} in:\n${block.join('\n')}`).toBeGreaterThan(0);
  expect(block[i + 1], block.join('\n')).toMatch(/^ {4}hint: \S/);
}

describe('host-side failures say where, what, and what to do', () => {
  let fleet: Fleet;
  let port: number;
  const inventory = (name: string, knownHosts: string, extra: Record<string, unknown> = {}) => {
    const path = join(fleet.dir, name);
    const text = fleet.writeInventory(path, { roles: { web: ['web-1'] }, states: 'states', ...extra });
    writeFileSync(path, text.replace(fleet.knownHostsFile, knownHosts));
    return path;
  };

  beforeAll(async () => {
    fleet = await startFleet(['web-1']);
    port = fleet.host('web-1').port;
    mkdirSync(join(fleet.dir, 'states'));
    writeFileSync(join(fleet.dir, 'states/top.yaml'), 'roles:\n  web: [web]\n');
    writeFileSync(
      join(fleet.dir, 'states/web.yaml'),
      ['resources:', '  migrate:', '    cmd: { run: "echo \'database is locked\' >&2; exit 3", creates: /srv/migrated }', '  after-migrate:', '    file: { path: /srv/ready, content: "ok\\n" }', '    require: [migrate]', ''].join('\n'),
    );
  });
  afterAll(async () => fleet?.close());

  it('an unknown host key: the host, its fingerprint, and how to accept it', async () => {
    const inv = inventory('unknown-key.yaml', join(fleet.dir, 'empty_known_hosts'));
    const r = await converge(['highstate', '-i', inv, '--check']);
    expect(r.code).toBe(1);
    expectActionable(r.stdout, 'web-1', 'unreachable', new RegExp(`^ {2}! host key for root@127\\.0\\.0\\.1:${port} is unknown: ssh-ed25519 SHA256:\\S+ is not in \\S+empty_known_hosts$`));
    expect(r.stdout).toMatch(/hint: check the fingerprint out of band, then run once with --accept-new-host-keys/);
  });

  it('a changed host key: refused, with the command that removes the old key', async () => {
    const known = join(fleet.dir, 'wrong_known_hosts');
    writeFileSync(known, `[127.0.0.1]:${port} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPMUzeZhxjH9RUB6/a+ozFuQlwt84M0csvBT8g+m14Aa\n`);
    const r = await converge(['highstate', '-i', inventory('changed-key.yaml', known), '--check', '--accept-new-host-keys']);
    expect(r.code).toBe(1);
    expectActionable(r.stdout, 'web-1', 'unreachable', new RegExp(`^ {2}! host key for root@127\\.0\\.0\\.1:${port} CHANGED`));
    expect(r.stdout).toContain(`ssh-keygen -f ${known} -R '[127.0.0.1]:${port}'`);
  });

  it('an unreachable host: its address, and what to check; the other host still runs', async () => {
    const gone = await unreachableHost('gone-1');
    const inv = inventory('unreachable.yaml', fleet.knownHostsFile, { roles: { web: ['web-1', 'gone-1'] }, extraHosts: [gone] });
    const r = await converge(['highstate', '-i', inv, '--check', '--accept-new-host-keys']);
    expect(r.code).toBe(1);
    expectActionable(r.stdout, 'gone-1', 'unreachable', new RegExp(`^ {2}! cannot connect to root@127\\.0\\.0\\.1:${gone.port}: connect ECONNREFUSED`));
    expect(hostBlock(r.stdout, 'web-1')[0]).toMatch(/^web-1 {2}drift /);
  });

  it('a failing command: the resource, its file:line and output, and a hint; what requires it is skipped', async () => {
    const inv = inventory('ok.yaml', fleet.knownHostsFile);
    // Run from the fleet's directory, as a person would from theirs: paths in messages are relative to it.
    const r = await converge(['highstate', '-i', inv, '--accept-new-host-keys'], { cwd: fleet.dir });
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expectActionable(r.stdout, 'web-1', 'failed', /^ {2}! migrate \[cmd:migrate\] failed: running "echo 'database is locked' >&2; exit 3" failed \(exit 3\): database is locked \(states\/web\.yaml:2\)$/);
    expect(hostBlock(r.stdout, 'web-1')).toContain('  - after-migrate [file:/srv/ready] skipped: requisite migrate failed');
    const json = (await converge(['highstate', '-i', inv, '--json'], { cwd: fleet.dir })).json;
    const migrate = json.hosts[0].resources.find((x: any) => x.id === 'migrate');
    expect(migrate).toMatchObject({ status: 'failed', where: { file: 'states/web.yaml', line: 2, host: 'web-1' } });
    expect(migrate.hint).toMatch(/web-1/);
  });
});
