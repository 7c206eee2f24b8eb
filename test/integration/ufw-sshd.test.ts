// ufw and sshd on a real Debian 12 container, the resources that can lock
// converge out: ufw installed by a package resource, a default-deny firewall
// with SSH, web and logging, and an sshd hardening drop-in; converge still
// gets in afterwards (a second run changes nothing); drift by hand is
// reported exactly by --check, which changes nothing (files, ufw status,
// iptables); a state that would block the SSH port is refused before anything
// is applied; and a rule plan cannot see through (a reject of the address
// converge connects from) is caught by the fresh login, rolled back, and
// reported.
//
// converge connects through the port Docker publishes on 127.0.0.1, so on the
// host its connection arrives at sshd's port 22 from the Docker bridge gateway.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { converge, resourcesOf } from '../support/cli.js';
import { startFleet, type Fleet } from '../support/fleet.js';
import { snapshot } from '../support/snapshot.js';

const HOST = 'fw-1';
const DROPIN = '/etc/ssh/sshd_config.d/50-converge.conf';

const hardening = {
  sshd: { settings: { PermitRootLogin: 'prohibit-password', PasswordAuthentication: false, X11Forwarding: false, MaxAuthTries: 3, ClientAliveInterval: 300 } },
};
const rules = [
  { port: 22, proto: 'tcp', comment: 'ssh' },
  { port: 80, proto: 'tcp' },
  { port: 443, proto: 'tcp' },
];
const firewall = { ufw: { enabled: true, default: { incoming: 'deny', outgoing: 'allow', routed: 'deny' }, logging: 'low', rules, purge: true } };

