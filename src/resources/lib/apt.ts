// What converge knows about apt and dpkg on a Debian/Ubuntu host: the
// read-only fact scripts and their parsers (one host-wide prefetch of the
// dpkg database, as Puppet does, plus apt's candidate for `latest`
// packages), and the sh of one apt transaction that waits for the dpkg
// lock instead of failing.

import { HostError } from '../../core/diagnostics.js';
import { LOCK_HOLDERS_SH, PROGRESS_PREFIX, shq } from '../../core/shell.js';

/** dpkg's status of one package, from `${db:Status-Abbrev}`. */
export interface DpkgPackage {
  /** Empty when dpkg knows the package but no version is on disk. */
  version: string;
  /** The selection: `apt-mark hold` sets it to hold, which is what apt-mark showhold reads back. */
  held: boolean;
  state: 'installed' | 'config-files' | 'partial' | 'not-installed';
  /** dpkg's word for a partial state (unpacked, half-configured, ...), for reports. */
  detail?: string;
}

export interface AptState {
  packages: Map<string, DpkgPackage>;
  /** The host's clock when facts were read (seconds). */
  now: number;
  /** When the package lists were last refreshed (seconds); undefined when there are none. */
  listsUpdated?: number;
  /** When an apt source (sources.list, sources.list.d and its entries) last changed: lists older than that may lack its packages. */
  sourcesChanged?: number;
}

/** Only what converge writes after a successful `apt-get update`, as Ubuntu's update-notifier does (and Ansible reads). */
const UPDATE_STAMP = '/var/lib/apt/periodic/update-success-stamp';

/**
 * The host-wide prefetch: every package dpkg knows with its version and
 * status, then the clock and the age of the package lists. The '*' pattern
 * also lists packages that are not installed, so a package held before it
 * was installed shows as held (what `apt-mark showhold` reads: the same
 * dpkg selection). An unchanged `apt-get update` touches no list file, so
 * the stamp converge leaves after its own updates counts too. A source added
 * since (a vendor repository) makes the lists out of date whatever their age.
 */
export const APT_STATE_SCRIPT = [
  `dpkg-query -W -f '\${Package}\\t\${Version}\\t\${db:Status-Abbrev}\\n' '*'`,
  `printf '@now\\t%s\\n' "$(date +%s)"`,
  `[ -e ${UPDATE_STAMP} ] && printf '@stamp\\t%s\\n' "$(stat -c %Y ${UPDATE_STAMP})"`,
  `find /var/lib/apt/lists -maxdepth 1 -type f -name '*_Packages*' -printf '@lists\\t%T@\\n'`,
  `find /etc/apt/sources.list /etc/apt/sources.list.d -maxdepth 1 -printf '@sources\\t%T@\\n'`,
  'true',
].join('\n');

const STATES: Record<string, DpkgPackage['state'] | undefined> = { i: 'installed', W: 'installed', t: 'installed', c: 'config-files', n: 'not-installed' };
const PARTIAL: Record<string, string> = { U: 'unpacked', F: 'half-configured', H: 'half-installed' };
/** When dpkg lists a name twice (one per architecture), the most installed entry wins. */
const RANK: Record<DpkgPackage['state'], number> = { installed: 3, partial: 2, 'config-files': 1, 'not-installed': 0 };

export function parseDpkgStatus(version: string, abbrev: string): DpkgPackage {
  const [want, status, err] = abbrev;
  const held = want === 'h';
  if (err === 'R') return { version, held, state: 'partial', detail: 'reinstall required' };
  const state = STATES[status];
  if (state) return { version, held, state };
  return { version, held, state: 'partial', detail: PARTIAL[status] ?? `dpkg status ${abbrev.trim()}` };
}

