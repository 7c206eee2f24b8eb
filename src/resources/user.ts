// user: a local account (uid, primary and supplementary groups, shell,
// home), its authorized ssh keys, and passwordless sudo from a sudoers.d
// drop-in. Read-only facts, in at most three queries per user: the account
// (one getent and one id for every user of the host: see ACCOUNTS), ~/.ssh
// and its keys (only when the spec manages keys), and the drop-in (the file
// resource's own query, when the spec manages sudo).
//
// authorized_keys is written by the user itself (runAs), never by root: the
// user owns ~/.ssh and could point it anywhere, and root writing through
// such a link would hand the user root's files.

import { HostError } from '../core/diagnostics.js';
import type { ApplyContext, Change, FactMerge, FactQuery, ResourceType } from '../core/resource.js';
import { shq } from '../core/shell.js';
import type { UserSpec } from '../generated/index.js';
import { atomicWriteScript } from './lib/atomic-write.js';
import { fileFactKey, fileFactQuery, sha256, type FileFacts } from './file.js';
import { getentMerge } from './lib/getent.js';
import { formatMode, parseStat, STAT_FUNCTIONS, type PathStat } from './lib/fs-common.js';
import { PATH_TABLES } from './lib/path-tables.js';
import { keyLabel, parseWantedKeys, reconcileKeys } from './lib/ssh-keys.js';

/** The account as getent and id see it. */
export interface AccountFacts {
  exists: boolean;
  uid?: number;
  /** Primary group name. */
  primary?: string;
  /** Supplementary group names, sorted. */
  groups?: string[];
  shell?: string;
  /** The home in the passwd entry. */
  passwdHome?: string;
}

/** ~/.ssh and its keys, read from the home the keys go in. */
export interface KeysFacts {
  /** The spec's home, else the passwd one, else useradd's default for a new user. */
  home: string;
  sshDir: PathStat;
  keysFile: PathStat;
  authorizedKeys: string;
}

/** What plan and apply read: the three queries' answers together. */
export interface UserFacts extends AccountFacts {
  /** The home whose ~/.ssh was read (keys managed), else the spec's or the passwd one. */
  home: string;
  /** Present when the spec manages ssh_keys. */
  sshDir?: PathStat;
  keysFile?: PathStat;
  authorizedKeys?: string;
  /** Present when the spec manages sudo (or removes the user). */
  sudoers?: FileFacts;
}

type UserQueries = { account: AccountFacts; keys?: KeysFacts; sudoers?: FileFacts };

export const sudoersPath = (name: string) => `/etc/sudoers.d/converge-${name}`;
export const sudoersContent = (name: string) => `# managed by converge: passwordless sudo for ${name}\n${name} ALL=(ALL) NOPASSWD:ALL\n`;

const managesSudo = (spec: UserSpec) => spec.sudo !== undefined || spec.ensure === 'absent';

/** getent's passwd lookup of several names, and its cut per name: the group resource's merge, for the passwd database. */
const PASSWD = getentMerge('passwd');

/**
 * Every user of a host in two processes: `getent passwd` prints the entry
 * of each name it finds, in order, and `id -Gn` (coreutils 8.31 and later)
 * the groups of several users, one line each, primary first. When id fails
 * (a missing user: it skips that line; an older coreutils: one name only)
 * each name's groups follow an `@name` line of their own.
 */
const ACCOUNTS: Omit<FactMerge, 'item'> = {
  key: 'user-accounts',
  script(names) {
    const words = names.map(shq).join(' ');
    // getent's 2 is "not found" (an answer); any other failure fails the query rather than read as absent.
    return [`${PASSWD.script(names)}; c=$?; [ $c -eq 0 ] || [ $c -eq 2 ] || exit $c`, "echo '@groups'", `id -Gn -- ${words} 2>/dev/null || for u in ${words}; do echo "@$u"; id -Gn -- "$u" 2>/dev/null || true; done`].join('\n');
  },
  split(stdout, names) {
    const at = stdout.indexOf('@groups\n');
    // Each name's passwd line (with its newline), or '': as the group resource's merge cuts getent's output.
    const passwd = PASSWD.split(stdout.slice(0, at < 0 ? stdout.length : at), names);
    const lines = at < 0 ? [] : stdout.slice(at + '@groups\n'.length).split('\n');
    const each = lines.some((l) => l.startsWith('@'));
    return names.map((n, i) => {
      const named = each ? lines.indexOf(`@${n}`) : -1;
      const groups = (each ? (named < 0 ? undefined : lines[named + 1]) : lines[i]) ?? '';
      // As the script prints for that name alone: id fails for a missing user, and its loop names it.
      return passwd[i] ? `${passwd[i]}@groups\n${groups.startsWith('@') ? '' : groups}\n` : `@groups\n@${n}\n`;
    });
  },
};

