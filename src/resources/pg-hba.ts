// pg_hba: one line of pg_hba.conf. A line is identified by its type,
// database, user and address; its method and options are managed. Every
// other line (comments, distribution defaults, hand-written rules) is kept
// byte for byte. The same pure edit (editHba) gives the plan from the facts
// and, in apply, the new file from a fresh read, so two pg_hba resources
// applied one after the other in a run never undo each other.
//
// Apply writes the candidate next to the file, renames it over the old one,
// asks pg_hba_file_rules (which parses the file ON DISK, not the loaded
// rules) for errors, and puts the old file back when there are any: the
// server, which still runs on the rules it loaded, never reloads a file it
// rejects. Only a clean file is reloaded (pg_reload_conf).

import { createHash } from 'node:crypto';
import { createTwoFilesPatch } from 'diff';
import { HostError } from '../core/diagnostics.js';
import type { Change, ResourceType } from '../core/resource.js';
import { shq } from '../core/shell.js';
import type { PgHbaSpec } from '../generated/index.js';
import { PG_AFTER, PG_USER, PSQL, RELOAD_AND_WAIT, parsePsqlFact, psqlFactScript, runSql, serverData, type PgFact } from './lib/pg-common.js';

export interface HbaFact {
  hba_file: string;
  content: string;
}

/** Read-only (pg_read_file is superuser-only, and postgres is). */
export const HBA_FACT_SQL = "SELECT json_build_object('hba_file', current_setting('hba_file'), 'content', pg_read_file(current_setting('hba_file')))";

