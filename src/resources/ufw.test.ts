import { describe, expect, it } from 'vitest';
import { recorder } from '../../test/unit/apply-recorder.js';
import { planCtx } from '../../test/unit/fixtures.js';
import { planInput } from '../../test/support/fixtures.js';
import { shq } from '../core/shell.js';
import type { UfwSpec } from '../generated/index.js';
import { parseSshdT } from './sshd.js';
import { canonicalAddress, opCommand, planRules, ruleLabel, ruleTuples } from './lib/ufw-rules.js';
import { protectedPorts, ufw, type UfwFacts } from './ufw.js';

// Scenarios captured by test/fixtures/capture.mjs, each for the spec `web`; the tests plan other specs against the same facts.
const facts = (name: string) => planInput(ufw, name).facts;
const web = planInput(ufw, 'inactive').spec;

// Declares, in order, the first rules of the active_rules fixture.
const head: UfwSpec = {
  rules: [{ action: 'deny', from: '192.0.2.7' }, { port: 22, proto: 'tcp', comment: 'ssh' }, { port: 80, proto: 'tcp' }, { port: 443, proto: 'tcp' }],
};

describe('ufw facts', () => {
  it('parse a fresh, inactive ufw', () => {
    expect(facts('inactive').ufw).toEqual({
      installed: true,
      enabled: false,
      active: false,
      logging: 'low',
      ipv6: true,
      defaults: { incoming: 'deny', outgoing: 'allow', routed: 'deny' },
      rules: [],
    });
  });
  it('parse an active ufw with rules of every shape from user.rules and user6.rules', () => {
    const f = facts('active_rules').ufw;
    expect(f).toMatchObject({ installed: true, enabled: true, active: true, logging: 'medium' });
    expect(f.rules.filter((t) => t.family === 'v4').map((t) => (t.comment ? `${ruleLabel(t)} # ${t.comment}` : ruleLabel(t)))).toEqual([
      'deny from 192.0.2.7 to any',
      'allow 22/tcp # ssh',
      'allow 80/tcp',
      'allow 443/tcp',
      'allow from 10.0.0.0/8 to any port 5432 proto tcp # postgres from the lan',
      'limit 2222/tcp',
      'allow OpenSSH',
      'allow out 53/udp',
    ]);
    expect(f.rules.filter((t) => t.family === 'v6').map(ruleLabel)).toEqual([
      'allow 22/tcp',
      'allow 80/tcp',
      'allow 443/tcp',
      'allow from 2001:db8::/32 to any port 9000 proto udp',
      'limit 2222/tcp',
      'allow OpenSSH',
      'allow out 53/udp',
    ]);
  });
  it('plan a host without ufw as a fresh install (check mode before the package is there)', () => {
    expect(facts('not_installed').ufw).toMatchObject({ installed: false, enabled: false, active: false, rules: [] });
  });
  it('the fact script only reads', () => {
    const { ufw: q } = ufw.facts(web, planCtx());
    expect(q.script.replace(/>\/dev\/null/g, '')).not.toMatch(/\b(rm|mv|cp|chmod|tee|mkdir|enable|disable|reload|insert|delete)\b|>[^&]/);
  });
});

