// YAML documents that remember where every value came from, so each error
// can name the file and line of the value it is about.

import { readFileSync } from 'node:fs';
import { isCollection, isMap, isPair, isScalar, LineCounter, parseDocument, visit, type Document } from 'yaml';
import { InputError, type Diagnostic } from '../core/diagnostics.js';
import { readPlainYaml } from './yaml-plain.js';

export type PathSegment = string | number;

export interface YamlFile {
  file: string;
  value: unknown;
  /** 1-based line of the value at path, or of its nearest ancestor present in the file. */
  lineOf(path: PathSegment[]): number | undefined;
  /** The text of the unquoted scalar at path as written (`0644`), or undefined (quoted, absent, not a scalar). */
  plainSource?(path: PathSegment[]): string | undefined;
}

export function formatPath(path: PathSegment[]): string {
  return path
    .map((p, i) => (typeof p === 'number' ? `[${p}]` : /^[A-Za-z_][\w-]*$/.test(p) ? (i ? '.' : '') + p : `[${JSON.stringify(p)}]`))
    .join('');
}

/**
 * The text's value, and where each of its values is. Plain text (see
 * yaml-plain.ts: a generated inventory of 1000 hosts is) is read without the
 * `yaml` package's Document, which is built only when a position is asked
 * for (to word an error); it then reads the same value without error.
 */
export function parseYaml(text: string, file: string): YamlFile {
  const plain = readPlainYaml(text);
  if (!plain) return parseDocumentYaml(text, file);
  let positions: YamlFile | undefined;
  const located = () => (positions ??= parseDocumentYaml(text, file));
  return { file, value: plain.value, lineOf: (path) => located().lineOf(path), plainSource: (path) => located().plainSource?.(path) };
}

function parseDocumentYaml(text: string, file: string): YamlFile {
  const lineCounter = new LineCounter();
  const doc: Document = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new InputError(syntaxErrors(text, file, doc.errors.map((e) => ({ message: e.message, line: e.linePos?.[0]?.line }))));
  }
  const braces = unquotedTemplates(doc, text, file, lineCounter);
  if (braces.length) throw new InputError(braces);
  // A mapping key's own line (where a person looks for "mode:"), a list
  // item's line, or the nearest ancestor's when the path is not in the file.
  const cache = new Map<string, number | undefined>();
  const lineOf = (path: PathSegment[]): number | undefined => {
    const key = path.join('\0');
    if (!cache.has(key)) cache.set(key, findLine(path));
    return cache.get(key);
  };
  const findLine = (path: PathSegment[]): number | undefined => {
    for (let n = path.length; n > 0; n--) {
      const parent = n === 1 ? doc.contents : doc.getIn(path.slice(0, n - 1), true);
      if (!isCollection(parent)) continue;
      const last = path[n - 1];
      const item = isMap(parent)
        ? (parent.items.find((p) => isScalar(p.key) && String(p.key.value) === String(last))?.key as { range?: number[] } | undefined)
        : (parent.items[Number(last)] as { range?: number[] } | undefined);
      if (item?.range) return lineCounter.linePos(item.range[0]).line;
    }
    const root = doc.contents as { range?: number[] } | null;
    return root?.range ? lineCounter.linePos(root.range[0]).line : undefined;
  };
  const plainSource = (path: PathSegment[]): string | undefined => {
    const node = doc.getIn(path, true);
    return isScalar(node) && node.type === 'PLAIN' && node.range ? text.slice(node.range[0], node.range[1]) : undefined;
  };
  return { file, value: doc.toJS({ maxAliasCount: 100 }), lineOf, plainSource };
}

/**
 * `path: {{ x }}` unquoted is a YAML flow mapping whose key is another
 * mapping, not a template: one error per such value, saying to quote it,
 * instead of a schema error for every field it then breaks.
 */
function unquotedTemplates(doc: Document, text: string, file: string, lines: LineCounter) {
  const found: { message: string; where: { file: string; line: number }; hint: string }[] = [];
  visit(doc, {
    Pair(_, pair, path) {
      if (!isCollection(pair.key)) return undefined;
      // The flow mapping that holds this pair: `{{ x }}` as written.
      const holder = path[path.length - 1] as { range?: number[] };
      const range = holder?.range ?? (pair.key as { range?: number[] }).range ?? [0, 0];
      const written = text.slice(range[0], range[1]).trim();
      const owner = path.slice().reverse().find((n) => isPair(n) && n !== pair) as { key?: { value?: unknown } } | undefined;
      const name = owner?.key?.value !== undefined ? `${String(owner.key.value)}: ` : '';
      found.push({
        message: `${written} is read by YAML as a mapping, not a template: a value that starts with { must be quoted`,
        where: { file, line: lines.linePos(range[0]).line },
        hint: `quote it: ${name}"${written}"`,
      });
      return visit.SKIP;
    },
  });
  return found;
}

/** A value that starts with {{ unquoted, after a key, a list dash or a flow separator. */
const UNQUOTED_TEMPLATE = /(?:^|[:,[{-])\s+(\{\{.*?\}\}\S*)/;

/**
 * YAML's errors, one per line: one unquoted template such as
 * `path: {{ root }}/app` breaks its line into several errors (and a flow
 * mapping with it), so such a line gets one error saying to quote it.
 */
function syntaxErrors(text: string, file: string, errors: { message: string; line?: number }[]): Diagnostic[] {
  const lines = text.split('\n');
  const seen = new Set<number | undefined>();
  return errors
    .filter((e) => !seen.has(e.line) && (seen.add(e.line), true))
    .map((e) => {
      const unquoted = e.line ? UNQUOTED_TEMPLATE.exec(lines[e.line - 1].replace(/\s#.*$/, '')) : null;
      return unquoted
        ? { message: `YAML syntax error: ${unquoted[1]} is not quoted, and a value that starts with { is read as a mapping`, where: { file, line: e.line }, hint: `quote the value: "${unquoted[1]}"` }
        : { message: `YAML syntax error: ${e.message.split('\n')[0]}`, where: { file, line: e.line }, hint: 'fix the YAML syntax at that line (indentation, a missing colon or quote)' };
    });
}

export function readYaml(path: string, displayName = path): YamlFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new InputError({
      message: code === 'ENOENT' ? 'file not found' : `cannot read the file (${code ?? (e as Error).message})`,
      where: { file: displayName },
      hint: code === 'ENOENT' ? 'check the path' : 'check that it is a readable file',
    });
  }
  return parseYaml(text, displayName);
}
