// Writing a file so that no reader ever sees half of it, shared by every
// resource that writes a file (file, the user's authorized_keys and its
// sudoers drop-in): the content (on stdin) goes to a temp file in the same
// directory, gets its owner and mode, is validated there, and only then is
// renamed over the old file. A failure at any step leaves the old file alone.
// Content cut short (the SSH connection dropped mid-transfer, so `cat` saw
// an early end of input) fails the hash check and is never renamed in. A
// temp file left by a write that was killed outright (SIGKILL, a crash) is
// removed by the next write in that directory: converge's run lock means no
// other converge write can be using it.

export interface AtomicWrite {
  /** The target, as one sh word (e.g. shq('/etc/motd') or "$h/.ssh/authorized_keys"). */
  path: string;
  /** sh that sets owner/group/mode of "$tmp" before it is validated and swapped in. */
  metadata: string;
  /** A command that checks "$tmp"; when it fails the old file is kept and its output reported. */
  validate?: string;
  /** Keep a timestamped copy of the file being replaced. */
  backup?: boolean;
  /** sha256 (hex) of the content on stdin: anything else arriving (a transfer cut short) is refused. */
  sha256?: string;
}

/** mktemp's names (.converge- and 8 letters or digits): a converge temp file, never a user's file. */
const TEMP_GLOB = '.converge-' + '[A-Za-z0-9]'.repeat(8);

/**
 * The sh script; the temp file is a dot file, so directories read by name
 * pattern (sudoers.d skips names with a dot) never pick it up half written.
 */
export function atomicWriteScript(w: AtomicWrite): string {
  return [
    'set -e',
    `p=${w.path}`,
    'd=$(dirname "$p")',
    'mkdir -p "$d"',
    // Left by a write that was killed outright (not cleaned by its trap).
    `rm -f "$d"/${TEMP_GLOB}`,
    'tmp=$(mktemp "$d/.converge-XXXXXXXX")',
    `trap 'rm -f "$tmp"' EXIT`,
    // A signal (SIGPIPE when the connection is gone and we print) runs the EXIT trap too.
    "trap 'exit 1' HUP INT PIPE TERM",
    'cat > "$tmp"',
    w.sha256
      ? `[ "$(sha256sum < "$tmp" | cut -d' ' -f1)" = ${w.sha256} ] || { echo "the content arrived incomplete ($(wc -c < "$tmp") bytes), old file kept" >&2; exit 3; }`
      : '',
    w.metadata,
    w.validate ? `if ! out=$( { ${w.validate} ; } 2>&1 ); then echo "validate failed, old file kept: $out" >&2; exit 3; fi` : '',
    w.backup ? 'if [ -f "$p" ]; then cp -p "$p" "$p.converge-bak-$(date +%Y%m%dT%H%M%S)"; fi' : '',
    'sync "$tmp" 2>/dev/null || true',
    '[ -L "$p" ] && rm -f "$p"',
    'mv -f "$tmp" "$p"',
    'trap - EXIT',
  ]
    .filter(Boolean)
    .join('\n');
}
