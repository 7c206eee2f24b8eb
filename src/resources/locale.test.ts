import { describe, expect, it } from 'vitest';
import { planCtx } from '../../test/unit/fixtures.js';
import { planInput, resolveSpec, scenario } from '../../test/support/fixtures.js';
import { locale, normalizeLocale, parseLocaleFacts } from './locale.js';

describe('locale facts', () => {
  it('list the generated locales and whether locale-gen and the SUPPORTED line are there', () => {
    expect(parseLocaleFacts(scenario('locale', 'no_locales').facts.locale.output)).toEqual({ tools: false, supported: false, generated: ['C', 'C.utf8', 'POSIX'] });
    expect(parseLocaleFacts(scenario('locale', 'generated').facts.locale.output)).toEqual({ tools: true, supported: true, generated: ['C', 'C.utf8', 'POSIX', 'en_US.utf8'] });
  });
  it('compare names as glibc writes them', () => {
    expect(normalizeLocale('en_US.UTF-8')).toBe('en_US.utf8');
    expect(normalizeLocale('de_DE.ISO-8859-15@euro')).toBe('de_DE.iso885915@euro');
    expect(normalizeLocale('en_US')).toBe('en_US');
  });
});

describe('locale plan', () => {
  it('needs the locales package', () => {
    const { spec, facts } = planInput(locale, 'no_locales');
    expect(() => locale.plan(spec, facts, planCtx())).toThrow(/locale-gen is not installed/);
  });
  it('enables the commented-out line, sets LANG and generates the locale', () => {
    const { spec, facts } = planInput(locale, 'not_generated');
    const changes = locale.plan(spec, facts, planCtx());
    expect(changes.map((c) => [c.path, c.action, c.before, c.after])).toEqual([
      ['/etc/locale.gen line', 'update', '# en_US.UTF-8 UTF-8', 'en_US.UTF-8 UTF-8'],
      ['/etc/default/locale line', 'create', undefined, 'LANG=en_US.UTF-8'],
      ['generated', 'create', undefined, 'en_US.UTF-8'],
    ]);
  });
  it('is empty once all three are done', () => {
    const { spec, facts } = planInput(locale, 'generated');
    expect(locale.plan(spec, facts, planCtx())).toEqual([]);
  });
  it('fails on a locale glibc does not know', () => {
    const { spec, facts } = planInput(locale, 'unsupported');
    expect(() => locale.plan(spec, facts, planCtx())).toThrow(/"xx_XX.UTF-8 UTF-8" is not in \/usr\/share\/i18n\/SUPPORTED/);
  });
  it('needs a charset when the name has none', () => {
    expect(() => resolveSpec(locale, { name: 'en_US' })).toThrow(/names no charset/);
    expect(resolveSpec(locale, { name: 'en_US', charset: 'ISO-8859-1' })).toEqual({ name: 'en_US', charset: 'ISO-8859-1' });
  });
});
