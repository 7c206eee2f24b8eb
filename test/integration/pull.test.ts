// Pull mode on a Debian 13 host: the controller pushes states/pull/agent
// (nodejs and git from Debian, converge from scripts/pack-host.sh, a systemd
// service and timer); the timer fires and the host converges itself from a
// git repository at a revision; a hand edit is repaired at the next tick; the
// controller collects the host's report over SSH, merges it, and its own
// --check finds no drift.

import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { converge, ROOT } from '../support/cli.js';
import { startFleet, type Fleet } from '../support/fleet.js';

const HOST = 'pull-1';
const REPORT = `/var/lib/converge/reports/${HOST}.json`;
// Short ticks for the test; the state's defaults are 2min, 30min and 5min.
const PULL = { repo: '/srv/tree', rev: 'main', inventory: 'inventory.yaml', tarball: 'files/converge.tar.gz', first: '2s', interval: '20s', splay: '3s' };

let fleet: Fleet;
let tree: string;
let inventory: string;
const timings: Record<string, number> = {};
const exec = async (cmd: string) => (await fleet.exec(HOST, cmd)).stdout.trim();
const reportMtime = async () => Number((await exec(`stat -c %Y ${REPORT} 2>/dev/null || echo 0`)) || 0);

async function waitFor(what: string, ok: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  while (!(await ok())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}:\n${await exec('systemctl status converge-pull.service converge-pull.timer --no-pager 2>&1 | tail -30; journalctl -u converge-pull.service --no-pager | tail -30')}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
  return Date.now() - t0;
}

beforeAll(async () => {
  let t = Date.now();
  fleet = await startFleet([HOST], { releases: { [HOST]: 'trixie' } });
  timings.start_ms = Date.now() - t;
  tree = join(fleet.dir, 'tree');
  mkdirSync(join(tree, 'states/files'), { recursive: true });
  cpSync(join(ROOT, 'states/pull'), join(tree, 'states/pull'), { recursive: true });
  t = Date.now();
  execFileSync(join(ROOT, 'scripts/pack-host.sh'), [join(tree, 'states/files/converge.tar.gz')], { stdio: 'pipe' });
  timings.pack_ms = Date.now() - t;
  writeFileSync(join(tree, 'states/top.yaml'), 'roles:\n  pullers: [pull/agent, motd]\n');
  writeFileSync(join(tree, 'states/motd.yaml'), 'resources:\n  motd:\n    file: { path: /etc/motd, content: "converged by pull on {{ host.name }}\\n", mode: "0644" }\n');
  inventory = join(tree, 'inventory.yaml');
  fleet.writeInventory(inventory, { states: 'states', roles: { pullers: [HOST] }, vars: { pull: PULL } });
  // The repository the host pulls from: this tree, committed, copied onto the host (a path remote).
  const git = (...args: string[]) => execFileSync('git', ['-c', 'user.email=test@example.com', '-c', 'user.name=test', ...args], { cwd: tree, stdio: 'pipe' });
  git('init', '-q', '-b', 'main');
  git('add', '-A');
  git('commit', '-qm', 'tree');
  execFileSync('docker', ['cp', tree, `${fleet.host(HOST).containerId}:/srv/tree`]);
}, 600_000);

afterAll(async () => {
  await fleet?.close();
  console.log(`pull timings: ${JSON.stringify(timings)}`);
});

it('the pushed timer fires and the host converges itself, repairs a hand edit at the next tick, and the controller collects a clean report', async () => {
  let t = Date.now();
  const push = await converge(['highstate', '-i', inventory, '--progress', 'none', '--accept-new-host-keys']);
  timings.push_ms = Date.now() - t;
  expect(push.code, push.stdout + push.stderr).toBe(0);
  expect(await exec('systemctl is-active converge-pull.timer')).toBe('active');
  expect(await exec('systemctl is-enabled converge-pull.timer')).toBe('enabled');
  expect(await exec('node --version')).toMatch(/^v20\./);

  // The first tick: the push already wrote /etc/motd, so the pull finds everything converged.
  timings.first_pull_ms = await waitFor('the first pull report', async () => (await reportMtime()) > 0, 120_000);
  let report = JSON.parse(await exec(`cat ${REPORT}`));
  expect(report.mode).toBe('apply');
  expect(report.hosts.map((h: { host: string; status: string }) => [h.host, h.status])).toEqual([[HOST, 'unchanged']]);

  // A hand edit: the next tick puts it back, and its report says so.
  const before = await reportMtime();
  await exec('echo edited by hand > /etc/motd');
  t = Date.now();
  timings.repair_ms = await waitFor('the next pull to repair /etc/motd', async () => (await reportMtime()) > before && (await exec('cat /etc/motd')) === `converged by pull on ${HOST}`, 120_000);
  report = JSON.parse(await exec(`cat ${REPORT}`));
  const motd = report.hosts[0].resources.find((r: { id: string }) => r.id === 'motd');
  expect(motd.status).toBe('changed');
  expect(await exec('journalctl -u converge-pull.service --no-pager | grep -c "report written to"')).not.toBe('0');

  // The controller collects the report over SSH and merges it: one fleet report, exit 0.
  const out = join(fleet.dir, 'collected');
  const collected = await converge(['collect-reports', '-i', inventory, '--out', out]);
  expect(collected.code, collected.stdout + collected.stderr).toBe(0);
  const merged = await converge(['merge-reports', join(out, `${HOST}.json`), '--json']);
  expect(merged.code, merged.stderr).toBe(0);
  expect(merged.json.hosts.map((h: { host: string; status: string }) => [h.host, h.status])).toEqual([[HOST, 'changed']]);

  // The controller's own --check over SSH: no drift left.
  const check = await converge(['highstate', '-i', inventory, '--check', '--json', '--progress', 'none']);
  expect(check.code, check.stdout + check.stderr).toBe(0);
  expect(check.json.hosts[0].status).toBe('unchanged');
});
