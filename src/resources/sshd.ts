// sshd: hardening settings as plain data, written as one drop-in,
// /etc/ssh/sshd_config.d/<name>.conf (default 50-converge).
//
// sshd keeps the FIRST value it reads for a setting. Debian's sshd_config
// starts with `Include /etc/ssh/sshd_config.d/*.conf`, so drop-ins are read in
// name order before the rest of sshd_config: a lower name wins (a cloud
// image's 50-cloud-init.conf sorts before 50-converge.conf; name the drop-in
// 10-converge to win over it).
//
// Facts: the drop-in's content, and the effective configuration from
// `sshd -T` (read-only), so a setting overridden elsewhere (a line before the
// Include, an earlier drop-in) is visible. The settings' normalized values come
// from sshd itself: `sshd -T -o Key=value` prints the effective configuration
// as if the settings won (command-line options come first, and the first value
// wins), so "yes"/"no", "prohibit-password"/"without-password", "30s"/"30"
// compare the way sshd reads them.
//
// Apply validates the candidate as part of the FULL configuration before it
// is swapped in, reloads sshd (never restarts it: a reload keeps every open
// session), then proves a fresh login still works (ctx.canReconnect), or puts
// the previous drop-in back, reloads again and fails.

import { HostError } from '../core/diagnostics.js';
import type { Change, FactQuery, ResourceType } from '../core/resource.js';
import { shq } from '../core/shell.js';
import type { SshdSpec } from '../generated/index.js';
import { atomicWriteScript } from './lib/atomic-write.js';
import { sha256, type FileFacts } from './file.js';
import { metadataScript } from './lib/fs-common.js';
import { managedFileChanges, managedFileQuery, type ManagedFile } from './lib/managed-file.js';
import { keepWayIn } from './lib/way-in.js';

const DROPIN_DIR = '/etc/ssh/sshd_config.d';
const MAIN_CONFIG = '/etc/ssh/sshd_config';
export const DEFAULT_DROPIN = '50-converge';

type Settings = SshdSpec['settings'];
type Value = Settings[string];

/** `sshd -T` output: every effective setting, lowercased key -> its values (one per line sshd prints). */
export interface SshdConfig {
  ok: boolean;
  /** sshd's complaint when it could not print the configuration. */
  error?: string;
  values: Record<string, string[]>;
}

export interface SshdFiles {
  /** sshd_config Includes sshd_config.d/, so a drop-in there is read at all. */
  included: boolean;
  /** Lowercased setting -> the config files that set it. */
  setIn: Record<string, string[]>;
}

export const dropinPath = (spec: SshdSpec) => `${DROPIN_DIR}/${spec.name ?? DEFAULT_DROPIN}.conf`;
/** Where apply keeps the drop-in it replaces until a fresh login proved the new one (no .conf: never read by sshd). */
const savedPath = (spec: SshdSpec) => `${DROPIN_DIR}/.${spec.name ?? DEFAULT_DROPIN}.conf.converge-prev`;

export const settingValue = (v: Value): string => (typeof v === 'boolean' ? (v ? 'yes' : 'no') : String(v));

export function renderDropin(settings: Settings): string {
  const lines = Object.entries(settings).map(([k, v]) => `${k} ${settingValue(v)}`);
  return ['# Managed by converge (sshd resource): local edits are overwritten.', ...lines].join('\n') + '\n';
}

/** sh printing `exit=N` and then what `sshd -T <args>` printed (stdout and stderr). */
function sshdTScript(args: string[]): string {
  return [`out=$(sshd -T${args.map((a) => ` ${a}`).join('')} 2>&1)`, 'echo "exit=$?"', `printf '%s\\n' "$out"`].join('\n');
}

export function parseSshdT(text: string): SshdConfig {
  const [first, ...rest] = text.split(/\r?\n/);
  const code = /^exit=(\d+)$/.exec(first)?.[1];
  const body = rest.join('\n').trim();
  if (code !== '0') {
    const error = code === '127' ? 'sshd is not installed' : body.split('\n').slice(-3).join(' / ') || `sshd -T failed (exit ${code ?? 'unknown'})`;
    return { ok: false, error, values: {} };
  }
  const values: Record<string, string[]> = {};
  for (const line of rest) {
    const m = /^(\S+) (.*)$/.exec(line);
    if (m) (values[m[1]] ??= []).push(m[2]);
  }
  return { ok: true, values };
}

