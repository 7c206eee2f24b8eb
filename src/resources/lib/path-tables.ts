// One `stat` and one `sha256sum` for every path of a host's batch, not one
// (and, before, a `cut`) per file: on a test host each command is ~5-10 ms of
// exec, and a web host's batch has dozens of files and directories. The
// batch runs the table's commands once (FactTable); converge_stat and
// converge_file look their path up with sh's own pattern matching and run
// their own command only when it is not there.

import type { FactTable } from '../../core/resource.js';
import { shq } from '../../core/shell.js';

/** stat's format for a path's owner/group/mode/size lines (sh-quoted), with or without the table. */
export const STAT_FORMAT = "'owner=%U\ngroup=%G\nmode=%a\nsize=%s'";

/** Paths whose table lines sh can find unambiguously: stat and sha256sum print them as given, one per line. */
const plain = (path: string) => !/[\n\r\t\\]| {2}/.test(path);

/**
 * `converge_stats`: a line `PATH<tab>owner<tab>group<tab>mode<tab>size` per
 * path that exists (a link's own); `converge_sums`: sha256sum's `HASH  PATH`
 * line per readable regular file. Only regular files that are no links are
 * hashed (sh's own tests pick them): sha256sum would follow a link, and
 * block on a FIFO or read a device without end.
 */
export const PATH_TABLE: FactTable = {
  script(paths) {
    const words: string[] = [];
    // A path both stat'ed (a directory's query) and hashed (a file's) is listed once.
    for (const p of new Set(paths)) if (plain(p)) words.push(shq(p));
    if (!words.length) return '';
    // Newlines around each table, so that every line is found between two.
    return [
      "converge_nl='\n'",
      `set -- ${words.join(' ')}`,
      `converge_stats="$converge_nl$(stat -c '%n\t%U\t%G\t%a\t%s' -- "$@" </dev/null 2>/dev/null)$converge_nl"`,
      'for converge_p do shift; if [ -f "$converge_p" ] && [ ! -L "$converge_p" ]; then set -- "$@" "$converge_p"; fi; done',
      `if [ $# -gt 0 ]; then converge_sums="$converge_nl$(sha256sum -- "$@" </dev/null 2>/dev/null)$converge_nl"; fi`,
      'set --',
    ].join('\n');
  },
};

/** The tables of a file's or a directory's query: one frozen array, shared by every query. */
export const PATH_TABLES: readonly FactTable[] = Object.freeze([PATH_TABLE]);

/** sh: owner/group/mode/size lines of "$1" (which exists and is no link), from the table or from stat. */
export const STAT_LOOKUP = [
  'case $converge_stats in',
  `  *"$converge_nl$1\t"*)`,
  `    _cs=\${converge_stats#*"$converge_nl$1\t"}; _cs=\${_cs%%"$converge_nl"*}`,
  `    _cs_u=\${_cs%%\t*}; _cs=\${_cs#*\t}; _cs_g=\${_cs%%\t*}; _cs=\${_cs#*\t}`,
  `    printf 'owner=%s\\ngroup=%s\\nmode=%s\\nsize=%s\\n' "$_cs_u" "$_cs_g" "\${_cs%%\t*}" "\${_cs#*\t}" ;;`,
  `  *) stat -c ${STAT_FORMAT} "$1" ;;`,
  'esac',
].join('\n');

/** sh: `h` = the sha256 of "$1" (a regular file), from the table or from sha256sum; empty when unreadable. */
export const SHA256_LOOKUP = [
  'case $converge_sums in',
  `  *"  $1$converge_nl"*) h=\${converge_sums%%"  $1$converge_nl"*}; h=\${h##*"$converge_nl"} ;;`,
  `  *) h=$(sha256sum < "$1"); h=\${h%% *} ;;`,
  'esac',
].join('\n');
