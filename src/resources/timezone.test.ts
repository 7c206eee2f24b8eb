import { describe, expect, it } from 'vitest';
import { planCtx } from '../../test/unit/fixtures.js';
import { planInput } from '../../test/support/fixtures.js';
import { timezone } from './timezone.js';

describe('timezone plan', () => {
  it('relinks /etc/localtime and rewrites /etc/timezone', () => {
    const { spec, facts } = planInput(timezone, 'utc');
    const changes = timezone.plan(spec, facts, planCtx());
    expect(changes.map((c) => [c.path, c.before, c.after])).toEqual([
      ['/etc/localtime target', '/usr/share/zoneinfo/Etc/UTC', '/usr/share/zoneinfo/Europe/Paris'],
      ['/etc/timezone content', expect.stringMatching(/^sha256:/), expect.stringMatching(/^sha256:/)],
    ]);
    expect(changes[1].diff).toContain('-Etc/UTC\n+Europe/Paris');
  });
  it('is empty when both say the zone', () => {
    const { spec, facts } = planInput(timezone, 'paris');
    expect(timezone.plan(spec, facts, planCtx())).toEqual([]);
  });
  it('fails on a zone tzdata does not have', () => {
    const { spec, facts } = planInput(timezone, 'unknown');
    expect(() => timezone.plan(spec, facts, planCtx())).toThrow(/unknown time zone Mars\/Olympus_Mons: \/usr\/share\/zoneinfo\/Mars\/Olympus_Mons does not exist/);
  });
});
