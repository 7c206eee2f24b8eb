// What converge keeps on a host between runs, under /var/lib/converge:
//  - run.lock: a flock held by a command that lives as long as converge's
//    SSH connection, so two runs never interleave and a lock left by a dead
//    controller is released by the kernel with that connection;
//  - pending: the journal of watch/onchanges reactions owed (a restart whose
//    trigger changed, but whose run stopped before it restarted): the next
//    run performs them even though nothing differs any more.

import { hostname } from 'node:os';
import { HostError } from '../core/diagnostics.js';
import type { FactQuery } from '../core/resource.js';
import { shq } from '../core/shell.js';
import type { Held, Transport } from '../transport/transport.js';

export const STATE_DIR = '/var/lib/converge';
const JOURNAL = `${STATE_DIR}/pending`;
const LOCK = `${STATE_DIR}/run.lock`;
const OWNER = `${STATE_DIR}/run.owner`;

export const journalQuery: FactQuery<string[]> = {
  key: 'converge:pending',
  script: `cat ${JOURNAL} 2>/dev/null; true`,
  parse: (out) => [...new Set(out.split('\n').filter(Boolean))],
};

/** Record reactions owed before anything else can interrupt the run. */
export async function addPending(t: Transport, ids: string[]): Promise<void> {
  const r = await t.exec(`mkdir -p ${STATE_DIR} && printf '%s\\n' ${ids.map(shq).join(' ')} >> ${JOURNAL}`);
  if (r.code !== 0) throw new HostError(`cannot record pending reactions in ${JOURNAL}: ${r.stderr.trim()}`);
}

export async function clearPending(t: Transport, id: string): Promise<void> {
  const r = await t.exec(`[ -f ${JOURNAL} ] || exit 0; grep -vxF -- ${shq(id)} ${JOURNAL} > ${JOURNAL}.tmp; mv -f ${JOURNAL}.tmp ${JOURNAL}`);
  if (r.code !== 0) throw new HostError(`cannot update ${JOURNAL}: ${r.stderr.trim()}`);
}

export interface LockResult {
  held: Held;
  /** The lock was busy and this run waited for it: what it planned may be stale. */
  waited: boolean;
}

/**
 * Take the host's run lock. Busy: refuse, or with waitSeconds wait that long.
 * The owner line (controller host, pid, start) tells a refused user who holds it.
 */
export async function acquireRunLock(t: Transport, waitSeconds: number | undefined): Promise<LockResult> {
  const owner = `${hostname()} pid ${process.pid} since ${new Date().toISOString()}`;
  const busy = waitSeconds === undefined ? 'echo "busy $who"; exit 0' : `echo "waiting for $who" >&2; flock -w ${Math.max(1, Math.round(waitSeconds))} 9 || { echo "busy $who"; exit 0; }; w=1`;
  const script = [
    `mkdir -p ${STATE_DIR}`,
    `exec 9>>${LOCK}`,
    'w=0',
    `if ! flock -n 9; then who=$(cat ${OWNER} 2>/dev/null || echo 'an unknown run'); ${busy}; fi`,
    `printf '%s\\n' ${shq(owner)} > ${OWNER}`,
    'echo "locked $w"',
    // Held until converge closes stdin, or its connection dies.
    'cat >/dev/null',
  ].join('\n');
  const held = await t.hold(script);
  if (held.firstLine.startsWith('locked')) return { held, waited: held.firstLine === 'locked 1' };
  await held.release();
  const who = held.firstLine.replace(/^busy /, '');
  throw new HostError(
    `another converge run holds this host's lock (${who || 'unknown owner'})${waitSeconds === undefined ? '' : ` and did not finish within ${waitSeconds}s`}`,
    waitSeconds === undefined ? 'run again when it is done, or pass --wait-lock SECONDS to queue behind it' : 'raise --wait-lock, or find that run',
  );
}
