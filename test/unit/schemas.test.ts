import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { resourceTypes } from '../../src/resources/index.js';
import { SCHEMAS_DIR } from '../../src/state/schemas.js';

const ROOT = join(import.meta.dirname, '../..');
const kinds = readdirSync(join(SCHEMAS_DIR, 'resources')).map((f) => f.replace('.schema.json', '')).sort();

describe('schemas', () => {
  it('generated types and state.schema.json are up to date', () => {
    // exits 1 and names the stale files when someone edited a schema without `npm run gen:types`
    expect(() => execFileSync(process.execPath, [join(ROOT, 'scripts/gen-types.mjs'), '--check'], { stdio: 'pipe' })).not.toThrow();
  });

  it('every registered resource type has a schema, and every schema a registered type', () => {
    expect(Object.keys(resourceTypes).sort()).toEqual(kinds);
  });

  it.each(kinds)('the examples of %s validate against its schema', (kind) => {
    const schema = JSON.parse(readFileSync(join(SCHEMAS_DIR, 'resources', `${kind}.schema.json`), 'utf8'));
    expect(schema.examples?.length, `${kind} needs at least one example (docs are generated from them)`).toBeGreaterThan(0);
    const validate = new Ajv({ strict: false }).compile(schema);
    for (const ex of schema.examples) expect(validate(ex), JSON.stringify(validate.errors)).toBe(true);
  });
});

describe('generated docs', () => {
  it('docs/resources.md and docs/cli.md match the schemas and the CLI', async () => {
    const { resourceDocs, cliDocs } = await import('../../src/cli/docs.js');
    const read = (f: string) => readFileSync(join(ROOT, f), 'utf8');
    expect(read('docs/resources.md'), 'run `npm run gen:docs`').toBe(resourceDocs());
    expect(read('docs/cli.md'), 'run `npm run gen:docs`').toBe(await cliDocs());
  });
});
