import { describe, expect, it } from 'vitest';
import { recorder } from '../../test/unit/apply-recorder.js';
import { planCtx } from '../../test/unit/fixtures.js';
import { planInput } from '../../test/support/fixtures.js';
import type { Facts } from '../core/resource.js';
import type { SshdSpec } from '../generated/index.js';
import { lockoutReason, parseSshdT, renderDropin, sshd, type SshdConfig, type SshdFiles } from './sshd.js';

// Scenarios (test/fixtures/capture.mjs) on the test image, whose converge-test.conf already sets
// PermitRootLogin prohibit-password and PasswordAuthentication no.
const fresh = planInput(sshd, 'fresh');
const converged = planInput(sshd, 'converged');
const overridden = planInput(sshd, 'overridden');
const rejected = planInput(sshd, 'rejected');
const spec = fresh.spec;

describe('sshd facts', () => {
  it('parse sshd -T into lowercased keys with every value line', () => {
    const c = fresh.facts.effective as SshdConfig;
    expect(c.ok).toBe(true);
    expect(c.values.permitrootlogin).toEqual(['without-password']);
    expect(c.values.port).toEqual(['22']);
    expect(c.values.acceptenv).toEqual(['LANG', 'LC_*']);
    expect(c.values.x11forwarding).toEqual(['yes']);
  });
  it('the wanted configuration is sshd -T with the settings as -o options, normalized by sshd', () => {
    expect((fresh.facts.wanted as SshdConfig).values).toMatchObject({ permitrootlogin: ['without-password'], x11forwarding: ['no'], maxauthtries: ['3'], clientaliveinterval: ['300'] });
  });
  it('keep what sshd says about settings it rejects, and tell a missing sshd apart', () => {
    expect(rejected.facts.wanted).toEqual({ ok: false, error: 'command-line line 0: unsupported option "maybe".', values: {} });
    expect(parseSshdT('exit=127\nsh: 1: sshd: not found\n').error).toBe('sshd is not installed');
    expect(parseSshdT('exit=1\nsshd: no hostkeys available -- exiting.\r\n').error).toBe('sshd: no hostkeys available -- exiting.');
  });
  it('see whether sshd_config reads the drop-ins, and where each setting is set', () => {
    expect(fresh.facts.files).toEqual({
      included: true,
      setIn: {
        permitrootlogin: ['/etc/ssh/sshd_config.d/converge-test.conf'],
        passwordauthentication: ['/etc/ssh/sshd_config.d/converge-test.conf'],
        x11forwarding: ['/etc/ssh/sshd_config'],
      },
    });
    expect((overridden.facts.files as SshdFiles).setIn.x11forwarding).toEqual(['/etc/ssh/sshd_config', '/etc/ssh/sshd_config.d/50-converge.conf']);
  });
  it('the fact scripts only read', () => {
    for (const q of Object.values(sshd.facts(spec, planCtx()))) expect(q.script.replace(/>\/dev\/null/g, '')).not.toMatch(/\b(rm|mv|cp|chmod|chown|tee|mkdir|systemctl|kill)\b|>[^&]/);
  });
});

