import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { planCtx } from '../../test/unit/fixtures.js';
import { recorder } from '../../test/unit/apply-recorder.js';
import { planInput, resolveSpec, SCENARIO_STATES } from '../../test/support/fixtures.js';
import { batchScript, splitBatch } from '../engine/facts.js';
import { Content, file, fileFactQuery, fileFactScript, MAX_FETCH_BYTES, parseFileFacts, sha256, textDiff } from './file.js';

/** A captured scenario's file fact (test/fixtures/file/<name>.json, refused when stale). */
const fileFixture = (name: string) => planInput(file, name).facts.file;
const facts = (name: string) => ({ file: fileFixture(name) });

describe('file facts', () => {
  it('parse stat, hash and the content of a file that differs', () => {
    const f = fileFixture('existing_differs');
    expect(f).toMatchObject({ type: 'file', owner: 'root', group: 'root', mode: 0o644, size: 15 });
    expect(f.content?.toString()).toBe('old line\nhello\n');
  });
  it('do not fetch content that already matches, or that is sensitive', () => {
    expect(fileFixture('existing_same').content).toBeUndefined();
    expect(fileFixture('sensitive').content).toBeUndefined();
  });
  it('tell absent, directories and symlinks apart', () => {
    expect(fileFixture('absent').type).toBe('absent');
    expect(fileFixture('directory').type).toBe('directory');
    expect(fileFixture('link').type).toBe('link');
  });
  it('the fact script only reads', () => {
    const s = fileFactScript('/etc/motd', sha256('x'), true);
    expect(s).not.toMatch(/\b(rm|mv|cp|chmod|chown|tee|mkdir)\b|>[^&]/);
  });
  it('in a batch (sh functions defined once) answer as the standalone scripts do', () => {
    const dir = mkdtempSync(join(tmpdir(), 'converge-file-facts-'));
    writeFileSync(join(dir, 'same'), 'x');
    writeFileSync(join(dir, "it's spaced"), 'old\n');
    writeFileSync(join(dir, 'big'), Buffer.alloc(MAX_FETCH_BYTES + 1, 'a'));
    mkdirSync(join(dir, 'dir'));
    symlinkSync(join(dir, 'same'), join(dir, 'link'));
    const cases = ['same', "it's spaced", 'big', 'dir', 'link', 'absent'].flatMap((name) =>
      [sha256('x'), undefined].flatMap((hash) => [true, false].map((fetch) => ({ path: join(dir, name), hash, fetch }))),
    );
    const queries = cases.map(({ path, hash, fetch }, i) => fileFactQuery(`q${i}`, path, hash, fetch));
    const batched = splitBatch(execFileSync('/bin/sh', ['-s'], { input: batchScript(queries, 'tok') }).toString(), queries, 'tok');
    for (const [i, { path, hash, fetch }] of cases.entries()) {
      const alone = execFileSync('/bin/sh', ['-c', `LC_ALL=C; export LC_ALL\n${fileFactScript(path, hash, fetch)}`]).toString();
      expect(batched.get(`q${i}`), `${path} ${hash} ${fetch}`).toEqual({ stdout: alone, code: 0, stderr: '' });
      expect(batched.get(`q${i}`)!.stdout).toContain('type=');
    }
  });
});

describe('desired content', () => {
  it('hashes and judges inline text as its UTF-8 bytes would be', () => {
    for (const text of ['hello\n', 'caf\u00e9 \ud83d\ude00', 'lone \ud800 surrogate', 'nul \u0000 inside', '']) {
      const fromText = new Content(text);
      const fromBytes = new Content(Buffer.from(text));
      expect([fromText.sha256, fromText.isText, fromText.bytes], JSON.stringify(text)).toEqual([fromBytes.sha256, fromBytes.isText, fromBytes.bytes]);
    }
  });
});

