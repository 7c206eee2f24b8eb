import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { planCtx } from '../../test/unit/fixtures.js';
import { recorder } from '../../test/unit/apply-recorder.js';
import { planInput } from '../../test/support/fixtures.js';
import { fileTree } from './file-tree.js';

// Facts captured from a container (test/fixtures/file_tree/, see capture.mjs):
// the source test/fixtures/file/states/tree (a.txt, sub/b.txt, sub/logo.bin)
// copied to /tmp/fx/tree as nobody:nogroup, __pycache__ excluded.
const input = (name: string, extra: object = {}) => {
  const { spec, facts } = planInput(fileTree, name);
  return { spec: { ...spec, ...extra }, facts };
};
const plan = (name: string, extra: object = {}) => {
  const { spec, facts } = input(name, extra);
  return fileTree.plan(spec, facts, planCtx());
};

describe('file_tree plan', () => {
  it('creates the whole tree, parents first, with diffs of the text files only', () => {
    const changes = plan('absent');
    expect(changes.map((c) => [c.path, c.action])).toEqual([
      ['directory', 'create'],
      ['entry:a.txt', 'create'],
      ['entry:sub', 'create'],
      ['entry:sub/b.txt', 'create'],
      ['entry:sub/logo.bin', 'create'],
    ]);
    expect(changes[1].diff).toContain('+alpha');
    expect(changes[4].diff).toBeUndefined();
  });
  it('is empty for a copy as wanted, whatever is excluded beside it', () => {
    expect(plan('same')).toEqual([]);
    expect(plan('same', { clean: true })).toEqual([]);
  });
  it('reports each hand-made difference: content with its diff, owner, mode, a symlink in a file\'s place', () => {
    const changes = plan('drifted');
    expect(changes.map(({ diff: _d, ...c }) => c)).toEqual([
      { path: 'content:a.txt', action: 'update', before: 'sha256:ea802056a6c12b7cb0cf3d2e835f7d940a3a57c2561b884dec6109820081e549', after: expect.stringMatching(/^sha256:/) },
      { path: 'owner:sub', action: 'update', before: 'root', after: 'nobody' },
      { path: 'mode:sub/b.txt', action: 'update', before: '0600', after: '0644' },
      { path: 'entry:sub/logo.bin', action: 'replace', before: 'symlink', after: expect.stringMatching(/^sha256:/) },
    ]);
    expect(changes[0].diff).toContain('-edited');
  });
  it('with clean, also removes what the source does not have (a directory once), never what is excluded', () => {
    const deletes = plan('drifted', { clean: true }).filter((c) => c.action === 'delete');
    expect(deletes).toEqual([
      { path: 'entry:extra', action: 'delete', before: 'directory' },
      { path: 'entry:stray.txt', action: 'delete', before: 'file' },
    ]);
  });
  it('shows hashes only when sensitive', () => {
    const changes = plan('drifted', { sensitive: true });
    expect(changes[0]).toMatchObject({ path: 'content:a.txt', sensitive: true });
    expect(changes[0].diff).toBeUndefined();
  });
  it('refuses a file in the top directory\'s place', () => {
    expect(() => plan('not_dir')).toThrow('/tmp/fx/tree is not a directory');
  });
});

describe('file_tree apply', () => {
  it('sends only the changed files, in order on stdin, each checked by hash and renamed into place; fixes metadata; removes strays last', async () => {
    const { spec, facts } = input('drifted', { clean: true });
    const { ctx, commands } = recorder();
    await fileTree.apply(spec, fileTree.plan(spec, facts, ctx), facts, ctx);
    expect(commands).toHaveLength(1);
    const { script, stdin } = commands[0];
    expect(stdin?.toString('latin1')).toBe('alpha\n\x89PNG\x00\x01\x02');
    const lines = script.split('\n');
    expect(lines.filter((l) => l.startsWith('mv -fT'))).toEqual(['mv -fT "$tmp" ./a.txt', 'mv -fT "$tmp" ./sub/logo.bin']);
    expect(lines).toContain('head -c 6 > "$tmp"');
    expect(lines).toContain('chmod 0644 ./sub/b.txt');
    expect(lines).toContain('chown nobody:nogroup ./sub');
    expect(lines.slice(-2)).toEqual(['rm -rf ./extra', 'rm -rf ./stray.txt']);
  });
  it('makes new directories before the files in them', async () => {
    const { spec, facts } = input('absent');
    const { ctx, commands } = recorder();
    await fileTree.apply(spec, fileTree.plan(spec, facts, ctx), facts, ctx);
    const lines = commands[0].script.split('\n');
    expect(lines.indexOf("mkdir ./sub")).toBeLessThan(lines.indexOf('mv -fT "$tmp" ./sub/b.txt'));
    expect(lines.indexOf("mkdir ./sub")).toBeGreaterThan(0);
  });
});

describe('file_tree source', () => {
  const where = { file: 'states/app.yaml', line: 4 };
  const resolve = (statesDir: string, source: string) =>
    fileTree.resolve!({ path: '/srv/x', source }, { statesDir, vars: {}, where, renderTemplate: () => '' });
  it('is read parents first, sorted, excluded names left out', () => {
    const dir = mkdtempSync(join(tmpdir(), 'converge-tree-'));
    mkdirSync(join(dir, 't/b/__pycache__'), { recursive: true });
    writeFileSync(join(dir, 't/z'), 'z');
    writeFileSync(join(dir, 't/b/c'), 'c');
    writeFileSync(join(dir, 't/b/__pycache__/c.pyc'), 'x');
    const spec = fileTree.resolve!({ path: '/srv/x', source: 't', exclude: ['__pycache__'] }, { statesDir: dir, vars: {}, where, renderTemplate: () => '' });
    expect(spec.entries?.map((e) => e.rel)).toEqual(['b', 'b/c', 'z']);
  });
  it('refuses a missing source, one outside the states, and a symlink in it, naming the file and line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'converge-tree-'));
    mkdirSync(join(dir, 't'));
    symlinkSync('/etc/hostname', join(dir, 't/link'));
    expect(() => resolve(dir, 'nope')).toThrow('states/app.yaml:4: cannot read source directory "nope"');
    expect(() => resolve(dir, '../etc')).toThrow('source "../etc" is outside the states directory');
    expect(() => resolve(dir, 't')).toThrow(/holds link, which is not a file or directory .*\n\s*hint: replace it by the file it points to, or exclude it/);
  });
});
