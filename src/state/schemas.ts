// ajv over the JSON Schemas in schemas/: the same files editors use.

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { InputError, type Diagnostic } from '../core/diagnostics.js';
import { formatPath, type PathSegment, type YamlFile } from './yaml-file.js';

export const SCHEMAS_DIR = join(dirname(fileURLToPath(import.meta.url)), '../../schemas');

let ajv: Ajv | undefined;
const compiled = new Map<string, ValidateFunction>();

/**
 * A schema is added and compiled when first asked for: a run uses a few of
 * them, and adding all (each checked against the meta-schema, the editors'
 * state.schema.json among them) cost ~25 ms of CPU more. Every schema's
 * $refs are within itself (#/definitions/...).
 */
function validator(key: string): ValidateFunction {
  let v = compiled.get(key);
  if (!v) {
    let schema: unknown;
    try {
      schema = JSON.parse(readFileSync(join(SCHEMAS_DIR, key), 'utf8'));
    } catch (e) {
      throw new Error(`no schema ${key} in ${SCHEMAS_DIR}: ${(e as Error).message}`);
    }
    // Not checked against the meta-schema here: they are converge's own files, each checked so by
    // test/unit/editor-schemas.test.ts, and compiling the meta-schema to check them was ~28 ms of every run's CPU.
    ajv ??= new Ajv({ allErrors: true, strict: false, useDefaults: false, verbose: true, validateSchema: false });
    v = ajv.compile(schema as object);
    compiled.set(key, v);
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