/** One user's part of ACCOUNTS' output (or of its script for that user alone). */
export function parseAccount(text: string): AccountFacts {
  const at = text.indexOf('@groups\n');
  if (at < 0) throw new Error('no @groups line: the query ended early');
  const entry = text.slice(0, Math.max(at, 0)).split('\n').find((l) => l.includes(':'));
  if (!entry) return { exists: false };
  const [, , uid, , , passwdHome, shell] = entry.split(':');
  // Alone, a name whose id failed is followed by `@name` and then its groups (or nothing).
  const rest = text.slice(at + '@groups\n'.length).split('\n');
  const line = rest[0].startsWith('@') ? (rest[1] ?? '') : rest[0];
  const words = line.split(/\s+/).filter(Boolean);
  const primary = words[0] ?? '';
  const groups = new Set(words);
  groups.delete(primary);
  return { exists: true, uid: Number(uid), primary, groups: [...groups].sort(), shell, passwdHome };
}

/**
 * The home the keys go in, then ~/.ssh's and authorized_keys' stats and the
 * keys. `~name` is sh's own lookup of the passwd home (no process); it stays
 * as written for a user that does not exist, whose home is useradd's
 * default. Runs in the batch's shell (its variables are its own), the
 * stats from the batch's path table when the home is where it is guessed.
 */
export function keysQuery(spec: UserSpec): FactQuery<KeysFacts> {
  const home = spec.home ?? `/home/${spec.name}`;
  const script = [
    spec.home ? `converge_h=${shq(spec.home)}` : `converge_h=~${spec.name}`,
    spec.home ? '' : `case $converge_h in '~'*) converge_h="$(useradd -D | sed -n 's/^HOME=//p')"/${spec.name} ;; esac`,
    'echo "home=$converge_h"',
    'echo "[ssh_dir]"',
    'converge_stat "$converge_h/.ssh"',
    'echo "[keys_file]"',
    'converge_stat "$converge_h/.ssh/authorized_keys"',
    // Last: the file's own lines follow, whatever they look like.
    'echo "[authorized_keys]"',
    'if [ ! -L "$converge_h/.ssh" ] && [ -f "$converge_h/.ssh/authorized_keys" ] && [ ! -L "$converge_h/.ssh/authorized_keys" ]; then cat "$converge_h/.ssh/authorized_keys"; fi',
  ];
  return {
    key: `user-keys:${spec.name}:${spec.home ?? ''}`,
    script: script.filter(Boolean).join('\n'),
    functions: STAT_FUNCTIONS,
    inline: true,
    tables: PATH_TABLES,
    tableArg: [`${home}/.ssh`, `${home}/.ssh/authorized_keys`],
    parse: parseKeys,
  };
}

export function parseKeys(text: string): KeysFacts {
  const at = (name: string, from = 0) => {
    const i = text.indexOf(`[${name}]\n`, from);
    if (i < 0) throw new Error(`no [${name}] line: the query ended early`);
    return i;
  };
  const dir = at('ssh_dir');
  const file = at('keys_file', dir);
  const keys = at('authorized_keys', file);
  const home = /^home=(.*)$/m.exec(text.slice(0, dir))?.[1] ?? '';
  return { home, sshDir: parseStat(text.slice(dir + '[ssh_dir]\n'.length, file)), keysFile: parseStat(text.slice(file + '[keys_file]\n'.length, keys)), authorizedKeys: text.slice(keys + '[authorized_keys]\n'.length) };
}

