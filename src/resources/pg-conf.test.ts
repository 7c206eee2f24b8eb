import { describe, expect, it } from 'vitest';
import { factFixture, readFixture } from '../../test/support/fixtures.js';
import { planCtx } from '../../test/unit/fixtures.js';
import { recorder } from '../../test/unit/apply-recorder.js';
import { parsePsqlFact, serverData } from './lib/pg-common.js';
import { parseBool, rint, settingMatches, splitList, type PgSetting } from './lib/pg-settings.js';
import { pgConf, type ConfFact } from './pg-conf.js';

/** The settings each fixture's query asked for (its spec): the query the code sends for them now must be the one captured. */
const CAPTURED: Record<string, string[]> = {
  defaults: ['block_size', 'checkpoint_timeout', 'DateStyle', 'hot_standby', 'listen_addresses', 'log_min_duration_statement', 'max_wal_senders', 'no_such_setting', 'random_page_cost', 'search_path', 'shared_buffers', 'shared_preload_libraries', 'synchronous_commit', 'vacuum_cost_delay', 'wal_level', 'work_mem'],
  altered: ['work_mem', 'wal_level', 'shared_preload_libraries', 'search_path', 'statement_timeout'],
};
const facts = (name: string) => ({ conf: factFixture(pgConf.facts({ settings: Object.fromEntries(CAPTURED[name].map((n) => [n, ''])) }, planCtx()).conf, 'pg_conf', name) });
const settings = (name: string) => (serverData(facts(name).conf) as ConfFact).settings;

describe('setting values as PostgreSQL reads them', () => {
  const s = settings('defaults');
  it('convert memory units to the base unit (shared_buffers is 16384 x 8kB)', () => {
    for (const v of ['128MB', '131072kB', '134217728B', '0.125GB', '16384', '128 MB', 16384]) expect(settingMatches('shared_buffers', s.shared_buffers, v)).toBe(true);
    expect(settingMatches('shared_buffers', s.shared_buffers, '256MB')).toBe(false);
    expect(settingMatches('work_mem', s.work_mem, '4MB')).toBe(true);
  });
  it('round a fraction to the next smaller unit, then half to even', () => {
    // 1.00001GB is 131073.3 blocks of 8kB, but PostgreSQL first rounds to whole MB (1024), so it is 131072.
    expect(settingMatches('shared_buffers', { ...s.shared_buffers, setting: '131072' }, '1.00001GB')).toBe(true);
    expect(settingMatches('shared_buffers', { ...s.shared_buffers, setting: '131073' }, '1.00001GB')).toBe(false);
    expect(rint(2.5)).toBe(2);
    expect(rint(3.5)).toBe(4);
    expect(rint(-2.5)).toBe(-2);
  });
  it('convert time units (checkpoint_timeout is in s) and keep -1', () => {
    for (const v of ['5min', '300s', '300000ms', '300', 300]) expect(settingMatches('checkpoint_timeout', s.checkpoint_timeout, v)).toBe(true);
    expect(settingMatches('checkpoint_timeout', s.checkpoint_timeout, '1h')).toBe(false);
    expect(settingMatches('log_min_duration_statement', s.log_min_duration_statement, -1)).toBe(true);
  });
  it('reject units PostgreSQL rejects (they are case-sensitive), and units on unitless settings', () => {
    expect(() => settingMatches('shared_buffers', s.shared_buffers, '128mb')).toThrow(/shared_buffers = "128mb": not a number with a valid unit \(TB, GB, MB, kB, B; case-sensitive\)/);
    expect(() => settingMatches('max_wal_senders', s.max_wal_senders, '10MB')).toThrow(/not a number/);
  });
  it('read integers as strtol does (hex, octal)', () => {
    expect(settingMatches('max_wal_senders', s.max_wal_senders, '0xa')).toBe(true);
    expect(settingMatches('max_wal_senders', s.max_wal_senders, '012')).toBe(true);
  });
  it('compare reals as shown (%g), with units', () => {
    expect(settingMatches('random_page_cost', s.random_page_cost, 4)).toBe(true);
    expect(settingMatches('random_page_cost', s.random_page_cost, '4.0')).toBe(true);
    expect(settingMatches('random_page_cost', s.random_page_cost, 1.1)).toBe(false);
    expect(settingMatches('vacuum_cost_delay', s.vacuum_cost_delay, '0ms')).toBe(true);
  });
  it('read booleans like parse_bool', () => {
    for (const v of [true, 'on', 'true', 'yes', 'y', 'TRUE', '1']) expect(settingMatches('hot_standby', s.hot_standby, v)).toBe(true);
    for (const v of ['off', 'of', 'f', 'no', '0', false]) expect(settingMatches('hot_standby', s.hot_standby, v)).toBe(false);
    expect(parseBool('o')).toBeUndefined();
    expect(() => settingMatches('hot_standby', s.hot_standby, 'maybe')).toThrow(/not a boolean/);
  });
  it('check enums against enumvals, ignoring case', () => {
    expect(settingMatches('wal_level', s.wal_level, 'REPLICA')).toBe(true);
    expect(settingMatches('wal_level', s.wal_level, 'logical')).toBe(false);
    expect(() => settingMatches('wal_level', s.wal_level, 'hot_standby')).toThrow(/must be one of minimal, replica, logical/);
  });
  it('compare strings exactly and lists element by element', () => {
    expect(settingMatches('listen_addresses', s.listen_addresses, 'localhost')).toBe(true);
    expect(settingMatches('listen_addresses', s.listen_addresses, '*')).toBe(false);
    expect(settingMatches('search_path', s.search_path, ['$user', 'public'])).toBe(true);
    expect(settingMatches('shared_preload_libraries', s.shared_preload_libraries, [])).toBe(true);
    expect(splitList('app, "$user", "a ""q"", b", public')).toEqual(['app', '$user', 'a "q", b', 'public']);
    expect(() => settingMatches('work_mem', s.work_mem as PgSetting, ['4MB'])).toThrow(/only valid for list settings/);
  });
});

