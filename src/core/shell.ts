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
