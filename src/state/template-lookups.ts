// What a template reads, checked against the vars before it renders. nunjucks
// treats an unknown name or key as undefined: `{% if newrelic.enabeld %}` is
// silently false, and `{{ timezone }}` fails with "attempted to output null
// or undefined value", naming nothing. So each template's lookups (a name and
// its literal keys: `newrelic.enabled`, `item['port']`) are read once from its
// parse tree, and every render checks them: an unknown name or key is an
// error that names it, unless the template guards it (`is defined`,
// `| default(...)`), as Jinja's StrictUndefined would have it.

import { parseTemplate, type AstNode } from './template-names.js';
import type { Vars } from './template.js';

export interface Lookup {
  /** ['newrelic', 'enabled'] */
  path: (string | number)[];
  /** 1-based line in the template. */
  line: number;
  /**
   * Read only on some renders: inside an if's branch, an inline if's value, or
   * the right side of and/or. `{% if r.tls %}{{ r.ca_file }}{% endif %}` need
   * not have ca_file when tls is false.
   */
  conditional: boolean;
}

export interface TemplateLookups {
  lookups: Lookup[];
  /** The lookups every render reads (`conditional` false): checked before each render, once per host. */
  always: Lookup[];
  /** Paths the template guards somewhere (`x is defined`, `x | default`): they and everything under them may be missing. */
  guarded: string[];
}

/** Names nunjucks provides itself (globals), or that a template binds (loops, set, macros). */
const GLOBALS = new Set(['range', 'cycler', 'joiner', 'loop', 'caller', 'super', 'true', 'false', 'none', 'True', 'False', 'None']);
const GUARD_TESTS = new Set(['defined', 'undefined', 'none', 'null']);
const GUARD_FILTERS = new Set(['default', 'd']);

const key = (path: (string | number)[]) => path.join('\u0000');

/** A name with literal keys (a.b, a['b'], a[0]), or undefined when the node is something else. */
function chain(n: AstNode): (string | number)[] | undefined {
  if (n.typename === 'Symbol') return [String(n.value)];
  if (n.typename === 'LookupVal') {
    const target = chain(n.target as AstNode);
    const val = n.val as AstNode;
    if (target && val.typename === 'Literal' && (typeof val.value === 'string' || typeof val.value === 'number')) return [...target, val.value];
  }
  return undefined;
}

/** Reads a template's lookups from its parse tree; undefined when it does not parse (rendering reports that). */
export function templateLookups(text: string): TemplateLookups | undefined {
  const root = parseTemplate(text);
  if (!root) return undefined;
  const bound = new Set<string>();
  const guarded: string[] = [];
  const found: Lookup[] = [];
  const bind = (n: unknown) => {
    const node = n as AstNode | null;
    if (!node) return;
    if (node.typename === 'Symbol') bound.add(String(node.value));
    for (const child of (node.children as AstNode[] | undefined) ?? []) bind(child);
  };
  const visit = (node: unknown, line: number, cond = false): void => {
    if (Array.isArray(node)) return node.forEach((n) => visit(n, line, cond));
    if (!node || typeof node !== 'object' || !('typename' in node)) return;
    const n = node as AstNode;
    const here = typeof n.lineno === 'number' ? n.lineno + 1 : line;
    if (n.typename === 'For' || n.typename === 'AsyncEach' || n.typename === 'AsyncAll') bind(n.name);
    if (n.typename === 'Set') (n.targets as AstNode[]).forEach(bind);
    if (n.typename === 'Macro' || n.typename === 'Caller') {
      bind(n.name);
      for (const a of ((n.args as AstNode)?.children as AstNode[]) ?? []) bind(a.typename === 'Pair' ? a.key : a);
    }
    if (n.typename === 'Is' && GUARD_TESTS.has(String((n.right as AstNode)?.value))) {
      const c = chain(n.left as AstNode);
      if (c) guarded.push(key(c));
    }
    if (n.typename === 'Filter' && GUARD_FILTERS.has(String((n.name as AstNode)?.value))) {
      const first = ((n.args as AstNode).children as AstNode[])[0];
      const c = first && chain(first);
      if (c) guarded.push(key(c));
    }
    const c = chain(n);
    if (c) {
      found.push({ path: c, line: here, conditional: cond });
      return;
    }
    if (n.typename === 'If' || n.typename === 'InlineIf' || n.typename === 'IfAsync') {
      visit(n.cond, here, cond);
      visit(n.body, here, true);
      visit(n.else_, here, true);
      return;
    }
    if (n.typename === 'And' || n.typename === 'Or') {
      visit(n.left, here, cond);
      visit(n.right, here, true);
      return;
    }
    // A method call's callee (`s.upper()`, `d.get('x')`) is not a key: check what it is called on.
    if (n.typename === 'FunCall') {
      const callee = n.name as AstNode;
      visit(callee.typename === 'LookupVal' ? callee.target : callee.typename === 'Symbol' ? null : callee, here, cond);
      visit(n.args, here, cond);
      return;
    }
    if (n.typename === 'Filter') {
      // The filter's name is not a var.
      visit(n.args, here, cond);
      return;
    }
    if (n.typename === 'Is') {
      // The test's name is not a var.
      visit(n.left, here, cond);
      return;
    }
    if (n.typename === 'KeywordArgs' || n.typename === 'Dict') {
      for (const p of (n.children as AstNode[]) ?? []) visit(p.typename === 'Pair' ? (n.typename === 'Dict' ? [p.key, p.value] : p.value) : p, here, cond);
      return;
    }
    for (const f of n.fields) visit(n[f], here, cond);
  };
  visit(root, 1);
  const lookups = found.filter((l) => !bound.has(String(l.path[0])) && !GLOBALS.has(String(l.path[0])));
  return { lookups, always: lookups.filter((l) => !l.conditional), guarded };
}

