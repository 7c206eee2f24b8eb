// What converge keeps on a host between runs, under /var/lib/converge:
//  - run.lock: a flock held by a command that lives as long as converge's
//    SSH connection, so two runs never interleave and a lock left by a dead
//    controller is released by the kernel with that connection;
//  - run.active: its companion. Every command that changes the host holds
//    it shared while it runs (transport ExecOptions.guard). A command the
//    lost connection left behind runs on (it is never killed half way), so
//    a new run, once it has run.lock, also waits for run.active: commands
//    of a dead run finish before the next run starts changing things;
//  - pending: the journal of watch/onchanges reactions owed (a restart whose
//    trigger changed, but whose run stopped before it restarted): the next
//    run performs them even though nothing differs any more.

import { hostname } from 'node:os';
import { HostError } from '../core/diagnostics.js';
import type { FactQuery } from '../core/resource.js';
import { LOCK_HOLDERS_SH, PROGRESS_PREFIX, shq } from '../core/shell.js';
import type { Held, Transport } from '../transport/transport.js';

/** Where converge keeps its state on a host (a setting so tests on the controller itself can isolate it). */
export const DEFAULT_STATE_DIR = '/var/lib/converge';

/** The lock file changing commands hold shared (see the header). */
export const activeFile = (stateDir: string) => `${stateDir}/run.active`;

export function journalQuery(stateDir: string): FactQuery<string[]> {
  return {
    key: `converge:pending:${stateDir}`,
    script: `cat ${shq(`${stateDir}/pending`)} 2>/dev/null; true`,
    inline: true,
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
 * Take the host's run lock, then wait for commands of a dead run to end.
 * Busy: refuse, or with waitSeconds wait that long (each), saying whom for.
 * The owner line (controller host, pid, start) tells a refused user who holds it.
 */
export async function acquireRunLock(t: Transport, stateDir: string, waitSeconds: number | undefined, onProgress?: (note: string) => void): Promise<LockResult> {
  const dir = shq(stateDir);
  const owner_ = shq(`${stateDir}/run.owner`);
  const active = shq(activeFile(stateDir));
  const owner = `${hostname()} pid ${process.pid} since ${new Date().toISOString()}`;
  const wait = Math.max(1, Math.round(waitSeconds ?? 0));
  const script = [
    LOCK_HOLDERS_SH,
    // The innermost process of each command still holding run.active: "sleep 30 (pid 12)".
    String.raw`leftovers() {
  sep=''
  for p in $(lock_holders ${active}); do
    c=$p; while n=$(ps -o pid= --ppid "$c" 2>/dev/null | head -n 1 | tr -d ' ') && [ -n "$n" ]; do c=$n; done
    # One that ended while we looked is no longer waited for.
    a=$(ps -o args= -p "$c" 2>/dev/null | cut -c1-80); [ -n "$a" ] || continue
    printf '%s%s (pid %s)' "$sep" "$a" "$c"; sep=', '
  done
}`,
    // $1: the fd of a busy lock, $2: the word saying which.
    waitSeconds === undefined
      ? 'queue() { echo "$2 $who"; exit 0; }'
      : `queue() { echo "${PROGRESS_PREFIX}waiting up to ${wait}s for $what: $who" >&2; flock -w ${wait} "$1" || { echo "$2 $who"; exit 0; }; w=1; }`,
    `mkdir -p ${dir}`,
    `exec 9>>${shq(`${stateDir}/run.lock`)}`,
    'w=0',
    `if ! flock -n 9; then what='another converge run'; who=$(cat ${owner_} 2>/dev/null || echo 'an unknown run'); queue 9 busy; fi`,
    `exec 8>>${active}`,
    // Holders that all ended while being named leave the lock free a moment later.
    `if ! flock -n 8; then what='commands of an interrupted run to finish'; who=$(leftovers); [ -z "$who" ] && flock -w 2 8 || queue 8 leftover; fi`,
    'exec 8>&-',
    `printf '%s\\n' ${shq(owner)} > ${owner_}`,
    'echo "locked $w"',
    // Held until converge closes stdin, or its connection dies.
    'cat >/dev/null',
  ].join('\n');
  const held = await t.hold(script, onProgress);
  if (held.firstLine.startsWith('locked')) return { held, waited: held.firstLine === 'locked 1' };
  await held.release();
  const [word, ...rest] = held.firstLine.split(' ');
  const who = rest.join(' ');
  const waited = waitSeconds === undefined ? '' : ` and did not finish within ${waitSeconds}s`;
  if (word === 'leftover') {
    throw new HostError(
      `commands an interrupted converge run started are still running on this host (${who || 'unknown'})${waited}`,
      waitSeconds === undefined
        ? 'the connection to that run was lost, but its commands are let finish rather than killed half way: run again when they are done, or pass --wait-lock SECONDS'
        : 'raise --wait-lock, or look at those processes on the host',
    );
  }
  throw new HostError(
    `another converge run holds this host's lock (${who || 'unknown owner'})${waited}`,
    waitSeconds === undefined ? 'run again when it is done, or pass --wait-lock SECONDS to queue behind it' : 'raise --wait-lock, or find that run',
  );
}
