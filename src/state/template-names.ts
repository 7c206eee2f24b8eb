// Which names a template string looks up, read from nunjucks' parse tree.
// The entry cache (entry-cache.ts) keys a compiled state entry on the
// values of these names, so what a template cannot be judged by from its
// own text alone is reported as unknown, never guessed.

import nunjucks from 'nunjucks';

export interface AstNode {
  typename: string;
  fields: string[];
  value?: unknown;
  /** 0-based */
  lineno?: number;
  [field: string]: unknown;
}

// The parser is public in nunjucks but absent from its typings.
const { parser } = nunjucks as unknown as { parser: { parse(src: string): AstNode } };

/** A template's parse tree, or undefined when it does not parse (rendering reports why). */
export function parseTemplate(text: string): AstNode | undefined {
  try {
    return parser.parse(text);
  } catch {
    return undefined;
  }
}

/** Tags that render other templates, whose lookups are not in this text. */
const OTHER_TEMPLATES = new Set(['Include', 'Import', 'FromImport', 'Extends']);

/**
 * Every symbol the template names (the vars it reads, and also its loop
 * variables and filter names: a superset is only a longer key), or
 * undefined when its output may depend on more than their values: it
 * renders another template, uses `random`, or does not parse.
 */
export function templateNames(text: string): Set<string> | undefined {
  const root = parseTemplate(text);
  if (!root) return undefined;
  const names = new Set<string>();
  const stack: unknown[] = [root];
  while (stack.length) {
    const node = stack.pop();
    if (Array.isArray(node)) {
      stack.push(...node);
      continue;
    }
    if (!node || typeof node !== 'object' || !('typename' in node)) continue;
    const n = node as AstNode;
    if (OTHER_TEMPLATES.has(n.typename)) return undefined;
    if (n.typename === 'Symbol') {
      if (n.value === 'random') return undefined;
      names.add(String(n.value));
    }
    for (const f of n.fields) stack.push(n[f]);
  }
  return names;
}
