// Facts: every query of every resource of a host, deduplicated by key and
// sent as ONE read-only sh script per run-as user. This is why a no-op run
// costs one round trip per host whatever the number of resources.

import { randomBytes } from 'node:crypto';
import { errorMessage, HostError } from '../core/diagnostics.js';
import type { FactMerge, FactQueries, FactQuery, FactTable, Facts, QueryOutput } from '../core/resource.js';
import { marker } from '../core/shell.js';
import type { ExecResult, Transport } from '../transport/transport.js';

export interface FactRequest<R> {
  owner: R;
  queries: FactQueries;
}

/**
 * For inline queries: the file their stderr goes to (each redirection
 * empties it), read back only when not empty: `[ -s ]` is sh's own test, so
 * a quiet query costs no process. rm only what mktemp made. Making and
 * removing it is four process starts: a batch with fewer inline queries
 * than INLINE_MIN (a re-read after one change) runs them in subshells.
 */
const INLINE_MIN = 5;

const INLINE_SETUP = [
  `if converge_errf=$(mktemp 2>/dev/null); then trap 'rm -f "$converge_errf"' EXIT; else converge_errf=/dev/null; fi`,
  `converge_end_inline() { if [ -s "$converge_errf" ]; then err=$(cat "$converge_errf"); else err=; fi; converge_end "$1"; }`,
  '',
].join('\n');

/**
 * One script that runs each query in a subshell between markers and prints,
 * after its end marker, the query's exit code and what it wrote to stderr:
 * a query that failed is told apart from one that found nothing. An inline
 * query (FactQuery.inline) runs in the batch's shell instead, its stderr
 * caught in one temp file for the batch (without one, mktemp failing, that
 * stderr is dropped: it only ever words a failure). A query's
 * markers carry its place in the batch, not its key: every host of a fleet
 * has one batch in flight at once, and a key (a path and a hash) in two
 * markers per query was most of the script's and the answer's size.
 */
export function batchScript(queries: FactQuery[], token: string): string {
  // Parts joined once into one flat string: `+=` makes a tree of partial
  // strings (six nodes per query) that every host keeps while its exec is in flight.
  // fd 3 is the batch's stdout: inside $(...) the query's stdout goes there and its stderr into $err.
  const parts = [
    'exec 3>&1\nLC_ALL=C; export LC_ALL\n',
    `converge_begin() { printf '%s\\n' "${marker(token, '$1')}"; }\n`,
    `converge_end() { printf '\\n%s %s\\n%s\\n%s\\n' '${marker(token, 'end')}' "$1" "$err" '${marker(token, 'stderr-end')}'; }\n`,
  ];
  const functions = new Set<string>();
  // Index loops: an iterator per query and per function list is garbage every host makes at once.
  for (let i = 0; i < queries.length; i++) {
    const fs = queries[i].functions;
    if (fs) for (let j = 0; j < fs.length; j++) functions.add(fs[j]);
  }
  for (const f of functions) parts.push(f, '\n');
  const tables = new Map<FactTable, string[]>();
  for (let i = 0; i < queries.length; i++) {
    const { tables: ts, tableArg } = queries[i];
    if (!ts || tableArg === undefined) continue;
    for (let j = 0; j < ts.length; j++) {
      let args = tables.get(ts[j]);
      if (!args) tables.set(ts[j], (args = []));
      if (typeof tableArg === 'string') args.push(tableArg);
      else args.push(...tableArg);
    }
  }
  for (const [table, args] of tables) parts.push(table.script(args), '\n');
  let inline = 0;
  for (let i = 0; i < queries.length; i++) if (queries[i].inline) inline++;
  const inBatchShell = inline >= INLINE_MIN;
  if (inBatchShell) parts.push(INLINE_SETUP);
  // stdin is the batch itself: a query must never read (and swallow) the rest of it.
  // `$?` after the assignment is the subshell's exit code; after the braces, the group's.
  for (let i = 0; i < queries.length; i++) {
    if (inBatchShell && queries[i].inline) parts.push('converge_begin ', String(i), '\n{\n', queries[i].script, '\n} </dev/null 2>"$converge_errf"; converge_end_inline $?\n');
    else parts.push('converge_begin ', String(i), '\nerr=$( (\n', queries[i].script, '\n) </dev/null 2>&1 1>&3 3>&- ); converge_end $?\n');
  }
  return parts.join('');
}