export function parseAptState(text: string): AptState {
  const packages = new Map<string, DpkgPackage>();
  const st: AptState = { packages, now: 0 };
  let stamp: number | undefined;
  for (const line of text.split('\n')) {
    const [name, value, abbrev] = line.split('\t');
    if (value === undefined) continue;
    if (name === '@now') st.now = Number(value);
    else if (name === '@stamp') stamp = Math.floor(Number(value));
    else if (name === '@lists') st.listsUpdated = Math.max(st.listsUpdated ?? 0, Math.floor(Number(value)));
    else if (name === '@sources') st.sourcesChanged = Math.max(st.sourcesChanged ?? 0, Math.floor(Number(value)));
    else if (abbrev !== undefined && abbrev.length >= 2) {
      const p = parseDpkgStatus(value, abbrev);
      const seen = packages.get(name);
      if (!seen || RANK[p.state] > RANK[seen.state]) packages.set(name, { ...p, held: p.held || !!seen?.held });
    }
  }
  // Without list files there is nothing to install from, whatever the stamp says.
  if (st.listsUpdated !== undefined && stamp !== undefined) st.listsUpdated = Math.max(st.listsUpdated, stamp);
  return st;
}

/** What apt would install for `name`: its Candidate line; undefined when apt knows no installable version. */
export const candidateScript = (name: string): string => `apt-cache policy ${shq(name)}`;

export function parseCandidate(text: string): string | undefined {
  const m = /^\s*Candidate:\s*(\S+)\s*$/m.exec(text);
  return m && m[1] !== '(none)' ? m[1] : undefined;
}

/** One apt transaction: everything converge changes in the package database of a host, in order. */
export interface AptTransaction {
  /** Run `apt-get update` first. */
  refresh: boolean;
  /** apt-mark unhold before installing, so no held-package override is needed for these. */
  unhold: string[];
  /** `name` or `name=version`. */
  install: string[];
  remove: string[];
  purge: string[];
  /** A package being changed is held (and stays held): apt needs --allow-change-held-packages. */
  changeHeld: boolean;
  /** apt-mark hold after installing (holding first would block the install). */
  hold: string[];
}

const APT_GET_OPTS = ['-y', '-q', '-o', 'Dpkg::Options::=--force-confdef', '-o', 'Dpkg::Options::=--force-confold'];
/** Marks the lock-timeout line of the transaction script's stderr. */
const LOCK_MARK = 'converge-dpkg-lock:';
const LOCK_EXIT = 75;

/** The locks apt and dpkg take, in the order they take them. */
const DPKG_LOCKS = ['/var/lib/dpkg/lock-frontend', '/var/lib/dpkg/lock', '/var/lib/apt/lists/lock', '/var/cache/apt/archives/lock'];

/**
 * sh helpers: `locked CMD...` runs a command that takes a package lock and,
 * while another apt/dpkg holds it, retries until the deadline (apt-get also
 * waits inside, by DPkg::Lock::Timeout; apt-mark and dpkg fail at once).
 * A failure to take a lock changes nothing, so retrying is safe; only those
 * final errors count (apt's "Waiting for cache lock" lines, printed before
 * it got the lock, do not). Before it waits it says once, as progress, what
 * it waits for (apt's own wait is silent: its output is captured). At the
 * deadline it names the lock and its holder (from /proc/locks) and exits
 * LOCK_EXIT.
 */
function lockHelpers(timeoutS: number): string {
  return String.raw`deadline=$(( $(date +%s) + ${timeoutS} ))
left() { l=$(( deadline - $(date +%s) )); [ "$l" -gt 0 ] || l=0; echo "$l"; }
aptget() { apt-get -o DPkg::Lock::Timeout="$(left)" "$@"; }
${LOCK_HOLDERS_SH}
holder() {
  p=$(lock_holders "$1" | head -n 1)
  [ -n "$p" ] && echo "$p ($(cat /proc/$p/comm 2>/dev/null))"
}
busy() {
  for l in ${DPKG_LOCKS.join(' ')}; do
    h=$(holder "$l") && { echo "$l held by process $h"; return 0; }
  done
  return 1
}
said=
locked() {
  while :; do
    # In a subshell: with the connection gone, SIGPIPE ends the echo, not the transaction.
    if [ -z "$said" ] && b=$(busy); then (echo "${PROGRESS_PREFIX}waiting up to $(left)s for the dpkg lock: $b" >&2); said=1; fi
    out=$("$@" 2>&1) && return 0
    rc=$?
    case $out in
      *'E: Could not get lock'*|*'E: Unable to acquire the dpkg'*|*'E: Unable to lock'*|*'dpkg: error: dpkg frontend lock was locked'*|*'dpkg: error: dpkg status database is locked'*) ;;
      *) printf '%s\n' "$out" >&2; exit "$rc" ;;
    esac
    if [ "$(left)" -eq 0 ]; then
      b=$(busy) && { echo "${LOCK_MARK} $b" >&2; exit ${LOCK_EXIT}; }
      echo "${LOCK_MARK} /var/lib/dpkg/lock-frontend" >&2; exit ${LOCK_EXIT}
    fi
    sleep 1
  done
}`;
}

