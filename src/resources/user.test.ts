// user: fact output captured from a Debian 12 container (test/fixtures/user/, scenarios of capture.mjs:
// getent passwd and id, ~/.ssh and authorized_keys stats and lines, the sudoers
// drop-in), parsed, and planned against specs; and what apply would run.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Change, PlanContext } from '../core/resource.js';
import type { UserSpec } from '../generated/index.js';
import { keyLabel, parseKeyLine, parseWantedKeys, reconcileKeys } from './lib/ssh-keys.js';
import { recorder } from '../../test/unit/apply-recorder.js';
import { FIXTURES, planInput, readFixture } from '../../test/support/fixtures.js';
import { parseAccount, sudoersContent, user, userFacts, userQueries } from './user.js';

const keyFile = (name: string) => readFileSync(join(FIXTURES, 'user', name), 'utf8');
const [laptop, desktop] = keyFile('alice-keys.pub').trim().split('\n');
const stray = keyFile('stray.pub').trim();
/** The facts of a captured scenario (test/fixtures/user/<name>.json, refused when stale), as its spec's queries read them. */
const facts = (name: string) => planInput(user, name).facts;
/** ...and as one UserFacts. */
const fact = (name: string) => {
  const input = planInput(user, name);
  return userFacts(input.spec, input.facts);
};
const ctx: PlanContext = { host: { name: 'h', sshPort: 22, loginUser: 'root' }, sensitive: false, statesDir: '/states' };
const plan = (spec: UserSpec, fixtureName: string) => user.plan(spec, facts(fixtureName), ctx);

const LAPTOP = 'SHA256:SwpBTIpWY/+BHuJAwXuLwF2ef6Zb2UcGlr2hRX44Jwk alice@laptop';
const DESKTOP = 'SHA256:bIXj5nPfmnSN2i3kBTtKAb3u2pbO/957abPffNzBimk alice@desktop';
const STRAY = 'SHA256:iKVpx+m69Jd/M+1/6+QexWSDHwBrJASb4MMo9koLo2A stray@elsewhere';

/** alice as converged in the alice-converged fixture. */
const alice: UserSpec = { name: 'alice', shell: '/bin/bash', groups: ['developers', 'sudo'], ssh_keys: [laptop, desktop], exclusive_keys: true, sudo: 'nopasswd' };

