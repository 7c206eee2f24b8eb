// Drift reports on a 2-host fleet (one converged fleet for every scenario):
// each change is classed new / pending / drift by the applied record the
// hosts keep; a file dropped by hand in an exclusive /etc/sudoers.d is drift,
// shown by hash only, moved away by apply with a backup; --fail-on drift;
// reports validate against schemas/report.schema.json; a saved plan applied
// after a hand edit on one host is refused there and applied on the other;
// and a converged host still costs 1 exec (2 with a second run-as user).

import { execFileSync } from 'node:child_process';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { converge, resourcesOf } from '../support/cli.js';
import { startFleet, type Fleet } from '../support/fleet.js';
import { reportSchemaErrors } from '../support/report-schema.js';

const HOSTS = ['drift-1', 'drift-2'];
const TREE = join(import.meta.dirname, 'drift-tree');

describe('drift, pending and new on a 2-host fleet', () => {
  let fleet: Fleet;
  let inv: string;
  let states: string;
  const git = (...args: string[]) => execFileSync('git', ['-C', states, '-c', 'user.name=ci', '-c', 'user.email=ci@example.org', ...args], { encoding: 'utf8' }).trim();
  const run = async (...args: string[]) => {
    const r = await converge([...args, '-i', inv, '--json']);
    expect(r.json, r.stderr).toBeDefined();
    expect(reportSchemaErrors(r.json)).toEqual([]);
    return r;
  };
  /** "id:status:class" of every resource that is not unchanged. */
  const classes = (json: any, host: string) =>
    Object.entries(resourcesOf(json, host))
      .filter(([, r]: [string, any]) => r.status !== 'unchanged')
      .map(([id, r]: [string, any]) => `${id}:${r.status}:${r.class}`)
      .sort();
  const hostOf = (json: any, host: string) => json.hosts.find((h: any) => h.host === host);

  beforeAll(async () => {
    fleet = await startFleet(HOSTS);
    states = join(fleet.dir, 'states');
    cpSync(join(TREE, 'states'), states, { recursive: true });
    git('init', '-q');
    git('add', '.');
    git('commit', '-qm', 'states');
    inv = join(fleet.dir, 'inventory.yaml');
    fleet.writeInventory(inv, { roles: { app: HOSTS }, states: 'states', vars: { workers: 2, banner: 'hello' } });
  });
  afterAll(async () => fleet?.close());

  it('a fresh fleet: every would-change is new; --fail-on drift passes it', async () => {
    const r = await run('highstate', '--check', '--accept-new-host-keys');
    expect(r.code).toBe(2);
    for (const h of HOSTS) {
      expect(classes(r.json, h).every((c) => c.endsWith(':new')), classes(r.json, h).join(' ')).toBe(true);
      expect(hostOf(r.json, h).lastConverged).toBeUndefined();
    }
    expect((await converge(['highstate', '--check', '--fail-on', 'drift', '-i', inv])).code).toBe(0);
  });

  it('apply records what it applied: state revision, login, time', async () => {
    const r = await run('highstate');
    expect(r.code, r.stdout).toBe(0);
    expect(classes(r.json, 'drift-1')).toContain('settings:changed:new');
    for (const h of HOSTS) {
      const rec = JSON.parse((await fleet.exec(h, 'cat /var/lib/converge/applied.json')).stdout);
      expect(rec).toMatchObject({ version: 1, revision: git('rev-parse', 'HEAD'), dirty: false, login: expect.stringMatching(/.@./) });
      expect(Object.keys(rec.resources)).toContain('file:/srv/app/settings.ini');
      expect(JSON.stringify(rec)).not.toContain('workers');
      expect((await fleet.exec(h, 'stat -c %a /var/lib/converge/applied.json')).stdout.trim()).toBe('600');
    }
  });

  it('a no-op costs 1 exec per host, 2 with a second run-as user, and says when the host was last converged', async () => {
    const r = await run('highstate');
    expect(r.code).toBe(0);
    for (const h of HOSTS) {
      expect(classes(r.json, h)).toEqual([]);
      expect(hostOf(r.json, h).execCount).toBe(2);
      expect(hostOf(r.json, h).lastConverged).toMatchObject({ revision: git('rev-parse', 'HEAD'), dirty: false });
    }
    const text = await converge(['highstate', '--check', '--target', 'drift-1', '-i', inv, '--verbose']);
    expect(text.stdout).toMatch(new RegExp(`last converged \\S+ from ${git('rev-parse', 'HEAD').slice(0, 12)} by \\S+@\\S+`));
  });

  it('hand edit -> drift, state edit -> pending, new resource -> new; --fail-on drift fails only where a host drifted', async () => {
    await fleet.exec('drift-1', "sed -i 's/workers = 2/workers = 7/' /srv/app/settings.ini");
    fleet.writeInventory(inv, { roles: { app: HOSTS }, states: 'states', vars: { workers: 2, banner: 'hello again' } });
    writeFileSync(join(states, 'drift.yaml'), readFileSync(join(states, 'drift.yaml'), 'utf8') + '  robots:\n    file: { path: /srv/app/robots.txt, content: "User-agent: *\\n", mode: "0644" }\n');
    const r = await run('highstate', '--check', '--diff');
    expect(r.code).toBe(2);
    expect(classes(r.json, 'drift-1')).toEqual(['banner:would-change:pending', 'robots:would-change:new', 'settings:would-change:drift']);
    expect(classes(r.json, 'drift-2')).toEqual(['banner:would-change:pending', 'robots:would-change:new']);

    const text = await converge(['highstate', '--check', '-i', inv]);
    expect(text.stdout).toMatch(/settings \[file:\/srv\/app\/settings\.ini\] would-change \(drift\)/);
    expect(text.stdout).toMatch(/changes: 1 drift, 1 pending, 1 new/);

    const report = join(fleet.dir, 'report.html');
    const only = await converge(['highstate', '--check', '--fail-on', 'drift', '-i', inv, '--report', report]);
    expect(only.code).toBe(2);
    const html = readFileSync(report, 'utf8');
    expect(html).toContain('<section class="c-drift">');
    expect(html).toContain('<input type="checkbox" data-class="pending" checked>');
    expect((await converge(['highstate', '--check', '--fail-on', 'drift', '--target', 'drift-2', '-i', inv])).code).toBe(0);
    expect((await converge(['highstate', '--check', '--fail-on', 'pending', '--target', 'drift-2', '-i', inv])).code).toBe(2);
  });

  it('apply classes what it changed, and the record now says the state tree had uncommitted changes', async () => {
    const r = await run('highstate');
    expect(r.code).toBe(0);
    expect(classes(r.json, 'drift-1')).toEqual(['banner:changed:pending', 'robots:changed:new', 'settings:changed:drift']);
    const rec = JSON.parse((await fleet.exec('drift-2', 'cat /var/lib/converge/applied.json')).stdout);
    expect(rec.dirty).toBe(true);
    git('commit', '-qam', 'robots');
  });

  it('a file dropped in /etc/sudoers.d is drift (shown by hash only), removed by apply with a backup kept', async () => {
    await fleet.exec('drift-2', 'echo "bob ALL=(ALL) ALL" > /etc/sudoers.d/zz-hand');
    const r = await run('highstate', '--check', '--diff');
    expect(r.code).toBe(2);
    expect(classes(r.json, 'drift-1')).toEqual([]);
    expect(classes(r.json, 'drift-2')).toEqual(['sudoers-dropins:would-change:drift']);
    const change = resourcesOf(r.json, 'drift-2')['sudoers-dropins'].changes;
    expect(change).toEqual([{ path: 'entry:zz-hand', action: 'delete', before: expect.stringMatching(/^regular file, 18 bytes, sha256:[0-9a-f]{64} \(content not shown: entries here may hold secrets\)$/) }]);
    expect(r.stdout).not.toContain('bob ALL');
    expect((await converge(['highstate', '--check', '--fail-on', 'drift', '-i', inv])).code).toBe(2);

    const applied = await run('highstate');
    expect(applied.code).toBe(0);
    expect(classes(applied.json, 'drift-2')).toEqual(['sudoers-dropins:changed:drift']);
    expect((await fleet.exec('drift-2', 'ls -A /etc/sudoers.d')).stdout.split('\n').filter(Boolean).sort()).toEqual(['README', 'converge-ops']);
    expect((await fleet.exec('drift-2', 'cat /var/lib/converge/backup/etc/sudoers.d/zz-hand.*')).stdout).toBe('bob ALL=(ALL) ALL\n');

    const again = await run('highstate');
    for (const h of HOSTS) {
      expect(classes(again.json, h)).toEqual([]);
      expect(hostOf(again.json, h).execCount).toBe(2);
    }
  });

  it('a saved plan applied after a hand edit on one host: that host is refused with the reason, the other applied', async () => {
    fleet.writeInventory(inv, { roles: { app: HOSTS }, states: 'states', vars: { workers: 2, banner: 'planned' } });
    const plan = join(fleet.dir, 'plan.json');
    const checked = await converge(['highstate', '--check', '--out', plan, '-i', inv]);
    expect(checked.code, checked.stderr).toBe(2);
    expect(checked.stderr).toContain(`plan of 2 host(s) written to ${plan}`);
    expect(readFileSync(plan, 'utf8')).not.toContain('planned');

    await fleet.exec('drift-1', "sed -i 's/workers = 2/workers = 5/' /srv/app/settings.ini");
    const r = await run('apply-plan', plan);
    expect(r.code).toBe(1);
    expect(hostOf(r.json, 'drift-1')).toMatchObject({ status: 'failed', error: { message: 'refused: the host changed since the plan: settings (file:/srv/app/settings.ini)' } });
    expect(hostOf(r.json, 'drift-2').status).toBe('changed');
    expect(classes(r.json, 'drift-2')).toEqual(['banner:changed:pending']);
    expect((await fleet.exec('drift-2', 'cat /srv/app/banner.txt')).stdout).toBe('planned\n');
    expect((await fleet.exec('drift-1', 'cat /srv/app/banner.txt')).stdout).toBe('hello again\n');

    // a plan past its age limit is refused whole
    const old = JSON.parse(readFileSync(plan, 'utf8'));
    writeFileSync(plan, JSON.stringify({ ...old, createdAt: new Date(Date.now() - 2 * 3600_000).toISOString() }));
    const stale = await converge(['apply-plan', plan, '-i', inv]);
    expect(stale.code).toBe(1);
    expect(stale.stderr).toMatch(/the plan was made 120 min ago .* more than the 60 min allowed/);
  });
});