/**
 * dpkg keeps a journal of a run in progress in /var/lib/dpkg/updates; files
 * left there mean a dpkg run was killed half way (a dropped connection, a
 * reboot), and apt refuses to do anything until `dpkg --configure -a`
 * finishes that work. The transaction does it first, as apt asks.
 */
const RECOVER_DPKG = `if [ -n "$(ls -A /var/lib/dpkg/updates 2>/dev/null)" ]; then locked dpkg --configure -a; fi`;

export function transactionScript(t: AptTransaction, lockTimeoutS: number): string {
  const cmd = (...words: string[]) => ['locked', ...words.map(shq)].join(' ');
  const lines = ['set -u', 'export DEBIAN_FRONTEND=noninteractive', lockHelpers(lockTimeoutS), RECOVER_DPKG];
  if (t.refresh) lines.push(cmd('apt-get', '-q', 'update'), `mkdir -p ${UPDATE_STAMP.replace(/\/[^/]+$/, '')} && touch ${UPDATE_STAMP}`);
  if (t.unhold.length) lines.push(cmd('apt-mark', 'unhold', ...t.unhold));
  const held = t.changeHeld ? ['--allow-change-held-packages'] : [];
  // apt-get install takes `name-` for removals; its --purge turns them into
  // purges, so removals and purges share the transaction unless both occur.
  const removals = t.purge.length ? t.purge : t.remove;
  const targets = [...t.install, ...removals.map((n) => `${n}-`)];
  const flags = [
    ...held,
    // An explicit version may be older than the installed one: the spec asked for it.
    ...(t.install.some((x) => x.includes('=')) ? ['--allow-downgrades'] : []),
    ...(t.purge.length ? ['--purge'] : []),
  ];
  if (targets.length) lines.push(cmd('aptget', ...APT_GET_OPTS, ...flags, 'install', ...targets));
  if (t.purge.length && t.remove.length) lines.push(cmd('aptget', ...APT_GET_OPTS, ...held, 'remove', ...t.remove));
  if (t.hold.length) lines.push(cmd('apt-mark', 'hold', ...t.hold));
  return lines.join('\n') + '\n';
}

/** Turn a failed transaction's output into one HostError a person can act on. */
export function transactionError(code: number, stderr: string, lockTimeoutS: number): HostError {
  const lock = stderr.split('\n').find((l) => l.startsWith(LOCK_MARK));
  if (code === LOCK_EXIT && lock) {
    const what = lock.slice(LOCK_MARK.length).trim();
    return new HostError(
      `gave up after waiting ${lockTimeoutS}s for the dpkg lock: ${what}`,
      `another apt or dpkg run (unattended-upgrades, apt-daily, a manual apt-get) holds it; try again when it is done, or wait longer with CONVERGE_DPKG_LOCK_TIMEOUT=SECONDS (now ${lockTimeoutS})`,
    );
  }
  const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  const errors = lines.filter((l) => /^E: /.test(l));
  const detail = (errors.length ? errors : lines.slice(-4)).join(' / ');
  return new HostError(`apt transaction failed (exit ${code})${detail ? `: ${detail}` : ''}`, "that is apt's own error: check the package names, versions and the host's apt sources");
}

/** Seconds to wait for the dpkg lock: CONVERGE_DPKG_LOCK_TIMEOUT, default 300. */
export function lockTimeout(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.CONVERGE_DPKG_LOCK_TIMEOUT;
  if (raw === undefined || raw === '') return 300;
  if (!/^\d+$/.test(raw.trim())) {
    throw new HostError(`CONVERGE_DPKG_LOCK_TIMEOUT must be a whole number of seconds, not ${JSON.stringify(raw)}`, 'e.g. CONVERGE_DPKG_LOCK_TIMEOUT=600');
  }
  return Number(raw.trim());
}
