// The applied record: what converge last applied or verified on a host, kept
// there (/var/lib/converge/applied.json) so a later run can tell WHOSE change
// a difference is:
//   drift   - the declared spec is the one last applied/verified here, yet
//             the host differs: someone changed the host;
//   pending - the declared spec changed since (a commit not applied yet);
//   new     - converge never managed this resource on this host.
// Per resource it holds a fingerprint of the declared spec (a salted hash,
// never a value), plus when, from which state revision and by which login
// the host was last converged. It is read by a query in the one fact batch
// and written at the end of an apply only when it is missing or out of date,
// so a converged host still costs one exec.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import { HostError } from '../core/diagnostics.js';
import type { FactQuery } from '../core/resource.js';
import type { ChangeClass, LastConverged } from '../core/result.js';
import { shq } from '../core/shell.js';
import type { Resource } from '../state/compile.js';
import type { Transport } from '../transport/transport.js';

export const RECORD_FILE = 'applied.json';
const VERSION = 1;

export interface AppliedRecord extends LastConverged {
  version: number;
  /** naturalId -> fingerprint of the declared spec last applied or verified. */
  resources: Record<string, string>;
}

/** Where this run's states come from and who runs it: stamped into every record it writes. */
export interface RunOrigin {
  revision?: string;
  dirty?: boolean;
  login: string;
}

/** The state tree's git commit (and whether it has uncommitted changes) when it is a checkout; the controller login. */
export function runOrigin(statesDir: string): RunOrigin {
  const login = `${userInfo().username}@${hostname()}`;
  const git = (...args: string[]) => execFileSync('git', ['-C', statesDir, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  try {
    const revision = git('rev-parse', 'HEAD');
    // Only the state tree counts: edits elsewhere in the repository change nothing a host gets.
    const dirty = git('status', '--porcelain', '--', '.') !== '';
    return { revision, dirty, login };
  } catch {
    return { login };
  }
}

/** JSON with object keys sorted, so equal specs always hash the same. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object' && !Buffer.isBuffer(v)) {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(',')}}`;
  }
  if (Buffer.isBuffer(v)) return JSON.stringify(createHash('sha256').update(v).digest('hex'));
  return JSON.stringify(v) ?? 'null';
}

/**
 * The declared spec's fingerprint. Salted with the resource's identity and
 * cut to 128 bits: it says "the same spec", never what the spec holds.
 */
export function fingerprint(r: Pick<Resource, 'naturalId' | 'spec'>): string {
  return createHash('sha256').update(`converge-applied-v${VERSION}\0${r.naturalId}\0${canonicalJson(r.spec)}`).digest('hex').slice(0, 32);
}

/** The record as the host has it; a missing or unreadable file is no record (every resource is then new). */
export function parseRecord(out: string): AppliedRecord | undefined {
  const text = out.trim();
  // A record is a JSON object: other text is none without JSON.parse's exception (its stack trace was ~50 us per host).
  if (text[0] !== '{') return undefined;
  try {
    const r = JSON.parse(out) as AppliedRecord;
    return r && r.version === VERSION && r.resources && typeof r.resources === 'object' ? r : undefined;
  } catch {
    return undefined;
  }
}

export function recordQuery(stateDir: string): FactQuery<AppliedRecord | undefined> {
  return {
    key: `converge:applied:${stateDir}`,
    script: `cat ${shq(`${stateDir}/${RECORD_FILE}`)} 2>/dev/null; true`,
    inline: true,
    parse: parseRecord,
  };
}

/** Whose change a difference on r is, by the host's record. */
export function classify(r: Pick<Resource, 'naturalId' | 'spec'>, record: AppliedRecord | undefined): ChangeClass {
  const last = record?.resources[r.naturalId];
  if (last === undefined) return 'new';
  return last === fingerprint(r) ? 'drift' : 'pending';
}

/**
 * A watch reaction with no change of its own (a restart) is the kind of
 * change that triggered it; one owed by an interrupted run finishes converge's
 * own earlier work, which is pending.
 */
export function reactionClass(triggers: (ChangeClass | undefined)[]): ChangeClass {
  for (const c of ['drift', 'pending', 'new'] as const) if (triggers.includes(c)) return c;
  return 'pending';
}

/**
 * The record after an apply: resources now in sync (changed, or verified
 * unchanged) get their current fingerprint; the others (failed, skipped, not
 * run) keep what they had, as do resources this run did not include.
 * Undefined when the host's record is already exactly that: nothing to write.
 */
export function nextRecord(old: AppliedRecord | undefined, inSync: Resource[], origin: RunOrigin, now = new Date()): AppliedRecord | undefined {
  const resources = { ...(old?.resources ?? {}) };
  let changed = !old;
  for (const r of inSync) {
    const fp = fingerprint(r);
    if (resources[r.naturalId] !== fp) {
      resources[r.naturalId] = fp;
      changed = true;
    }
  }
  if (!changed) return undefined;
  return { version: VERSION, at: now.toISOString(), revision: origin.revision, dirty: origin.dirty, login: origin.login, resources };
}

/** Replace the host's record in one exec (written aside, then renamed: never half a file). */
export async function writeRecord(t: Transport, stateDir: string, record: AppliedRecord): Promise<void> {
  const file = shq(`${stateDir}/${RECORD_FILE}`);
  const tmp = shq(`${stateDir}/${RECORD_FILE}.tmp`);
  const r = await t.exec(`umask 077; mkdir -p ${shq(stateDir)} && cat > ${tmp} && mv -f ${tmp} ${file}`, { stdin: JSON.stringify(record) + '\n' });
  if (r.code !== 0) throw new HostError(`cannot record what was applied in ${stateDir}/${RECORD_FILE}: ${r.stderr.trim()}`, 'the changes themselves were made; fix the cause and run again so the next check can tell drift from pending changes');
}

/** The part of a record a report shows. */
export function lastConverged(r: AppliedRecord | undefined): LastConverged | undefined {
  return r && { at: r.at, revision: r.revision, dirty: r.dirty, login: r.login };
}