describe('setting values, checked against PostgreSQL 15', () => {
  // What the server itself stored after SET name = 'value', for awkward values.
  const rows = readFixture('pg_conf', 'set_conversions').output.trim().split('\n').map((l) => JSON.parse(l) as PgSetting & { name: string; value: string });
  it.each(rows.map((r) => [r.name, r.value, r.setting, r] as const))('%s = %j is %s', (name, value, _setting, row) => {
    expect(settingMatches(name, row, value)).toBe(true);
    if (row.vartype === 'integer') expect(settingMatches(name, { ...row, setting: String(Number(row.setting) + 1) }, value)).toBe(false);
  });
});

describe('pg_conf plan', () => {
  it('reads fixtures captured with the current fact script', () => {
    const captured = { settings: { work_mem: '16MB', wal_level: 'logical', shared_preload_libraries: ['pg_stat_statements', 'auto_explain'], search_path: ['app', '$user', 'public'], statement_timeout: '5s' } };
    expect(readFixture('pg_conf', 'altered').command).toBe(pgConf.facts(captured, planCtx()).conf.script);
  });
  it('is empty when every running value matches', () => {
    expect(pgConf.plan({ settings: { shared_buffers: '128MB', wal_level: 'replica', max_wal_senders: 10, hot_standby: 'on', DateStyle: 'ISO, MDY' } }, facts('defaults'), planCtx())).toEqual([]);
  });
  it('reloads for settings that take a reload', () => {
    expect(pgConf.plan({ settings: { work_mem: '16MB', checkpoint_timeout: '5min' } }, facts('defaults'), planCtx())).toEqual([
      { path: 'work_mem', action: 'update', before: '4MB', after: '16MB' },
      { path: 'reload', action: 'run', after: 'SELECT pg_reload_conf()' },
    ]);
  });
  it('restarts, once, when any changed setting only takes effect at server start', () => {
    expect(pgConf.plan({ settings: { work_mem: '16MB', wal_level: 'logical', listen_addresses: '*' } }, facts('defaults'), planCtx())).toEqual([
      { path: 'work_mem', action: 'update', before: '4MB', after: '16MB' },
      { path: 'wal_level', action: 'update', before: 'replica', after: 'logical' },
      { path: 'listen_addresses', action: 'update', before: 'localhost', after: '*' },
      { path: 'restart', action: 'run', after: 'systemctl restart postgresql (wal_level, listen_addresses only take effect at server start)' },
    ]);
  });
  it('still plans a restart while an ALTER SYSTEM waits for one (the running value is what counts)', () => {
    const changes = pgConf.plan({ settings: { work_mem: '16MB', wal_level: 'logical', search_path: ['app', '$user', 'public'] } }, facts('altered'), planCtx());
    expect(changes.map((c) => c.path)).toEqual(['wal_level', 'restart']);
  });
  it('refuses unknown, internal and overridden settings', () => {
    expect(() => pgConf.plan({ settings: { no_such_setting: 'x' } }, facts('defaults'), planCtx())).toThrow(/PostgreSQL has no setting no_such_setting/);
    expect(() => pgConf.plan({ settings: { block_size: 8192 } }, facts('defaults'), planCtx())).toThrow(/cannot be set/);
    expect(() => pgConf.plan({ settings: { statement_timeout: '5s' } }, facts('altered'), planCtx())).toThrow(/statement_timeout is set by user, which overrides ALTER SYSTEM/);
  });
});

describe('pg_conf apply', () => {
  it('sends ALTER SYSTEM on stdin, then reloads as postgres and waits for it', async () => {
    const spec = { settings: { work_mem: '16MB', search_path: ['app', '$user'] } };
    const { ctx, commands } = recorder();
    await pgConf.apply(spec, pgConf.plan(spec, facts('defaults'), planCtx()), facts('defaults'), ctx);
    expect(commands.map((c) => [c.runAs, c.stdin])).toEqual([
      ['postgres', "ALTER SYSTEM SET work_mem = '16MB';\nALTER SYSTEM SET search_path = 'app', '$user';\n"],
      ['postgres', undefined],
    ]);
    expect(commands[1].script).toContain('pg_reload_conf()');
    expect(commands[1].script).toContain('pg_conf_load_time()');
  });
  it('restarts the service as root when a setting needs it', async () => {
    const spec = { settings: { wal_level: 'logical' }, service: 'postgresql@15-main' };
    const { ctx, commands } = recorder();
    await pgConf.apply(spec, pgConf.plan(spec, facts('defaults'), planCtx()), facts('defaults'), ctx);
    expect(commands[1].runAs).toBeUndefined();
    expect(commands[1].script).toContain('systemctl restart postgresql@15-main');
    expect(commands[1].script).not.toContain('pg_reload_conf');
  });
});
