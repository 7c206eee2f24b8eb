import { describe, expect, it } from 'vitest';
import { factFixture, readFixture } from '../../test/support/fixtures.js';
import { planCtx } from '../../test/unit/fixtures.js';
import { recorder } from '../../test/unit/apply-recorder.js';
import { parsePsqlFact } from './lib/pg-common.js';
import { pgDatabase, type DatabaseFact } from './pg-database.js';

/** The database each fixture was captured for. */
const CAPTURED: Record<string, string> = { appdb: 'appdb', latin: 'latin', missing: 'nodb' };
const facts = (name: string) => ({ database: factFixture(pgDatabase.facts({ name: CAPTURED[name] }, planCtx()).database, 'pg_database', name) });

describe('pg_database plan', () => {
  it('reads fixtures captured with the current fact script', () => {
    expect(readFixture('pg_database', 'appdb').command).toBe(pgDatabase.facts({ name: 'appdb' }, planCtx()).database.script);
  });
  it('creates a missing database with what the spec fixes', () => {
    expect(pgDatabase.plan({ name: 'nodb', owner: 'app', encoding: 'UTF8', locale: 'C.UTF-8' }, facts('missing'), planCtx())).toEqual([
      { path: 'database', action: 'create', after: 'nodb' },
      { path: 'owner', action: 'create', after: 'app' },
      { path: 'encoding', action: 'create', after: 'UTF8' },
      { path: 'lc_collate', action: 'create', after: 'C.UTF-8' },
      { path: 'lc_ctype', action: 'create', after: 'C.UTF-8' },
    ]);
  });
  it('is empty when the owner matches and encoding/locale match as PostgreSQL and glibc compare them', () => {
    expect(pgDatabase.plan({ name: 'appdb', owner: 'app', encoding: 'utf-8', locale: 'C.utf8' }, facts('appdb'), planCtx())).toEqual([]);
  });
  it('changes the owner', () => {
    expect(pgDatabase.plan({ name: 'appdb', owner: 'postgres' }, facts('appdb'), planCtx())).toEqual([{ path: 'owner', action: 'update', before: 'app', after: 'postgres' }]);
  });
  it('refuses to "change" the encoding or locale of an existing database', () => {
    expect(() => pgDatabase.plan({ name: 'latin', encoding: 'UTF8' }, facts('latin'), planCtx())).toThrow(/exists with encoding LATIN1 \(wanted UTF8\), which cannot be changed after creation/);
    expect(() => pgDatabase.plan({ name: 'latin', lc_ctype: 'C.UTF-8' }, facts('latin'), planCtx())).toThrow(/lc_ctype C \(wanted C.UTF-8\)/);
  });
  it('drops a database that should be absent', () => {
    expect(pgDatabase.plan({ name: 'appdb', ensure: 'absent' }, facts('appdb'), planCtx())).toEqual([{ path: 'database', action: 'delete', before: 'appdb' }]);
    expect(pgDatabase.plan({ name: 'nodb', ensure: 'absent' }, facts('missing'), planCtx())).toEqual([]);
  });
  it('comes after its owner role', () => {
    expect(pgDatabase.implicitAfter!({ name: 'appdb', owner: 'app' })).toContain('pg_role:app');
  });
});

describe('pg_database apply', () => {
  const run = async (spec: Parameters<typeof pgDatabase.plan>[0], fact: string) => {
    const { ctx, commands } = recorder();
    await pgDatabase.apply(spec, pgDatabase.plan(spec, facts(fact), planCtx()), facts(fact), ctx);
    return commands.map((c) => c.stdin);
  };
  it('creates from template0 when encoding or locale is given', async () => {
    expect(await run({ name: 'nodb', owner: 'app', encoding: 'UTF8', locale: 'C.UTF-8' }, 'missing')).toEqual([
      `CREATE DATABASE "nodb" WITH OWNER "app" TEMPLATE "template0" ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8';\n`,
    ]);
    expect(await run({ name: 'nodb' }, 'missing')).toEqual([`CREATE DATABASE "nodb";\n`]);
  });
  it('changes the owner with ALTER DATABASE', async () => {
    expect(await run({ name: 'appdb', owner: 'postgres' }, 'appdb')).toEqual([`ALTER DATABASE "appdb" OWNER TO "postgres";\n`]);
  });
});