/** The user's queries: its account always; its keys and its drop-in when the spec manages them. */
export function userQueries(spec: UserSpec): { [K in keyof UserQueries]: FactQuery<NonNullable<UserQueries[K]>> } {
  const sudoers = sudoersPath(spec.name);
  return {
    account: { key: `user:${spec.name}`, script: ACCOUNTS.script([spec.name]), parse: parseAccount, merge: { ...ACCOUNTS, item: spec.name } },
    ...(spec.ssh_keys ? { keys: keysQuery(spec) } : {}),
    // The file resource's own query of that path (the same key: one answer for both).
    ...(managesSudo(spec) ? { sudoers: fileFactQuery(fileFactKey(sudoers, undefined, false), sudoers, undefined, false) } : {}),
  };
}

/** The queries' answers as one UserFacts. */
export function userFacts(spec: UserSpec, facts: UserQueries): UserFacts {
  const { account, keys, sudoers } = facts;
  return { ...account, home: keys?.home ?? spec.home ?? account.passwdHome ?? '', ...(keys && { sshDir: keys.sshDir, keysFile: keys.keysFile, authorizedKeys: keys.authorizedKeys }), ...(sudoers && { sudoers }) };
}

/** "alice (shell /bin/bash, groups developers,sudo)": what a create will make. */
function describe(spec: UserSpec): string {
  const extra = [
    spec.uid !== undefined ? `uid ${spec.uid}` : '',
    spec.group ? `group ${spec.group}` : '',
    spec.groups?.length ? `groups ${spec.groups.join(',')}` : '',
    spec.shell ? `shell ${spec.shell}` : '',
    spec.home ? `home ${spec.home}` : '',
    spec.system ? 'system' : '',
  ].filter(Boolean);
  return extra.length ? `${spec.name} (${extra.join(', ')})` : spec.name;
}

/** Supplementary groups as a set: the primary group is never one of them. */
function wantedGroups(spec: UserSpec, f: UserFacts): string[] {
  const primary = spec.group ?? f.primary ?? spec.name;
  return [...new Set(spec.groups)].filter((g) => g !== primary).sort();
}

function accountChanges(spec: UserSpec, f: UserFacts): Change[] {
  if (!f.exists) return [{ path: 'user', action: 'create', after: describe(spec) }];
  const out: Change[] = [];
  const field = (path: string, want: unknown, have: unknown) => {
    if (want !== undefined && JSON.stringify(want) !== JSON.stringify(have)) out.push({ path, action: 'update', before: have, after: want });
  };
  // `system` only picks the uid range at creation; an existing account keeps its kind.
  field('uid', spec.uid, f.uid);
  field('group', spec.group, f.primary);
  field('groups', spec.groups && wantedGroups(spec, f), f.groups);
  field('shell', spec.shell, f.shell);
  field('home', spec.home, f.passwdHome);
  return out;
}

const perms = (what: string, st: PathStat) => `${what} ${formatMode(st.mode)} ${st.owner}`;

/** ssh_keys: before = keys that go, after = keys that come (labels, not keys); ssh_perms: owner and mode. */
function keyChanges(spec: UserSpec, f: UserFacts): Change[] {
  if (!spec.ssh_keys) return [];
  const dir = f.sshDir!;
  const file = f.keysFile!;
  if (dir.type !== 'absent' && dir.type !== 'directory') {
    throw new HostError(`${f.home}/.ssh is a ${dir.type}, not a directory`, 'remove it by hand; converge will not write keys through it');
  }
  if (file.type !== 'absent' && file.type !== 'file') {
    throw new HostError(`${f.home}/.ssh/authorized_keys is a ${file.type}, not a file`, 'remove it by hand; converge will not write keys through it');
  }
  const r = reconcileKeys(f.authorizedKeys ?? '', parseWantedKeys(spec.ssh_keys), !!spec.exclusive_keys);
  const out: Change[] = [];
  if (r.add.length || r.remove.length) {
    const create = file.type === 'absent';
    out.push({ path: 'ssh_keys', action: create ? 'create' : 'update', before: create ? undefined : r.remove, after: r.add.map(keyLabel) });
  }
  const badDir = dir.type === 'directory' && (dir.owner !== spec.name || dir.mode !== 0o700);
  const badFile = file.type === 'file' && (file.owner !== spec.name || file.mode !== 0o600);
  if (badDir || badFile) {
    out.push({
      path: 'ssh_perms',
      action: 'update',
      before: [badDir ? perms('~/.ssh', dir) : '', badFile ? perms('authorized_keys', file) : ''].filter(Boolean).join(', '),
      after: [badDir ? `~/.ssh 0700 ${spec.name}` : '', badFile ? `authorized_keys 0600 ${spec.name}` : ''].filter(Boolean).join(', '),
    });
  }
  return out;
}

