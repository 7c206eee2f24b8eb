// locale: its line enabled in /etc/locale.gen and LANG in /etc/default/locale
// (on Debian 13 a link to /etc/locale.conf, which is edited then)
// (line parts, so the rest of both files is left alone), and the locale
// generated, which `locale -a` shows. locale-gen runs when the locale is
// missing or its locale.gen line changed.

import { HostError, InputError } from '../core/diagnostics.js';
import type { Change, ResourceType, Facts } from '../core/resource.js';
import { shq } from '../core/shell.js';
import type { LocaleSpec } from '../generated/index.js';
import { escapeRegExp, line } from './line.js';
import { applyParts, partFacts, planParts, type Part } from './lib/parts.js';

export interface LocaleFacts {
  /** locale-gen is installed (the locales package). */
  tools: boolean;
  /** The locale.gen line is one /usr/share/i18n/SUPPORTED knows. */
  supported: boolean;
  /** `locale -a`: the generated locales, as glibc names them (en_US.utf8). */
  generated: string[];
}

const charsetOf = (spec: LocaleSpec) => spec.charset ?? spec.name.split('.')[1]?.split('@')[0];
const genLine = (spec: LocaleSpec) => `${spec.name} ${charsetOf(spec)}`;

/** glibc's name for a locale: the codeset lowercased without punctuation (en_US.UTF-8 -> en_US.utf8). */
export function normalizeLocale(name: string): string {
  return name.replace(/\.([^@]+)/, (_m, codeset: string) => `.${codeset.toLowerCase().replace(/[^a-z0-9]/g, '')}`);
}

export function localeFactScript(spec: LocaleSpec): string {
  return [
    'command -v locale-gen >/dev/null && echo tools',
    `grep -qxF ${shq(genLine(spec))} /usr/share/i18n/SUPPORTED && echo supported`,
    'echo generated:',
    'locale -a',
  ].join('\n');
}

export function parseLocaleFacts(text: string): LocaleFacts {
  const [head, list = ''] = text.split(/^generated:$/m);
  const flags = head.split('\n');
  return { tools: flags.includes('tools'), supported: flags.includes('supported'), generated: list.split('\n').map((l) => l.trim()).filter(Boolean) };
}

const parts = (spec: LocaleSpec): Part[] => [
  // Takes over Debian's commented-out "# en_US.UTF-8 UTF-8".
  { name: 'gen', type: line, label: '/etc/locale.gen', spec: { path: '/etc/locale.gen', line: genLine(spec), match: `^#?\\s*${escapeRegExp(spec.name)}\\s` } },
  ...(spec.default ? [{ name: 'default', type: line, label: '/etc/default/locale', spec: { path: '/etc/default/locale', key: 'LANG', value: spec.name, separator: '=', create: true, follow: true } }] : []),
];

export const locale: ResourceType<LocaleSpec, { locale: LocaleFacts } & Facts> = {
  kind: 'locale',
  id: (spec) => `locale:${spec.name}`,
  implicitAfter: () => ['package:locales'],

  resolve(spec, ctx) {
    if (!charsetOf(spec)) throw new InputError({ message: `locale ${spec.name} names no charset`, where: ctx.where, hint: 'set charset, as /usr/share/i18n/SUPPORTED lists it (e.g. en_US ISO-8859-1)' });
    return spec;
  },

  facts: (spec, ctx) => ({ locale: { key: `locale:${genLine(spec)}`, script: localeFactScript(spec), parse: parseLocaleFacts }, ...partFacts(parts(spec), ctx) }),

  plan(spec, facts, ctx) {
    const f = facts.locale;
    if (!f.tools) throw new HostError('locale-gen is not installed', 'install the locales package first (package: { name: locales }, and require it)');
    if (!f.supported) throw new HostError(`"${genLine(spec)}" is not in /usr/share/i18n/SUPPORTED`, 'check the name and charset against that file');
    const generated: Change[] = f.generated.includes(normalizeLocale(spec.name)) ? [] : [{ path: 'generated', action: 'create', after: spec.name }];
    return [...planParts(parts(spec), facts, ctx), ...generated];
  },

  async apply(spec, changes, facts, ctx) {
    const applied = await applyParts(parts(spec), facts, ctx);
    if (changes.some((c) => c.path === 'generated') || applied.some((p) => p.name === 'gen')) {
      await ctx.run({ script: 'locale-gen' }, 'generating locales (locale-gen)');
    }
  },
};