describe('user facts', () => {
  it('parses an existing user: passwd, supplementary groups without the primary, ~/.ssh, keys and sudoers', () => {
    const f = fact('alice-converged');
    expect(f).toMatchObject({ exists: true, uid: 1001, primary: 'alice', groups: ['developers', 'sudo'], shell: '/bin/bash', passwdHome: '/home/alice', home: '/home/alice' });
    expect(f.sshDir).toEqual({ type: 'directory', owner: 'alice', group: 'alice', mode: 0o700, size: 4096 });
    expect(f.keysFile).toMatchObject({ type: 'file', owner: 'alice', mode: 0o600 });
    expect(f.sudoers).toMatchObject({ type: 'file', owner: 'root', group: 'root', mode: 0o440 });
    expect(f.authorizedKeys!.split('\n')).toEqual(['# laptop and desktop keys', `from="10.0.0.0/8",no-agent-forwarding ${laptop}`, desktop, '']);
  });

  it('parses a missing user as absent, with the home useradd would give it', () => {
    const f = fact('ghost-absent');
    expect(f).toMatchObject({ exists: false, home: '/home/ghost', sshDir: { type: 'absent' }, keysFile: { type: 'absent' }, sudoers: { type: 'absent' }, authorizedKeys: '' });
  });

  it('reads only what the spec manages: no keys or sudoers queries for a plain system user', () => {
    const f = fact('myproj-system');
    expect(f).toEqual({ exists: true, uid: 999, primary: 'myproj', groups: [], shell: '/usr/sbin/nologin', passwdHome: '/srv/myproj', home: '/srv/myproj' });
    expect(Object.keys(userQueries({ name: 'myproj', home: '/srv/myproj' }))).toEqual(['account']);
  });

  it('reads every account of a host with one getent and one id: the queries merge', () => {
    const q = user.facts(alice, ctx);
    expect(Object.keys(q)).toEqual(['account', 'keys', 'sudoers']);
    const merge = q.account.merge!;
    expect(merge.key).toBe(userQueries({ name: 'bob' }).account.merge!.key);
    expect(merge.script(['alice', 'bob'])).toBe("getent passwd alice bob; c=$?; [ $c -eq 0 ] || [ $c -eq 2 ] || exit $c\necho '@groups'\nid -Gn -- alice bob 2>/dev/null || for u in alice bob; do echo \"@$u\"; id -Gn -- \"$u\" 2>/dev/null || true; done");
    // Each name's part reads as its own query's output would.
    const all = 'alice:x:1000:1001::/home/alice:/bin/bash\nmyproj:x:999:997::/srv/myproj:/bin/bash\n@groups\nalice developers\nmyproj\n';
    const parts = merge.split(all, ['alice', 'myproj']);
    expect(parts.map(parseAccount)).toEqual([
      { exists: true, uid: 1000, primary: 'alice', groups: ['developers'], shell: '/bin/bash', passwdHome: '/home/alice' },
      { exists: true, uid: 999, primary: 'myproj', groups: [], shell: '/bin/bash', passwdHome: '/srv/myproj' },
    ]);
    // A missing name: id (given all three) fails after the lines it could print, and each name's groups follow `@name`.
    const missing = 'alice:x:1000:1001::/home/alice:/bin/bash\nmyproj:x:999:997::/srv/myproj:/bin/bash\n@groups\nalice developers\nmyproj\n@alice\nalice developers\n@ghost\n@myproj\nmyproj\n';
    const split = merge.split(missing, ['alice', 'ghost', 'myproj']);
    expect(split.map(parseAccount)).toEqual([parts.map(parseAccount)[0], { exists: false }, parts.map(parseAccount)[1]]);
    // ghost's part is what its own query printed on a host without it (the ghost-absent capture).
    expect(split[1]).toBe(readFixture<{ facts: Record<string, { output: string }> }>('user', 'ghost-absent').facts.account.output);
  });

  it('reads keys from the home sh looks up (~name), the stats from the batch table at the home it guesses', () => {
    const q = userQueries(alice).keys!;
    expect(q.script.split('\n')[0]).toBe('converge_h=~alice');
    expect(q.tableArg).toEqual(['/home/alice/.ssh', '/home/alice/.ssh/authorized_keys']);
    expect(userQueries({ ...alice, home: '/srv/a b' }).keys!.script.split('\n')[0]).toBe("converge_h='/srv/a b'");
    expect(q.inline).toBe(true);
    expect(q.runAs).toBeUndefined();
  });

  it('refuses output that ended early rather than read it as a missing user or no keys', () => {
    expect(() => parseAccount('')).toThrow(/no @groups line/);
    expect(() => userQueries(alice).keys!.parse('home=/home/alice\n[ssh_dir]\ntype=absent\n', { stdout: '', code: 0, stderr: '' })).toThrow(/no \[keys_file\] line/);
  });

  it('is read-only', () => {
    for (const q of Object.values(user.facts(alice, ctx))) expect(q.script).not.toMatch(/\b(useradd|usermod|userdel)\b(?! -D)/);
  });
});

