// Rolling changes (src/fleet/rollout.ts): turns across hosts, a stopped
// rollout, and the scripts run on the balancer and the host. The haproxy
// scripts run here under sh against a stand-in for socat that answers as
// haproxy's runtime API does (set server ... state, show stat); the real
// haproxy is driven by the end-to-end deploy (demo-e2e.test.ts).

import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ChangeOutcome } from '../../src/engine/host-run.js';
import type { PreparedHost } from '../../src/engine/run.js';
import { backInPoolScript, openSessions, outOfPoolScript } from '../../src/fleet/haproxy-runtime.js';
import { healthScript, rolledResources, Rollouts, slotsFor } from '../../src/fleet/rollout.js';
import type { Rolling } from '../../src/generated/rolling.js';
import type { Inventory } from '../../src/inventory/inventory.js';
import type { Resource } from '../../src/state/compile.js';
import type { ExecResult, Transport } from '../../src/transport/transport.js';
import { prepare, prepareError } from './tree.js';

const sh = (script: string, env: Record<string, string> = {}) => spawnSync('/bin/sh', ['-c', script], { encoding: 'utf8', env: { ...process.env, ...env } });

/**
 * A socat stand-in: the server's state and open sessions live in files of
 * dir; `set server B/S state X` writes the state (an unknown server answers
 * as haproxy does), `show stat` prints CSV rows with scur and status. Each
 * show stat closes one open session, as clients finishing would.
 */
function fakeHaproxy(servers: string[], sessions: number, upAfterReady = 'UP'): { dir: string; env: Record<string, string>; log: () => string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'rollout-'));
  writeFileSync(join(dir, 'sessions'), String(sessions));
  writeFileSync(join(dir, 'log'), '');
  writeFileSync(
    join(dir, 'socat'),
    [
      '#!/bin/sh',
      `d=${dir}`,
      'read -r line',
      'echo "$line" >> $d/log',
      'case "$line" in',
      '  "set server "*)',
      '    bs=${line#set server }; bs=${bs%% *}; st=${line##* }',
      `    case " ${servers.join(' ')} " in *" $bs "*) ;; *) echo "No such server."; exit 0;; esac`,
      `    case $st in ready) echo ${upAfterReady} > "$d/status-$(echo $bs | tr / _)";; drain) echo DRAIN > "$d/status-$(echo $bs | tr / _)";; maint) echo MAINT > "$d/status-$(echo $bs | tr / _)";; esac ;;`,
      '  "show stat")',
      '    echo "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status"',
      '    n=$(cat $d/sessions); [ "$n" -gt 0 ] && echo $((n - 1)) > $d/sessions',
      `    for bs in ${servers.join(' ')}; do st=$(cat "$d/status-$(echo $bs | tr / _)" 2>/dev/null || echo UP); echo "\${bs%/*},\${bs#*/},0,0,$n,0,,0,0,0,0,0,,0,0,0,0,$st"; done ;;`,
      'esac',
    ].join('\n'),
  );
  chmodSync(join(dir, 'socat'), 0o755);
  execFileSync('python3', ['-c', `import socket; s = socket.socket(socket.AF_UNIX); s.bind("${join(dir, 'admin.sock')}")`]);
  return { dir, env: { PATH: `${dir}:${process.env.PATH}` }, log: () => readFileSync(join(dir, 'log'), 'utf8').trim().split('\n') };
}

