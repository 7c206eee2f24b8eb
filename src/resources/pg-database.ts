// pg_database: a database with its owner. Encoding and locale can only be
// chosen at CREATE DATABASE, so a mismatch on an existing database is a plan
// error that says so, never a drop and re-create.

import { HostError } from '../core/diagnostics.js';
import type { Change, ResourceType } from '../core/resource.js';
import type { PgDatabaseSpec } from '../generated/index.js';
import { PG_AFTER, PG_USER, parsePsqlFact, psqlFactScript, runSql, serverData, sqlIdent, sqlLiteral, type PgFact } from './lib/pg-common.js';

export interface DatabaseFact {
  database: { owner: string; encoding: string; lc_collate: string; lc_ctype: string } | null;
}

export const databaseFactSql = (name: string): string =>
  `SELECT json_build_object('database', (SELECT json_build_object('owner', pg_get_userbyid(datdba), 'encoding', pg_encoding_to_char(encoding), 'lc_collate', datcollate, 'lc_ctype', datctype) FROM pg_database WHERE datname = ${sqlLiteral(name)}))`;

/** PostgreSQL matches encoding names ignoring case and punctuation (UTF-8 = utf8 = UTF8). */
const normEncoding = (e: string) => e.toUpperCase().replace(/[^A-Z0-9]/g, '');
/** glibc treats the codeset part the same way (en_US.UTF-8 = en_US.utf8). */
const normLocale = (l: string) => {
  const i = l.indexOf('.');
  return i < 0 ? l : l.slice(0, i + 1) + l.slice(i + 1).toLowerCase().replace(/[^a-z0-9@]/g, '');
};

/** The fixed properties the spec asks for: [field, wanted, normalizer]. */
function fixedProperties(spec: PgDatabaseSpec): [keyof NonNullable<DatabaseFact['database']>, string, (s: string) => string][] {
  const out: [keyof NonNullable<DatabaseFact['database']>, string, (s: string) => string][] = [];
  if (spec.encoding !== undefined) out.push(['encoding', spec.encoding, normEncoding]);
  const collate = spec.lc_collate ?? spec.locale;
  const ctype = spec.lc_ctype ?? spec.locale;
  if (collate !== undefined) out.push(['lc_collate', collate, normLocale]);
  if (ctype !== undefined) out.push(['lc_ctype', ctype, normLocale]);
  return out;
}

export const pgDatabase: ResourceType<PgDatabaseSpec, { database: PgFact<DatabaseFact> }> = {
  kind: 'pg_database',
  id: (spec) => `pg_database:${spec.name}`,
  implicitAfter: (spec) => [...PG_AFTER, ...(spec.owner ? [`pg_role:${spec.owner}`] : [])],

  facts: (spec) => ({ database: { key: `pg_database:${spec.name}`, runAs: PG_USER, script: psqlFactScript(databaseFactSql(spec.name)), parse: parsePsqlFact<DatabaseFact> } }),

  plan(spec, facts) {
    const { database: db } = serverData(facts.database);
    if (spec.ensure === 'absent') return db ? [{ path: 'database', action: 'delete', before: spec.name }] : [];
    if (!db) {
      const props = fixedProperties(spec).map(([path, after]): Change => ({ path, action: 'create', after }));
      return [{ path: 'database', action: 'create', after: spec.name }, ...(spec.owner ? [{ path: 'owner', action: 'create' as const, after: spec.owner }] : []), ...props];
    }
    const wrong = fixedProperties(spec).filter(([field, want, norm]) => norm(db[field]) !== norm(want));
    if (wrong.length) {
      throw new HostError(
        `database ${spec.name} exists with ${wrong.map(([f, want]) => `${f} ${db[f]} (wanted ${want})`).join(', ')}, which cannot be changed after creation`,
        'dump, drop and re-create the database with the wanted encoding/locale by hand, or change the spec to match',
      );
    }
    return spec.owner !== undefined && db.owner !== spec.owner ? [{ path: 'owner', action: 'update', before: db.owner, after: spec.owner }] : [];
  },

  async apply(spec, changes, _facts, ctx) {
    const name = sqlIdent(spec.name);
    if (spec.ensure === 'absent') {
      await runSql(ctx, `DROP DATABASE ${name};\n`, `dropping database ${spec.name}`);
      return;
    }
    if (changes.some((c) => c.path === 'database')) {
      const fixed = fixedProperties(spec);
      const template = spec.template ?? (fixed.length ? 'template0' : undefined);
      const opts = [
        spec.owner !== undefined ? `OWNER ${sqlIdent(spec.owner)}` : '',
        template !== undefined ? `TEMPLATE ${sqlIdent(template)}` : '',
        ...fixed.map(([field, want]) => `${field.toUpperCase()} ${sqlLiteral(want)}`),
      ].filter(Boolean);
      // psql runs each statement on its own (autocommit): CREATE DATABASE cannot run in a transaction block.
      await runSql(ctx, `CREATE DATABASE ${name}${opts.length ? ` WITH ${opts.join(' ')}` : ''};\n`, `creating database ${spec.name}`);
      return;
    }
    await runSql(ctx, `ALTER DATABASE ${name} OWNER TO ${sqlIdent(spec.owner!)};\n`, `changing the owner of database ${spec.name}`);
  },
};
