// pg_replica: this host's cluster is a hot standby streaming from a primary.
// A standby already streaming from that primary is left alone. A cluster
// that is not a standby (a fresh install, or an empty data directory) is
// replaced: stop it, move its data directory aside (never deleted), take a
// base backup from the primary (pg_basebackup -R -X stream, which also
// writes standby.signal and primary_conninfo), start it, and wait until it
// streams. Anything in between (a standby of another primary, one that is
// not streaming, a primary with databases of its own) is a plan error that
// says what to do: converge never guesses with someone's data.

import { HostError } from '../core/diagnostics.js';
import type { ResourceType } from '../core/resource.js';
import { shq } from '../core/shell.js';
import type { PgReplicaSpec } from '../generated/index.js';
import { PG_AFTER, PG_USER, PSQL, parsePsqlFact, psqlFactScript, serverData, serviceAndWaitScript, type PgFact } from './lib/pg-common.js';

export type DataDirState = 'missing' | 'empty' | 'unreadable' | 'standby' | 'cluster' | 'other';

export interface ReplicaServer {
  in_recovery: boolean;
  data_directory: string;
  /** The WAL receiver, when one runs (pg_stat_wal_receiver has a row). */
  receiver: { status: string; sender_host: string | null; sender_port: number | null } | null;
  /** Databases besides postgres, template0 and template1. */
  databases: string[];
}

export interface ReplicaFact {
  datadir: DataDirState;
  server: PgFact<ReplicaServer>;
}

const REPLICA_SQL =
  "SELECT json_build_object('in_recovery', pg_is_in_recovery(), 'data_directory', current_setting('data_directory'), " +
  "'receiver', (SELECT json_build_object('status', status, 'sender_host', sender_host, 'sender_port', sender_port) FROM pg_stat_wal_receiver), " +
  "'databases', (SELECT coalesce(json_agg(datname ORDER BY datname), '[]') FROM pg_database WHERE datname NOT IN ('postgres', 'template0', 'template1')))";

/** Read-only sh: what the data directory holds (the server may be down), then the server's view. */
export function replicaFactScript(dataDir: string): string {
  return [
    `d=${shq(dataDir)}`,
    'if [ ! -e "$d" ]; then echo datadir=missing',
    'elif [ ! -r "$d" ] || [ ! -x "$d" ]; then echo datadir=unreadable',
    'elif [ -f "$d/PG_VERSION" ] && [ -f "$d/standby.signal" ]; then echo datadir=standby',
    'elif [ -f "$d/PG_VERSION" ]; then echo datadir=cluster',
    'elif [ -z "$(ls -A "$d")" ]; then echo datadir=empty',
    'else echo datadir=other; fi',
    psqlFactScript(REPLICA_SQL),
  ].join('\n');
}

export function parseReplicaFact(text: string): ReplicaFact {
  const nl = text.indexOf('\n');
  const datadir = (/^datadir=(\w+)$/.exec(text.slice(0, nl).trim())?.[1] ?? 'unreadable') as DataDirState;
  return { datadir, server: parsePsqlFact<ReplicaServer>(text.slice(nl + 1)) };
}

const dataDirOf = (spec: PgReplicaSpec) => spec.data_directory;
const serviceOf = (spec: PgReplicaSpec) => spec.service ?? 'postgresql';
const primaryOf = (spec: PgReplicaSpec) => `${spec.primary_host}:${spec.primary_port ?? 5432}`;

function planRunning(spec: PgReplicaSpec, s: ReplicaServer) {
  const dir = dataDirOf(spec);
  if (s.data_directory !== dir) {
    throw new HostError(`the running cluster's data directory is ${s.data_directory}, not ${dir}`, 'set data_directory (and service) to the cluster that should be the replica');
  }
  const r = s.receiver;
  if (s.in_recovery && r && r.sender_host === spec.primary_host && r.sender_port === (spec.primary_port ?? 5432)) return [];
  if (s.in_recovery && r) {
    throw new HostError(`this cluster is already a standby of ${r.sender_host}:${r.sender_port}, not of ${primaryOf(spec)}`, 'converge does not re-point a standby: change primary_conninfo by hand, or empty the data directory to have it cloned again');
  }
  if (s.in_recovery) {
    throw new HostError(`this cluster is a standby but streams from no primary right now`, `check that ${primaryOf(spec)} is up and lets this host in (pg_hba "host replication ${spec.user} ..."); the server log says why it does not connect`);
  }
  if (s.databases.length && !spec.force) {
    throw new HostError(`this cluster is a primary with databases of its own (${s.databases.join(', ')}); converge will not replace it with a copy of ${primaryOf(spec)}`, 'set force: true to move its data directory aside and clone the primary anyway');
  }
  return [{ path: 'standby', action: 'replace' as const, before: 'not a standby', after: `standby of ${primaryOf(spec)}` }];
}