describe('user plan', () => {
  it('creates a missing user with its keys and sudo', () => {
    expect(plan({ ...alice, name: 'ghost' }, 'ghost-absent')).toEqual([
      { path: 'user', action: 'create', after: 'ghost (groups developers,sudo, shell /bin/bash)' },
      { path: 'ssh_keys', action: 'create', after: [LAPTOP, DESKTOP] },
      { path: 'sudo', action: 'create', before: 'none', after: 'nopasswd' },
    ]);
  });

  it('is in sync when everything matches', () => {
    expect(plan(alice, 'alice-converged')).toEqual([]);
    expect(plan({ name: 'myproj', system: true, home: '/srv/myproj', shell: '/usr/sbin/nologin' }, 'myproj-system')).toEqual([]);
  });

  it('compares groups as a set: order, repeats and the primary group make no difference', () => {
    expect(plan({ ...alice, groups: ['sudo', 'developers', 'sudo', 'alice'] }, 'alice-converged')).toEqual([]);
    expect(plan({ ...alice, groups: ['developers'] }, 'alice-converged')).toEqual([{ path: 'groups', action: 'update', before: ['developers', 'sudo'], after: ['developers'] }]);
    expect(plan({ ...alice, groups: [] }, 'alice-converged')).toEqual([{ path: 'groups', action: 'update', before: ['developers', 'sudo'], after: [] }]);
  });

  it('changes the shell, uid, primary group and home', () => {
    expect(plan({ ...alice, shell: '/bin/zsh', uid: 1500, group: 'users', home: '/home/alice' }, 'alice-converged')).toEqual([
      { path: 'uid', action: 'update', before: 1001, after: 1500 },
      { path: 'group', action: 'update', before: 'alice', after: 'users' },
      { path: 'shell', action: 'update', before: '/bin/bash', after: '/bin/zsh' },
    ]);
  });

  it('adds a missing key, naming it by fingerprint and comment only', () => {
    const changes = plan({ ...alice, ssh_keys: [laptop, desktop, stray] }, 'alice-converged');
    expect(changes).toEqual([{ path: 'ssh_keys', action: 'update', before: [], after: [STRAY] }]);
    expect(JSON.stringify(changes)).not.toContain('AAAA');
  });

  it('sees no change when keys differ only in comment or options', () => {
    const recommented = [laptop.replace('alice@laptop', 'alice@new-name'), desktop.replace(' alice@desktop', '')];
    expect(plan({ ...alice, ssh_keys: recommented }, 'alice-converged')).toEqual([]);
    expect(plan({ ...alice, ssh_keys: [`no-pty ${laptop}`] , exclusive_keys: false }, 'alice-converged')).toEqual([]);
  });

  it('with exclusive_keys removes keys not listed; without, keeps them', () => {
    expect(plan({ ...alice, ssh_keys: [laptop] }, 'alice-converged')).toEqual([{ path: 'ssh_keys', action: 'update', before: [DESKTOP], after: [] }]);
    expect(plan({ ...alice, ssh_keys: [laptop], exclusive_keys: false }, 'alice-converged')).toEqual([]);
  });

  it('reports every drift of a hand-edited user', () => {
    expect(plan(alice, 'alice-drifted')).toEqual([
      { path: 'groups', action: 'update', before: ['adm', 'sudo'], after: ['developers', 'sudo'] },
      { path: 'shell', action: 'update', before: '/bin/sh', after: '/bin/bash' },
      { path: 'ssh_keys', action: 'update', before: [STRAY], after: [] },
      { path: 'ssh_perms', action: 'update', before: '~/.ssh 0755 alice, authorized_keys 0644 alice', after: '~/.ssh 0700 alice, authorized_keys 0600 alice' },
      { path: 'sudo', action: 'update', before: 'other content (sha256:6ca7bef77824), 0644 root:root', after: 'nopasswd' },
    ]);
  });

  it('removes the sudoers drop-in for sudo: none, and leaves it alone when sudo is unset', () => {
    expect(plan({ ...alice, sudo: 'none' }, 'alice-converged')).toEqual([{ path: 'sudo', action: 'delete', before: 'nopasswd', after: 'none' }]);
    expect(plan({ ...alice, name: 'ghost', ssh_keys: undefined, groups: undefined, shell: undefined, sudo: 'none' }, 'ghost-absent')).toEqual([
      { path: 'user', action: 'create', after: 'ghost' },
    ]);
    expect(plan({ ...alice, sudo: undefined }, 'alice-drifted').map((c) => c.path)).not.toContain('sudo');
  });

  it('deletes a user that should be absent (keeping its home unless purge), and its sudoers drop-in', () => {
    expect(plan({ name: 'alice', ensure: 'absent' }, 'alice-converged')).toEqual([
      { path: 'user', action: 'delete', before: 'alice', after: 'home /home/alice kept' },
      { path: 'sudo', action: 'delete', before: 'nopasswd', after: 'none' },
    ]);
    expect(plan({ name: 'alice', ensure: 'absent', purge: true }, 'alice-converged')[0]).toEqual({ path: 'user', action: 'delete', before: 'alice', after: undefined });
    expect(plan({ name: 'ghost', ensure: 'absent' }, 'ghost-absent')).toEqual([]);
  });

  it('fails clearly on a key that is not a public key', () => {
    expect(() => plan({ ...alice, ssh_keys: [laptop, 'AAAAC3NzaC1lZDI1NTE5 alice'] }, 'alice-converged')).toThrow('ssh_keys[1] is not a public key');
  });

  it('comes after its groups and a managed sudo package', () => {
    expect(user.implicitAfter!({ ...alice, group: 'staff' })).toEqual(['group:staff', 'group:developers', 'group:sudo', 'package:sudo']);
    expect(user.implicitAfter!({ name: 'alice', ensure: 'absent', groups: ['x'] })).toEqual([]);
  });
});