/** Each query's stdout, exit code and stderr, in the batch's order; shorter than the batch when the output ends early. */
export function splitOutputs(stdout: string, count: number, token: string): QueryOutput[] {
  const out: QueryOutput[] = [];
  const open = marker(token, '').slice(0, -2);
  const end = `\n${marker(token, 'end')} `;
  const errEnd = `\n${marker(token, 'stderr-end')}\n`;
  let pos = 0;
  for (let i = 0; i < count; i++) {
    // The start marker (`@@converge:TOKEN:` INDEX `@@\n`) is compared in place, not built per query.
    const s = stdout.indexOf(open, pos);
    const index = String(i);
    if (s < 0 || !stdout.startsWith(index, s + open.length) || !stdout.startsWith('@@\n', s + open.length + index.length)) break;
    const bodyStart = s + open.length + index.length + 3;
    const e = stdout.indexOf(end, bodyStart);
    if (e < 0) break;
    const nl = stdout.indexOf('\n', e + end.length);
    const ee = nl < 0 ? -1 : stdout.indexOf(errEnd, nl);
    if (ee < 0) break;
    // Most queries exit 0 and print nothing on stderr: no strings cut for those.
    const codeAt = e + end.length;
    const code = nl === codeAt + 1 && stdout.charCodeAt(codeAt) === 48 ? 0 : Number(stdout.slice(codeAt, nl));
    out.push({ stdout: stdout.slice(bodyStart, e), code, stderr: ee === nl + 1 ? '' : stdout.slice(nl + 1, ee) });
    pos = ee + errEnd.length;
  }
  return out;
}

/** splitOutputs by query key (for tools that run a batch by hand: fixture capture, tests). */
export function splitBatch(stdout: string, queries: FactQuery[], token: string): Map<string, QueryOutput> {
  return new Map(splitOutputs(stdout, queries.length, token).map((o, i) => [queries[i].key, o]));
}

/** A query's value, or why its output is none: "failed (exit N): stderr", "gave output its parser refused: ...". */
type Answer = { value?: unknown; why?: string };

/** The end of a failed command's stderr for its message (": last / lines"), or ''. */
function stderrTail(stderr: string): string {
  return stderr.trim() ? `: ${stderr.trim().split('\n').slice(-3).join(' / ')}` : '';
}

/** A query's answer from its output: an exit code it does not accept, or a parser that refuses it, is none. */
function answer(exitCodes: number[] | undefined, parse: FactQuery['parse'], out: QueryOutput): Answer {
  // Every query of every host passes here: its stderr is worded (stderrTail) only for a failure.
  if (exitCodes ? !exitCodes.includes(out.code) : out.code !== 0) return { why: `failed (exit ${out.code})${stderrTail(out.stderr)}` };
  try {
    return { value: parse(out.stdout, out) };
  } catch (e) {
    return { why: `gave output its parser refused: ${errorMessage(e)}${stderrTail(out.stderr)}` };
  }
}

export interface Gathered<R> {
  /** Per request, in order: its facts, or undefined when it is in `unavailable` or `failed`. */
  facts: (Facts | undefined)[];
  /**
   * Owners whose queries could not run as their user (a user this same run
   * is about to create): they are planned once that user exists.
   */
  unavailable: Map<R, string>;
  /** Owners one of whose queries failed or could not be parsed: why, naming host and query. */
  failed: Map<R, string>;
}

/**
 * What reading the answers needs once the batch scripts are built, per query
 * of the requests in their order. Every host of a fleet has its batch in
 * flight at once, so it is kept as a few arrays rather than an object per
 * query, and without the queries' keys (at 1000 x 100, peak RSS ~16 MiB
 * less, and less for the young-generation collections to copy): a key only
 * names a query that failed, and is asked of the requests made again for
 * that (gatherFacts).
 * The requests, their query objects and scripts (already in the batch) are
 * let go meanwhile.
 */
