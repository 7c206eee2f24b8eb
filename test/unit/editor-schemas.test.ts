// Editors complete and check converge's YAML through the
// `# yaml-language-server: $schema=PATH` line at the top of each file (and
// VS Code's yaml.schemas that `converge init` writes). This test resolves
// those paths the way the editor does (relative to the file) and validates
// every example in the repo, and what `converge init` writes, against the
// schema it names, so the editor setup cannot rot.

import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';
import { minimatch } from 'minimatch';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { SCHEMAS_DIR } from '../../src/state/schemas.js';
import { runCli } from './run-cli.js';

const ROOT = resolve(SCHEMAS_DIR, '..');
const MODELINE = /^# yaml-language-server: \$schema=(\S+)\s*$/m;

function walk(dir: string, keep: (f: string) => boolean): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    if (['node_modules', 'dist', '.cache', '.git'].includes(name)) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p, keep));
    else if (keep(p)) out.push(p);
  }
  return out;
}

/** Every schema under schemas/, known by its file URL, so relative $refs resolve as in an editor. */
const ajv = new Ajv({ allErrors: true, strict: false });
for (const f of walk(SCHEMAS_DIR, (p) => p.endsWith('.schema.json'))) ajv.addSchema({ ...JSON.parse(readFileSync(f, 'utf8')), $id: pathToFileURL(f).href });
const validatorFor = (schemaFile: string): ValidateFunction => {
  // A copy `converge init` made (its schemas/): the same file as the one under schemas/, known by its own URL.
  const copyOf = join(SCHEMAS_DIR, basename(schemaFile));
  if (!ajv.getSchema(pathToFileURL(schemaFile).href) && schemaFile !== copyOf && readFileSync(schemaFile, 'utf8') === readFileSync(copyOf, 'utf8')) {
    ajv.addSchema({ ...JSON.parse(readFileSync(schemaFile, 'utf8')), $id: pathToFileURL(schemaFile).href });
  }
  const v = ajv.getSchema(pathToFileURL(schemaFile).href);
  if (!v) throw new Error(`${schemaFile} is not a schema under schemas/`);
  return v;
};

/** The schema a file's modeline names, resolved relative to the file; undefined without a modeline. */
function modelineSchema(file: string): string | undefined {
  const m = MODELINE.exec(readFileSync(file, 'utf8'));
  return m ? resolve(dirname(file), m[1]) : undefined;
}

function expectValid(file: string, schemaFile: string): void {
  const validate = validatorFor(schemaFile);
  const ok = validate(parse(readFileSync(file, 'utf8')));
  expect(ok, `${relative(ROOT, file)} against ${relative(ROOT, schemaFile)}:\n${JSON.stringify(validate.errors, null, 2)}`).toBe(true);
}

const isYaml = (p: string) => /\.ya?ml$/.test(p);
const withModeline = walk(ROOT, isYaml).filter((f) => modelineSchema(f) !== undefined);
/** What each kind of file must name: the examples people copy must carry the line. */
const expected = (file: string): string | undefined => {
  const rel = relative(ROOT, file);
  if (/^inventories\/[^/]+\.ya?ml$/.test(rel)) return 'inventory.schema.json';
  if (/^states\/(.+\/)?top\.ya?ml$/.test(rel)) return 'top.schema.json';
  if (/^states\/(.+\/)?vars\.ya?ml$/.test(rel)) return 'vars.schema.json';
  if (/^states\//.test(rel)) return 'state.schema.json';
  return undefined;
};

describe('editor schemas ($schema modelines)', () => {
  it('the example inventories and states carry a modeline', () => {
    const missing = walk(ROOT, isYaml).filter((f) => expected(f) && !modelineSchema(f));
    expect(missing.map((f) => `${relative(ROOT, f)}: add "# yaml-language-server: $schema=${relative(dirname(f), join(SCHEMAS_DIR, expected(f)!))}" as its first line`)).toEqual([]);
  });

  it.each(withModeline.map((f) => [relative(ROOT, f)]))('%s names a schema that exists and validates it', (rel) => {
    const file = join(ROOT, rel);
    const schemaFile = modelineSchema(file)!;
    expect(relative(SCHEMAS_DIR, schemaFile), `${rel} names ${schemaFile}, outside schemas/`).not.toMatch(/^\.\./);
    const want = expected(file);
    if (want) expect(relative(SCHEMAS_DIR, schemaFile)).toBe(want);
    expectValid(file, schemaFile);
  });

  it('the state schema takes templates where values are rendered per host, and still catches mistakes', () => {
    const validate = validatorFor(join(SCHEMAS_DIR, 'state.schema.json'));
    const state = (user: Record<string, unknown>) => ({ resources: { 'dev-{{ item.name }}': { for_each: '{{ developers }}', user } } });
    expect(validate(state({ name: '{{ item.name }}', ssh_keys: '{{ item.keys }}', uid: '{{ item.uid }}', sudo: 'nopasswd' })), JSON.stringify(validate.errors)).toBe(true);
    expect(validate(state({ name: 'Alice!' }))).toBe(false);
    expect(validate(state({ name: 'alice', ssh_keys: 'not a template' }))).toBe(false);
    expect(validate(state({ name: 'alice', colour: 'red' }))).toBe(false);
    expect(validate(state({ name: 'alice', sudo: 'always' }))).toBe(false);
  });

  it('what `converge init` writes validates against the schemas it names, and VS Code maps the same schemas', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'converge-init-'));
    const r = await runCli(['init', dir]);
    expect(r.code, r.stderr).toBe(0);
    const files = walk(dir, isYaml);
    expect(files.map((f) => relative(dir, f)).sort()).toEqual(['inventory.yaml', 'states/base.yaml', 'states/top.yaml']);
    const settings = JSON.parse(readFileSync(join(dir, '.vscode/settings.json'), 'utf8'))['yaml.schemas'] as Record<string, string[]>;
    for (const f of files) {
      const schemaFile = modelineSchema(f);
      expect(schemaFile, `${f} has no modeline`).toBeDefined();
      expectValid(f, schemaFile!);
      // yaml.schemas: paths relative to the workspace; a file matches the globs of exactly its own schema.
      const mapped = Object.entries(settings).filter(([, globs]) => globs.some((g) => !g.startsWith('!') && minimatch(relative(dir, f), g)) && !globs.some((g) => g.startsWith('!') && minimatch(relative(dir, f), g.slice(1))));
      expect(mapped.map(([s]) => resolve(dir, s)), relative(dir, f)).toEqual([schemaFile]);
      // The schemas are in the tree itself: moving the tree keeps the paths.
      expect(schemaFile!.startsWith(join(dir, 'schemas') + '/'), schemaFile).toBe(true);
    }
  });
});
