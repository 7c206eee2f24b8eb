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

/** Where converge keeps its state on a host (a setting so tests on the controller itself can isolate it). */
export const DEFAULT_STATE_DIR = '/var/lib/converge';

export function journalQuery(stateDir: string): FactQuery<string[]> {
  return {
    key: `converge:pending:${stateDir}`,
    script: `cat ${shq(`${stateDir}/pending`)} 2>/dev/null; true`,
    parse: (out) => [...new Set(out.split('\n').filter(Boolean))],
  };
}

/** Record reactions owed before anything else can interrupt the run. */
export async function addPending(t: Transport, stateDir: string, ids: string[]): Promise<void> {
  const journal = shq(`${stateDir}/pending`);
  const r = await t.exec(`mkdir -p ${shq(stateDir)} && printf '%s\\n' ${ids.map(shq).join(' ')} >> ${journal}`);
  if (r.code !== 0) throw new HostError(`cannot record pending reactions in ${stateDir}/pending: ${r.stderr.trim()}`);
}

export async function clearPending(t: Transport, stateDir: string, id: string): Promise<void> {
  const j = shq(`${stateDir}/pending`);
  const r = await t.exec(`[ -f ${j} ] || exit 0; grep -vxF -- ${shq(id)} ${j} > ${j}.tmp; mv -f ${j}.tmp ${j}`);
  if (r.code !== 0) throw new HostError(`cannot update ${stateDir}/pending: ${r.stderr.trim()}`);
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
export async function acquireRunLock(t: Transport, stateDir: string, waitSeconds: number | undefined): Promise<LockResult> {
  const dir = shq(stateDir);
  const owner_ = shq(`${stateDir}/run.owner`);
  const owner = `${hostname()} pid ${process.pid} since ${new Date().toISOString()}`;
  const busy = waitSeconds === undefined ? 'echo "busy $who"; exit 0' : `echo "waiting for $who" >&2; flock -w ${Math.max(1, Math.round(waitSeconds))} 9 || { echo "busy $who"; exit 0; }; w=1`;
  const script = [
    `mkdir -p ${dir}`,
    `exec 9>>${shq(`${stateDir}/run.lock`)}`,
    'w=0',
    `if ! flock -n 9; then who=$(cat ${owner_} 2>/dev/null || echo 'an unknown run'); ${busy}; fi`,
    `printf '%s\\n' ${shq(owner)} > ${owner_}`,
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
