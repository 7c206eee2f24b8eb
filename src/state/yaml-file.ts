// YAML documents that remember where every value came from, so each error
// can name the file and line of the value it is about.

import { readFileSync } from 'node:fs';
import { isCollection, LineCounter, parseDocument, type Document } from 'yaml';
import { InputError } from '../core/diagnostics.js';

export type PathSegment = string | number;

export interface YamlFile {
  file: string;
  value: unknown;
  /** 1-based line of the value at path, or of its nearest ancestor present in the file. */
  lineOf(path: PathSegment[]): number | undefined;
}

export function formatPath(path: PathSegment[]): string {
  return path
    .map((p, i) => (typeof p === 'number' ? `[${p}]` : /^[A-Za-z_][\w-]*$/.test(p) ? (i ? '.' : '') + p : `[${JSON.stringify(p)}]`))
    .join('');
}

export function parseYaml(text: string, file: string): YamlFile {
  const lineCounter = new LineCounter();
  const doc: Document = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new InputError(
      doc.errors.map((e) => ({
        message: `YAML syntax error: ${e.message.split('\n')[0]}`,
        where: { file, line: e.linePos?.[0]?.line },
        hint: 'fix the YAML syntax at that line (indentation, a missing colon or quote)',
      })),
    );
  }
  const lineOf = (path: PathSegment[]): number | undefined => {
    for (let n = path.length; n >= 0; n--) {
      const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true);
      const range = (node as { range?: [number, number, number] } | undefined)?.range;
      if (range) return lineCounter.linePos(range[0]).line;
      // a scalar key's value node may be null (key with no value): use the pair's key position
      if (n > 0) {
        const parent = n === 1 ? doc.contents : doc.getIn(path.slice(0, n - 1), true);
        if (isCollection(parent)) {
          const pair = (parent.items as { key?: { value?: unknown; range?: [number, number, number] } }[]).find(
            (it) => it.key && (it.key as { value?: unknown }).value === path[n - 1],
          );
          if (pair?.key?.range) return lineCounter.linePos(pair.key.range[0]).line;
        }
      }
    }
    return undefined;
  };
  return { file, value: doc.toJS({ maxAliasCount: 100 }), lineOf };
}

export function readYaml(path: string, displayName = path): YamlFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new InputError({ message: `cannot read file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, where: { file: displayName }, hint: 'check the path' });
  }
  return parseYaml(text, displayName);
}