describe('ufw rules', () => {
  it('normalize addresses the way ufw stores them', () => {
    expect(canonicalAddress('10.1.2.3/8')).toEqual({ family: 'v4', address: '10.0.0.0/8' });
    expect(canonicalAddress('192.168.1.7/32')).toEqual({ family: 'v4', address: '192.168.1.7' });
    expect(canonicalAddress('2001:DB8:0::1/128')).toEqual({ family: 'v6', address: '2001:db8::1' });
    expect(canonicalAddress('2001:db8::1/64')).toEqual({ family: 'v6', address: '2001:db8::1/64' });
    expect(canonicalAddress('any')).toEqual({});
    expect(() => canonicalAddress('10.0.0.0/33')).toThrow(/not an address or network/);
    expect(() => canonicalAddress('example.com')).toThrow(/not an address or network/);
  });
  it('store an any-address rule in both lists and an address rule in its own', () => {
    expect(ruleTuples({ port: 22, proto: 'tcp' }, true).map((t) => [t.family, t.src, t.dst])).toEqual([
      ['v4', '0.0.0.0/0', '0.0.0.0/0'],
      ['v6', '::/0', '::/0'],
    ]);
    expect(ruleTuples({ port: 22, proto: 'tcp' }, false).map((t) => t.family)).toEqual(['v4']);
    expect(ruleTuples({ from: '2001:db8::/32', port: 53, proto: 'udp' }, true).map((t) => t.family)).toEqual(['v6']);
    expect(() => ruleTuples({ from: '2001:db8::/32' }, false)).toThrow(/IPV6=no/);
    expect(() => ruleTuples({ from: '10.0.0.0/8', to: '2001:db8::1' }, true)).toThrow(/mixes IPv4 and IPv6/);
    expect(() => ruleTuples({ port: '80,443' }, true)).toThrow(/needs proto tcp or udp/);
  });
  it('write each rule into one list only, with its family addresses', () => {
    const [v4, v6] = ruleTuples({ port: 22, proto: 'tcp', comment: 'ssh' }, true);
    expect(opCommand({ op: 'insert', at: 2, tuple: v4 })).toBe("ufw insert 2 allow proto tcp from 0.0.0.0/0 to 0.0.0.0/0 port 22 comment ssh");
    expect(opCommand({ op: 'append', tuple: v6 })).toBe("ufw allow proto tcp from ::/0 to ::/0 port 22 comment ssh");
    expect(opCommand({ op: 'delete', at: 7, tuple: v6 })).toBe('ufw --force delete 7');
  });
  it('insert missing rules at their declared place and move rules that are out of order', () => {
    const current = facts('active_rules').ufw.rules;
    const wanted = [{ action: 'reject' as const, from: '192.0.2.9' }, { port: 443, proto: 'tcp' as const }, { port: 22, proto: 'tcp' as const, comment: 'ssh' }, { port: 80, proto: 'tcp' as const }].flatMap(
      (r) => ruleTuples(r, true),
    );
    const p = planRules(current, wanted, false);
    // The new rule goes before the next declared one (the undeclared deny keeps its place); 22 and 80
    // stay (the longest run already in order) and 443 moves before 22. IPv6 numbers count after the 9 IPv4 rules.
    expect(p.ops.map(opCommand)).toEqual([
      'ufw insert 2 reject from 192.0.2.9 to 0.0.0.0/0',
      'ufw --force delete 5',
      'ufw insert 3 allow proto tcp from 0.0.0.0/0 to 0.0.0.0/0 port 443',
      'ufw --force delete 12',
      'ufw insert 10 allow proto tcp from ::/0 to ::/0 port 443',
    ]);
    expect(p.final.v4.slice(0, 5).map(ruleLabel)).toEqual(['deny from 192.0.2.7 to any', 'reject from 192.0.2.9 to any', 'allow 443/tcp', 'allow 22/tcp', 'allow 80/tcp']);
    expect(p.final.v6.slice(0, 3).map(ruleLabel)).toEqual(['allow 443/tcp', 'allow 22/tcp', 'allow 80/tcp']);
    expect(p.changes).toEqual([
      { path: 'rules[reject from 192.0.2.9 to any]', action: 'create', after: 'reject from 192.0.2.9 to any' },
      { path: 'rules[allow 443/tcp]', action: 'update', before: 'out of the declared order', after: 'in the declared order' },
    ]);
  });
  it('number rules the way ufw does: an application rule with several port sets is several tuples under one number', () => {
    const current = facts('active_app').ufw.rules;
    const wanted = [{ action: 'reject' as const, from: '192.0.2.9' }, ...[22, 443, 80].map((port) => ({ port, proto: 'tcp' as const }))].flatMap((r) => ruleTuples(r, true));
    const p = planRules(current, wanted, true);
    // IPv4: [1-4 declared, 5 Multi (2 tuples), 6 5555/tcp]; IPv6 numbers then start at 5: [5-7 declared, 8 53/udp from 2001:db8::/32, 9 Multi, 10 5555/tcp].
    expect(p.ops.map(opCommand)).toEqual(['ufw --force delete 6', 'ufw --force delete 5', 'ufw --force delete 10', 'ufw --force delete 9', 'ufw --force delete 8']);
    expect(p.changes.map((c) => c.path)).toEqual(['rules[allow 5555/tcp]', 'rules[allow Multi]', 'rules[allow from 2001:db8::/32 to any port 53 proto udp]']);
  });
  it('change a comment in place', () => {
    const current = facts('active_rules').ufw.rules;
    const p = planRules(current, ruleTuples({ port: 22, proto: 'tcp', comment: 'ssh from anywhere' }, true), false);
    expect(p.ops.map(opCommand)).toEqual([
      "ufw allow proto tcp from 0.0.0.0/0 to 0.0.0.0/0 port 22 comment 'ssh from anywhere'",
      "ufw allow proto tcp from ::/0 to ::/0 port 22 comment 'ssh from anywhere'",
    ]);
    expect(p.changes).toEqual([{ path: 'rules[allow 22/tcp]', action: 'update', before: 'allow 22/tcp # ssh', after: 'allow 22/tcp # ssh from anywhere' }]);
  });
});