/** One short word for the drop-in as it is: none, nopasswd, or what else is there. */
function sudoState(s: FileFacts, name: string): string {
  if (s.type === 'absent') return 'none';
  if (s.type !== 'file') return `a ${s.type}`;
  const what = s.sha256 === sha256(sudoersContent(name)) ? 'nopasswd' : `other content (sha256:${s.sha256?.slice(0, 12)})`;
  return s.owner === 'root' && s.group === 'root' && s.mode === 0o440 ? what : `${what}, ${formatMode(s.mode)} ${s.owner}:${s.group}`;
}

function sudoChanges(spec: UserSpec, f: UserFacts): Change[] {
  const s = f.sudoers;
  if (!managesSudo(spec) || !s) return [];
  const now = sudoState(s, spec.name);
  const want = spec.ensure === 'absent' ? 'none' : spec.sudo!;
  if (now === want) return [];
  if (s.type === 'directory' || s.type === 'other') {
    throw new HostError(`${sudoersPath(spec.name)} is a ${s.type}, not a file`, 'remove it by hand');
  }
  return [{ path: 'sudo', action: want === 'none' ? 'delete' : now === 'none' ? 'create' : 'update', before: now, after: want }];
}

/** useradd, or usermod with the flags of what changed; '' when the account is right. */
function accountScript(spec: UserSpec, changes: Change[], f: UserFacts): string {
  const n = shq(spec.name);
  const has = (path: string) => changes.some((c) => c.path === path);
  const flags = (all: boolean) =>
    [
      spec.uid !== undefined && (all || has('uid')) ? `-u ${spec.uid}` : '',
      spec.group !== undefined && (all || has('group')) ? `-g ${shq(spec.group)}` : '',
      // usermod -G '' (shq of nothing) leaves every supplementary group; useradd needs no flag for none.
      spec.groups !== undefined && (all ? spec.groups.length > 0 : has('groups')) ? `-G ${shq(wantedGroups(spec, f).join(','))}` : '',
      spec.shell !== undefined && (all || has('shell')) ? `-s ${shq(spec.shell)}` : '',
      spec.home !== undefined && (all || has('home')) ? `-d ${shq(spec.home)}` : '',
    ].filter(Boolean);
  if (!f.exists) {
    // A group named like the user may already exist (managed on its own): useradd refuses to create it again.
    const group = spec.group === undefined ? `if getent group ${n} >/dev/null; then set -- -g ${n} "$@"; fi\n` : '';
    // A system account gets no home, unless its keys need one (a directory resource for it would come too late).
    const kind = [spec.system ? '-r' : '', !spec.system || spec.ssh_keys?.length ? '-m' : ''].filter(Boolean);
    return `set -- ${[...kind, ...flags(true)].join(' ')}\n${group}useradd "$@" ${n}`;
  }
  const update = flags(false);
  return update.length ? `usermod ${update.join(' ')} ${n}` : '';
}

