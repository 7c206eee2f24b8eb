import { describe, expect, it } from 'vitest';
import { factFixture, readFixture } from '../../test/support/fixtures.js';
import { planCtx } from '../../test/unit/fixtures.js';
import { recorder } from '../../test/unit/apply-recorder.js';
import { parseReplicaFact, pgReplica } from './pg-replica.js';

const spec = { primary_host: 'pg-primary', user: 'replicator', password: 'canary-repl-pw', data_directory: '/var/lib/postgresql/15/main' };
// missing_datadir was captured for another data directory.
const dataDir = (name: string) => (name === 'missing_datadir' ? '/var/lib/postgresql/15/other' : spec.data_directory);
const facts = (name: string) => ({ replica: factFixture(pgReplica.facts({ ...spec, data_directory: dataDir(name) }, planCtx()).replica, 'pg_replica', name) });
const plan = (name: string, s: Parameters<typeof pgReplica.plan>[0] = spec) => pgReplica.plan(s, facts(name), planCtx());

describe('pg_replica facts', () => {
  it('come from fixtures captured with the current fact script', () => {
    expect(readFixture('pg_replica', 'streaming').command).toBe(pgReplica.facts(spec, planCtx()).replica.script);
  });
  it('read the data directory even when the server is down, and the server when it is up', () => {
    expect(facts('streaming').replica).toEqual({
      datadir: 'standby',
      server: { ok: true, data: { in_recovery: true, data_directory: '/var/lib/postgresql/15/main', receiver: { status: 'streaming', sender_host: 'pg-primary', sender_port: 5432 }, databases: ['appdb', 'latin'] } },
    });
    expect(facts('stopped_standby').replica).toEqual({ datadir: 'standby', server: { ok: false, psql: 2 } });
    expect(facts('empty_datadir').replica.datadir).toBe('empty');
    expect(facts('stopped_cluster').replica.datadir).toBe('cluster');
  });
});

describe('pg_replica plan', () => {
  it('leaves a standby streaming from the primary alone', () => {
    expect(plan('streaming')).toEqual([]);
  });
  it('clones the primary into an empty data directory', () => {
    expect(plan('empty_datadir')).toEqual([{ path: 'standby', action: 'create', after: 'standby of pg-primary:5432' }]);
  });
  it('replaces a cluster that is not a standby, unless it holds databases of its own', () => {
    expect(() => plan('primary_with_databases')).toThrow(/a primary with databases of its own \(appdb, latin\); converge will not replace it/);
    expect(plan('primary_with_databases', { ...spec, force: true })).toEqual([{ path: 'standby', action: 'replace', before: 'not a standby', after: 'standby of pg-primary:5432' }]);
    expect(() => plan('stopped_cluster')).toThrow(/not running and \/var\/lib\/postgresql\/15\/main holds data/);
  });
  it('never re-points or rebuilds an existing standby', () => {
    expect(() => plan('streaming', { ...spec, primary_host: 'db-9' })).toThrow(/already a standby of pg-primary:5432, not of db-9:5432/);
    expect(() => plan('standby_not_streaming')).toThrow(/standby but streams from no primary right now/);
    expect(() => plan('stopped_standby')).toThrow(/standby in \/var\/lib\/postgresql\/15\/main is not running/);
  });
  it('refuses a spec that names another data directory than the running one', () => {
    expect(() => plan('missing_datadir', { ...spec, data_directory: '/var/lib/postgresql/15/other' })).toThrow(/data directory is \/var\/lib\/postgresql\/15\/main, not \/var\/lib\/postgresql\/15\/other/);
  });
});

describe('pg_replica apply', () => {
  it('stops, moves aside, clones as postgres with the password on stdin only, starts and waits for streaming', async () => {
    const { ctx, commands } = recorder((cmd) => ({ code: 0, stdout: cmd.script.includes('mv "$d"') ? '/var/lib/postgresql/15/main.converge-old-1\n' : '', stderr: '' }));
    await pgReplica.apply(spec, plan('empty_datadir'), facts('empty_datadir'), ctx);
    expect(commands.map((c) => c.runAs ?? 'root')).toEqual(['root', 'postgres', 'root', 'postgres']);
    const [stop, backup, start, wait] = commands;
    expect(stop.script).toContain('systemctl stop postgresql');
    expect(backup.stdin).toBe('canary-repl-pw\n');
    expect(backup.script).toContain('pg_basebackup -h pg-primary -p 5432 -U replicator -D /var/lib/postgresql/15/main -R -X stream');
    for (const c of commands) expect(c.script).not.toContain('canary');
    expect(start.script).toContain('systemctl start postgresql');
    expect(wait.script).toContain('pg_stat_wal_receiver');
  });
  it('puts the old data directory back and starts it when the base backup fails', async () => {
    const { ctx, commands } = recorder((cmd) =>
      cmd.script.includes('pg_basebackup')
        ? { code: 1, stdout: '', stderr: 'pg_basebackup: error: connection to server failed' }
        : { code: 0, stdout: cmd.script.includes('mv "$d"') ? '/var/lib/postgresql/15/main.converge-old-1\n' : '', stderr: '' },
    );
    const err = (await pgReplica.apply(spec, [], facts('primary_with_databases'), ctx).catch((e: Error) => e)) as Error;
    expect(err.message).toMatch(/pg_basebackup from pg-primary:5432 failed \(exit 1\); the old data directory is back in place/);
    expect(commands[2].script).toContain(`rmdir "$d" && mv /var/lib/postgresql/15/main.converge-old-1 "$d"`);
    expect(commands).toHaveLength(3);
  });
});
