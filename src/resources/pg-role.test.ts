import { describe, expect, it } from 'vitest';
import { factFixture, readFixture } from '../../test/support/fixtures.js';
import { planCtx } from '../../test/unit/fixtures.js';
import { recorder } from '../../test/unit/apply-recorder.js';
import { parsePsqlFact, serverData } from './lib/pg-common.js';
import { assertAsciiPassword, passwordMatches, scramVerifier } from './lib/pg-scram.js';
import { pgRole, type RoleFact } from './pg-role.js';

/** The role each fixture was captured for. */
const CAPTURED: Record<string, string> = { app_scram: 'app', legacy_md5: 'legacy', missing: 'app2', no_password: 'nopw', no_psql: 'app', odd_name: 'we|ird "role"', server_down: 'app' };
const facts = (name: string) => ({ role: factFixture(pgRole.facts({ name: CAPTURED[name] }, planCtx()).role, 'pg_role', name) });

describe('SCRAM-SHA-256 verifiers', () => {
  const vectors = readFixture('pg_role', 'scram_vectors') as { output: string; passwords?: Record<string, string> };
  const rows = vectors.output.trim().split('\n').map((l) => l.split('|') as [string, string]);

  it('reproduce what PostgreSQL 15 stored, from its salt and iterations', () => {
    expect(rows).toHaveLength(3);
    for (const [role, stored] of rows) {
      const [, iterations, salt] = /^SCRAM-SHA-256\$(\d+):([^$]+)\$/.exec(stored)!;
      expect(scramVerifier(vectors.passwords![role], salt, Number(iterations))).toBe(stored);
    }
  });
  it('are refused for non-ASCII passwords, without quoting them', () => {
    expect(() => assertAsciiPassword('pässwörd', 'app')).toThrow(/role app contains non-ASCII/);
    expect(() => assertAsciiPassword('pässwörd', 'app')).not.toThrow(/pässwörd/);
    expect(() => assertAsciiPassword('p@ss w0rd!~\'"\\', 'app')).not.toThrow();
  });
});

describe('pg_role facts', () => {
  it('come from fixtures captured with the current fact script', () => {
    expect(readFixture('pg_role', 'app_scram').command).toBe(pgRole.facts({ name: 'app' }, planCtx()).role.script);
  });
  it('read attributes and only the salt, iterations and a hash of the stored verifier', () => {
    const { role } = serverData(facts('app_scram').role) as RoleFact;
    expect(role).toMatchObject({ login: true, superuser: false, replication: false, connection_limit: 10 });
    expect(role!.password).toMatchObject({ scheme: 'scram-sha-256', iterations: 4096 });
    expect(JSON.stringify(role)).not.toMatch(/SCRAM-SHA-256\$/);
    expect(passwordMatches('app-secret-1', role!.password!)).toBe(true);
    expect(passwordMatches('app-secret-2', role!.password!)).toBe(false);
  });
  it('tell md5, no password and a missing role apart', () => {
    expect((serverData(facts('legacy_md5').role) as RoleFact).role!.password).toEqual({ scheme: 'md5' });
    expect((serverData(facts('no_password').role) as RoleFact).role!.password).toBeNull();
    expect((serverData(facts('missing').role) as RoleFact).role).toBeNull();
  });
  it('quote any role name into the query', () => {
    expect((serverData(facts('odd_name').role) as RoleFact).role).toMatchObject({ login: true, replication: true });
    expect(readFixture('pg_role', 'odd_name').command).toContain(`rolname = '\\''we|ird "role"'\\''`);
  });
  it('say why PostgreSQL could not be asked', () => {
    expect(() => pgRole.plan({ name: 'app' }, facts('server_down'), planCtx())).toThrow(/not running/);
    expect(() => pgRole.plan({ name: 'app' }, facts('no_psql'), planCtx())).toThrow(/psql is not installed/);
  });
});

