// Writing a file so that no reader ever sees half of it, shared by every
// resource that writes a file (file, line, the user's authorized_keys and
// its sudoers drop-in) or a symlink: the content (on stdin) goes to a temp
// file in the same directory (or a new link is made there), gets its owner
// and mode, is validated there, and only then is renamed over the old path.
// A failure at any step leaves the old file alone. Content cut short (the
// SSH connection dropped mid-transfer, so `cat` saw an early end of input)
// fails the hash check and is never renamed in. A temp file left by a write
// that was killed outright (SIGKILL, a crash) is removed by the next write
// in that directory: converge's run lock means no other converge write can
// be using it.

import { shq } from '../../core/shell.js';

interface AtomicWriteBase {
  /** The target, as one sh word (e.g. shq('/etc/motd') or "$h/.ssh/authorized_keys"). */
  path: string;
  /** sh that sets owner/group/mode of "$tmp" before it is validated and swapped in. */
  metadata: string;
  /** A command that checks "$tmp"; when it fails the old file is kept and its output reported. */
  validate?: string;
  /** Keep a timestamped copy of the file being replaced. */
  backup?: boolean;
}

/**
 * A file (its content on stdin, and that content's sha256, hex: anything
 * else arriving, a transfer cut short, is refused) or a symlink.
 */
export type AtomicWrite = AtomicWriteBase & ({ sha256: string; symlinkTo?: undefined } | { symlinkTo: string; sha256?: undefined });

/**
 * `metadata` that keeps the owner and mode of the file being replaced (a new
 * file gets 0644), except what `set` names: the caller's script sets those
 * after it, so copying them first would be a command for nothing.
 */
export function keptMetadata(set: { owner?: string; group?: string; mode?: string } = {}): string {
  const keep = [set.owner === undefined || set.group === undefined ? 'chown --reference="$p" "$tmp"' : '', set.mode === undefined ? 'chmod --reference="$p" "$tmp"' : ''].filter(Boolean);
  if (!keep.length) return '';
  return `if [ -f "$p" ] && [ ! -L "$p" ]; then ${keep.join('; ')};${set.mode === undefined ? ' else chmod 0644 "$tmp";' : ''} fi`;
}

/** mktemp's names (.converge- and 8 letters or digits): a converge temp file, never a user's file. */
const TEMP_GLOB = '.converge-' + '[A-Za-z0-9]'.repeat(8);

/**
 * The sh script; the temp file is a dot file, so directories read by name
 * pattern (sudoers.d skips names with a dot) never pick it up half written.
 */
export function atomicWriteScript(w: AtomicWrite): string {
  const link = w.symlinkTo !== undefined;
  // sh's own tests and expansions where a command is not needed: a first
  // apply writes ~30 files per host, and each process is ~2 ms on a small VM.
  return [
    'set -e',
    `p=${w.path}`,
    // dirname's answer for the paths written here (never ending in /).
    'case $p in */*) d=${p%/*}; d=${d:-/} ;; *) d=. ;; esac',
    '[ -d "$d" ] || mkdir -p "$d"',
    // Left by a write that was killed outright (not cleaned by its trap): rm only when the glob matched one.
    `for _old in "$d"/${TEMP_GLOB}; do if [ -e "$_old" ]; then rm -f "$d"/${TEMP_GLOB}; fi; break; done`,
    // A link needs a free name (ln makes it); a file is created by mktemp itself, mode 0600.
    `tmp=$(mktemp ${link ? '-u ' : ''}"$d/.converge-XXXXXXXX")`,
    `trap 'rm -f "$tmp"' EXIT`,
    // A signal (SIGPIPE when the connection is gone and we print) runs the EXIT trap too.
    "trap 'exit 1' HUP INT PIPE TERM",
    link ? `ln -s ${shq(w.symlinkTo!)} "$tmp"` : 'cat > "$tmp"',
    w.sha256 === undefined
      ? ''
      : `_sum=$(sha256sum < "$tmp") || _sum=; [ "\${_sum%% *}" = ${w.sha256} ] || { echo "the content arrived incomplete ($(wc -c < "$tmp") bytes), old file kept" >&2; exit 3; }`,
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