describe('ufw plan', () => {
  it('adds the rules, then logging and enable, on a fresh ufw', () => {
    expect(ufw.plan(web, facts('inactive'), planCtx())).toEqual([
      { path: 'rules[allow 22/tcp]', action: 'create', after: 'allow 22/tcp # ssh' },
      { path: 'rules[allow 80/tcp]', action: 'create', after: 'allow 80/tcp' },
      { path: 'rules[allow 443/tcp]', action: 'create', after: 'allow 443/tcp' },
      { path: 'enabled', action: 'update', before: false, after: true },
    ]);
  });
  it('is empty when the declared rules are there in order (others kept without purge)', () => {
    expect(ufw.plan({ ...head, enabled: true, logging: 'medium', default: { incoming: 'deny' } }, facts('active_rules'), planCtx())).toEqual([]);
  });
  it('removes undeclared rules with purge', () => {
    expect(ufw.plan({ ...head, purge: true }, facts('active_rules'), planCtx())).toEqual([
      { path: 'rules[allow out 53/udp]', action: 'delete', before: 'allow out 53/udp' },
      { path: 'rules[allow OpenSSH]', action: 'delete', before: 'allow OpenSSH' },
      { path: 'rules[limit 2222/tcp]', action: 'delete', before: 'limit 2222/tcp' },
      { path: 'rules[allow from 10.0.0.0/8 to any port 5432 proto tcp]', action: 'delete', before: 'allow from 10.0.0.0/8 to any port 5432 proto tcp # postgres from the lan' },
      { path: 'rules[allow from 2001:db8::/32 to any port 9000 proto udp]', action: 'delete', before: 'allow from 2001:db8::/32 to any port 9000 proto udp' },
    ]);
  });
  it('changes default policies and logging', () => {
    expect(ufw.plan({ ...head, default: { incoming: 'reject', routed: 'allow' }, logging: 'off' }, facts('active_rules'), planCtx())).toEqual([
      { path: 'default.incoming', action: 'update', before: 'deny', after: 'reject' },
      { path: 'default.routed', action: 'update', before: 'deny', after: 'allow' },
      { path: 'logging', action: 'update', before: 'medium', after: 'off' },
    ]);
  });
  it('disables, and says when ufw is enabled but not loaded', () => {
    expect(ufw.plan({ enabled: false }, facts('active_rules'), planCtx())).toEqual([{ path: 'enabled', action: 'update', before: true, after: false }]);
    const notLoaded = facts('active_rules');
    notLoaded.ufw.active = false;
    expect(ufw.plan({ ...head, enabled: true }, notLoaded, planCtx())).toEqual([{ path: 'enabled', action: 'update', before: 'enabled, but not loaded', after: true }]);
  });
  it('refuses a deny on the SSH port', () => {
    const deny22 = { ...web, rules: [{ action: 'deny' as const, port: 22, proto: 'tcp' as const }, ...web.rules!] };
    expect(() => ufw.plan(deny22, facts('inactive'), planCtx())).toThrow('refusing this firewall change: it would block new SSH connections to port 22/tcp (IPv4): rule "deny 22/tcp" drops it');
  });
  it('refuses a default deny without an allow on the SSH port, also when purge would remove it', () => {
    const noSsh = { ...web, rules: [{ port: 80, proto: 'tcp' as const }] };
    expect(() => ufw.plan(noSsh, facts('inactive'), planCtx())).toThrow(/port 22\/tcp \(IPv4\): the default incoming policy is deny and no rule allows it/);
    expect(() => ufw.plan({ rules: [{ port: 80, proto: 'tcp' }], purge: true }, facts('active_rules'), planCtx())).toThrow(/the default incoming policy is deny/);
  });
  it('accepts limit on the SSH port, and passes over rules that name a source (the fresh login checks those)', () => {
    const spec: UfwSpec = { ...web, rules: [{ action: 'deny', from: '203.0.113.0/24' }, { action: 'limit', port: 22, proto: 'tcp' }] };
    expect(ufw.plan(spec, facts('inactive'), planCtx()).map((c) => c.path)).toContain('rules[limit 22/tcp]');
  });
  it('does not refuse an inactive firewall, nor a host already in sync', () => {
    expect(ufw.plan({ rules: [{ action: 'deny', port: 22, proto: 'tcp' }] }, facts('inactive'), planCtx())).toHaveLength(1);
    expect(ufw.plan({ ...head, enabled: true }, facts('active_rules'), planCtx())).toEqual([]);
  });
  it('protects ssh_port, else the port sshd listens on, else 22', () => {
    const sshd2 = parseSshdT('exit=0\nport 22\nport 2222\n');
    expect(protectedPorts({ ssh_port: 2200 }, sshd2, 22)).toEqual([2200]);
    expect(protectedPorts({}, sshd2, 2222)).toEqual([2222]);
    // Converge dials a NAT-mapped port: every port sshd listens on.
    expect(protectedPorts({}, sshd2, 32768)).toEqual([22, 2222]);
    expect(protectedPorts({}, parseSshdT('exit=127\n'), 32768)).toEqual([22]);
    expect(() => ufw.plan({ ...web, ssh_port: 2222 }, facts('inactive'), planCtx())).toThrow(/port 2222\/tcp/);
  });
  it('refuses a rule declared twice', () => {
    expect(() => ufw.plan({ rules: [{ port: 80, proto: 'tcp' }, { port: 80, proto: 'tcp', comment: 'again' }] }, facts('inactive'), planCtx())).toThrow(/"allow 80\/tcp" is declared twice/);
  });
});