const isMapping = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export interface Missing {
  /** What the template named, e.g. "newrelic.enabeld". */
  name: string;
  line: number;
  /** What exists where it looked, e.g. "newrelic has enabled, python_agent, suite". */
  known?: string;
}

const show = (path: (string | number)[]) => path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i ? `.${p}` : p)).join('');

/**
 * The first lookup the vars cannot answer: a name that is not defined, or a
 * key a mapping does not have. Keys of anything but a mapping (a string's
 * length, a list's index) are left to nunjucks. Before rendering, only the
 * lookups every render reads are checked (`conditional` false); once a
 * render failed on an undefined value, all of them, those on the failing
 * line (`line`) first.
 */
export function firstMissing(t: TemplateLookups, vars: Vars, after?: { line?: number }): Missing | undefined {
  const lookups = after ? [...t.lookups].sort((a, b) => Number(b.line === after.line) - Number(a.line === after.line)) : t.always;
  for (const l of lookups) {
    let cur: unknown = vars;
    for (let i = 0; i < l.path.length; i++) {
      if (!isMapping(cur)) break;
      const k = l.path[i];
      if (k in cur) {
        cur = cur[k];
        continue;
      }
      const prefix = l.path.slice(0, i + 1);
      const p = key(prefix);
      if (t.guarded.some((g) => g === p || p.startsWith(g + '\u0000') || g.startsWith(p + '\u0000'))) break;
      const owner = show(l.path.slice(0, i));
      const keys = Object.keys(cur);
      return {
        name: show(prefix),
        line: l.line,
        known: i === 0 ? undefined : keys.length ? `${owner} has ${keys.slice(0, 12).join(', ')}${keys.length > 12 ? ', …' : ''}` : `${owner} is empty`,
      };
    }
  }
  return undefined;
}

/**
 * A template that is only text and lookups ("name={{ host.name }}",
 * "{{ ports[0] }}"): its parts, a lookup as its path; undefined for any
 * other (a filter, a tag, an expression, a comment). Such a template is
 * rendered by concatenation (see Templates), without nunjucks' context,
 * frame and callbacks per render.
 */
export function plainParts(text: string): (string | (string | number)[])[] | undefined {
  // Tags and comments are also where trimBlocks and lstripBlocks change the text around them.
  if (text.includes('{%') || text.includes('{#')) return undefined;
  const root = parseTemplate(text);
  if (!root) return undefined;
  const parts: (string | (string | number)[])[] = [];
  for (const out of (root.children as AstNode[] | undefined) ?? []) {
    if (out.typename !== 'Output') return undefined;
    for (const c of (out.children as AstNode[] | undefined) ?? []) {
      if (c.typename === 'TemplateData') {
        parts.push(String(c.value));
        continue;
      }
      const path = chain(c);
      if (!path) return undefined;
      parts.push(path);
    }
  }
  return parts;
}
