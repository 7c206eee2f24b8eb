// Facts: every query of every resource of a host, deduplicated by key and
// sent as ONE read-only sh script per run-as user. This is why a no-op run
// costs one round trip per host whatever the number of resources.

import { randomBytes } from 'node:crypto';
import { errorMessage, HostError } from '../core/diagnostics.js';
import type { FactQueries, FactQuery, Facts, QueryOutput } from '../core/resource.js';
import { marker } from '../core/shell.js';
import type { Transport } from '../transport/transport.js';

export interface FactRequest<R> {
  owner: R;
  queries: FactQueries;
}

/**
 * One script that runs each query in a subshell between markers and prints,
 * after its end marker, the query's exit code and what it wrote to stderr:
 * a query that failed is told apart from one that found nothing.
 */
export function batchScript(queries: FactQuery[], token: string): string {
  // Parts joined once into one flat string: `+=` makes a tree of partial
  // strings (six nodes per query) that every host keeps while its exec is in flight.
  // fd 3 is the batch's stdout: inside $(...) the query's stdout goes there and its stderr into $err.
  const end = `printf '\\n%s %s\\n%s\\n%s\\n' '${marker(token, 'end')}' "$rc" "$err" '${marker(token, 'stderr-end')}'\n`;
  const parts = ['exec 3>&1\nLC_ALL=C; export LC_ALL\n'];
  const functions = new Set<string>();
  for (const q of queries) if (q.functions) for (const f of q.functions) functions.add(f);
  for (const f of functions) parts.push(f, '\n');
  for (const q of queries) {
    // stdin is the batch itself: a query must never read (and swallow) the rest of it
    parts.push("printf '%s\\n' '", marker(token, q.key), "'\nerr=$( (\n", q.script, '\n) </dev/null 2>&1 1>&3 3>&- ); rc=$?\n', end);
  }
  return parts.join('');
}

/** Split a batch's output back into each query's stdout, exit code and stderr, by query key. */
export function splitBatch(stdout: string, queries: FactQuery[], token: string): Map<string, QueryOutput> {
  const out = new Map<string, QueryOutput>();
  const end = `\n${marker(token, 'end')} `;
  const errEnd = `\n${marker(token, 'stderr-end')}\n`;
  // A query's start marker (`@@converge:TOKEN:` KEY `@@\n`) is compared in place, not built per query.
  const open = marker(token, '').slice(0, -2);
  const close = '@@\n';
  const isStart = (at: number, key: string) => stdout.startsWith(key, at + open.length) && stdout.startsWith(close, at + open.length + key.length);
  let pos = 0;
  for (const q of queries) {
    let s = stdout.indexOf(open, pos);
    while (s >= 0 && !isStart(s, q.key)) s = stdout.indexOf(open, s + 1);
    if (s < 0) break;
    const bodyStart = s + open.length + q.key.length + close.length;
    const e = stdout.indexOf(end, bodyStart);
    if (e < 0) break;
    const nl = stdout.indexOf('\n', e + end.length);
    const ee = stdout.indexOf(errEnd, nl);
    if (nl < 0 || ee < 0) break;
    out.set(q.key, { stdout: stdout.slice(bodyStart, e), code: Number(stdout.slice(e + end.length, nl)), stderr: stdout.slice(nl + 1, ee) });
    pos = ee + errEnd.length;
  }
  return out;
}

/** Why a query's output is no answer: an exit code it does not accept, or a parser that refused it. */
function queryFailure(host: string, q: FactQuery, out: QueryOutput): { value?: unknown; error?: string } {
  // Worded only for a failure: every query of every host passes here.
  const err = () => (out.stderr.trim() ? `: ${out.stderr.trim().split('\n').slice(-3).join(' / ')}` : '');
  if (q.exitCodes ? !q.exitCodes.includes(out.code) : out.code !== 0) return { error: `on ${host}, fact query ${q.key} failed (exit ${out.code})${err()}` };
  try {
    return { value: q.parse(out.stdout, out) };
  } catch (e) {
    return { error: `on ${host}, fact query ${q.key} gave output its parser refused: ${errorMessage(e)}${err()}` };
  }
}

export interface Gathered<R> {
  facts: Map<R, Facts>;
  /**
   * Owners whose queries could not run as their user (a user this same run
   * is about to create): they are planned once that user exists.
   */
  unavailable: Map<R, string>;
  /** Owners one of whose queries failed or could not be parsed: why, naming host and query. */
  failed: Map<R, string>;
}

/** The deduplicated queries of some requests, per run-as user: one batch script each. */
export function factBatches(requests: FactRequest<unknown>[]): Map<string, FactQuery[]> {
  const byUser = new Map<string, Map<string, FactQuery>>();
  for (const { queries } of requests) {
    for (const q of Object.values(queries)) {
      const user = q.runAs ?? 'root';
      if (!byUser.has(user)) byUser.set(user, new Map());
      byUser.get(user)!.set(q.key, q);
    }
  }
  return new Map([...byUser].map(([user, m]) => [user, [...m.values()]]));
}

export const newToken = (): string => randomBytes(6).toString('hex');

export async function gatherFacts<R>(transport: Transport, requests: FactRequest<R>[]): Promise<Gathered<R>> {
  const byUser = factBatches(requests);
  const token = newToken();
  /** Per run-as user: the raw output of each query key, then its parsed facts. */
  const raw = new Map<string, Map<string, QueryOutput>>();
  const failedUsers = new Map<string, string>();
  await Promise.all(
    [...byUser].map(async ([user, queries]) => {
      const res = await transport.exec(batchScript(queries, token), { runAs: user === 'root' ? undefined : user });
      const parts = splitBatch(res.stdout, queries, token);
      if (parts.size < queries.length) {
        const why = `reading facts as ${user} failed (exit ${res.code})${res.stderr.trim() ? `: ${res.stderr.trim().split('\n').slice(-3).join(' / ')}` : ''}`;
        if (user === 'root') throw new HostError(why, 'the login user needs passwordless sudo (NOPASSWD) to run as root');
        failedUsers.set(user, why);
        return;
      }
      raw.set(user, parts);
    }),
  );
  const parsed = new Map<string, Map<string, { value?: unknown; error?: string }>>();
  const result: Gathered<R> = { facts: new Map(), unavailable: new Map(), failed: new Map() };
  for (const { owner, queries } of requests) {
    const facts: Facts = {};
    for (const name in queries) {
      const q = queries[name];
      const user = q.runAs ?? 'root';
      const failed = failedUsers.get(user);
      if (failed) {
        result.unavailable.set(owner, failed);
        break;
      }
      let byKey = parsed.get(user);
      if (!byKey) parsed.set(user, (byKey = new Map()));
      if (!byKey.has(q.key)) {
        const out = raw.get(user)!.get(q.key)!;
        byKey.set(q.key, queryFailure(transport.hostName, q, out));
      }
      const { value, error } = byKey.get(q.key)!;
      if (error) {
        result.failed.set(owner, error);
        break;
      }
      facts[name] = value;
    }
    if (!result.unavailable.has(owner) && !result.failed.has(owner)) result.facts.set(owner, facts);
  }
  return result;
}
