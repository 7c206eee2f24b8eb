// Exclusive directories (Puppet's purge, Salt's clean): every entry of the
// directory that no resource of the host declares and no `keep` pattern
// covers is drift. --check lists each with its content (only its size and
// hash when it is not small plain text or the directory is `redact`: a
// sudoers.d drop-in may hold a password hash); apply moves it to a backup
// under /var/lib/converge/backup rather than beside it, because a backup
// left in sites-enabled or cron.d would be read as configuration.

import { createTwoFilesPatch } from 'diff';
import type { Change, FactQuery } from '../../core/resource.js';
import { shq } from '../../core/shell.js';
import { DEFAULT_STATE_DIR } from '../../engine/host-state.js';

/** Larger entries are listed by size and hash only. */
export const SHOWN_BYTES = 4096;
export const BACKUP_DIR = `${DEFAULT_STATE_DIR}/backup`;

export interface ExclusiveSpec {
  path: string;
  keep?: string[];
  redact?: boolean;
  /** Names of the entries the host's other resources declare (filled in at compile: exclusive.ts). */
  managed?: string[];
}

export interface Unmanaged {
  name: string;
  /** stat's %F: "regular file", "directory", "symbolic link"... */
  type: string;
  size: number;
  sha256?: string;
  /** Shown text (small plain-text files) or a symlink's target. */
  content?: string;
}

/** Lists the unmanaged entries: name, type, size, hash and (when shown) base64 content, tab-separated. */
export function unmanagedQuery(spec: ExclusiveSpec): FactQuery<Unmanaged[]> {
  // Declared names are quoted (literal), keep patterns are globs (the schema allows only glob-safe characters).
  const skip = [...(spec.managed ?? []).map(shq), ...(spec.keep ?? [])];
  const show = spec.redact ? 'false' : `[ "$s" -le ${SHOWN_BYTES} ] && { [ "$s" -eq 0 ] || grep -Iq . "$n"; }`;
  const script = [
    `cd ${shq(spec.path)} 2>/dev/null || exit 0`,
    'for n in * .[!.]* ..?*; do',
    '  [ -e "$n" ] || [ -L "$n" ] || continue',
    ...(skip.length ? [`  case "$n" in ${skip.join('|')}) continue;; esac`] : []),
    '  t=$(stat -c %F -- "$n"); s=$(stat -c %s -- "$n"); h=; c=',
    '  if [ -L "$n" ]; then c=$(printf %s "$(readlink -- "$n")" | base64 -w0)',
    `  elif [ -f "$n" ]; then h=$(sha256sum < "$n" | cut -c1-64); if ${show}; then c=$(base64 -w0 < "$n"); fi; fi`,
    `  printf '%s\\t%s\\t%s\\t%s\\t%s\\n' "$n" "$t" "$s" "$h" "$c"`,
    'done',
  ].join('\n');
  return { key: `exclusive:${spec.path}:${skip.join('|')}:${spec.redact ? 1 : 0}`, script, parse: parseUnmanaged };
}

export function parseUnmanaged(out: string): Unmanaged[] {
  return out
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [name, type, size, sha256, content] = l.split('\t');
      return { name, type, size: Number(size), sha256: sha256 || undefined, content: content ? Buffer.from(content, 'base64').toString() : undefined };
    });
}

/** One delete per unmanaged entry, saying what it holds. */
export function unmanagedChanges(spec: ExclusiveSpec, entries: Unmanaged[]): Change[] {
  return entries.map((e) => {
    const path = `${spec.path.replace(/\/+$/, '')}/${e.name}`;
    if (e.type === 'symbolic link') return { path: `entry:${e.name}`, action: 'delete', before: `symbolic link to ${e.content ?? '?'}` };
    const what = `${e.type}, ${e.size} bytes${e.sha256 ? `, sha256:${e.sha256}` : ''}`;
    if (e.type === 'regular file' && e.content !== undefined) {
      return { path: `entry:${e.name}`, action: 'delete', before: what, diff: createTwoFilesPatch(path, '/dev/null', e.content, '', undefined, undefined, { context: 3 }).replace(/\t$/gm, '') };
    }
    const why = e.type !== 'regular file' ? '' : spec.redact ? ' (content not shown: entries here may hold secrets)' : ' (content not shown: not small plain text)';
    return { path: `entry:${e.name}`, action: 'delete', before: what + why };
  });
}

/** sh: move each named entry into the backup tree (the move is the removal), stamped with the time. */
export function removeUnmanagedScript(dir: string, names: string[]): string {
  const backup = `${BACKUP_DIR}${dir.replace(/\/+$/, '')}`;
  return [
    'set -e',
    'ts=$(date +%Y%m%dT%H%M%S)',
    `mkdir -p ${shq(backup)}`,
    `chmod 700 ${shq(BACKUP_DIR)}`,
    ...names.map((n) => `mv -- ${shq(`${dir.replace(/\/+$/, '')}/${n}`)} ${shq(`${backup}/${n}`)}."$ts"`),
  ].join('\n');
}
