// group: `getent group` output captured from a Debian 12 container (scenarios of capture.mjs)
// (test/fixtures/group/), parsed, and planned against specs.

import { describe, expect, it } from 'vitest';
import type { PlanContext } from '../core/resource.js';
import type { GroupSpec } from '../generated/index.js';
import { planInput } from '../../test/support/fixtures.js';
import { group, type GroupFacts } from './group.js';

/** The group fact of a captured scenario (test/fixtures/group/<name>.json, refused when stale). */
const fact = (name: string) => planInput(group, name).facts.group;
const ctx: PlanContext = { host: { name: 'h', sshPort: 22, loginUser: 'root' }, sensitive: false, statesDir: '/states' };
const plan = (spec: GroupSpec, f: GroupFacts) => group.plan(spec, { group: f }, ctx);

describe('one getent for all groups of a host', () => {
  const q = (name: string) => group.facts({ name }, ctx).group;

  it('asks for every group in one command and gives each its own line, or nothing', () => {
    const merge = q('developers').merge!;
    expect(merge.key).toBe(q('sudo').merge!.key);
    expect(merge.script(['developers', 'sudo', 'gone'])).toBe('getent group developers sudo gone');
    // getent prints what it finds in the order asked (exit 2: one is missing); each group reads its part as the query alone would have printed it.
    const parts = merge.split('sudo:x:27:alice\ndevelopers:x:1000:\n', ['developers', 'sudo', 'gone']);
    expect(parts).toEqual(['developers:x:1000:\n', 'sudo:x:27:alice\n', '']);
    expect(parts.map((p) => q('x').parse(p, { stdout: p, code: 2, stderr: '' }))).toEqual([{ exists: true, gid: 1000 }, { exists: true, gid: 27 }, { exists: false }]);
  });

  it('sends, for one group alone, the very command it always did', () => {
    expect(q('developers').script).toBe('getent group developers');
  });
});

describe('group facts', () => {
  it('parses getent group output, and nothing as absent', () => {
    expect(fact('developers')).toEqual({ exists: true, gid: 1000 });
    expect(fact('sudo')).toEqual({ exists: true, gid: 27 });
    expect(fact('absent')).toEqual({ exists: false });
  });

  it('asks one read-only getent per group', () => {
    expect(group.facts({ name: 'developers' }, ctx).group.script).toBe('getent group developers');
    expect(group.id!({ name: 'developers' })).toBe('group:developers');
  });
});

describe('group plan', () => {
  it('creates a missing group, describing its gid and kind', () => {
    expect(plan({ name: 'developers' }, fact('absent'))).toEqual([{ path: 'group', action: 'create', after: 'developers' }]);
    expect(plan({ name: 'myproj', gid: 990, system: true }, fact('absent'))).toEqual([{ path: 'group', action: 'create', after: 'myproj (gid 990, system)' }]);
  });

  it('is in sync when the group exists with the gid asked (or any gid when none is)', () => {
    expect(plan({ name: 'developers' }, fact('developers'))).toEqual([]);
    expect(plan({ name: 'developers', gid: 1000 }, fact('developers'))).toEqual([]);
    expect(plan({ name: 'developers', system: true }, fact('developers'))).toEqual([]);
  });

  it('changes a gid, and deletes a group that should be absent', () => {
    expect(plan({ name: 'developers', gid: 2000 }, fact('developers'))).toEqual([{ path: 'gid', action: 'update', before: 1000, after: 2000 }]);
    expect(plan({ name: 'developers', ensure: 'absent' }, fact('developers'))).toEqual([{ path: 'group', action: 'delete', before: 'developers' }]);
    expect(plan({ name: 'developers', ensure: 'absent' }, fact('absent'))).toEqual([]);
  });
});

describe('group apply', () => {
  const scripts = async (spec: GroupSpec, f: GroupFacts) => {
    const run: string[] = [];
    const ctxRun = { ...ctx, run: async (c: { script: string }) => (run.push(c.script), { code: 0, stdout: '', stderr: '' }) };
    await group.apply(spec, plan(spec, f), { group: f }, ctxRun as never);
    return run;
  };

  it('runs groupadd, groupmod or groupdel', async () => {
    expect(await scripts({ name: 'myproj', gid: 990, system: true }, fact('absent'))).toEqual(['groupadd -g 990 -r myproj']);
    expect(await scripts({ name: 'developers', gid: 2000 }, fact('developers'))).toEqual(['groupmod -g 2000 developers']);
    expect(await scripts({ name: 'developers', ensure: 'absent' }, fact('developers'))).toEqual(['groupdel developers']);
  });
});
