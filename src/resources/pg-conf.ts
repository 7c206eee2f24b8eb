// pg_conf: server settings through ALTER SYSTEM (postgresql.auto.conf, read
// after postgresql.conf), compared with the RUNNING value in pg_settings as
// PostgreSQL itself reads units (pg-settings.ts). Applying reloads the
// configuration, or restarts the service when a changed setting has context
// postmaster (only then, once for all). The plan says which, so check mode
// reports a restart before it happens.

import { HostError } from '../core/diagnostics.js';
import type { Change, ResourceType } from '../core/resource.js';
import type { PgConfSpec } from '../generated/index.js';
import { PG_AFTER, PG_USER, RELOAD_AND_WAIT, parsePsqlFact, psqlFactScript, runSql, serverData, serviceAndWaitScript, sqlLiteral, type PgFact } from './lib/pg-common.js';
import { settingMatches, valueText, type PgSetting } from './lib/pg-settings.js';

export interface ConfFact {
  /** By lower-case name; settings PostgreSQL does not know are absent. */
  settings: Record<string, PgSetting>;
}

/** Sources that outrank postgresql.auto.conf: ALTER SYSTEM cannot change what a session sees there. */
const OVERRIDING_SOURCES = new Set(['command line', 'environment variable', 'override', 'database', 'user', 'database user']);

const service = (spec: PgConfSpec) => spec.service ?? 'postgresql';
const names = (spec: PgConfSpec) => Object.keys(spec.settings).map((n) => n.toLowerCase()).sort();

export const confFactSql = (lowerNames: string[]): string =>
  `SELECT json_build_object('settings', (SELECT coalesce(json_object_agg(lower(name), json_build_object('setting', setting, 'unit', unit, 'vartype', vartype, 'context', context, 'source', source, 'enumvals', enumvals, 'display', current_setting(name))), '{}') FROM pg_settings WHERE lower(name) IN (${lowerNames.map(sqlLiteral).join(', ')})))`;

function settingChange(name: string, s: PgSetting | undefined, want: PgConfSpec['settings'][string]): Change | undefined {
  if (!s) {
    throw new HostError(
      `PostgreSQL has no setting ${name}`,
      name.includes('.') ? 'an extension setting exists once the extension is loaded (shared_preload_libraries, then a restart)' : 'check the name against SELECT name FROM pg_settings',
    );
  }
  if (s.context === 'internal') throw new HostError(`${name} is fixed when PostgreSQL is built or initdb runs; it cannot be set`);
  if (OVERRIDING_SOURCES.has(s.source)) {
    throw new HostError(`${name} is set by ${s.source}, which overrides ALTER SYSTEM`, 'remove that setting first (server command line, ALTER ROLE/DATABASE ... RESET)');
  }
  let same: boolean;
  try {
    same = settingMatches(name, s, want);
  } catch (e) {
    throw new HostError((e as Error).message, 'write the value as postgresql.conf would take it');
  }
  return same ? undefined : { path: name, action: 'update', before: s.display, after: valueText(want) };
}

/** The reload or restart the changed settings need. */
function activation(spec: PgConfSpec, changed: string[], settings: Record<string, PgSetting>): Change {
  const restart = changed.filter((n) => settings[n.toLowerCase()].context === 'postmaster');
  return restart.length
    ? { path: 'restart', action: 'run', after: `systemctl restart ${service(spec)} (${restart.join(', ')} only take effect at server start)` }
    : { path: 'reload', action: 'run', after: 'SELECT pg_reload_conf()' };
}

/** ALTER SYSTEM takes a list setting as one literal per element. The schema allows only identifier[.identifier] names, so they go in unquoted. */
const alterSystem = (name: string, v: PgConfSpec['settings'][string]) =>
  `ALTER SYSTEM SET ${name} = ${Array.isArray(v) ? (v.length ? v.map(sqlLiteral).join(', ') : "''") : sqlLiteral(valueText(v))};`;

export const pgConf: ResourceType<PgConfSpec, { conf: PgFact<ConfFact> }> = {
  kind: 'pg_conf',
  id: (spec) => `pg_conf:${names(spec).join(',')}`,
  implicitAfter: () => PG_AFTER,

  facts: (spec) => ({ conf: { key: `pg_conf:${names(spec).join(',')}`, runAs: PG_USER, script: psqlFactScript(confFactSql(names(spec))), parse: parsePsqlFact<ConfFact> } }),

  plan(spec, facts) {
    const { settings } = serverData(facts.conf);
    const changes = Object.entries(spec.settings).flatMap(([name, want]) => settingChange(name, settings[name.toLowerCase()], want) ?? []);
    return changes.length ? [...changes, activation(spec, changes.map((c) => c.path), settings)] : [];
  },

  async apply(spec, changes, _facts, ctx) {
    const set = changes.filter((c) => c.action === 'update').map((c) => alterSystem(c.path, spec.settings[c.path]));
    // psql autocommits each statement: ALTER SYSTEM cannot run in a transaction block.
    await runSql(ctx, set.join('\n') + '\n', 'ALTER SYSTEM');
    if (changes.some((c) => c.path === 'restart')) {
      await ctx.run({ script: serviceAndWaitScript('restart', service(spec)) }, `restarting ${service(spec)}`);
    } else {
      await ctx.run({ script: `set -e\ncd /\n${RELOAD_AND_WAIT}`, runAs: PG_USER }, 'reloading the PostgreSQL configuration');
    }
  },
};
