import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { recorder, unread } from '../../test/unit/apply-recorder.js';
import { factFixture, FIXTURES } from '../../test/support/fixtures.js';
import { planCtx } from '../../test/unit/fixtures.js';
import type { AptRepoSpec } from '../generated/index.js';
import { aptRepo, armorPublicKey, indexed, indexScript, keyPath, normalizeKey, parseIndex, renderSources, sourcesPath } from './apt-repo.js';
import { parseFileFacts, sha256 } from './file.js';

const KEY_ASC = readFileSync(join(FIXTURES, 'apt_repo/key.asc'), 'utf8');
const KEY_GPG = readFileSync(join(FIXTURES, 'apt_repo/key.gpg'));
const spec: AptRepoSpec = { name: 'convtest', uris: ['file:/srv/repo'], suites: ['stable'], components: ['main'], key: KEY_ASC };
/** The repository name each index fixture was captured for (its query reads that name's sources file). */
const INDEX_REPO: Record<string, string> = { index_no_sources_file: 'nope', index_one_suite_fetched: 'convtest2' };
const index = (name: string) => factFixture(aptRepo.facts({ ...spec, name: INDEX_REPO[name] ?? spec.name }, planCtx()).index, 'apt_repo', name);
const compileCtx = (statesDir: string) => ({ statesDir, vars: {}, renderTemplate: () => '', where: { file: 'states/apt.yaml', line: 3 } });

/** Facts of a converged repo, with the index fixture given. */
function facts(indexFixture: string, over: { sources?: string; key?: string } = {}) {
  const file = (content: string) => parseFileFacts(`type=file\nowner=root\ngroup=root\nmode=644\nsize=${content.length}\nsha256=${sha256(content)}\n`);
  return { sources: file(over.sources ?? renderSources(spec)), key: file(over.key ?? KEY_ASC), index: index(indexFixture) };
}

describe('apt_repo keys', () => {
  it('armors a binary key exactly as gpg --armor --export does (with the CRC-24 line)', () => {
    expect(armorPublicKey(KEY_GPG)).toBe(KEY_ASC);
    expect(normalizeKey(KEY_GPG)).toBe(KEY_ASC);
  });
  it('keeps an armored key (without text around it) and rejects what is not a key', () => {
    expect(normalizeKey(Buffer.from(`exported by hand\n${KEY_ASC}\n\n`))).toBe(KEY_ASC);
    expect(normalizeKey(Buffer.from('ssh-ed25519 AAAA... not a pgp key\n'))).toBeUndefined();
    expect(normalizeKey(Buffer.from('-----BEGIN PGP PRIVATE KEY BLOCK-----\n'))).toBeUndefined();
  });
  it('resolve reads key_source from the state tree, binary or armored, and never leaves key_source behind', () => {
    const dir = mkdtempSync(join(tmpdir(), 'converge-apt-'));
    writeFileSync(join(dir, 'vendor.gpg'), KEY_GPG);
    const { key, uris, suites, components, name } = spec;
    const resolved = aptRepo.resolve!({ name, uris, suites, components, key_source: 'vendor.gpg' }, compileCtx(dir));
    expect(resolved).toEqual({ ...spec, key });
    expect(() => aptRepo.resolve!({ name, uris, suites, key_source: 'missing.asc' }, compileCtx(dir))).toThrow(/cannot read key_source missing.asc/);
    expect(() => aptRepo.resolve!({ name, uris, suites, key_source: '../etc/passwd' }, compileCtx(dir))).toThrow(/outside the states directory/);
    writeFileSync(join(dir, 'notakey.txt'), 'hello\n');
    expect(() => aptRepo.resolve!({ name, uris, suites, key_source: 'notakey.txt' }, compileCtx(dir))).toThrow(/not an OpenPGP public key/);
    expect(() => aptRepo.resolve!({ name, uris, suites, key: 'mQINBF...' }, compileCtx(dir))).toThrow(/not an ASCII-armored public key/);
  });
});

describe('apt_repo sources file', () => {
  it('is a deb822 stanza whose Signed-By names its own keyring file', () => {
    expect(renderSources({ ...spec, architectures: ['amd64', 'arm64'] })).toBe(
      [
        '# Managed by converge (apt_repo convtest): changes made here are overwritten.',
        'Types: deb',
        'URIs: file:/srv/repo',
        'Suites: stable',
        'Components: main',
        'Architectures: amd64 arm64',
        'Signed-By: /etc/apt/keyrings/convtest.asc',
        '',
      ].join('\n'),
    );
    // A flat repository has no Components line.
    expect(renderSources({ name: 'flat', uris: ['file:/srv/flat'], suites: ['./'], types: ['deb', 'deb-src'] })).not.toMatch(/Components/);
    expect([sourcesPath('x'), keyPath('x')]).toEqual(['/etc/apt/sources.list.d/x.sources', '/etc/apt/keyrings/x.asc']);
  });
});