interface Expected {
  /** Its name in its request's facts... */
  names: string[];
  /** ...its batch (one per run-as user, in the order of Sendable.scripts) and its place there... */
  batch: number[];
  slot: number[];
  /** ...and how its output is read. */
  exitCodes: (number[] | undefined)[];
  parse: FactQuery['parse'][];
  /** The queries answered by a merged command (FactMerge), by their place above: that command and their item's place in it. */
  merged: Map<number, { query: MergedQuery; part: number }>;
}

/** The deduplicated queries of some requests, per run-as user, and what reading each request's answers needs. */
interface Batches<R> {
  byUser: Map<string, FactQuery[]>;
  /** Every query of the requests, in their order... */
  expected: Expected;
  /** ...and, per request, its owner and its number of queries. */
  owners: R[];
  counts: Int32Array;
}

/** A merged command of a batch, as its members come: its items, where each is, and (once answered) each one's part. */
interface MergedQuery extends FactQuery<string[]> {
  items: string[];
  itemAt: Map<string, number>;
  parts?: string[];
}

/** A merged query's output: its item's part of the merged command's, with the command's exit code and stderr. */
function partOutput(m: MergedQuery, out: QueryOutput, part: number): QueryOutput {
  m.parts ??= m.parse(out.stdout, out);
  return { stdout: m.parts[part] ?? '', code: out.code, stderr: out.stderr };
}

function batches<R>(requests: FactRequest<R>[]): Batches<R> {
  const byUser = new Map<string, FactQuery[]>();
  const index = new Map<string, { batch: number; keys: Map<string, number> }>();
  const expected: Expected = { names: [], batch: [], slot: [], exitCodes: [], parse: [], merged: new Map() };
  const owners: R[] = new Array<R>(requests.length);
  const counts = new Int32Array(requests.length);
  const merged: MergedQuery[] = [];
  for (let i = 0; i < requests.length; i++) {
    const { owner, queries } = requests[i];
    owners[i] = owner;
    for (const name in queries) {
      const q = queries[name];
      const user = q.runAs ?? 'root';
      let b = index.get(user);
      if (!b) {
        index.set(user, (b = { batch: byUser.size, keys: new Map() }));
        byUser.set(user, []);
      }
      // A merged query's slot is its merged command's (known by the merge key, which no plain key starts with).
      const key = q.merge ? `merge\0${q.merge.key}` : q.key;
      let slot = b.keys.get(key);
      if (slot === undefined) {
        b.keys.set(key, (slot = b.keys.size));
        byUser.get(user)!.push(q.merge ? newMerged(q.merge, merged) : q);
      }
      if (q.merge) {
        const m = byUser.get(user)![slot] as MergedQuery;
        expected.merged.set(expected.names.length, { query: m, part: itemOf(m, q.merge.item) });
      }
      expected.names.push(name);
      expected.batch.push(b.batch);
      expected.slot.push(slot);
      expected.exitCodes.push(q.exitCodes);
      expected.parse.push(q.parse);
      counts[i]++;
    }
  }
  // Its items all known: each merged command's script.
  for (const m of merged) m.script = m.merge!.script(m.items);
  return { byUser, expected, owners, counts };
}

function newMerged(merge: FactMerge, all: MergedQuery[]): MergedQuery {
  const m: MergedQuery = { key: merge.key, script: '', merge, items: [], itemAt: new Map(), parse: (stdout) => merge.split(stdout, m.items) };
  all.push(m);
  return m;
}

function itemOf(m: MergedQuery, item: string): number {
  let at = m.itemAt.get(item);
  if (at === undefined) {
    m.itemAt.set(item, (at = m.items.length));
    m.items.push(item);
  }
  return at;
}

/** The deduplicated queries of some requests, per run-as user: one batch script each. */
export function factBatches(requests: FactRequest<unknown>[]): Map<string, FactQuery[]> {
  return batches(requests).byUser;
}

const TOKEN_BYTES = 6;
/** Random bytes for the next tokens: one randomBytes call cost ~18 µs of CPU, and every host's batch draws a token. */
let tokenPool = Buffer.alloc(0);
let tokenAt = 0;

export function newToken(): string {
  if (tokenAt === tokenPool.length) {
    tokenPool = randomBytes(TOKEN_BYTES * 256);
    tokenAt = 0;
  }
  tokenAt += TOKEN_BYTES;
  return tokenPool.toString('hex', tokenAt - TOKEN_BYTES, tokenAt);
}

