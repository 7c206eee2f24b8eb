// The JSON Schemas in schemas/ (the same files editors use), checked by the
// ajv standalone validators scripts/gen-types.mjs generates from them.

import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { InputError, type Diagnostic } from '../core/diagnostics.js';
import { formatPath, type PathSegment, type YamlFile } from './yaml-file.js';

export const SCHEMAS_DIR = join(dirname(fileURLToPath(import.meta.url)), '../../schemas');

const VALIDATORS_DIR = join(dirname(fileURLToPath(import.meta.url)), '../generated/validators');
const requireValidator = createRequire(import.meta.url);
const loaded = new Map<string, ValidateFunction>();

/**
 * A schema's validator is loaded when first asked for: a run uses a few of
 * them, and loading all cost more CPU than it saves. They are generated
 * (not compiled here) so that a run neither imports ajv's compiler nor
 * compiles schemas, which was ~60 ms of a run's CPU. CommonJS, so a
 * synchronous require loads one on demand.
 */
function validator(key: string): ValidateFunction {
  let v = loaded.get(key);
  if (!v) {
    // gen-types writes schemas/<dir>/<name>.schema.json's validator as <dir>/<name>.schema.cjs.
    const file = join(VALIDATORS_DIR, key.replace(/\.json$/, '.cjs'));
    try {
      v = requireValidator(file) as ValidateFunction;
    } catch (e) {
      throw new Error(`no validator for schema ${key} in ${VALIDATORS_DIR} (run \`npm run gen:types\`): ${(e as Error).message}`);
    }
    loaded.set(key, v);
  }
  return v;
}

/** Human wording for one ajv error, with the expected shape. */
function describe(e: ErrorObject): string {
  switch (e.keyword) {
    case 'additionalProperties':
      return `unknown field "${(e.params as { additionalProperty: string }).additionalProperty}"`;
    case 'required':
      return `missing required field "${(e.params as { missingProperty: string }).missingProperty}"`;
    case 'enum':
      return `must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'type':
      return `must be ${(e.params as { type: string }).type}`;
    case 'pattern':
      return `does not match the expected form ${(e.params as { pattern: string }).pattern}`;
    case 'not':
      return 'has fields that cannot be used together';
    case 'oneOf':
      return 'must have exactly one of the alternatives its schema lists (e.g. one source), not several';
    default:
      return e.message ?? e.keyword;
  }
}

function allowedFields(schemaKey: string, e: ErrorObject): string {
  if (e.keyword !== 'additionalProperties') return '';
  const s = e.parentSchema as { properties?: Record<string, unknown> } | undefined;
  const names = Object.keys(s?.properties ?? {});
  return names.length ? `allowed fields: ${names.join(', ')}` : '';
}

/** Where a person reads the expected shape: the docs, not a schema file inside the converge checkout. */
function shapeHint(schemaKey: string): string {
  const kind = /^resources\/(.+)\.schema\.json$/.exec(schemaKey)?.[1];
  return kind ? `see the ${kind} fields in docs/resources.md#${kind}` : `see docs/state-language.md for the expected shape (schema: schemas/${schemaKey})`;
}

/**
 * Validate value against a schema; errors point at file:line of the offending
 * value, using basePath to place value inside the YAML document.
 */
export function schemaDiagnostics(schemaKey: string, value: unknown, src: YamlFile, basePath: PathSegment[]): Diagnostic[] {
  const v = validator(schemaKey);
  if (v(value)) return [];
  // A oneOf or if error only wraps the errors of its branches, which say more;
  // but a oneOf that failed because several branches matched has no others.
  const all = v.errors ?? [];
  const inner = all.filter((e) => !(e.keyword === 'oneOf' || e.keyword === 'if'));
  const errors = inner.length ? inner : all;
  return errors.map((e) => {
    const rel: PathSegment[] = e.instancePath
      .split('/')
      .slice(1)
      .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
      .map((p) => (/^\d+$/.test(p) ? Number(p) : p));
    const extra = e.keyword === 'additionalProperties' ? [(e.params as { additionalProperty: string }).additionalProperty] : [];
    const path = [...basePath, ...rel, ...extra];
    // `mode: 0644` is a YAML number, not the string the schema wants.
    const plain = e.keyword === 'type' && (e.params as { type: string }).type === 'string' ? src.plainSource?.(path) : undefined;
    return {
      message: describe(e) + (plain !== undefined ? ` (YAML reads ${plain} unquoted as ${JSON.stringify(e.data)})` : ''),
      where: { file: src.file, line: src.lineOf(path), path: formatPath(path) },
      hint: plain !== undefined ? `quote it: ${String(path[path.length - 1])}: "${plain}"` : allowedFields(schemaKey, e) || shapeHint(schemaKey),
    };
  });
}

export function assertSchema(schemaKey: string, value: unknown, src: YamlFile, basePath: PathSegment[] = []): void {
  const d = schemaDiagnostics(schemaKey, value, src, basePath);
  if (d.length) throw new InputError(d);
}
