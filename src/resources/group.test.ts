// group: `getent group` output captured from a Debian 12 container
// (test/fixtures/group/), parsed, and planned against specs.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { PlanContext } from '../core/resource.js';
import type { GroupSpec } from '../generated/index.js';
import { group, parseGroupEntry } from './group.js';

const fixture = (name: string) => readFileSync(new URL(`../../test/fixtures/group/${name}`, import.meta.url), 'utf8');
const ctx: PlanContext = { host: { name: 'h', sshPort: 22, loginUser: 'root' }, sensitive: false, statesDir: '/states' };
const plan = (spec: GroupSpec, text: string) => group.plan(spec, { group: parseGroupEntry(text) }, ctx);

describe('group facts', () => {
  it('parses getent group output, and nothing as absent', () => {
    expect(parseGroupEntry(fixture('developers.txt'))).toEqual({ exists: true, gid: 1000 });
    expect(parseGroupEntry(fixture('sudo.txt'))).toEqual({ exists: true, gid: 27 });
    expect(parseGroupEntry(fixture('absent.txt'))).toEqual({ exists: false });
  });

  it('asks one read-only getent per group', () => {
    expect(group.facts({ name: 'developers' }, ctx).group.script).toBe('getent group developers');
    expect(group.id!({ name: 'developers' })).toBe('group:developers');
  });
});

describe('group plan', () => {
  it('creates a missing group, describing its gid and kind', () => {
    expect(plan({ name: 'developers' }, fixture('absent.txt'))).toEqual([{ path: 'group', action: 'create', after: 'developers' }]);
    expect(plan({ name: 'myproj', gid: 990, system: true }, fixture('absent.txt'))).toEqual([{ path: 'group', action: 'create', after: 'myproj (gid 990, system)' }]);
  });

  it('is in sync when the group exists with the gid asked (or any gid when none is)', () => {
    expect(plan({ name: 'developers' }, fixture('developers.txt'))).toEqual([]);
    expect(plan({ name: 'developers', gid: 1000 }, fixture('developers.txt'))).toEqual([]);
    expect(plan({ name: 'developers', system: true }, fixture('developers.txt'))).toEqual([]);
  });

  it('changes a gid, and deletes a group that should be absent', () => {
    expect(plan({ name: 'developers', gid: 2000 }, fixture('developers.txt'))).toEqual([{ path: 'gid', action: 'update', before: 1000, after: 2000 }]);
    expect(plan({ name: 'developers', ensure: 'absent' }, fixture('developers.txt'))).toEqual([{ path: 'group', action: 'delete', before: 'developers' }]);
    expect(plan({ name: 'developers', ensure: 'absent' }, fixture('absent.txt'))).toEqual([]);
  });
});

describe('group apply', () => {
  const scripts = async (spec: GroupSpec, text: string) => {
    const run: string[] = [];
    const ctxRun = { ...ctx, run: async (c: { script: string }) => (run.push(c.script), { code: 0, stdout: '', stderr: '' }) };
    await group.apply(spec, plan(spec, text), { group: parseGroupEntry(text) }, ctxRun as never);
    return run;
  };

  it('runs groupadd, groupmod or groupdel', async () => {
    expect(await scripts({ name: 'myproj', gid: 990, system: true }, fixture('absent.txt'))).toEqual(['groupadd -g 990 -r myproj']);
    expect(await scripts({ name: 'developers', gid: 2000 }, fixture('developers.txt'))).toEqual(['groupmod -g 2000 developers']);
    expect(await scripts({ name: 'developers', ensure: 'absent' }, fixture('developers.txt'))).toEqual(['groupdel developers']);
  });
});