/** The effective sshd configuration; ufw reads it too (for the port sshd listens on), under the same key. */
export const sshdEffective: FactQuery<SshdConfig> = { key: 'sshd:effective', script: sshdTScript([]), parse: parseSshdT };

const dropin = (spec: SshdSpec): ManagedFile => ({ label: 'dropin', path: dropinPath(spec), content: renderDropin(spec.settings), mode: '0644' });

/** Whether sshd_config reads sshd_config.d at all, and which files set each of the settings. */
function filesScript(spec: SshdSpec): string {
  return [
    // Relative Include paths are relative to /etc/ssh, so both spellings count.
    `if grep -Eiq '^[[:space:]]*include[[:space:]]+(.*[[:space:]])?(/etc/ssh/)?sshd_config\\.d/' ${MAIN_CONFIG}; then echo included=yes; else echo included=no; fi`,
    `for k in ${Object.keys(spec.settings).map(shq).join(' ')}; do`,
    `  grep -Eil "^[[:space:]]*$k([[:space:]]|=)" ${MAIN_CONFIG} ${DROPIN_DIR}/*.conf | sed "s|^|set $k |"`,
    'done',
  ].join('\n');
}

export function parseSshdFiles(text: string): SshdFiles {
  const files: SshdFiles = { included: /^included=yes$/m.test(text), setIn: {} };
  for (const m of text.matchAll(/^set (\S+) (.+)$/gm)) (files.setIn[m[1].toLowerCase()] ??= []).push(m[2]);
  return files;
}

/** Short and stable, for fact keys (which must stay shell-safe). */
const keyHash = (s: string) => sha256(s).slice(0, 16);

