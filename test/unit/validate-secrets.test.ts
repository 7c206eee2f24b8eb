// `converge validate` in CI without production secrets: a secret this
// environment cannot supply is a note (validated with a placeholder), never
// an error; show and highstate still refuse without it.

import { afterEach, describe, expect, it } from 'vitest';
import { cpSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './run-cli.js';

const INV = join(import.meta.dirname, '../../inventories/example-production.yaml');
const ENV_SECRETS = ['MYPROJ_DB_PASSWORD', 'MYPROJ_REPLICATION_PASSWORD', 'MYPROJ_RABBITMQ_PASSWORD'];

/** A temp dir with inventory.yaml (host h1, then `more`) and states/ whose one state has one resource entry. */
function oneFileTree(prefix: string, entry: string, more = ''): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  mkdirSync(join(dir, 'states'));
  writeFileSync(join(dir, 'states/top.yaml'), 'roles:\n  all: [app]\n');
  writeFileSync(join(dir, 'states/app.yaml'), `resources:\n  ${entry}\n`);
  writeFileSync(join(dir, 'inventory.yaml'), `states: states\nhosts:\n  h1: { address: 127.0.0.1 }\n${more}`);
  return dir;
}

describe('validate without secrets', () => {
  afterEach(() => ENV_SECRETS.forEach((v) => delete process.env[v]));

  it('passes, listing each secret missing here as a note with where it is declared', async () => {
    const r = await runCli(['validate', '-i', INV]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^valid: .*example-production\.yaml, .*top\.yaml and the states of 7 host\(s\)/m);
    for (const v of ENV_SECRETS) expect(r.stdout).toContain(`environment variable ${v} is not set here; validated with a placeholder`);
    expect(r.stdout).toMatch(/^note: secret db_password \(.*example-production\.yaml:29\): /m);
    expect(r.stdout).toMatch(/^note: secret django_secret_key .*myproj-django-secret-key does not exist here/m);
  });

  it('with the variables set, lists only the secrets still missing', async () => {
    for (const v of ENV_SECRETS) process.env[v] = `value-of-${v}`;
    const r = await runCli(['validate', '-i', INV]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toContain('environment variable');
    expect(r.stdout).toContain('note: secret django_secret_key');
  });

  it('an env secret with a default takes the default when the variable is unset, and is redacted', async () => {
    const dir = oneFileTree(
      'converge-secret-default-',
      'token:\n    file: { path: /etc/token, content: "{{ token }}|{{ token | length }}", mode: "0600" }',
      'secrets:\n  token: { env: CONVERGE_TEST_UNSET_TOKEN, default: dev-token }\n',
    );
    const r = await runCli(['show', 'h1', '-i', join(dir, 'inventory.yaml')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('|9');
    expect(r.stdout).not.toContain('dev-token');
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'states: states\nhosts:\n  h1: { address: 127.0.0.1 }\nsecrets:\n  token: { file: x, default: dev-token }\n');
    const v = await runCli(['validate', '-i', bad]);
    expect(v.code).toBe(1);
    expect(v.stderr).toMatch(/bad\.yaml:5: secrets\.token: must have property env when property default is present/);
    writeFileSync(bad, 'states: states\nhosts:\n  h1: { address: 127.0.0.1 }\nsecrets:\n  token: { file: x, env: Y }\n');
    const two = await runCli(['validate', '-i', bad]);
    expect(two.code).toBe(1);
    expect(two.stderr).toMatch(/bad\.yaml:5: secrets\.token: must have exactly one of/);
  });

  it('show and highstate --check still refuse without them, naming the variable', async () => {
    for (const cmd of [['show', 'web-1'], ['highstate', '--check']]) {
      const r = await runCli([...cmd, '-i', INV]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/example-production\.yaml:29: secrets\.db_password: environment variable MYPROJ_DB_PASSWORD is not set/);
    }
  });

  // A file lookup('file') reads that a setup step makes (the demo's login key,
  // .cache/test-key.pub, made by scripts/build-test-image.sh): validate on a
  // fresh checkout stands a placeholder in for it, show refuses.
  it("validates a tree whose lookup('file') file is not there yet with a note; show still refuses", async () => {
    const dir = oneFileTree('converge-lookup-missing-', 'key:\n    file: { path: /etc/key.pub, content: "{{ lookup(\'file\', \'../.cache/key.pub\') }}", mode: "0644" }');
    const v = await runCli(['validate', '-i', join(dir, 'inventory.yaml')]);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toMatch(/^valid: /m);
    expect(v.stdout).toMatch(/^note: lookup\('file', '\.\.\/\.cache\/key\.pub'\): .*\.cache\/key\.pub does not exist here; validated with a placeholder/m);
    const show = await runCli(['show', 'h1', '-i', join(dir, 'inventory.yaml')]);
    expect(show.code).toBe(1);
    expect(show.stderr).toContain("lookup('file', '../.cache/key.pub'): no such file in the states directory");
    // Once the file is there: its text, and no note.
    mkdirSync(join(dir, '.cache'));
    writeFileSync(join(dir, '.cache/key.pub'), 'ssh-ed25519 AAAA test\n');
    const again = await runCli(['validate', '-i', join(dir, 'inventory.yaml')]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).not.toContain('note:');
    expect((await runCli(['show', 'h1', '-i', join(dir, 'inventory.yaml')])).stdout).toContain('ssh-ed25519 AAAA test');
  });

  it('validates the demo inventories in a checkout that has no .cache yet', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'converge-fresh-checkout-'));
    const root = join(import.meta.dirname, '../..');
    cpSync(join(root, 'states'), join(dir, 'states'), { recursive: true });
    cpSync(join(root, 'inventories'), join(dir, 'inventories'), { recursive: true });
    for (const inv of ['demo.yaml', 'demo-allinone.yaml']) {
      const r = await runCli(['validate', '-i', join(dir, 'inventories', inv)]);
      expect(r.code, `${inv}: ${r.stderr}`).toBe(0);
      expect(r.stdout).toContain("note: lookup('file', '../.cache/test-key.pub')");
    }
  });
});