describe('pg_role plan', () => {
  it('creates a missing role with its attributes and a sensitive password', () => {
    const changes = pgRole.plan({ name: 'app2', login: true, createdb: true, connection_limit: 5, password: 'pw-123' }, facts('missing'), planCtx());
    expect(changes.map((c) => [c.path, c.action, c.after, c.sensitive])).toEqual([
      ['role', 'create', 'app2', undefined],
      ['login', 'create', true, undefined],
      ['createdb', 'create', true, undefined],
      ['connection_limit', 'create', 5, undefined],
      ['password', 'create', 'scram-sha-256', true],
    ]);
  });
  it('is empty when attributes and the password match', () => {
    expect(pgRole.plan({ name: 'app', login: true, superuser: false, connection_limit: 10, password: 'app-secret-1' }, facts('app_scram'), planCtx())).toEqual([]);
  });
  it('changes only the flags that differ', () => {
    expect(pgRole.plan({ name: 'app', login: false, replication: true, createrole: false }, facts('app_scram'), planCtx())).toEqual([
      { path: 'login', action: 'update', before: true, after: false },
      { path: 'replication', action: 'update', before: false, after: true },
    ]);
  });
  it('reports a different password as one sensitive change, naming no value', () => {
    const changes = pgRole.plan({ name: 'app', password: 'something-else' }, facts('app_scram'), planCtx());
    expect(changes).toEqual([{ path: 'password', action: 'update', before: 'scram-sha-256', after: 'scram-sha-256', sensitive: true }]);
  });
  it('leaves the password alone when the spec has none', () => {
    expect(pgRole.plan({ name: 'app' }, facts('app_scram'), planCtx())).toEqual([]);
    expect(pgRole.plan({ name: 'nopw', login: true }, facts('no_password'), planCtx())).toEqual([]);
  });
  it('sets a password on a role without one, and replaces an md5 one', () => {
    expect(pgRole.plan({ name: 'nopw', password: 'x-123' }, facts('no_password'), planCtx())).toEqual([{ path: 'password', action: 'create', before: 'none', after: 'scram-sha-256', sensitive: true }]);
    expect(pgRole.plan({ name: 'legacy', password: 'old-md5-pw' }, facts('legacy_md5'), planCtx())).toEqual([{ path: 'password', action: 'update', before: 'md5', after: 'scram-sha-256', sensitive: true }]);
  });
  it('drops a role that should be absent', () => {
    expect(pgRole.plan({ name: 'app', ensure: 'absent' }, facts('app_scram'), planCtx())).toEqual([{ path: 'role', action: 'delete', before: 'app' }]);
    expect(pgRole.plan({ name: 'app2', ensure: 'absent' }, facts('missing'), planCtx())).toEqual([]);
  });
});

describe('pg_role apply', () => {
  it('sends a fresh verifier on stdin: never the password, never in the script', async () => {
    const spec = { name: 'app', login: true, password: 'canary-Pw-93x' };
    const changes = pgRole.plan(spec, facts('missing'), planCtx());
    const { ctx, commands } = recorder();
    await pgRole.apply(spec, changes, facts('missing'), ctx);
    expect(commands).toHaveLength(1);
    const [cmd] = commands;
    expect(cmd.runAs).toBe('postgres');
    expect(cmd.script).not.toMatch(/SCRAM|canary|ROLE/);
    const sql = String(cmd.stdin);
    expect(sql).not.toContain('canary');
    const [, verifier] = /PASSWORD '(SCRAM-SHA-256\$[^']+)'/.exec(sql)!;
    expect(sql).toMatch(/^CREATE ROLE "app" WITH LOGIN PASSWORD '/);
    const [, iter, salt] = /^SCRAM-SHA-256\$(\d+):([^$]+)\$/.exec(verifier)!;
    expect(scramVerifier('canary-Pw-93x', salt, Number(iter))).toBe(verifier);
    // The session keeps the statement out of the server log and pg_stat_statements.
    expect(cmd.script).toContain('log_statement=none');
  });
  it('cuts the verifier out of an error that quotes the statement', async () => {
    const spec = { name: 'app', password: 'canary-Pw-93x' };
    const { ctx } = recorder((cmd) => ({ code: 3, stdout: '', stderr: `ERROR: something about ${cmd.stdin}` }));
    const err = await pgRole.apply(spec, pgRole.plan(spec, facts('app_scram'), planCtx()), facts('app_scram'), ctx).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/altering role app failed \(psql exit 3\): ERROR: something about ALTER ROLE "app" WITH PASSWORD '\(sensitive\)';$/);
    expect((err as Error).message).not.toContain('SCRAM');
  });
  it('alters only what changed', async () => {
    const spec = { name: 'app', login: false, connection_limit: 3 };
    const { ctx, commands } = recorder();
    await pgRole.apply(spec, pgRole.plan(spec, facts('app_scram'), planCtx()), facts('app_scram'), ctx);
    expect(commands[0].stdin).toBe('ALTER ROLE "app" WITH NOLOGIN CONNECTION LIMIT 3;\n');
  });
});
