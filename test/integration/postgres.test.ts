// PostgreSQL on two real hosts, installed by a package resource: a primary
// converged with roles, a database, pg_hba lines and server settings (one
// needing a restart), and a streaming replica made by pg_replica from it. A
// row written on the primary is read on the replica; a second run changes
// nothing (the password is compared, not re-set); a password changed by hand
// is reported by --check as exactly one sensitive change, and --check changes
// nothing. Then the drift table's PostgreSQL rows (test/support/drift-table.ts,
// whose resources these states are): a setting, a role, a database owner, a
// pg_hba line and the replica's data directory changed by hand, all reported
// exactly by one --check that changes nothing, and repaired. The passwords (secrets from the environment) never show in any
// output, nor in the process list of either host while converge runs.

import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { converge, resourcesOf, type CliResult } from '../support/cli.js';
import { driftCheckRepair, stateResources } from '../support/drift-harness.js';
import { PG_PRIMARY, PG_REPLICA, rowsOf } from '../support/drift-table.js';
import { startFleet, type Fleet } from '../support/fleet.js';
import { snapshot } from '../support/snapshot.js';

const PRIMARY = PG_PRIMARY;
const REPLICA = PG_REPLICA;
const APP_PASSWORD = `canary-app-${randomBytes(6).toString('hex')}`;
const REPL_PASSWORD = `canary-repl-${randomBytes(6).toString('hex')}`;

// Every pg_* resource comes after a managed package:postgresql on its own.
const SERVER_STATE = `
resources:
  postgresql:
    package: { name: postgresql }
`;

// The pg_* rows of the drift table (test/support/drift-table.ts) are the
// resources under test; the replication role and its pg_hba line are what
// the replica needs of the primary.
const tableRows = rowsOf('postgres');
const PRIMARY_STATE = stringify({
  include: ['postgres/server'],
  resources: {
    replicator: { pg_role: { name: 'replicator', login: true, replication: true, password: '{{ repl_password }}' } },
    'hba-replication': { pg_hba: { type: 'host', database: 'replication', user: 'replicator', address: 'samenet', method: 'scram-sha-256' } },
    ...stateResources(tableRows.filter((r) => r.host === PRIMARY)),
  },
});
const REPLICA_STATE = stringify({ include: ['postgres/server'], resources: stateResources(tableRows.filter((r) => r.host === REPLICA)) });

/** This machine is shared and often loaded: an apt install of PostgreSQL can take minutes. */
const SLOW = 1_500_000;

const psql = (sql: string) => `cd / && sudo -u postgres psql -XAtq -v ON_ERROR_STOP=1 -c ${JSON.stringify(sql)}`;