async function writeSudoers(spec: UserSpec, ctx: ApplyContext): Promise<void> {
  const p = shq(sudoersPath(spec.name));
  if (spec.ensure === 'absent' || spec.sudo === 'none') {
    await ctx.run({ script: `rm -f ${p}` }, `removing ${sudoersPath(spec.name)}`);
    return;
  }
  const content = sudoersContent(spec.name);
  const script = [
    'command -v visudo >/dev/null 2>&1 || { echo "visudo not found: sudo: nopasswd needs the sudo package on the host (install it first, e.g. with a package resource)" >&2; exit 3; }',
    atomicWriteScript({ path: p, metadata: 'chown root:root "$tmp"\nchmod 0440 "$tmp"', validate: 'visudo -cf "$tmp"', sha256: sha256(content) }),
  ].join('\n');
  await ctx.run({ script, stdin: content }, `writing ${sudoersPath(spec.name)}`);
}

/**
 * Root makes ~/.ssh exist and belong to the user (chown -h: never through a
 * link); the user then sets its mode and writes authorized_keys atomically.
 */
async function writeKeys(spec: UserSpec, f: UserFacts, ctx: ApplyContext): Promise<void> {
  const h = `set -e\nh=${shq(f.home)}`;
  const prepare = [
    h,
    `[ -d "$h" ] || { echo "home directory $h does not exist, so keys cannot go in it: create it, owned by ${spec.name}" >&2; exit 3; }`,
    '[ -e "$h/.ssh" ] || [ -L "$h/.ssh" ] || mkdir -m 0700 "$h/.ssh"',
    `chown -h ${shq(spec.name)}: "$h/.ssh"`,
  ].join('\n');
  await ctx.run({ script: prepare }, `preparing ${f.home}/.ssh`);
  const r = reconcileKeys(f.authorizedKeys ?? '', parseWantedKeys(spec.ssh_keys!), !!spec.exclusive_keys);
  const write = [
    h,
    'if [ -L "$h/.ssh" ]; then echo "$h/.ssh is a symlink: keys are not written through it" >&2; exit 3; fi',
    'chmod 0700 "$h/.ssh"',
    // With no keys wanted and no file, there is nothing to write (no empty file appears).
    r.content || f.keysFile!.type === 'file' ? atomicWriteScript({ path: '"$h/.ssh/authorized_keys"', metadata: 'chmod 0600 "$tmp"', sha256: sha256(r.content) }) : '',
  ].join('\n');
  await ctx.run({ script: write, stdin: r.content, runAs: spec.name }, `writing ${f.home}/.ssh/authorized_keys as ${spec.name}`);
}

export const user: ResourceType<UserSpec, UserQueries> = {
  kind: 'user',
  id: (spec) => `user:${spec.name}`,
  managedPaths: (spec) => (spec.ensure !== 'absent' && spec.sudo === 'nopasswd' ? [sudoersPath(spec.name)] : []),
  // Its groups first; the sudo package (when managed) before a sudoers drop-in. Removal needs no order.
  implicitAfter: (spec) =>
    spec.ensure === 'absent'
      ? []
      : [...(spec.group ? [spec.group] : []), ...(spec.groups ?? [])].map((g) => `group:${g}`).concat(spec.sudo === 'nopasswd' ? ['package:sudo'] : []),

  facts: userQueries,

  plan(spec, facts) {
    const f = userFacts(spec, facts);
    if (spec.ensure === 'absent') {
      const gone: Change[] = f.exists ? [{ path: 'user', action: 'delete', before: spec.name, after: spec.purge ? undefined : `home ${f.passwdHome} kept` }] : [];
      return [...gone, ...sudoChanges(spec, f)];
    }
    return [...accountChanges(spec, f), ...keyChanges(spec, f), ...sudoChanges(spec, f)];
  },

  async apply(spec, changes, facts, ctx) {
    const f = userFacts(spec, facts);
    const has = (path: string) => changes.some((c) => c.path === path);
    if (spec.ensure === 'absent') {
      if (has('user')) await ctx.run({ script: `userdel${spec.purge ? ' -r' : ''} ${shq(spec.name)}` }, `removing user ${spec.name}`);
    } else {
      const account = accountScript(spec, changes, f);
      if (account) await ctx.run({ script: account }, `${f.exists ? 'changing' : 'creating'} user ${spec.name}`);
      if (has('ssh_keys') || has('ssh_perms')) await writeKeys(spec, f, ctx);
    }
    if (has('sudo')) await writeSudoers(spec, ctx);
  },
};
