// Writing a file so that no reader ever sees half of it, shared by every
// resource that writes a file (file, line, the user's authorized_keys and
// its sudoers drop-in) or a symlink: the content (on stdin) goes to a temp
// file in the same directory (or a new link is made there), gets its owner
// and mode, is validated there, and only then is renamed over the old path.
// A failure at any step leaves the old file alone.

import { shq } from '../core/shell.js';

export interface AtomicWrite {
  /** The target, as one sh word (e.g. shq('/etc/motd') or "$h/.ssh/authorized_keys"). */
  path: string;
  /** sh that sets owner/group/mode of "$tmp" before it is validated and swapped in. */
  metadata: string;
  /** A command that checks "$tmp"; when it fails the old file is kept and its output reported. */
  validate?: string;
  /** Keep a timestamped copy of the file being replaced. */
  backup?: boolean;
  /** Make the path a symlink to this target (stdin is not read). */
  symlinkTo?: string;
}

/** `metadata` that keeps the owner and mode of the file being replaced; a new file gets 0644. */
export const KEEP_METADATA = 'if [ -f "$p" ] && [ ! -L "$p" ]; then chown --reference="$p" "$tmp"; chmod --reference="$p" "$tmp"; else chmod 0644 "$tmp"; fi';

/**
 * The sh script; the temp file is a dot file, so directories read by name
 * pattern (sudoers.d skips names with a dot) never pick it up half written.
 */
export function atomicWriteScript(w: AtomicWrite): string {
  const link = w.symlinkTo !== undefined;
  return [
    'set -e',
    `p=${w.path}`,
    'd=$(dirname "$p")',
    'mkdir -p "$d"',
    // A link needs a free name (ln makes it); a file is created by mktemp itself, mode 0600.
    `tmp=$(mktemp ${link ? '-u ' : ''}"$d/.converge-XXXXXXXX")`,
    `trap 'rm -f "$tmp"' EXIT`,
    link ? `ln -s ${shq(w.symlinkTo!)} "$tmp"` : 'cat > "$tmp"',
    w.metadata,
    w.validate ? `if ! out=$( { ${w.validate} ; } 2>&1 ); then echo "validate failed, old file kept: $out" >&2; exit 3; fi` : '',
    w.backup ? 'if [ -f "$p" ]; then cp -p "$p" "$p.converge-bak-$(date +%Y%m%dT%H%M%S)"; fi' : '',
    'sync "$tmp" 2>/dev/null || true',
    // -T renames onto the path itself: a symlink there is replaced, not followed
    // (even one to a directory), and a directory there is an error, not a destination.
    'mv -fT "$tmp" "$p"',
    'trap - EXIT',
  ]
    .filter(Boolean)
    .join('\n');
}