/** Whitespace-separated fields, double quotes kept (a quoted "all" is a role, not the keyword), comment cut off. */
export function hbaFields(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (const ch of line) {
    if (!quoted && ch === '#') break;
    if (ch === '"') quoted = !quoted;
    if (!quoted && /\s/.test(ch)) {
      if (cur) out.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (cur) out.push(cur);
  return out;
}

/** 255.255.0.0 -> 16; undefined for anything that is not a contiguous IPv4 netmask. */
function maskBits(mask: string): number | undefined {
  const parts = mask.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) return undefined;
  const bits = parts.reduce((acc, p) => acc * 256 + p, 0).toString(2).padStart(32, '0');
  if (!/^1*0*$/.test(bits)) return undefined;
  const zero = bits.indexOf('0');
  return zero < 0 ? 32 : zero;
}

interface HbaRule {
  key: string;
  method: string;
  options: string[];
}

const ruleKey = (type: string, database: string, user: string, address?: string) => [type, database, user, address ?? ''].join(' ');

/** A rule line's identity and authentication, or undefined for comments, blanks and lines converge does not read. */
export function parseHbaLine(line: string): HbaRule | undefined {
  const f = hbaFields(line);
  if (f.length < 4) return undefined;
  const [type, database, user] = f;
  if (type === 'local') return { key: ruleKey(type, database, user), method: f[3], options: f.slice(4).sort() };
  if (!/^host(ssl|nossl|gssenc|nogssenc)?$/.test(type) || f.length < 5) return undefined;
  let address = f[3];
  let rest = f.slice(4);
  const bits = /^[\d.]+$/.test(address) ? maskBits(rest[0]) : undefined;
  if (bits !== undefined) {
    address = `${address}/${bits}`;
    rest = rest.slice(1);
  }
  if (!rest.length) return undefined;
  return { key: ruleKey(type, database, user, address), method: rest[0], options: rest.slice(1).sort() };
}

const specKey = (spec: PgHbaSpec) => ruleKey(spec.type, spec.database ?? 'all', spec.user ?? 'all', spec.address);
const specOptions = (spec: PgHbaSpec) => Object.entries(spec.options ?? {}).map(([k, v]) => `${k}=${v}`).sort();

/** The line converge writes, in the column layout of Debian's pg_hba.conf. */
export function formatHbaLine(spec: PgHbaSpec): string {
  const col = (s: string, width: number) => (s.length >= width ? `${s} ` : s.padEnd(width));
  return [col(spec.type, 8), col(spec.database ?? 'all', 16), col(spec.user ?? 'all', 16), col(spec.address ?? '', 24), [spec.method!, ...specOptions(spec)].join(' ')].join('');
}

/** Pure: the file as the spec wants it, and the changes that takes. */
export function editHba(content: string, spec: PgHbaSpec): { content: string; changes: Change[] } {
  const lines = content.split('\n');
  const key = specKey(spec);
  const matches = lines.flatMap((l, i) => (parseHbaLine(l)?.key === key ? [i] : []));
  if (spec.ensure === 'absent') {
    const gone = new Set(matches);
    return { content: lines.filter((_, i) => !gone.has(i)).join('\n'), changes: matches.map((i): Change => ({ path: 'line', action: 'delete', before: lines[i].trim() })) };
  }
  const wanted = formatHbaLine(spec);
  if (!matches.length) {
    // Append after the last non-empty line, keeping the file's final newline.
    const body = content.replace(/\n*$/, '');
    return { content: `${body}${body ? '\n' : ''}${wanted}\n`, changes: [{ path: 'line', action: 'create', after: wanted }] };
  }
  // The first matching line is the one PostgreSQL uses; later duplicates are shadowed and left alone.
  const first = parseHbaLine(lines[matches[0]])!;
  const opts = specOptions(spec);
  if (first.method === spec.method && first.options.join(' ') === opts.join(' ')) return { content, changes: [] };
  const before = lines[matches[0]].trim();
  lines[matches[0]] = wanted;
  return { content: lines.join('\n'), changes: [{ path: 'line', action: 'update', before, after: wanted }] };
}

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

/** sh (as postgres): swap the new file (stdin) in if the old one is still `oldSha`, validate on disk, put it back or reload. */
function swapScript(path: string, oldSha: string): string {
  return [
    'set -e',
    'cd /',
    `f=${shq(path)}`,
    `[ "$(sha256sum < "$f" | cut -d' ' -f1)" = ${oldSha} ] || { echo "$f changed while converge was editing it; run again" >&2; exit 3; }`,
    'tmp=$(mktemp "$(dirname "$f")/.converge-XXXXXXXX")',
    'bak=$(mktemp "$(dirname "$f")/.converge-old-XXXXXXXX")',
    `trap 'rm -f "$tmp" "$bak"' EXIT`,
    'cat > "$tmp"',
    'chmod --reference="$f" "$tmp"',
    'cp -p "$f" "$bak"',
    'mv -f "$tmp" "$f"',
    `errors=$(${PSQL} -c "SELECT string_agg('line ' || line_number || ': ' || error, '; ' ORDER BY line_number) FROM pg_hba_file_rules WHERE error IS NOT NULL") || errors='pg_hba_file_rules could not be read'`,
    'if [ -n "$errors" ]; then',
    '  mv -f "$bak" "$f"',
    '  echo "PostgreSQL rejects the new $f ($errors); the old file is back in place and was never loaded" >&2',
    '  exit 3',
    'fi',
    RELOAD_AND_WAIT,
  ].join('\n');
}

export const pgHba: ResourceType<PgHbaSpec, { hba: PgFact<HbaFact> }> = {
  kind: 'pg_hba',
  id: (spec) => `pg_hba:${specKey(spec).trim().replace(/ /g, ':')}`,
  implicitAfter: () => PG_AFTER,

  // One read of the file per host, shared by every pg_hba resource.
  facts: () => ({ hba: { key: 'pg_hba', runAs: PG_USER, script: psqlFactScript(HBA_FACT_SQL), parse: parsePsqlFact<HbaFact> } }),

  plan(spec, facts) {
    const hba = serverData(facts.hba);
    const { content, changes } = editHba(hba.content, spec);
    if (!changes.length) return [];
    const diff = createTwoFilesPatch(hba.hba_file, hba.hba_file, hba.content, content, undefined, undefined, { context: 2 }).replace(/\t$/gm, '');
    return changes.map((c, i) => (i === 0 ? { ...c, diff } : c));
  },

  async apply(spec, _changes, _facts, ctx) {
    // Read again: another pg_hba resource may have rewritten the file since the facts were read.
    const fresh = JSON.parse(await runSql(ctx, `${HBA_FACT_SQL};\n`, 'reading pg_hba.conf')) as HbaFact;
    const { content } = editHba(fresh.content, spec);
    if (content === fresh.content) return;
    if (!fresh.hba_file.startsWith('/')) throw new HostError(`hba_file is not an absolute path: ${fresh.hba_file}`);
    await ctx.run({ script: swapScript(fresh.hba_file, sha256(fresh.content)), stdin: content, runAs: PG_USER }, `writing ${fresh.hba_file}`);
  },
};