describe('apt_repo index facts', () => {
  it('lists each fetched repo and suite of this sources file only', () => {
    expect(index('index_fetched')).toEqual(['file:/srv/repo/ stable']);
    expect(index('index_no_sources_file')).toEqual([]);
    // A suite whose Packages list is gone is not listed by apt.
    expect(index('index_packages_missing')).toEqual([]);
  });
  it('counts a repository as fetched only when every URI x suite is', () => {
    expect(indexed(spec, index('index_fetched'))).toBe(true);
    expect(indexed({ ...spec, suites: ['stable', 'other'] }, index('index_one_suite_fetched'))).toBe(false);
    expect(indexed(spec, index('index_packages_missing'))).toBe(false);
  });
  it('the index script only reads: no cache written, no other source consulted', () => {
    const s = indexScript('convtest');
    expect(s).toContain('-o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache=');
    expect(s).toContain('Dir::Etc::sourcelist=/etc/apt/sources.list.d/convtest.sources');
    expect(s).not.toMatch(/\bupdate\b|\b(rm|mv|cp|tee)\b|>[^&]/);
  });
});

describe('apt_repo plan', () => {
  it('is empty when both files match and the index was fetched', () => {
    expect(aptRepo.plan(spec, facts('index_fetched'), planCtx())).toEqual([]);
  });
  it('creates key and sources and refreshes this repository on a new host', () => {
    const absent = { type: 'absent' as const };
    const changes = aptRepo.plan(spec, { key: absent, sources: absent, index: [] }, planCtx());
    expect(changes.map((c) => [c.path, c.action])).toEqual([
      ['key', 'create'],
      ['sources', 'create'],
      ['index', 'run'],
    ]);
    // The sources file shows its diff; the key block shows only its hash.
    expect(changes[1].diff).toContain('+Signed-By: /etc/apt/keyrings/convtest.asc');
    expect(changes[0].diff).toBeUndefined();
    expect(changes[0].after).toBe(`sha256:${sha256(KEY_ASC)}`);
  });
  it('a changed suite rewrites the sources file and refreshes the index once', () => {
    const changes = aptRepo.plan({ ...spec, suites: ['testing'] }, facts('index_fetched'), planCtx());
    expect(changes.map((c) => c.path)).toEqual(['sources', 'index']);
  });
  it('a sources file in sync whose index is missing (an interrupted run) is refreshed', () => {
    expect(aptRepo.plan(spec, facts('index_packages_missing'), planCtx())).toEqual([{ path: 'index', action: 'run', before: 'not fetched', after: 'apt-get update of this repository only' }]);
  });
  it('absent deletes the files that exist, and nothing else', () => {
    const f = facts('index_fetched');
    expect(aptRepo.plan({ name: 'convtest', ensure: 'absent' }, f, planCtx())).toEqual([
      { path: 'key', action: 'delete', before: 'file' },
      { path: 'sources', action: 'delete', before: 'file' },
    ]);
    expect(aptRepo.plan({ name: 'convtest', ensure: 'absent' }, { key: { type: 'absent' }, sources: { type: 'absent' }, index: [] }, planCtx())).toEqual([]);
  });
});

describe('apt_repo apply', () => {
  it('writes the key before the sources file, then refreshes only this repository', async () => {
    const rec = recorder();
    const changes = aptRepo.plan(spec, { key: { type: 'absent' }, sources: { type: 'absent' }, index: [] }, planCtx());
    await aptRepo.apply(spec, changes, unread(), rec.ctx);
    const [key, sources, update] = rec.commands;
    expect([key.stdin, sources.stdin]).toEqual([KEY_ASC, renderSources(spec)]);
    expect(key.script).toContain('p=/etc/apt/keyrings/convtest.asc');
    expect(key.script).toContain('chmod 0644 "$tmp"');
    expect(update.script).toBe(
      'apt-get -q update -o Dir::Etc::sourcelist=/etc/apt/sources.list.d/convtest.sources -o Dir::Etc::sourceparts=/nonexistent ' +
        '-o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= -o APT::Get::List-Cleanup=0 2>&1',
    );
  });
  it('reports a refresh that apt refused with apt\'s own error lines', async () => {
    const out = 'Err:1 file:/srv/repo stable InRelease\nW: GPG error: file:/srv/repo stable InRelease: NO_PUBKEY 70CF098F5EA28CEF\nE: The repository \'file:/srv/repo stable InRelease\' is not signed.\n';
    const rec = recorder((cmd) => (cmd.script.startsWith('apt-get') ? { code: 100, stdout: out } : {}));
    await expect(aptRepo.apply(spec, [{ path: 'index', action: 'run' }], unread(), rec.ctx)).rejects.toThrow(
      /apt-get update of repository convtest failed \(exit 100\): W: GPG error: .*NO_PUBKEY 70CF098F5EA28CEF \/ E: The repository .* is not signed/,
    );
  });
  it('absent removes key and sources file', async () => {
    const rec = recorder();
    await aptRepo.apply({ name: 'convtest', ensure: 'absent' }, [{ path: 'sources', action: 'delete' }], unread(), rec.ctx);
    expect(rec.scripts()).toEqual(['rm -f /etc/apt/keyrings/convtest.asc /etc/apt/sources.list.d/convtest.sources']);
  });
});
