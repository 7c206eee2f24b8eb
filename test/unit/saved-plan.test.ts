// Saved plans (src/engine/saved-plan.ts): the file is refused when unreadable,
// foreign or too old; a host is refused, naming what changed, when its states
// or facts differ from the plan; and the file never holds a value.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { factDifferences, hostPlan, readPlan, specDifferences, writePlan } from '../../src/engine/saved-plan.js';
import type { Resource } from '../../src/state/compile.js';

const dir = mkdtempSync(join(tmpdir(), 'converge-plan-'));
const res = (id: string, spec: object) => ({ id, naturalId: `file:/etc/${id}`, spec }) as unknown as Resource;
const origin = { login: 'ci@ctl' };

describe('saved plan files', () => {
  const file = join(dir, 'plan.json');
  const planned = [{ resource: res('motd', { content: 's3cret-value' }), facts: { file: { sha256: 'abc', content: Buffer.from('old s3cret') } }, changes: [{ path: 'content', action: 'update' as const }] }];

  it('holds hashes, paths and actions, never a value', () => {
    const hp = hostPlan(planned);
    writePlan(file, { version: 1, createdAt: new Date().toISOString(), origin, hosts: { web: hp } });
    const text = JSON.stringify(readPlan(file, 3600));
    expect(text).not.toContain('s3cret');
    expect(hp.motd).toEqual({ naturalId: 'file:/etc/motd', spec: expect.stringMatching(/^[0-9a-f]{32}$/), facts: expect.stringMatching(/^[0-9a-f]{32}$/), changes: [{ path: 'content', action: 'update' }] });
  });

  it('refuses a plan older than the limit, saying how old and how to accept it', () => {
    writePlan(file, { version: 1, createdAt: new Date(Date.now() - 2 * 3600_000).toISOString(), origin, hosts: {} });
    expect(() => readPlan(file, 3600)).toThrow(/the plan was made 120 min ago .* more than the 60 min allowed/);
    expect(readPlan(file, 3 * 3600).hosts).toEqual({});
  });

  it('refuses what is not a plan, naming the file', () => {
    writeFileSync(file, '{"hello": 1}');
    expect(() => readPlan(file, 3600)).toThrow(/plan\.json: not a converge saved plan/);
    writeFileSync(file, '{');
    expect(() => readPlan(file, 3600)).toThrow(/plan\.json: cannot read the saved plan/);
    expect(() => readPlan(join(dir, 'nope.json'), 3600)).toThrow(/cannot read the saved plan/);
  });

  it('names the resources whose states or facts changed since the plan', () => {
    const hp = hostPlan(planned);
    expect(specDifferences(hp, [res('motd', { content: 's3cret-value' })])).toBeUndefined();
    expect(specDifferences(hp, [res('motd', { content: 'other' }), res('issue', {})])).toBe('the states changed since the plan: motd (file:/etc/motd) changed in the states; issue is newly declared');
    expect(specDifferences(hp, [])).toBe('the states changed since the plan: motd is no longer declared');
    expect(factDifferences(hp, planned)).toBeUndefined();
    expect(factDifferences(hp, [{ resource: planned[0].resource, facts: { file: { sha256: 'edited by hand' } } }])).toBe('the host changed since the plan: motd (file:/etc/motd)');
  });
});
