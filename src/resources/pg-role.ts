// pg_role: a PostgreSQL role, its attributes and its password. The password
// never leaves the controller in clear: apply sends a SCRAM-SHA-256 verifier
// (fresh random salt) on psql's stdin; the fact reads only the stored
// verifier's salt, iteration count and a SHA-256 of it, and plan recomputes
// the verifier from the desired password with that salt to compare exactly.

import type { Change, ResourceType } from '../core/resource.js';
import type { PgRoleSpec } from '../generated/index.js';
import { PG_AFTER, PG_USER, parsePsqlFact, psqlFactScript, runSql, serverData, sqlIdent, sqlLiteral, type PgFact } from './lib/pg-common.js';
import { assertAsciiPassword, newScramVerifier, passwordMatches, type StoredPassword } from './lib/pg-scram.js';

export interface RoleAttributes {
  login: boolean;
  superuser: boolean;
  createdb: boolean;
  createrole: boolean;
  replication: boolean;
  connection_limit: number;
  /** null: the role has no password. */
  password: StoredPassword | null;
}

export interface RoleFact {
  role: RoleAttributes | null;
}

/** The boolean attributes: spec field -> [pg_authid column, SQL keyword]. */
const FLAGS = {
  login: ['rolcanlogin', 'LOGIN'],
  superuser: ['rolsuper', 'SUPERUSER'],
  createdb: ['rolcreatedb', 'CREATEDB'],
  createrole: ['rolcreaterole', 'CREATEROLE'],
  replication: ['rolreplication', 'REPLICATION'],
} as const;
type Flag = keyof typeof FLAGS;

/** SQL that reads one role as JSON (null when missing); the verifier itself is only hashed. */
export function roleFactSql(name: string): string {
  const scram = `'^SCRAM-SHA-256\\$([0-9]+):([^$]*)\\$[^:]+:.+$'`;
  const flags = Object.entries(FLAGS).map(([field, [col]]) => `'${field}', ${col}`);
  return `SELECT json_build_object('role', (SELECT json_build_object(${flags.join(', ')}, 'connection_limit', rolconnlimit, 'password', CASE
  WHEN rolpassword IS NULL THEN NULL
  WHEN rolpassword ~ ${scram} THEN json_build_object('scheme', 'scram-sha-256', 'iterations', (regexp_match(rolpassword, ${scram}))[1]::int, 'salt', (regexp_match(rolpassword, ${scram}))[2], 'sha256', encode(sha256(convert_to(rolpassword, 'UTF8')), 'hex'))
  WHEN rolpassword LIKE 'md5%' THEN json_build_object('scheme', 'md5')
  ELSE json_build_object('scheme', 'other') END)
FROM pg_authid WHERE rolname = ${sqlLiteral(name)}))`;
}

const specFlags = (spec: PgRoleSpec): Flag[] => (Object.keys(FLAGS) as Flag[]).filter((f) => spec[f] !== undefined);

function passwordChange(spec: PgRoleSpec, role: RoleAttributes | null): Change | undefined {
  if (spec.password === undefined) return undefined;
  assertAsciiPassword(spec.password, spec.name);
  if (!role) return { path: 'password', action: 'create', after: 'scram-sha-256', sensitive: true };
  if (role.password === null) return { path: 'password', action: 'create', before: 'none', after: 'scram-sha-256', sensitive: true };
  if (passwordMatches(spec.password, role.password)) return undefined;
  return { path: 'password', action: 'update', before: role.password.scheme, after: 'scram-sha-256', sensitive: true };
}

/** The ROLE options of a CREATE/ALTER ROLE for the changes (the password as a fresh verifier). */
function roleOptions(spec: PgRoleSpec, changes: Change[], verifier: string | undefined): string {
  const opts: string[] = [];
  for (const c of changes) {
    if (c.path in FLAGS) opts.push(`${spec[c.path as Flag] ? '' : 'NO'}${FLAGS[c.path as Flag][1]}`);
    else if (c.path === 'connection_limit') opts.push(`CONNECTION LIMIT ${spec.connection_limit}`);
    else if (c.path === 'password') opts.push(`PASSWORD ${sqlLiteral(verifier!)}`);
  }
  return opts.join(' ');
}

export const pgRole: ResourceType<PgRoleSpec, { role: PgFact<RoleFact> }> = {
  kind: 'pg_role',
  id: (spec) => `pg_role:${spec.name}`,
  implicitAfter: () => PG_AFTER,

  facts: (spec) => ({ role: { key: `pg_role:${spec.name}`, runAs: PG_USER, script: psqlFactScript(roleFactSql(spec.name)), parse: parsePsqlFact<RoleFact> } }),

  plan(spec, facts) {
    const { role } = serverData(facts.role);
    if (spec.ensure === 'absent') return role ? [{ path: 'role', action: 'delete', before: spec.name }] : [];
    const action = role ? 'update' : 'create';
    const changes: Change[] = role ? [] : [{ path: 'role', action: 'create', after: spec.name }];
    for (const f of specFlags(spec)) {
      if (!role || role[f] !== spec[f]) changes.push({ path: f, action, before: role?.[f], after: spec[f] });
    }
    if (spec.connection_limit !== undefined && (!role || role.connection_limit !== spec.connection_limit)) {
      changes.push({ path: 'connection_limit', action, before: role?.connection_limit, after: spec.connection_limit });
    }
    const pw = passwordChange(spec, role);
    if (pw) changes.push(pw);
    return changes;
  },

  async apply(spec, changes, _facts, ctx) {
    const name = sqlIdent(spec.name);
    if (spec.ensure === 'absent') {
      await runSql(ctx, `DROP ROLE ${name};\n`, `dropping role ${spec.name}`);
      return;
    }
    // The salt is random, so the verifier is made here and never in plan (which stays pure).
    const verifier = changes.some((c) => c.path === 'password') ? newScramVerifier(spec.password!) : undefined;
    const verb = changes.some((c) => c.path === 'role') ? 'CREATE' : 'ALTER';
    const opts = roleOptions(spec, changes, verifier);
    await runSql(ctx, `${verb} ROLE ${name}${opts ? ` WITH ${opts}` : ''};\n`, `${verb === 'CREATE' ? 'creating' : 'altering'} role ${spec.name}`, verifier);
  },
};