describe('authorized_keys', () => {
  it('finds the key after options with quoted spaces, and ignores comments and junk', () => {
    const k = parseKeyLine(`command="echo a b",no-pty ${laptop}`)!;
    expect(k).toMatchObject({ type: 'ssh-ed25519', comment: 'alice@laptop' });
    expect(keyLabel(k)).toBe(LAPTOP);
    expect(parseKeyLine('# ssh-ed25519 AAAA')).toBeUndefined();
    expect(parseKeyLine('ssh-rsa notbase64 x')).toBeUndefined();
    // A blob of another type than the word before it is not a key.
    expect(parseKeyLine(laptop.replace('ssh-ed25519', 'ssh-rsa'))).toBeUndefined();
  });

  it('rewrites the file keeping options, comments and order; exclusive drops the rest', () => {
    const current = `# mine\nfrom="10.0.0.0/8" ${laptop}\n${stray}\nnot a key line\n`;
    const wanted = parseWantedKeys([laptop, desktop]);
    expect(reconcileKeys(current, wanted, false)).toMatchObject({ remove: [], content: `${current}${desktop}\n` });
    expect(reconcileKeys(current, wanted, true)).toMatchObject({ remove: [STRAY, 'line 4 (not a key)'], content: `# mine\nfrom="10.0.0.0/8" ${laptop}\n${desktop}\n` });
    expect(reconcileKeys('', [], true).content).toBe('');
    expect(reconcileKeys('', parseWantedKeys([laptop, laptop]), false).add).toHaveLength(1);
  });
});

describe('user apply', () => {
  const commands = async (spec: UserSpec, fixtureName: string) => {
    const input = facts(fixtureName);
    const changes: Change[] = user.plan(spec, input, ctx);
    const { ctx: applyCtx, commands: sent } = recorder();
    await user.apply(spec, changes, input, applyCtx);
    return sent;
  };

  it('creates with useradd, writes keys as the user and sudoers validated before the rename', async () => {
    const [account, prepare, keys, sudo] = await commands({ ...alice, name: 'ghost' }, 'ghost-absent');
    expect(account.script).toBe('set -- -m -G developers,sudo -s /bin/bash\nif getent group ghost >/dev/null; then set -- -g ghost "$@"; fi\nuseradd "$@" ghost');
    expect(prepare.runAs).toBeUndefined();
    expect(prepare.script).toContain('chown -h ghost: "$h/.ssh"');
    expect(keys).toMatchObject({ runAs: 'ghost', stdin: `${laptop}\n${desktop}\n` });
    expect(keys.script).toContain('chmod 0600 "$tmp"');
    expect(sudo.stdin).toBe(sudoersContent('ghost'));
    expect(sudo.script.indexOf('visudo -cf "$tmp"')).toBeGreaterThan(0);
    expect(sudo.script.indexOf('visudo -cf "$tmp"')).toBeLessThan(sudo.script.indexOf('mv -fT "$tmp" "$p"'));
    expect(sudo.script).toContain('chmod 0440 "$tmp"');
  });

  it('makes a home for a system account only when its keys need one', async () => {
    const system: UserSpec = { name: 'ghost', system: true, home: '/srv/ghost', shell: '/usr/sbin/nologin' };
    expect((await commands(system, 'ghost-absent'))[0].script).toMatch(/^set -- -r -s \/usr\/sbin\/nologin -d \/srv\/ghost\n/);
    expect((await commands({ ...system, ssh_keys: [laptop] }, 'ghost-absent'))[0].script).toMatch(/^set -- -r -m -s /);
  });

  it('fails clearly when visudo is missing, before anything is written', async () => {
    const sudo = (await commands({ name: 'ghost', sudo: 'nopasswd' }, 'ghost-absent')).at(-1)!;
    expect(sudo.script.split('\n')[0]).toMatch(/^command -v visudo .*visudo not found: sudo: nopasswd needs the sudo package/);
  });

  it('updates with one usermod of what changed; -G with nothing clears the groups', async () => {
    const [account] = await commands({ ...alice, shell: '/bin/zsh', groups: [] }, 'alice-converged');
    expect(account.script).toBe("usermod -G '' -s /bin/zsh alice");
  });

  it('rewrites keys without the stray one, and removes users and drop-ins', async () => {
    const sent = await commands({ ...alice, shell: undefined, groups: undefined, sudo: undefined }, 'alice-drifted');
    expect(sent.map((c) => c.runAs)).toEqual([undefined, 'alice']);
    expect(sent[1].stdin).toBe(`# laptop and desktop keys\nfrom="10.0.0.0/8",no-agent-forwarding ${laptop}\n${desktop}\n`);
    expect((await commands({ name: 'alice', ensure: 'absent', purge: true }, 'alice-converged')).map((c) => c.script)).toEqual([
      'userdel -r alice',
      'rm -f /etc/sudoers.d/converge-alice',
    ]);
  });
});
