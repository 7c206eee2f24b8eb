// What the PostgreSQL resource types share. Everything talks to the local
// cluster through psql as the postgres user over the Unix socket (peer
// authentication, Debian's default), on the SSH connection converge already
// has: no password for converge itself, no port to open.
//
// Facts are ONE read-only query per resource that builds a JSON value in SQL
// (so names and settings with '|' or newlines in them parse safely), sent in
// the engine's batched fact script. Apply sends SQL on psql's stdin, never in
// the script text or argv, and errors are printed terse, so a failing
// statement is never echoed back into a report.

import { HostError } from '../../core/diagnostics.js';
import type { ApplyContext } from '../../core/resource.js';
import { REDACTED } from '../../core/sensitive.js';
import { shq } from '../../core/shell.js';
import { outputTail } from '../../transport/transport.js';

export const PG_USER = 'postgres';

/** Every pg_* resource comes after a managed PostgreSQL package. */
export const PG_AFTER = ['package:postgresql'];

export const sqlIdent = (name: string): string => `"${name.replace(/"/g, '""')}"`;
/** A standard-conforming string literal (backslashes are plain characters). */
export const sqlLiteral = (value: string): string => `'${value.replace(/'/g, "''")}'`;

/** Bare rows (-At), no ~/.psqlrc (-X), stop at the first error, terse errors (no "LINE 1: <statement>"). */
export const PSQL = 'psql -X -A -t -q -v ON_ERROR_STOP=1 -v VERBOSITY=terse -d postgres';

/**
 * Session settings for a statement that carries a password verifier: it must
 * not land in the server log (log_statement, log_min_error_statement,
 * log_min_duration_statement) nor in pg_stat_statements.
 */
const QUIET_SESSION = '-c log_statement=none -c log_min_error_statement=panic -c log_min_duration_statement=-1 -c pg_stat_statements.track_utility=off';

/** The JSON a fact query built, or why there is none ('missing': no psql; a number: psql's exit status). */
export type PgFact<T> = { ok: true; data: T } | { ok: false; psql: 'missing' | number };

/** Read-only sh: run one SELECT as postgres and print `psql=ok` and its single JSON value, or why not. */
export function psqlFactScript(sql: string): string {
  return [
    'cd /',
    'if ! command -v psql >/dev/null 2>&1; then echo psql=missing; else',
    `  out=$(${PSQL} -c ${shq(sql)}); rc=$?`,
    `  if [ "$rc" -eq 0 ]; then echo psql=ok; printf '%s\\n' "$out"; else echo "psql=$rc"; fi`,
    'fi',
  ].join('\n');
}

export function parsePsqlFact<T>(text: string): PgFact<T> {
  const nl = text.indexOf('\n');
  const head = (nl < 0 ? text : text.slice(0, nl)).trim();
  if (head === 'psql=ok') return { ok: true, data: JSON.parse(text.slice(nl + 1)) as T };
  if (head === 'psql=missing') return { ok: false, psql: 'missing' };
  const m = /^psql=(\d+)$/.exec(head);
  return { ok: false, psql: m ? Number(m[1]) : -1 };
}

/** The fact's data, or a HostError saying why PostgreSQL could not be asked. */
export function serverData<T>(fact: PgFact<T>): T {
  if (fact.ok) return fact.data;
  if (fact.psql === 'missing') throw new HostError('psql is not installed on this host', 'install PostgreSQL first (a managed package:postgresql is applied before every pg_* resource)');
  if (fact.psql === 2) {
    throw new HostError(
      'cannot connect to PostgreSQL as the postgres user (psql exit 2): the server is not running or refuses local connections',
      'start the cluster (pg_lsclusters; systemctl start postgresql) and keep the "local all postgres peer" line of pg_hba.conf',
    );
  }
  throw new HostError(`reading PostgreSQL facts failed (psql exit ${fact.psql})`, 'run the query by hand as postgres to see the error: sudo -u postgres psql');
}

/**
 * Run SQL as postgres, the SQL on stdin. `secret` is a value (a password
 * verifier) the SQL carries: the session keeps the statement out of the
 * server's logs, and it is cut out of any error message.
 */
export async function runSql(ctx: ApplyContext, sql: string, purpose: string, secret?: string): Promise<string> {
  const env = secret ? `PGOPTIONS=${shq(QUIET_SESSION)} ` : '';
  const res = await ctx.exec({ script: `cd / && ${env}${PSQL}`, stdin: sql, runAs: PG_USER });
  if (res.code === 0) return res.stdout;
  let detail = outputTail(res, 4);
  if (secret) detail = detail.split(secret).join(REDACTED);
  throw new HostError(`${purpose} failed (psql exit ${res.code})${detail ? `: ${detail}` : ''}`);
}

/**
 * sh (as postgres): pg_reload_conf(), then wait until a new session sees the
 * new load time, so that the engine's verification (new sessions) already
 * reads the reloaded configuration.
 */
export const RELOAD_AND_WAIT = [
  `t0=$(${PSQL} -c 'SELECT pg_conf_load_time()')`,
  `${PSQL} -c 'SELECT pg_reload_conf()' >/dev/null`,
  'i=0',
  `while [ "$(${PSQL} -c 'SELECT pg_conf_load_time()')" = "$t0" ]; do`,
  '  i=$((i + 1)); [ "$i" -lt 100 ] || { echo "PostgreSQL did not reload its configuration within 10 s" >&2; exit 1; }',
  '  sleep 0.1',
  'done',
].join('\n');

/** sh (as root): systemctl <verb> the service, then wait up to 60 s for the server to accept connections. */
export function serviceAndWaitScript(verb: 'start' | 'restart', service: string): string {
  return [
    'set -e',
    `systemctl ${verb} ${shq(service)}`,
    'i=0',
    'until pg_isready -q; do',
    `  i=$((i + 1)); [ "$i" -lt 600 ] || { echo "PostgreSQL did not accept connections within 60 s of systemctl ${verb} ${service}" >&2; exit 1; }`,
    '  sleep 0.1',
    'done',
  ].join('\n');
}
