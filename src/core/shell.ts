// POSIX sh helpers: everything converge runs on a target is sh + coreutils.

/** Quote a value as one sh word. */
export function shq(value: string | number): string {
  const s = String(value);
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
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