describe('file plan', () => {
  const spec = { path: '/etc/motd', content: 'hello\n' };
  it('is empty when content and metadata match', () => {
    expect(file.plan({ path: '/tmp/same', content: 'hello\n', mode: '0640', owner: 'root' }, facts('existing_same'), planCtx())).toEqual([]);
  });
  it('shows a unified diff of changed content', () => {
    const [c] = file.plan(spec, facts('existing_differs'), planCtx());
    expect(c).toMatchObject({ path: 'content', action: 'update' });
    expect(c.diff).toContain('-old line\n hello');
  });
  it('shows only hashes for sensitive content', () => {
    const [c] = file.plan(spec, facts('sensitive'), planCtx(true));
    expect(c).toMatchObject({ path: 'content', sensitive: true, after: `sha256:${sha256('hello\n')}` });
    expect(c.diff).toBeUndefined();
  });
  it('creates a missing file with its metadata', () => {
    const changes = file.plan({ ...spec, mode: '600', owner: 'app' }, facts('absent'), planCtx());
    expect(changes.map((c) => [c.path, c.action, c.after])).toEqual([
      ['content', 'create', `sha256:${sha256('hello\n')}`],
      ['owner', 'create', 'app'],
      ['mode', 'create', '0600'],
    ]);
  });
  it('changes only the mode when only the mode differs', () => {
    expect(file.plan({ path: '/tmp/same', content: 'hello\n', mode: '0644' }, facts('existing_same'), planCtx())).toEqual([{ path: 'mode', action: 'update', before: '0640', after: '0644' }]);
  });
  it('replaces a symlink with a file', () => {
    expect(file.plan(spec, facts('link'), planCtx()).map((c) => c.path)).toEqual(['file', 'content']);
  });
  it('refuses to overwrite a directory', () => {
    expect(() => file.plan(spec, facts('directory'), planCtx())).toThrow(/is a directory, not a file/);
  });
  it('deletes when absent is wanted', () => {
    expect(file.plan({ path: '/etc/motd', ensure: 'absent' }, facts('existing_same'), planCtx())).toEqual([{ path: 'file', action: 'delete', before: 'file' }]);
    expect(file.plan({ path: '/etc/nope', ensure: 'absent' }, facts('absent'), planCtx())).toEqual([]);
  });
});

describe('file source', () => {
  const logo = readFileSync(join(SCENARIO_STATES, 'files/logo.bin'));
  it('is read on the controller into bytes that print as their hash', () => {
    const spec = resolveSpec(file, { path: '/x', source: 'files/logo.bin' });
    expect(spec.sourceContent?.bytes.equals(logo)).toBe(true);
    expect(JSON.stringify(spec)).toContain(`"sourceContent":"sha256:${sha256(logo)} (48 bytes)"`);
  });
  it('must exist inside the states directory', () => {
    expect(() => resolveSpec(file, { path: '/x', source: '../capture.mjs' })).toThrow(/outside the states directory/);
    expect(() => resolveSpec(file, { path: '/x', source: 'files/nope' })).toThrow(/cannot read source "files\/nope"/);
  });
  it('compares binary content by hash on the host, never downloading it', () => {
    const { spec, facts } = planInput(file, 'source_binary_differs');
    expect(file.facts(spec, planCtx()).file.script).not.toContain('base64');
    expect(file.plan(spec, facts, planCtx())).toEqual([
      { path: 'content', action: 'update', before: 'sha256:5559f8c3b1821ee2042bb89470d51329338e7c1de06019a0894ff91c7da2f4ce', after: `sha256:${sha256(logo)}` },
    ]);
  });
  it('is in sync when the hashes match', () => {
    const { spec, facts } = planInput(file, 'source_binary_same');
    expect(file.plan(spec, facts, planCtx())).toEqual([]);
  });
  it('sends the bytes on stdin, untouched', async () => {
    const { spec, facts } = planInput(file, 'source_binary_differs');
    const { ctx, commands: sent } = recorder();
    await file.apply(spec, file.plan(spec, facts, ctx), facts, ctx);
    expect(Buffer.isBuffer(sent[0].stdin) && sent[0].stdin.equals(logo)).toBe(true);
  });
  it('shows no diff when either side is binary', () => {
    expect(textDiff('/x', Buffer.from('a\n'), Buffer.from([0, 1]), false)).toBeUndefined();
    expect(textDiff('/x', Buffer.from('a\n'), Buffer.from('b\n'), false)).toContain('-a\n+b');
  });
});