function planStopped(spec: PgReplicaSpec, datadir: DataDirState) {
  const dir = dataDirOf(spec);
  switch (datadir) {
    case 'missing':
    case 'empty':
      return [{ path: 'standby', action: 'create' as const, after: `standby of ${primaryOf(spec)}` }];
    case 'standby':
      throw new HostError(`the standby in ${dir} is not running`, `start it (systemctl start ${serviceOf(spec)}) and look at its log if it stops again`);
    case 'unreadable':
      throw new HostError(`${dir} cannot be read by postgres`, 'fix its owner and mode (postgres, 0700)');
    default:
      if (!spec.force) throw new HostError(`PostgreSQL is not running and ${dir} holds data`, 'start the cluster so converge can see what it is, or set force: true to replace it');
      return [{ path: 'standby', action: 'replace' as const, before: 'stopped cluster', after: `standby of ${primaryOf(spec)}` }];
  }
}

/** sh (root): stop the cluster, move a non-empty data directory aside (printing where), leave an empty one. */
function stopAndClearScript(spec: PgReplicaSpec): string {
  return [
    'set -e',
    `d=${shq(dataDirOf(spec))}`,
    `systemctl stop ${shq(serviceOf(spec))}`,
    'if [ -e "$d" ] && [ -n "$(ls -A "$d")" ]; then old="$d.converge-old-$(date +%Y%m%dT%H%M%S)"; mv "$d" "$old"; echo "$old"; fi',
    'install -d -o postgres -g postgres -m 0700 "$d"',
  ].join('\n');
}

/** sh (postgres): the password is the first line of stdin and reaches pg_basebackup only through its environment. */
function baseBackupScript(spec: PgReplicaSpec): string {
  return [
    'set -e',
    'cd /',
    'IFS= read -r PGPASSWORD',
    'export PGPASSWORD',
    `exec pg_basebackup -h ${shq(spec.primary_host)} -p ${spec.primary_port ?? 5432} -U ${shq(spec.user)} -D ${shq(dataDirOf(spec))} -R -X stream -c fast -w`,
  ].join('\n');
}

/** sh (root): pg_basebackup cleaned up after itself, so the directory is empty again: put the old one back and start it. */
function restoreScript(spec: PgReplicaSpec, old: string): string {
  return [`d=${shq(dataDirOf(spec))}`, old ? `rmdir "$d" && mv ${shq(old)} "$d"` : 'true', `systemctl start ${shq(serviceOf(spec))} || true`].join('\n');
}

const WAIT_STREAMING = [
  'cd /',
  'i=0',
  `until [ "$(${PSQL} -c 'SELECT status FROM pg_stat_wal_receiver')" = streaming ]; do`,
  '  i=$((i + 1)); [ "$i" -lt 120 ] || { echo "the standby started but is not streaming after 60 s; see its server log" >&2; exit 1; }',
  '  sleep 0.5',
  'done',
].join('\n');

export const pgReplica: ResourceType<PgReplicaSpec, { replica: ReplicaFact }> = {
  kind: 'pg_replica',
  id: (spec) => `pg_replica:${dataDirOf(spec)}`,
  implicitAfter: () => PG_AFTER,

  facts: (spec) => ({ replica: { key: `pg_replica:${dataDirOf(spec)}`, runAs: PG_USER, script: replicaFactScript(dataDirOf(spec)), parse: parseReplicaFact } }),

  plan(spec, facts) {
    const f = facts.replica;
    if (f.server.ok) return planRunning(spec, f.server.data);
    if (f.server.psql !== 2) serverData(f.server); // throws: psql missing, or a failure that is not "server down"
    return planStopped(spec, f.datadir);
  },

  async apply(spec, _changes, _facts, ctx) {
    const service = serviceOf(spec);
    const old = (await ctx.run({ script: stopAndClearScript(spec) }, `stopping ${service} and moving the data directory aside`)).stdout.trim();
    try {
      await ctx.run({ script: baseBackupScript(spec), stdin: `${spec.password}\n`, runAs: PG_USER }, `pg_basebackup from ${primaryOf(spec)}`);
    } catch (e) {
      const back = await ctx.exec({ script: restoreScript(spec, old) });
      const where = old ? (back.code === 0 ? `; the old data directory is back in place` : `; the old data directory is in ${old}`) : '';
      throw new HostError(`${(e as Error).message}${where}`, (e as HostError).hint ?? `check that ${primaryOf(spec)} accepts replication connections from this host as ${spec.user}`);
    }
    await ctx.run({ script: serviceAndWaitScript('start', service) }, `starting ${service}`);
    await ctx.run({ script: WAIT_STREAMING, runAs: PG_USER }, `waiting for the standby to stream from ${primaryOf(spec)}`);
  },
};