describe('the haproxy runtime scripts', () => {
  it('drain, wait for the sessions to end, then maintenance; ready, then wait for UP', () => {
    const h = fakeHaproxy(['web_http/web-1', 'web_https/web-1'], 3);
    const server = { socket: join(h.dir, 'admin.sock'), backends: ['web_http', 'web_https'], server: 'web-1' };
    const out = sh(outOfPoolScript(server, 30), h.env);
    expect(out.status, out.stderr).toBe(0);
    expect(openSessions(out.stdout)).toBe(0);
    expect(h.log().filter((l) => l.startsWith('set'))).toEqual(['set server web_http/web-1 state drain', 'set server web_https/web-1 state drain', 'set server web_http/web-1 state maint', 'set server web_https/web-1 state maint']);
    // Sessions were counted down to 0 before maintenance.
    expect(h.log().filter((l) => l === 'show stat').length).toBeGreaterThanOrEqual(4);
    const back = sh(backInPoolScript(server, 5), h.env);
    expect(back.status, back.stderr).toBe(0);
    expect(h.log().slice(-3)).toEqual(['set server web_http/web-1 state ready', 'set server web_https/web-1 state ready', 'show stat']);
  });

  it('sessions still open at the drain timeout are counted, and the server goes into maintenance anyway', () => {
    const h = fakeHaproxy(['web_http/web-1'], 1000);
    const out = sh(outOfPoolScript({ socket: join(h.dir, 'admin.sock'), backends: ['web_http'], server: 'web-1' }, 0), h.env);
    expect(out.status, out.stderr).toBe(0);
    expect(openSessions(out.stdout)).toBeGreaterThan(900);
    expect(h.log().at(-1)).toBe('set server web_http/web-1 state maint');
  });

  it('a server haproxy does not know, a missing socket or socat: an error that says which', () => {
    const h = fakeHaproxy(['web_http/web-1'], 0);
    const wrong = sh(outOfPoolScript({ socket: join(h.dir, 'admin.sock'), backends: ['web_http'], server: 'web-9' }, 5), h.env);
    expect(wrong.status).toBe(3);
    expect(wrong.stderr).toMatch(/web_http\/web-9: No such server\. \(is the server named so in haproxy.cfg\?\)/);
    const nosock = sh(outOfPoolScript({ socket: join(h.dir, 'nope.sock'), backends: ['web_http'], server: 'web-1' }, 5), h.env);
    expect(nosock.stderr).toMatch(/no haproxy admin socket at .*nope.sock/);
    const nosocat = sh(outOfPoolScript({ socket: join(h.dir, 'admin.sock'), backends: ['web_http'], server: 'web-1' }, 5), { PATH: '/nonexistent' });
    expect(nosocat.status).toBe(3);
  });

  it('a server haproxy does not see UP again fails after the timeout, naming its status', () => {
    const h = fakeHaproxy(['web_http/web-1'], 0, 'DOWN');
    const back = sh(backInPoolScript({ socket: join(h.dir, 'admin.sock'), backends: ['web_http'], server: 'web-1' }, 1), h.env);
    expect(back.status).toBe(4);
    expect(back.stderr).toMatch(/does not see it UP after 1 s: web_http\/web-1 DOWN/);
  });
});

describe('the health check', () => {
  it('is tried until it passes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'health-'));
    // Fails twice, then passes.
    const cmd = `n=$(cat ${dir}/n 2>/dev/null || echo 0); echo $((n + 1)) > ${dir}/n; [ $n -ge 2 ]`;
    const r = sh(healthScript(cmd, 10, 0.1));
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(join(dir, 'n'), 'utf8').trim()).toBe('3');
  });
  it('fails after its timeout with the command\'s last output', () => {
    const r = sh(healthScript("echo 'HTTP 503: not ready'; exit 22", 1, 0.2));
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('HTTP 503: not ready');
  });
});