describe('PostgreSQL: primary and streaming replica', () => {
  let fleet: Fleet;
  let inventory: string;
  const outputs: CliResult[] = [];
  const processLists: string[] = [];

  /**
   * Runs converge (several at once when given several argument lists) while
   * each host records every distinct process command line it sees, every
   * 50 ms, into /run/ps-capture (a loop inside the container: cheap, and
   * fast enough to see pg_basebackup and every su/sh wrapper; mawk's
   * -W interactive writes each new line at once).
   */
  async function run(...argLists: string[][]): Promise<CliResult[]> {
    const hosts = [PRIMARY, REPLICA];
    const loop = 'touch /run/ps-poll; nohup sh -c \'while [ -e /run/ps-poll ]; do ps -eo args; sleep 0.05; done | awk -W interactive "!seen[\\$0]++" > /run/ps-capture\' >/dev/null 2>&1 &';
    await Promise.all(hosts.map((h) => fleet.exec(h, loop)));
    try {
      const results = await Promise.all(argLists.map((args) => converge(['-i', inventory, ...args], { env: { PG_APP_PASSWORD: APP_PASSWORD, PG_REPL_PASSWORD: REPL_PASSWORD } })));
      outputs.push(...results);
      return results;
    } finally {
      for (const h of hosts) processLists.push((await fleet.exec(h, 'rm -f /run/ps-poll; cat /run/ps-capture')).stdout);
    }
  }
  const run1 = async (...args: string[]) => (await run(args))[0];

  const statuses = (json: any, host: string) => Object.fromEntries(Object.entries(resourcesOf(json, host)).map(([id, r]) => [id, r.status]));

  beforeAll(async () => {
    fleet = await startFleet([PRIMARY, REPLICA], { network: true });
    const states = join(fleet.dir, 'states');
    mkdirSync(join(states, 'postgres'), { recursive: true });
    writeFileSync(join(states, 'top.yaml'), 'roles:\n  pg_primary: [postgres/primary]\n  pg_replica: [postgres/replica]\n');
    writeFileSync(join(states, 'postgres/server.yaml'), SERVER_STATE);
    writeFileSync(join(states, 'postgres/primary.yaml'), PRIMARY_STATE);
    writeFileSync(join(states, 'postgres/replica.yaml'), REPLICA_STATE);
    inventory = join(fleet.dir, 'inventory.yaml');
    fleet.writeInventory(inventory, { states, roles: { pg_primary: [PRIMARY], pg_replica: [REPLICA] } });
    // Secrets come from the environment of the converge process only.
    appendFileSync(inventory, 'secrets:\n  app_password: { env: PG_APP_PASSWORD }\n  repl_password: { env: PG_REPL_PASSWORD }\n');
    // Host keys known up front (read out of band), so that two converge runs can go at once.
    writeFileSync(fleet.knownHostsFile, (await Promise.all([PRIMARY, REPLICA].map((h) => fleet.hostKeyLine(h)))).join('\n') + '\n');
  });

  afterAll(async () => {
    await fleet?.close();
  });

  it('installs PostgreSQL on both hosts and converges the primary: settings (with a restart), roles, database, pg_hba', async () => {
    // The replica only gets its package now (in parallel): it needs a converged primary to clone.
    const [res, server] = await run(['highstate', '-t', 'pg_primary', '--json'], ['apply', 'postgres/server', '-t', 'pg_replica', '--json']);
    expect(server.code, server.stderr + server.stdout).toBe(0);
    expect(res.code, res.stderr + res.stdout).toBe(0);
    const r = resourcesOf(res.json, PRIMARY);
    expect(Object.values(r).map((x) => x.status)).toEqual(Array(7).fill('changed'));
    expect(r.settings.changes.map((c: any) => c.path)).toEqual(['listen_addresses', 'max_wal_senders', 'work_mem', 'restart']);
    expect(r['app-role'].changes.find((c: any) => c.path === 'password')).toMatchObject({ sensitive: true, before: '(sensitive)', after: '(sensitive)' });

    expect((await fleet.exec(PRIMARY, psql('SHOW listen_addresses'))).stdout.trim()).toBe('*');
    expect((await fleet.exec(PRIMARY, psql("SELECT rolname, rolcanlogin, rolreplication, rolconnlimit FROM pg_roles WHERE rolname IN ('app', 'replicator') ORDER BY 1"))).stdout).toBe('app|t|f|20\nreplicator|t|t|-1\n');
    expect((await fleet.exec(PRIMARY, psql("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'appdb'"))).stdout.trim()).toBe('app');
    expect((await fleet.exec(PRIMARY, "grep -c '^host .*samenet .*scram-sha-256$' /etc/postgresql/15/main/pg_hba.conf")).stdout.trim()).toBe('2');
  }, SLOW);

  it('the password converge set is the one PostgreSQL checks at login (SCRAM over TCP, through the new pg_hba line)', async () => {
    const login = await fleet.exec(PRIMARY, `PGPASSWORD='${APP_PASSWORD}' psql -XAtq "host=${PRIMARY} user=app dbname=appdb" -c 'SELECT current_user'`);
    expect(login.stdout.trim(), login.stderr).toBe('app');
    const wrong = await fleet.exec(PRIMARY, `PGPASSWORD=nope psql -XAtq "host=${PRIMARY} user=app dbname=appdb" -c 'SELECT 1'`);
    expect(wrong.stderr).toMatch(/password authentication failed for user "app"/);
  });

  it('makes the other host a streaming replica that serves what the primary writes', async () => {
    const res = await run1('highstate', '-t', 'pg_replica', '--json');
    expect(res.code, res.stderr + res.stdout).toBe(0);
    expect(statuses(res.json, REPLICA)).toEqual({ postgresql: 'unchanged', standby: 'changed' });

    expect((await fleet.exec(REPLICA, psql('SELECT pg_is_in_recovery()'))).stdout.trim()).toBe('t');
    expect((await fleet.exec(REPLICA, psql('SELECT status, sender_host FROM pg_stat_wal_receiver'))).stdout.trim()).toBe(`streaming|${PRIMARY}`);
    const write = await fleet.exec(PRIMARY, `cd / && sudo -u postgres psql -XAtq -v ON_ERROR_STOP=1 -d appdb -c "CREATE TABLE t (v text); INSERT INTO t VALUES ('from the primary')"`);
    expect(write.code, write.stderr).toBe(0);
    let seen = '';
    for (let i = 0; i < 50 && seen !== 'from the primary'; i++) {
      seen = (await fleet.exec(REPLICA, `cd / && sudo -u postgres psql -XAtq -d appdb -c 'SELECT v FROM t'`)).stdout.trim();
      if (seen !== 'from the primary') await new Promise((r) => setTimeout(r, 200));
    }
    expect(seen).toBe('from the primary');
  }, SLOW);

  it('a second run changes nothing, and does not re-set the passwords', async () => {
    const verifiers = psql("SELECT rolname || ' ' || rolpassword FROM pg_authid WHERE rolname IN ('app', 'replicator') ORDER BY 1");
    const before = (await fleet.exec(PRIMARY, verifiers)).stdout;
    const res = await run1('highstate', '--json');
    expect(res.code, res.stderr + res.stdout).toBe(0);
    expect(Object.values(statuses(res.json, PRIMARY))).toEqual(Array(7).fill('unchanged'));
    expect(statuses(res.json, REPLICA)).toEqual({ postgresql: 'unchanged', standby: 'unchanged' });
    expect((await fleet.exec(PRIMARY, verifiers)).stdout).toBe(before);
  });

  it('--check reports a password changed by hand as exactly one sensitive change, and changes nothing', async () => {
    expect((await fleet.exec(PRIMARY, psql("ALTER ROLE app PASSWORD 'other'"))).code).toBe(0);
    const state = async () =>
      [
        await snapshot(fleet, PRIMARY),
        (await fleet.exec(PRIMARY, `cd / && sudo -u postgres psql -X -c '\\du'`)).stdout,
        (await fleet.exec(PRIMARY, psql("SELECT rolname, rolpassword FROM pg_authid ORDER BY 1"))).stdout,
        (await fleet.exec(PRIMARY, psql('SELECT name, setting FROM pg_settings ORDER BY 1'))).stdout,
        (await fleet.exec(PRIMARY, 'cat /var/lib/postgresql/15/main/postgresql.auto.conf')).stdout,
        await snapshot(fleet, REPLICA),
        (await fleet.exec(REPLICA, psql('SELECT status, sender_host FROM pg_stat_wal_receiver'))).stdout,
      ].join('\n====\n');
    const before = await state();

    const res = await run1('highstate', '--check', '--json');
    expect(res.code, res.stderr + res.stdout).toBe(2);
    const st = statuses(res.json, PRIMARY);
    expect(Object.entries(st).filter(([, s]) => s !== 'unchanged')).toEqual([['app-role', 'would-change']]);
    expect(resourcesOf(res.json, PRIMARY)['app-role'].changes).toEqual([{ path: 'password', action: 'update', before: '(sensitive)', after: '(sensitive)', sensitive: true }]);
    expect(statuses(res.json, REPLICA)).toEqual({ postgresql: 'unchanged', standby: 'unchanged' });

    const text = await run1('highstate', '--check');
    expect(text.code).toBe(2);
    expect(text.stdout).toMatch(/app-role \[pg_role:app\] would-change \(drift\): password\n\s+password: \(sensitive\) -> \(sensitive\) \(sensitive\)/);

    expect(await state()).toBe(before);
  });

  it('a run puts the password back (and only it)', async () => {
    const res = await run1('highstate', '--json');
    expect(res.code, res.stderr + res.stdout).toBe(0);
    expect(Object.entries(statuses(res.json, PRIMARY)).filter(([, s]) => s !== 'unchanged')).toEqual([['app-role', 'changed']]);
    const login = await fleet.exec(PRIMARY, `PGPASSWORD='${APP_PASSWORD}' psql -XAtq "host=${PRIMARY} user=app dbname=appdb" -c 'SELECT 1'`);
    expect(login.stdout.trim(), login.stderr).toBe('1');
  });

  it("the drift table's PostgreSQL rows: --check reports exactly each hand-made drift and changes nothing; apply repairs it; a further check is clean", async () => {
    const { timings } = await driftCheckRepair(fleet, tableRows, async (...args) => run1('highstate', '--json', ...args));
    console.log(`[postgres] drift table timings (ms): ${JSON.stringify(timings)}`);
    const login = await fleet.exec(PRIMARY, `PGPASSWORD='${APP_PASSWORD}' psql -XAtq "host=${PRIMARY} user=app dbname=appdb" -c 'SELECT 1'`);
    expect(login.stdout.trim(), login.stderr).toBe('1');
    expect((await fleet.exec(REPLICA, psql('SELECT status, sender_host FROM pg_stat_wal_receiver'))).stdout.trim()).toBe(`streaming|${PRIMARY}`);
  }, SLOW);

  it('no password or verifier ever showed in output, in a process list, or in the server log', async () => {
    const stored = (await fleet.exec(PRIMARY, psql("SELECT rolpassword FROM pg_authid WHERE rolname IN ('app', 'replicator')"))).stdout.trim().split('\n');
    expect(stored.every((v) => v.startsWith('SCRAM-SHA-256$4096:'))).toBe(true);
    expect(outputs.length).toBe(10);
    // Each capture holds what the host ran: converge's su/sh wrappers, psql, pg_basebackup on the replica.
    expect(processLists.join('\n')).toMatch(/pg_basebackup -h pg-primary -p 5432 -U replicator/);
    expect(processLists.join('\n')).toMatch(/^su -s \/bin\/sh -c sh -s postgres$/m);
    const logs = (await fleet.exec(PRIMARY, 'cat /var/log/postgresql/*.log')).stdout + (await fleet.exec(REPLICA, 'cat /var/log/postgresql/*.log')).stdout;
    const seen = [...outputs.flatMap((o) => [o.stdout, o.stderr]), ...processLists, logs].join('\n');
    for (const secret of [APP_PASSWORD, REPL_PASSWORD, ...stored]) expect(seen.includes(secret), `a secret leaked: ${secret.slice(0, 14)}...`).toBe(false);
    expect(seen).not.toMatch(/SCRAM-SHA-256\$/);
  });
});