describe('ufw and sshd on a container', () => {
  let fleet: Fleet;
  let inventory: string;
  let gateway: string;
  const timings: Record<string, number> = {};

  const sh = async (cmd: string) => {
    const r = await fleet.exec(HOST, cmd);
    expect(r.code, `${cmd}: ${r.stderr}`).toBe(0);
    return r.stdout;
  };
  const run = async (label: string, args: string[]) => {
    const started = Date.now();
    const r = await converge([...args, '-i', inventory, '--json']);
    timings[label] = Date.now() - started;
    return r;
  };
  const statuses = (json: unknown) => Object.fromEntries(Object.entries(resourcesOf(json, HOST)).map(([id, r]) => [id, r.status]));
  /** Everything that makes up the firewall: ufw's files and view, and the kernel's rules (without counters and timestamps). */
  const firewallState = () =>
    sh(
      [
        'cat /etc/ufw/user.rules /etc/ufw/user6.rules /etc/ufw/ufw.conf /etc/default/ufw',
        'ufw status verbose',
        "iptables-save | grep -v '^#' | sed 's/\\[[0-9]*:[0-9]*\\]//'",
        "ip6tables-save | grep -v '^#' | sed 's/\\[[0-9]*:[0-9]*\\]//'",
      ].join('; echo ----; '),
    );
  const hostState = async () => (await snapshot(fleet, HOST)) + (await firewallState());

  beforeAll(async () => {
    const t = Date.now();
    fleet = await startFleet([HOST]);
    timings.start = Date.now() - t;
    gateway = (await sh("ip route | awk '/^default/ {print $3}'")).trim();
    expect(gateway).toMatch(/^\d+\.\d+\.\d+\.\d+$/);

    const states = join(fleet.dir, 'states');
    mkdirSync(states);
    writeFileSync(join(states, 'top.yaml'), 'roles:\n  fw: [hardened]\n');
    // The ufw resource comes after the package that installs it (an implicit edge).
    writeFileSync(join(states, 'hardened.yaml'), JSON.stringify({ resources: { 'ufw-package': { package: { name: 'ufw' } }, hardening, firewall } }, null, 2));
    const deny22 = { ...firewall.ufw, rules: [{ action: 'deny', port: 22, proto: 'tcp' }, ...rules] };
    writeFileSync(join(states, 'lockout.yaml'), JSON.stringify({ resources: { firewall: { ufw: deny22 }, 'root-off': { sshd: { name: '40-lockout', settings: { PermitRootLogin: 'no' } } } } }, null, 2));
    // Plan cannot know converge's source address; the fresh login after the change finds out.
    const cutOff = { ...firewall.ufw, rules: [{ action: 'reject', from: gateway, comment: 'cuts converge off' }, ...rules] };
    writeFileSync(join(states, 'cut-off.yaml'), JSON.stringify({ resources: { firewall: { ufw: cutOff } } }, null, 2));
    inventory = join(fleet.dir, 'inventory.yaml');
    fleet.writeInventory(inventory, { roles: { fw: [HOST] }, states });
  });

  afterAll(async () => {
    console.log(`[ufw-sshd] timings (ms): ${JSON.stringify(timings)}`);
    await fleet?.close();
  });

  it('check on the fresh host (no ufw yet) plans all three and changes nothing', async () => {
    const before = await snapshot(fleet, HOST);
    const r = await run('freshCheck', ['highstate', '--check', '--accept-new-host-keys']);
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(statuses(r.json)).toEqual({ 'ufw-package': 'would-change', hardening: 'would-change', firewall: 'would-change' });
    // Planned against a fresh install of ufw.
    expect(resourcesOf(r.json, HOST).firewall.changes.map((c: { path: string }) => c.path)).toEqual(['rules[allow 22/tcp]', 'rules[allow 80/tcp]', 'rules[allow 443/tcp]', 'enabled']);
    expect(await snapshot(fleet, HOST)).toBe(before);
  });

  it('converges: ufw installed, default-deny firewall with ssh and web, and the sshd drop-in, reloaded', async () => {
    const sshdPid = (await sh('cat /run/sshd.pid')).trim();
    const r = await run('converge', ['highstate']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(statuses(r.json)).toEqual({ 'ufw-package': 'changed', hardening: 'changed', firewall: 'changed' });
    const fw = resourcesOf(r.json, HOST).firewall;
    expect(fw.changes.map((c: { path: string }) => c.path)).toEqual(['rules[allow 22/tcp]', 'rules[allow 80/tcp]', 'rules[allow 443/tcp]', 'enabled']);

    const status = await sh('ufw status verbose');
    expect(status).toMatch(/^Status: active\nLogging: on \(low\)\nDefault: deny \(incoming\), allow \(outgoing\), deny \(routed\)\n/);
    const ruleLines = status
      .split('\n')
      .filter((l) => /ALLOW IN/.test(l))
      .map((l) => l.replace(/\s+/g, ' ').trim());
    expect(ruleLines).toEqual([
      '22/tcp ALLOW IN Anywhere # ssh',
      '80/tcp ALLOW IN Anywhere',
      '443/tcp ALLOW IN Anywhere',
      '22/tcp (v6) ALLOW IN Anywhere (v6) # ssh',
      '80/tcp (v6) ALLOW IN Anywhere (v6)',
      '443/tcp (v6) ALLOW IN Anywhere (v6)',
    ]);
    expect(await sh("iptables-save | grep -c -- '-A ufw-user-input'")).not.toBe('0\n');

    expect(await sh(`cat ${DROPIN}`)).toBe(
      '# Managed by converge (sshd resource): local edits are overwritten.\nPermitRootLogin prohibit-password\nPasswordAuthentication no\nX11Forwarding no\nMaxAuthTries 3\nClientAliveInterval 300\n',
    );
    expect(await sh("sshd -T | grep -E '^(permitrootlogin|passwordauthentication|x11forwarding|maxauthtries|clientaliveinterval) ' | sort")).toBe(
      'clientaliveinterval 300\nmaxauthtries 3\npasswordauthentication no\npermitrootlogin without-password\nx11forwarding no\n',
    );
    // Reloaded (SIGHUP: same main process), not restarted; no temp files left behind.
    expect((await sh('cat /run/sshd.pid')).trim()).toBe(sshdPid);
    expect(await sh("journalctl -u ssh --no-pager | grep -c 'Received SIGHUP' || true")).not.toBe('0\n');
    expect(await sh("ls -A /etc/ssh/sshd_config.d /var/backups /tmp | grep -E '^(\\.converge-|converge-ufw|tmp\\.)' || true")).toBe('');
  });

  it('still gets in, and a second run changes nothing', async () => {
    const r = await run('noop', ['highstate']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(statuses(r.json)).toEqual({ 'ufw-package': 'unchanged', hardening: 'unchanged', firewall: 'unchanged' });
  });

  it('check reports exactly a rule deleted by hand, and changes nothing', async () => {
    await sh('ufw delete allow 80/tcp');
    const before = await hostState();
    const r = await run('driftCheck', ['highstate', '--check']);
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(statuses(r.json)).toEqual({ 'ufw-package': 'unchanged', hardening: 'unchanged', firewall: 'would-change' });
    expect(resourcesOf(r.json, HOST).firewall.changes).toEqual([{ path: 'rules[allow 80/tcp]', action: 'create', after: 'allow 80/tcp' }]);
    expect(await hostState()).toBe(before);

    // A ufw first on PATH that logs its calls: the insert must go through ufw's frontend in one
    // Python (src/resources/lib/ufw-commands.ts), not command by command (its fallback).
    await sh(`printf '#!/bin/sh\\necho "$*" >> /tmp/ufw-calls\\nexec /usr/sbin/ufw "$@"\\n' > /usr/local/sbin/ufw && chmod 755 /usr/local/sbin/ufw`);
    const fix = await run('fixDrift', ['highstate']);
    const calls = await sh('cat /tmp/ufw-calls 2>/dev/null; rm -f /usr/local/sbin/ufw /tmp/ufw-calls');
    expect(fix.code, fix.stdout + fix.stderr).toBe(0);
    expect(statuses(fix.json)).toEqual({ 'ufw-package': 'unchanged', hardening: 'unchanged', firewall: 'changed' });
    expect(calls).toBe('');
    // Back at its declared place, between 22 and 443.
    expect(await sh("sed -n 's/^### tuple ### //p' /etc/ufw/user.rules")).toBe(
      'allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in comment=737368\nallow tcp 80 0.0.0.0/0 any 0.0.0.0/0 in\nallow tcp 443 0.0.0.0/0 any 0.0.0.0/0 in\n',
    );
  });

  it('check reports an edited drop-in, and fails clearly when sshd_config overrides a setting', async () => {
    await sh(`sed -i 's/^MaxAuthTries 3$/MaxAuthTries 5/' ${DROPIN}`);
    let r = await run('sshdDriftCheck', ['highstate', '--check']);
    expect(r.code, r.stdout + r.stderr).toBe(2);
    const hardeningResult = resourcesOf(r.json, HOST).hardening;
    expect(hardeningResult.changes.map((c: { path: string }) => c.path)).toEqual(['dropin', 'settings.MaxAuthTries']);
    expect(hardeningResult.changes[1]).toEqual({ path: 'settings.MaxAuthTries', action: 'update', before: '5', after: '3' });
    r = await run('sshdFix', ['highstate']);
    expect(statuses(r.json)).toEqual({ 'ufw-package': 'unchanged', hardening: 'changed', firewall: 'unchanged' });

    // A line before the Include wins over every drop-in: the drop-in cannot fix that.
    await sh("cp /etc/ssh/sshd_config /root/sshd_config.orig && sed -i '1i X11Forwarding yes' /etc/ssh/sshd_config");
    r = await run('overriddenCheck', ['highstate', '--check']);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    const res = resourcesOf(r.json, HOST).hardening;
    expect(res.status).toBe('failed');
    expect(res.reason).toContain(`${DROPIN} is in place but sshd uses other values: X11Forwarding is "yes", not "no" (also set in /etc/ssh/sshd_config)`);
    expect(res.hint).toMatch(/give this drop-in a lower name/);
    await sh('cp /root/sshd_config.orig /etc/ssh/sshd_config');
  });

  it('refuses a state that would block the SSH port, or root login, before touching anything', async () => {
    const before = await hostState();
    const r = await run('lockout', ['apply', 'lockout']);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.json.hosts[0].status).toBe('failed');
    const res = resourcesOf(r.json, HOST);
    expect(res.firewall.status).toBe('failed');
    expect(res.firewall.reason).toBe('cannot plan: refusing this firewall change: it would block new SSH connections to port 22/tcp (IPv4): rule "deny 22/tcp" drops it');
    expect(res['root-off'].status).toBe('failed');
    expect(res['root-off'].reason).toBe('cannot plan: PermitRootLogin no would lock converge out: it logs in as root');
    expect(res['root-off'].hint).toMatch(/connect as a sudo user first/);
    expect(await hostState()).toBe(before);
  });

  it('rolls back a change after which a fresh login fails, and says so', async () => {
    const before = await firewallState();
    const r = await run('rollback', ['apply', 'cut-off']);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.json.hosts[0].status).toBe('failed');
    const res = resourcesOf(r.json, HOST).firewall;
    expect(res.status).toBe('failed');
    expect(res.reason).toBe('after the firewall change, a fresh SSH connection to fw-1 failed: converge restored the previous firewall configuration and can log in again');
    expect(await firewallState()).toBe(before);
    expect(await sh('ls -A /var/backups | grep converge || true')).toBe('');

    const again = await run('afterRollback', ['highstate']);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(statuses(again.json)).toEqual({ 'ufw-package': 'unchanged', hardening: 'unchanged', firewall: 'unchanged' });
  });
});