/** Some requests' batch scripts (one per run-as user) and what reading their answers needs: not the requests. */
interface Sendable<R> extends Omit<Batches<R>, 'byUser'> {
  token: string;
  scripts: { user: string; script: string; count: number }[];
}

/**
 * Sends the batches of the requests `requests()` makes, one exec per run-as
 * user, and resolves once all are answered to the function that reads their
 * facts. The requests are made again only to name a query that failed:
 * they are not kept while the batch is in flight (see Expected), and making
 * them must give the same queries each time (FactQuery: a pure function of
 * its resource). The caller reads the facts after its await: with every
 * host's batch in flight at once, the promises of this exchange are old
 * (promoted) by the time the answers come, and an old promise resolved with
 * the facts would keep them, and the outputs they are cut from, through
 * every young-generation GC until a full one. Not an async function either:
 * one keeps its locals while it waits, and the requests (their query objects
 * and scripts) would outlive the batch.
 */
export function gatherFacts<R>(transport: Transport, requests: () => FactRequest<R>[]): Promise<() => Gathered<R>> {
  const sent = sendable(requests());
  return Promise.all(sent.scripts.map(({ user, script }) => transport.exec(script, { runAs: user === 'root' ? undefined : user }))).then((replies) => () => readFacts(transport.hostName, sent, replies, requests));
}

function sendable<R>(requests: FactRequest<R>[]): Sendable<R> {
  const { byUser, ...rest } = batches(requests);
  const token = newToken();
  return { ...rest, token, scripts: [...byUser].map(([user, queries]) => ({ user, script: batchScript(queries, token), count: queries.length })) };
}

/** The facts of each request from the replies to its batches (in the order of `scripts`), read once: it empties their stdout. */
function readFacts<R>(host: string, { expected, owners, counts, token, scripts }: Sendable<R>, replies: ExecResult[], requests: () => FactRequest<R>[]): Gathered<R> {
  /** Per batch: the raw output of each of its queries, then (as owners ask) its answer; or why the batch failed. */
  const outputs: QueryOutput[][] = [];
  const answers: Answer[][] = [];
  const failedBatches: (string | undefined)[] = [];
  for (let b = 0; b < scripts.length; b++) {
    const { user, count } = scripts[b];
    const res = replies[b];
    outputs[b] = splitOutputs(res.stdout, count, token);
    answers[b] = new Array<Answer>(count);
    // The transport's promise of this result is old by now, like gatherFacts', and keeps it until a
    // full GC: its stdout (the whole batch's answer, which the outputs are cut from) is let go here.
    res.stdout = '';
    if (outputs[b].length < count) {
      const why = `reading facts as ${user} failed (exit ${res.code})${stderrTail(res.stderr)}`;
      if (user === 'root') throw new HostError(why, 'the login user needs passwordless sudo (NOPASSWD) to run as root');
      failedBatches[b] = why;
    }
  }
  const { names, batch, slot, exitCodes, parse, merged } = expected;
  const result: Gathered<R> = { facts: new Array<Facts | undefined>(owners.length), unavailable: new Map(), failed: new Map() };
  /** The requests made again, once, for the keys of queries that failed. */
  let again: FactRequest<R>[] | undefined;
  let next = 0;
  for (let i = 0; i < owners.length; i++) {
    const owner = owners[i];
    let facts: Facts | undefined = {};
    for (const end = next + counts[i]; next < end; next++) {
      if (!facts) continue;
      const b = batch[next];
      const failed = failedBatches[b];
      if (failed) {
        result.unavailable.set(owner, failed);
        facts = undefined;
        continue;
      }
      const out = outputs[b][slot[next]];
      const m = merged.size ? merged.get(next) : undefined;
      const { value, why } = m ? answer(exitCodes[next], parse[next], partOutput(m.query, out, m.part)) : (answers[b][slot[next]] ??= answer(exitCodes[next], parse[next], out));
      if (why) {
        result.failed.set(owner, `on ${host}, fact query ${(again ??= requests())[i].queries[names[next]].key} ${why}`);
        facts = undefined;
        continue;
      }
      facts[names[next]] = value;
    }
    result.facts[i] = facts;
  }
  return result;
}