describe('turns across hosts', () => {
  it('serial: a count, or a percentage of the hosts that have the resource (at least one)', () => {
    expect([slotsFor(undefined, 4), slotsFor(2, 4), slotsFor('50%', 4), slotsFor('10%', 4), slotsFor('100%', 3)]).toEqual([1, 2, 2, 1, 3]);
  });

  const rolling: Rolling = { serial: 1, balancer: { role: 'balancer', backends: ['web_http'] }, health: { cmd: 'true' } };
  const resource = (r: Rolling = rolling) => ({ id: 'gunicorn', rolling: r, at: () => ({ file: 'states/web/gunicorn.yaml', line: 30 }) }) as unknown as Resource;
  const inventory = { hosts: [{ name: 'lb-1', roles: ['balancer'] }, { name: 'web-1', roles: ['web'] }, { name: 'web-2', roles: ['web'] }, { name: 'web-3', roles: ['web'] }] } as unknown as Inventory;
  const prepared = (names: string[], r = resource()) => names.map((n) => ({ host: { name: n }, graph: { order: [r] } }) as unknown as PreparedHost);

  /** A fleet whose balancer records what it was asked, and hosts whose changes record when they ran. */
  function fleet(health: (host: string) => ExecResult = () => ({ code: 0, stdout: '', stderr: '' })) {
    const events: string[] = [];
    const balancer = { hostName: 'lb-1', execCount: 0, exec: async (script: string) => {
      events.push(`lb-1 ${/state drain/.test(script) ? 'out' : 'back'} ${/srv='([^']+)'/.exec(script)![1]}`);
      return { code: 0, stdout: '', stderr: '' };
    }, close: async () => undefined } as unknown as Transport;
    const rollouts = Rollouts.of(prepared(['web-1', 'web-2', 'web-3']), inventory, async () => balancer)!;
    const roll = (host: string, status: ChangeOutcome['status'] = 'changed') =>
      rollouts.for(host).through(resource(), async () => health(host), async () => {
        events.push(`${host} change`);
        await new Promise((r) => setTimeout(r, 5));
        return { status, reason: 'restarted (app-code changed)' };
      });
    return { events, roll, rollouts };
  }

  it('one host at a time: out of the pool, changed, back in, then the next', async () => {
    const f = fleet();
    const outcomes = await Promise.all(['web-1', 'web-2', 'web-3'].map((h) => f.roll(h)));
    expect(f.events).toEqual(['lb-1 out web-1', 'web-1 change', 'lb-1 back web-1', 'lb-1 out web-2', 'web-2 change', 'lb-1 back web-2', 'lb-1 out web-3', 'web-3 change', 'lb-1 back web-3']);
    for (const o of outcomes) expect(o).toMatchObject({ status: 'changed', reason: expect.stringMatching(/^restarted \(app-code changed\); out of the pool on lb-1 for [\d.]+ s \(drained in [\d.]+ s\)$/) });
  });

  it('a failed health check stops the rollout: that host stays out of the pool, the others are not rolled', async () => {
    const f = fleet((h) => (h === 'web-1' ? { code: 1, stdout: '', stderr: 'curl: (22) The requested URL returned error: 503' } : { code: 0, stdout: '', stderr: '' }));
    const [one, two, three] = await Promise.all(['web-1', 'web-2', 'web-3'].map((h) => f.roll(h)));
    expect(f.events).toEqual(['lb-1 out web-1', 'web-1 change']);
    expect(one.status).toBe('failed');
    expect(one.reason).toMatch(/health check failed for 60 s \(curl: \(22\) The requested URL returned error: 503\); web-1 left out of the pool on lb-1 and the rollout of gunicorn stopped/);
    for (const o of [two, three]) expect(o).toMatchObject({ status: 'skipped', reason: expect.stringMatching(/^not rolled: the rollout of gunicorn stopped \(web-1: .*health check failed/) });
  });

  it('a change that fails stops the rollout too; one in sync never takes a turn', async () => {
    const f = fleet();
    expect(await f.roll('web-2', 'unchanged')).toMatchObject({ status: 'unchanged' });
    expect((await f.roll('web-1', 'failed')).reason).toMatch(/web-1 left out of the pool on lb-1/);
    expect((await f.roll('web-3')).status).toBe('skipped');
  });

  it('a balancer host the inventory lacks is an input error naming the option', () => {
    const bad = resource({ balancer: { host: 'lb-9', backends: ['web_http'] } });
    expect(() => rolledResources(prepared(['web-1'], bad), inventory)).toThrow(/rolling.balancer.host "lb-9" is not a host of the inventory/);
  });
});

describe('the rolling option in a state', () => {
  const state = (rolling: string) => ({
    'states/top.yaml': 'roles:\n  web: [web]\n',
    'states/web.yaml': `resources:\n  app:\n    service: { name: app }\n    rolling:\n${rolling}`,
  });
  it('is rendered for the host and kept on the resource', () => {
    const [p] = prepare(state('      serial: "{{ 1 + 1 }}"\n      balancer: { role: balancer, backends: [web_http], server: "{{ host.name }}" }\n      health: { cmd: "curl -fsS http://127.0.0.1:{{ port }}/" }\n'));
    expect(p.graph.order[0].rolling).toEqual({ serial: 2, balancer: { role: 'balancer', backends: ['web_http'], server: 'web-1' }, health: { cmd: 'curl -fsS http://127.0.0.1:8000/' } });
  });
  it('a wrong field, or a balancer named both ways, is an error at its line', () => {
    expect(prepareError(state('      serial: two\n'))).toMatch(/web\.yaml:5: resources\.app\.rolling\.serial/);
    expect(prepareError(state('      balancer: { host: lb-1, role: balancer, backends: [b] }\n'))).toMatch(/web\.yaml:5: .*rolling\.balancer names its balancer by host or by role: one of the two/);
    expect(prepareError(state('      health: { command: true }\n'))).toMatch(/web\.yaml:5: .*unknown field "command"/);
  });
});
