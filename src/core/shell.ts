// POSIX sh helpers: everything converge runs on a target is sh + coreutils.

/** Quote a value as one sh word. */
export function shq(value: string | number): string {
  const s = String(value);
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * `script` run in a subshell with its output (stderr merged) going to a file
 * on the host, printed (the last 64 KiB) when it ends, with its exit code.
 * While it runs it never writes to the connection: sshd sends no SIGHUP
 * without a terminal, so a connection lost meanwhile cannot stop it either
 * way (at its next line of output, SIGPIPE would), and it runs to its end.
 * For steps that must not stop half way (a command, a firewall change).
 */
export function spooled(script: string): string {
  return ['out=$(mktemp) || exit 1', `( ${script}\n) </dev/null >"$out" 2>&1; rc=$?`, 'tail -c 65536 "$out"; rm -f "$out"', 'exit $rc'].join('\n');
}

/** A fixed boundary so that one batched script's output splits back into parts. */
export function marker(token: string, key: string): string {
  return `@@converge:${token}:${key}@@`;
}

/**
 * sh function `lock_holders FILE`: the pids holding a lock (flock or fcntl)
 * on FILE, one a line, from the kernel's /proc/locks (waiters, marked "->",
 * hold nothing). No lsof or fuser needed.
 */
export const LOCK_HOLDERS_SH = String.raw`lock_holders() {
  i=$(stat -c %i "$1" 2>/dev/null) || return 1
  awk -v i="$i" '$2 != "->" { n = split($6, a, ":"); if (a[n] == i) print $5 }' /proc/locks
}`;

/** A stderr line starting with this is progress for the user ("waiting for the dpkg lock..."), not an error. */
export const PROGRESS_PREFIX = 'converge-progress: ';

/**
 * Parts joined into one flat string, for strings every host keeps while its
 * fact batch is in flight (a query's key and script): `+` and template
 * literals make a tree of partial strings, which a Map lookup then copies
 * flat besides.
 */
export function flat(...parts: string[]): string {
  return parts.join('');
}

/**
 * sh for a wait that gives up after `seconds`: `start` sets the deadline
 * ($end), `ahead` is a test that holds while it has not passed.
 */
export function deadline(seconds: number): { start: string; ahead: string } {
  return { start: `end=$(( $(date +%s) + ${Math.floor(seconds)} ))`, ahead: '[ "$(date +%s)" -lt "$end" ]' };
}