/** A recorder whose backup step answers with a directory, and whose fresh logins answer from a list. */
function fakeApply(reconnects: boolean[]) {
  const rec = recorder((cmd) => ({ stdout: cmd.script.includes('mktemp -d /var/backups') ? '/var/backups/converge-ufw.X\n' : '' }));
  rec.ctx.canReconnect = async () => reconnects.shift() ?? false;
  return rec;
}

describe('ufw apply', () => {
  it('backs up, adds the SSH allow before default policy and enable, proves a fresh login, and drops the backup', async () => {
    const rec = fakeApply([true]);
    await ufw.apply(web, [], facts('inactive'), rec.ctx);
    const scripts = rec.scripts();
    expect(scripts).toHaveLength(3);
    expect(scripts[0]).toContain('tar -C / -cf "$b/ufw.tar" etc/ufw/user.rules etc/ufw/user6.rules etc/ufw/ufw.conf etc/default/ufw');
    const allow = 'ufw allow proto tcp from 0.0.0.0/0 to 0.0.0.0/0 port 22 comment ssh';
    // In this order to the one Python that runs them (src/resources/lib/ufw-commands.ts), and in its fallback.
    const driver = scripts[1].slice(scripts[1].indexOf('"$(command -v ufw)"'));
    expect(driver.indexOf(shq(allow))).toBeGreaterThan(0);
    expect(driver.indexOf(shq(allow))).toBeLessThan(driver.indexOf("'ufw --force enable'"));
    const lines = scripts[1].split('\n');
    expect(lines.indexOf(allow)).toBeGreaterThan(0);
    expect(lines.indexOf(allow)).toBeLessThan(lines.indexOf('ufw --force enable'));
    // The change runs spooled (a lost connection cannot stop it half way); enable is its last step.
    expect(scripts[1]).toContain('>"$out" 2>&1');
    expect(lines.slice(lines.indexOf('ufw --force enable') + 1, lines.indexOf('ufw --force enable') + 5)).toEqual(['elif [ "$rc" -ne 0 ]; then', '  exit "$rc"', 'fi', expect.stringMatching(/^\) <\/dev\/null >"\$out"/)]);
    expect(scripts[2]).toBe('rm -rf /var/backups/converge-ufw.X');
  });
  it('restores the backup and fails when a fresh login no longer gets in', async () => {
    const rec = fakeApply([false, true]);
    await expect(ufw.apply(web, [], facts('inactive'), rec.ctx)).rejects.toThrow(
      'after the firewall change, a fresh SSH connection to h failed: converge restored the previous firewall configuration and can log in again',
    );
    const scripts = rec.scripts();
    expect(scripts[2]).toContain('tar -C / -xpf "$b/ufw.tar"');
    expect(scripts[2]).toContain("if grep -q '^ENABLED=yes' /etc/ufw/ufw.conf; then ufw reload; else ufw disable; fi");
  });
  it('a change that fails and a restore that fails too: both errors, the change\'s first', async () => {
    const rec = recorder((cmd) => (cmd.script.includes('mktemp -d /var/backups') ? { stdout: '/var/backups/converge-ufw.X\n' } : { code: cmd.script.includes('tar -C / -xpf') ? 2 : 1 }));
    await expect(ufw.apply(web, [], facts('inactive'), rec.ctx)).rejects.toThrow(
      /^changing the firewall failed \(exit 1\); restoring the previous firewall configuration failed too: restoring the ufw configuration from \/var\/backups\/converge-ufw\.X failed \(exit 2\)$/,
    );
  });
  it('says so when ufw is not installed', async () => {
    await expect(ufw.apply(web, [], facts('not_installed'), fakeApply([]).ctx)).rejects.toThrow('ufw is not installed');
  });
});