/** sshd's own user patterns (AllowUsers, DenyUsers): USER or USER@HOST, with * and ?. */
function userMatches(pattern: string, user: string): boolean {
  const u = pattern.split('@')[0];
  const re = new RegExp(`^${u.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
  return re.test(user);
}

/**
 * Why these settings would lock converge out (it logs in as `loginUser`,
 * with a key), or undefined. The fresh login after the reload catches what
 * this cannot see (groups, Match blocks, keys).
 */
export function lockoutReason(settings: Settings, loginUser: string): string | undefined {
  const get = (key: string) => {
    const e = Object.entries(settings).find(([k]) => k.toLowerCase() === key);
    return e && settingValue(e[1]).trim();
  };
  const rootLogin = get('permitrootlogin')?.toLowerCase();
  if (loginUser === 'root' && (rootLogin === 'no' || rootLogin === 'forced-commands-only')) {
    return `PermitRootLogin ${rootLogin} would lock converge out: it logs in as root`;
  }
  if (get('pubkeyauthentication')?.toLowerCase() === 'no') return 'PubkeyAuthentication no would lock converge out: it logs in with a key';
  const allow = get('allowusers');
  if (allow && !allow.split(/\s+/).some((p) => userMatches(p, loginUser))) return `AllowUsers ${allow} would lock converge out: it logs in as ${loginUser}`;
  const deny = get('denyusers');
  if (deny && deny.split(/\s+/).some((p) => userMatches(p, loginUser))) return `DenyUsers ${deny} would lock converge out: it logs in as ${loginUser}`;
  const methods = get('authenticationmethods');
  if (methods && methods !== 'any' && !methods.split(/\s+/).includes('publickey')) {
    return `AuthenticationMethods ${methods} would lock converge out: no method list is satisfied by a key alone`;
  }
  return undefined;
}

function checkSettings(settings: Settings, loginUser: string): void {
  const seen = new Set<string>();
  for (const k of Object.keys(settings)) {
    const l = k.toLowerCase();
    if (l === 'match' || l === 'include') throw new HostError(`${k} cannot be a setting here: it changes the structure of the configuration, not one value`, 'manage Match blocks and Includes with a file resource');
    if (seen.has(l)) throw new HostError(`${k} is set twice (sshd setting names ignore case)`, 'keep one of them');
    seen.add(l);
  }
  const lockout = lockoutReason(settings, loginUser);
  if (lockout) {
    throw new HostError(
      lockout,
      loginUser === 'root'
        ? 'connect as a sudo user first: create a user with a key and passwordless sudo, set user: to it in the inventory, then turn root login off'
        : 'keep key login open for the user converge logs in as',
    );
  }
}

const shown = (v: string[]) => (v.length === 0 ? undefined : v.length === 1 ? v[0] : v);

/** Settings whose effective value differs from what the desired settings make it (both as `sshd -T` prints them). */
function settingChanges(settings: Settings, effective: SshdConfig, wanted: SshdConfig): Change[] {
  const names = new Map(Object.keys(settings).map((k) => [k.toLowerCase(), k]));
  const keys = new Set([...Object.keys(effective.values), ...Object.keys(wanted.values)]);
  const out: Change[] = [];
  for (const key of keys) {
    const before = effective.values[key] ?? [];
    const after = wanted.values[key] ?? [];
    if (before.join('\n') === after.join('\n')) continue;
    out.push({ path: `settings.${names.get(key) ?? key}`, action: 'update', before: shown(before), after: shown(after) });
  }
  return out;
}

function overridden(spec: SshdSpec, changes: Change[], files: SshdFiles): HostError {
  const ours = dropinPath(spec);
  const what = changes.map((c) => {
    const key = c.path.slice('settings.'.length);
    const elsewhere = (files.setIn[key.toLowerCase()] ?? []).filter((f) => f !== ours);
    return `${key} is ${JSON.stringify(c.before)}, not ${JSON.stringify(c.after)}${elsewhere.length ? ` (also set in ${elsewhere.join(', ')})` : ''}`;
  });
  return new HostError(
    `${ours} is in place but sshd uses other values: ${what.join('; ')}`,
    `sshd keeps the first value it reads (sshd_config lines before its Include, then sshd_config.d/*.conf in name order, then the rest): remove the other setting, or give this drop-in a lower name (e.g. name: 10-converge)`,
  );
}

/**
 * The check of a candidate drop-in ("$tmp", beside the old one as a dot file
 * without .conf, which the Include glob never matches) as part of the FULL
 * configuration sshd will read after the swap: a temp directory holds every
 * other drop-in (symlinked) plus the candidate under the final name, and a
 * temp copy of sshd_config has its Include of sshd_config.d/ pointed at that
 * directory (relative Include paths resolve against /etc/ssh wherever the
 * copy is). `sshd -t -f` on the copy reads exactly the files, in exactly the
 * order, sshd will; only then is the candidate renamed into place.
 */
function fullConfigCheck(spec: SshdSpec): string {
  const name = `${spec.name ?? DEFAULT_DROPIN}.conf`;
  return [
    `d=${DROPIN_DIR}; work=$(mktemp -d) || exit 1`,
    'mkdir "$work/d"',
    'for f in "$d"/*.conf; do if [ -e "$f" ] && [ "$f" != "$p" ]; then ln -s "$f" "$work/d/"; fi; done',
    `ln -s "$tmp" "$work/d/${name}"`,
    `sed -E "/^[[:space:]]*include[[:space:]]/I s#([[:space:]])(/etc/ssh/)?sshd_config\\.d/#\\1$work/d/#g" ${MAIN_CONFIG} > "$work/sshd_config"`,
    `if grep -q "$work/d/" "$work/sshd_config"; then out=$(sshd -t -f "$work/sshd_config" 2>&1) && rc=0 || rc=$?; else out="${MAIN_CONFIG} does not Include sshd_config.d/"; rc=1; fi`,
    // (set -e holds in here: the && || above keep a failing check from ending this before the cleanup.)
    // Name the files as the person will find them, not by their temp path.
    'printf \'%s\\n\' "$out" | sed "s#$work/d/#$d/#g"; rm -rf "$work"; exit $rc',
  ].join('\n');
}

/** Reload (SIGHUP) the running sshd, which keeps every open session; the unit is ssh.service on Debian/Ubuntu, sshd.service elsewhere. */
const reloadScript = [
  'if systemctl cat ssh.service >/dev/null 2>&1; then u=ssh.service; else u=sshd.service; fi',
  'if systemctl is-active --quiet "$u"; then systemctl reload "$u"; fi',
].join('\n');

/** Saves the current drop-in, writes the checked candidate (stdin) in its place, reloads sshd. */
function installScript(spec: SshdSpec): string {
  const save = `rm -f ${shq(savedPath(spec))}\nif [ -e ${shq(dropinPath(spec))} ]; then cp -p ${shq(dropinPath(spec))} ${shq(savedPath(spec))}; fi`;
  const write = atomicWriteScript({ path: shq(dropinPath(spec)), metadata: metadataScript({ owner: 'root', group: 'root', mode: '0644' }, '"$tmp"'), validate: fullConfigCheck(spec), sha256: sha256(dropin(spec).content) });
  return ['set -e', save, write, reloadScript].join('\n');
}

/** Puts the saved drop-in back (or removes the new one when there was none) and reloads sshd. */
function restoreScript(spec: SshdSpec): string {
  const [p, saved] = [shq(dropinPath(spec)), shq(savedPath(spec))];
  return ['set -e', `if [ -e ${saved} ]; then mv -fT ${saved} ${p}; else rm -f ${p}; fi`, reloadScript].join('\n');
}

export const sshd: ResourceType<SshdSpec, { effective: SshdConfig; wanted: SshdConfig; files: SshdFiles; dropin: FileFacts }> = {
  kind: 'sshd',
  id: (spec) => `sshd:${spec.name ?? DEFAULT_DROPIN}`,
  implicitAfter: () => ['package:openssh-server'],

  facts(spec) {
    const args = Object.entries(spec.settings).map(([k, v]) => `-o ${shq(`${k}=${settingValue(v)}`)}`);
    return {
      effective: sshdEffective,
      wanted: { key: `sshd:wanted:${keyHash(args.join(' '))}`, script: sshdTScript(args), parse: parseSshdT },
      dropin: managedFileQuery(dropin(spec)),
      files: { key: `sshd:files:${keyHash(JSON.stringify(Object.keys(spec.settings)))}`, script: filesScript(spec), parse: parseSshdFiles },
    };
  },

  plan(spec, facts, ctx) {
    const effective = facts.effective;
    const wanted = facts.wanted;
    const files = facts.files;
    if (!effective.ok) throw new HostError(`cannot read the sshd configuration (sshd -T): ${effective.error}`, 'run `sshd -T` on the host to see why');
    checkSettings(spec.settings, ctx.host.loginUser);
    if (!wanted.ok) throw new HostError(`sshd rejects these settings: ${wanted.error}`, 'fix the setting name or value (man sshd_config)');
    if (!files.included) {
      throw new HostError(`${MAIN_CONFIG} does not Include ${DROPIN_DIR}/*.conf, so a drop-in there has no effect`, `add "Include ${DROPIN_DIR}/*.conf" as the first line of ${MAIN_CONFIG} (Debian's default)`);
    }
    const changes = managedFileChanges(dropin(spec), facts.dropin);
    const settings = settingChanges(spec.settings, effective, wanted);
    if (settings.length && !changes.some((c) => c.path === 'dropin')) throw overridden(spec, settings, files);
    return [...changes, ...settings];
  },

  async apply(spec, _changes, facts, ctx) {
    const f = dropin(spec);
    const had = facts.dropin.type !== 'absent';
    try {
      await ctx.run({ script: installScript(spec), stdin: f.content }, `installing ${f.path} and reloading sshd`);
    } catch (e) {
      await ctx.exec({ script: `rm -f ${shq(savedPath(spec))}` });
      throw e;
    }
    await keepWayIn(ctx, {
      change: `reloading sshd with the new ${f.path}`,
      previous: had ? `the previous ${f.path}` : `the configuration without ${f.path}`,
      // A reload re-executes sshd, which briefly closes its listening socket.
      attempts: 3,
      undo: async () => void (await ctx.run({ script: restoreScript(spec) }, `restoring the previous ${f.path}`)),
    });
    await ctx.run({ script: `rm -f ${shq(savedPath(spec))}` }, `removing the saved copy of ${f.path}`);
  },
};
