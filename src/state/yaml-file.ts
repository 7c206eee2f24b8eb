// YAML documents that remember where every value came from, so each error
// can name the file and line of the value it is about.

import { readFileSync } from 'node:fs';
import { isCollection, isMap, isScalar, LineCounter, parseDocument, type Document } from 'yaml';
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
  const doc: Document = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new InputError(
      doc.errors.map((e) => ({
        message: `YAML syntax error: ${e.message.split('\n')[0]}`,
        where: { file, line: e.linePos?.[0]?.line },
        hint: 'fix the YAML syntax at that line (indentation, a missing colon or quote)',
      })),
    );
  }
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
  return { file, value: doc.toJS({ maxAliasCount: 100 }), lineOf };
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
