// The filters and tests a Jinja (or Ansible) user expects that nunjucks lacks
// or gets wrong. nunjucks' selectattr takes only an attribute and silently
// ignores a test and its argument (`selectattr('roles', 'contains', 'app')`
// kept every host): here it takes them as Jinja does, and an unknown test is
// an error, never a no-op.

import type nunjucks from 'nunjucks';

// addTest and getTest are public in nunjucks but absent from its typings.
type Test = (this: unknown, value: unknown, ...args: unknown[]) => boolean;
type Env = nunjucks.Environment & { getTest(name: string): Test | undefined; addTest(name: string, test: Test): void };

const isMapping = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function mapping(v: unknown, filter: string): Record<string, unknown> {
  if (!isMapping(v)) throw new Error(`filter ${filter} needs a mapping, got ${Array.isArray(v) ? 'a list' : typeof v}`);
  return v;
}

function list(v: unknown, filter: string): unknown[] {
  if (Array.isArray(v)) return v;
  if (typeof v === 'string') return [...v];
  if (isMapping(v)) return Object.keys(v);
  throw new Error(`filter ${filter} needs a list, got ${v === undefined ? 'undefined' : typeof v}`);
}

/** Jinja's keyword arguments arrive as a last object marked __keywords. */
function splitKeywords(args: unknown[]): { positional: unknown[]; keywords: Record<string, unknown> } {
  const last = args[args.length - 1];
  if (isMapping(last) && last.__keywords) {
    const { __keywords, ...keywords } = last;
    return { positional: args.slice(0, -1), keywords };
  }
  return { positional: args, keywords: {} };
}

/**
 * A dotted attribute path of an item ("vars.port"), as Jinja's attribute=
 * takes it. An item without it is an error naming the path and what the item
 * has: a misspelt attribute must not select nothing, or map to blanks.
 * `missing` is what to give instead, for those that allow it (map's
 * default=, the tests defined and undefined).
 */
function attribute(item: unknown, path: string, filter: string, missing?: { value: unknown }): unknown {
  let cur = item;
  for (const key of path.split('.')) {
    if ((isMapping(cur) || Array.isArray(cur)) && key in cur) cur = (cur as Record<string, unknown>)[key];
    else if (missing) return missing.value;
    else throw new Error(`filter ${filter}: an item has no attribute "${path}"${isMapping(cur) ? ` (it has ${Object.keys(cur).join(', ') || 'nothing'})` : ''}`);
  }
  return cur;
}

/** Tests that ask whether the attribute exists: a missing one is their answer, not an error. */
const EXISTENCE_TESTS = new Set(['defined', 'undefined']);

export function installFilters(env: nunjucks.Environment): void {
  const e = env as Env;
  const test = (name: unknown): ((value: unknown, ...args: unknown[]) => boolean) => {
    const t = e.getTest(String(name));
    if (!t) throw new Error(`test not found: ${String(name)}`);
    return (value, ...args) => !!t.call(undefined, value, ...args);
  };

  // Ansible's `contains` and Jinja's `in`, for select/selectattr.
  e.addTest('contains', (seq: unknown, value: unknown) => (Array.isArray(seq) || typeof seq === 'string' ? seq.includes(value as never) : isMapping(seq) ? value as string in seq : false));
  e.addTest('in', (value: unknown, seq: unknown) => (Array.isArray(seq) || typeof seq === 'string' ? seq.includes(value as never) : isMapping(seq) ? (value as string) in seq : false));

  const byAttr = (keep: boolean) => (seq: unknown, attr: unknown, testName?: unknown, ...args: unknown[]) => {
    const pass = testName === undefined ? (v: unknown) => !!v : test(testName);
    const name = keep ? 'selectattr' : 'rejectattr';
    const missing = testName !== undefined && EXISTENCE_TESTS.has(String(testName)) ? { value: undefined } : undefined;
    return list(seq, name).filter((item) => pass(attribute(item, String(attr), name, missing), ...args) === keep);
  };
  env.addFilter('selectattr', byAttr(true));
  env.addFilter('rejectattr', byAttr(false));

  env.addFilter('values', (v: unknown) => Object.values(mapping(v, 'values')));
  env.addFilter('keys', (v: unknown) => Object.keys(mapping(v, 'keys')));
  env.addFilter('items', (v: unknown) => Object.entries(mapping(v, 'items')));
  env.addFilter('dict2items', (v: unknown, ...rest: unknown[]) => {
    const { keywords } = splitKeywords(rest);
    const k = String(keywords.key_name ?? 'key');
    const val = String(keywords.value_name ?? 'value');
    return Object.entries(mapping(v, 'dict2items')).map(([key, value]) => ({ [k]: key, [val]: value }));
  });
  env.addFilter('items2dict', (v: unknown) => Object.fromEntries(list(v, 'items2dict').map((i) => [attribute(i, 'key', 'items2dict'), attribute(i, 'value', 'items2dict')] as [string, unknown])));
  env.addFilter('unique', (v: unknown) => {
    const seen = new Set<string>();
    return list(v, 'unique').filter((i) => {
      const key = JSON.stringify(i);
      return seen.has(key) ? false : (seen.add(key), true);
    });
  });
  env.addFilter('flatten', (v: unknown, levels?: unknown) => list(v, 'flatten').flat(levels === undefined ? Infinity : Number(levels)));
  // map(attribute='name'), or map('upper') / map('replace', 'a', 'b'): another filter applied to each item.
  env.addFilter('map', function (this: unknown, seq: unknown, ...rest: unknown[]) {
    const { positional, keywords } = splitKeywords(rest);
    const items = list(seq, 'map');
    if (keywords.attribute !== undefined) {
      const missing = 'default' in keywords ? { value: keywords.default } : undefined;
      return items.map((i) => attribute(i, String(keywords.attribute), 'map', missing));
    }
    if (!positional.length) throw new Error("filter map needs attribute='name' or a filter name, e.g. map('upper')");
    const f = env.getFilter(String(positional[0])) as (this: unknown, ...a: unknown[]) => unknown;
    return items.map((i) => f.call(this, i, ...positional.slice(1)));
  });
  env.addFilter('combine', (...dicts: unknown[]) => Object.assign({}, ...dicts.map((d) => mapping(d, 'combine'))));
}