describe('sshd plan', () => {
  it('writes the drop-in and lists the settings that change in effect', () => {
    const changes = sshd.plan(spec, fresh.facts, planCtx());
    expect(changes[0]).toMatchObject({ path: 'dropin', action: 'create' });
    expect(changes[0].diff).toContain('+X11Forwarding no\n+MaxAuthTries 3\n');
    // PermitRootLogin and PasswordAuthentication are already in effect (from converge-test.conf): no setting change for them.
    expect(changes.slice(1)).toEqual([
      { path: 'settings.MaxAuthTries', action: 'update', before: '6', after: '3' },
      { path: 'settings.ClientAliveInterval', action: 'update', before: '0', after: '300' },
      { path: 'settings.X11Forwarding', action: 'update', before: 'yes', after: 'no' },
    ]);
  });
  it('is empty when the drop-in is in place and in effect', () => {
    expect(renderDropin(spec.settings)).toBe(
      '# Managed by converge (sshd resource): local edits are overwritten.\nPermitRootLogin prohibit-password\nPasswordAuthentication no\nX11Forwarding no\nMaxAuthTries 3\nClientAliveInterval 300\n',
    );
    expect(sshd.plan(spec, converged.facts, planCtx())).toEqual([]);
  });
  it('fails, naming the other file, when a setting is overridden elsewhere (a line before the Include)', () => {
    expect(() => sshd.plan(spec, overridden.facts, planCtx())).toThrow(
      expect.objectContaining({
        message: '/etc/ssh/sshd_config.d/50-converge.conf is in place but sshd uses other values: X11Forwarding is "yes", not "no" (also set in /etc/ssh/sshd_config)',
        hint: expect.stringMatching(/give this drop-in a lower name \(e\.g\. name: 10-converge\)/),
      }),
    );
  });
  it('refuses PermitRootLogin no while converge logs in as root, and says what to do', () => {
    expect(() => sshd.plan({ settings: { PermitRootLogin: 'no' } }, fresh.facts, planCtx())).toThrow(
      expect.objectContaining({ message: 'PermitRootLogin no would lock converge out: it logs in as root', hint: expect.stringMatching(/^connect as a sudo user first/) }),
    );
  });
  it('reports settings sshd rejects, a missing sshd and a config without the Include', () => {
    expect(() => sshd.plan(rejected.spec, rejected.facts, planCtx())).toThrow('sshd rejects these settings: command-line line 0: unsupported option "maybe".');
    const without = (f: Partial<Facts>) => ({ ...fresh.facts, ...f });
    expect(() => sshd.plan(spec, without({ effective: parseSshdT('exit=127\n') }), planCtx())).toThrow(/sshd is not installed/);
    expect(() => sshd.plan(spec, without({ files: { included: false, setIn: {} } }), planCtx())).toThrow(/does not Include \/etc\/ssh\/sshd_config.d\/\*\.conf/);
  });
  it('refuses Match, Include and a setting named twice', () => {
    expect(() => sshd.plan({ settings: { Match: 'User bob' } }, fresh.facts, planCtx())).toThrow(/Match cannot be a setting here/);
    expect(() => sshd.plan({ settings: { X11Forwarding: false, x11forwarding: true } }, fresh.facts, planCtx())).toThrow(/set twice/);
  });
});

describe('sshd lockout guard', () => {
  it('allows hardening that keeps key login for the login user', () => {
    expect(lockoutReason(spec.settings, 'root')).toBeUndefined();
    expect(lockoutReason({ PermitRootLogin: 'no', AllowUsers: 'deploy alice@10.0.0.*' }, 'deploy')).toBeUndefined();
    expect(lockoutReason({ AuthenticationMethods: 'publickey,password publickey' }, 'root')).toBeUndefined();
    expect(lockoutReason({ AllowUsers: 'dep?oy' }, 'deploy')).toBeUndefined();
  });
  it('names what would lock converge out', () => {
    expect(lockoutReason({ PermitRootLogin: 'forced-commands-only' }, 'root')).toMatch(/PermitRootLogin forced-commands-only/);
    expect(lockoutReason({ PubkeyAuthentication: false }, 'deploy')).toMatch(/PubkeyAuthentication no/);
    expect(lockoutReason({ AllowUsers: 'alice bob' }, 'root')).toBe('AllowUsers alice bob would lock converge out: it logs in as root');
    expect(lockoutReason({ DenyUsers: 'ro*' }, 'root')).toMatch(/DenyUsers/);
    expect(lockoutReason({ AuthenticationMethods: 'publickey,password' }, 'root')).toMatch(/AuthenticationMethods/);
  });
});

describe('sshd apply', () => {
  it('saves the old drop-in, checks the candidate in the full configuration, renames it in, reloads, proves a login, drops the copy', async () => {
    const rec = recorder();
    await sshd.apply(spec, [], fresh.facts, rec.ctx);
    const [install, cleanup] = rec.scripts();
    expect(rec.commands[0].stdin).toBe(renderDropin(spec.settings));
    const order = ['cp -p /etc/ssh/sshd_config.d/50-converge.conf', 'sshd -t -f "$work/sshd_config"', 'mv -fT "$tmp" "$p"', 'systemctl reload "$u"'].map((s) => install.indexOf(s));
    expect(order.every((i, n) => i > 0 && (n === 0 || i > order[n - 1]))).toBe(true);
    expect(install).not.toMatch(/restart/);
    expect(cleanup).toBe('rm -f /etc/ssh/sshd_config.d/.50-converge.conf.converge-prev');
  });
  it('puts the old drop-in back and reloads when a fresh login fails, and says so', async () => {
    const rec = recorder();
    const answers = [false, false, false, true];
    rec.ctx.canReconnect = async () => answers.shift() ?? false;
    await expect(sshd.apply(spec, [], converged.facts, rec.ctx)).rejects.toThrow(
      'after reloading sshd with the new /etc/ssh/sshd_config.d/50-converge.conf, a fresh SSH connection to h failed: converge restored the previous /etc/ssh/sshd_config.d/50-converge.conf and can log in again',
    );
    expect(rec.scripts()[1]).toMatch(/mv -fT \/etc\/ssh\/sshd_config.d\/.50-converge.conf.converge-prev \/etc\/ssh\/sshd_config.d\/50-converge.conf[^]*systemctl reload/);
  });
});
