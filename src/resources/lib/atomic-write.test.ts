// The atomic write script run by the local sh on a temp directory: it is
// plain POSIX sh + coreutils, the same on the controller as on a target.

import { spawnSync } from 'node:child_process';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { shq } from '../../core/shell.js';
import { atomicWriteScript, keptMetadata, type AtomicWrite } from './atomic-write.js';
import { sha256 } from '../file.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'converge-atomic-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** Writes `content` by the script; a file write gets the content's hash unless the test gives one. */
const write = (w: { path: string; metadata: string; validate?: string; backup?: boolean; symlinkTo?: string; sha256?: string }, content: string) =>
  spawnSync('sh', ['-c', atomicWriteScript((w.symlinkTo === undefined ? { sha256: sha256(content), ...w } : w) as AtomicWrite)], { input: content, encoding: 'utf8' });

describe('atomicWriteScript', () => {
  it('writes stdin to a new file (creating its directory) with the given metadata', () => {
    const p = join(dir, 'sub', 'f');
    const r = write({ path: shq(p), metadata: 'chmod 0600 "$tmp"' }, 'hello\n');
    expect(r.status).toBe(0);
    expect(readFileSync(p, 'utf8')).toBe('hello\n');
    expect(statSync(p).mode & 0o777).toBe(0o600);
    expect(readdirSync(join(dir, 'sub'))).toEqual(['f']);
  });

  it('keeps the old file, and leaves no temp file, when validation fails', () => {
    const p = join(dir, 'f');
    writeFileSync(p, 'old\n');
    const r = write({ path: shq(p), metadata: '', validate: 'grep -q good "$tmp"' }, 'bad\n');
    expect(r.status).toBe(3);
    expect(r.stderr).toContain('validate failed, old file kept');
    expect(readFileSync(p, 'utf8')).toBe('old\n');
    expect(readdirSync(dir)).toEqual(['f']);
  });

  it('replaces a symlink instead of writing through it, and keeps a backup when asked', () => {
    const target = join(dir, 'target');
    writeFileSync(target, 'untouched\n');
    const p = join(dir, 'link');
    symlinkSync(target, p);
    expect(write({ path: shq(p), metadata: '' }, 'new\n').status).toBe(0);
    expect(lstatSync(p).isSymbolicLink()).toBe(false);
    expect(readFileSync(p, 'utf8')).toBe('new\n');
    expect(readFileSync(target, 'utf8')).toBe('untouched\n');
    expect(write({ path: shq(p), metadata: '', backup: true }, 'newer\n').status).toBe(0);
    const backups = readdirSync(dir).filter((n) => n.startsWith('link.converge-bak-'));
    expect(backups).toHaveLength(1);
    expect(readFileSync(join(dir, backups[0]), 'utf8')).toBe('new\n');
    expect(readFileSync(p, 'utf8')).toBe('newer\n');
  });

  it('refuses content that arrived cut short (a dropped connection ends stdin early): the old file stays', () => {
    const p = join(dir, 'f');
    writeFileSync(p, 'old\n');
    const full = 'line\n'.repeat(1000);
    const r = write({ path: shq(p), metadata: '', sha256: sha256(full) }, full.slice(0, 1234));
    expect(r.status).toBe(3);
    expect(r.stderr).toContain('the content arrived incomplete (1234 bytes), old file kept');
    expect(readFileSync(p, 'utf8')).toBe('old\n');
    expect(readdirSync(dir)).toEqual(['f']);
    expect(write({ path: shq(p), metadata: '', sha256: sha256(full) }, full).status).toBe(0);
    expect(readFileSync(p, 'utf8')).toBe(full);
  });

  it('removes temp files a killed write left in the directory, and nothing else', () => {
    const p = join(dir, 'f');
    for (const n of ['.converge-Ab3dE6gH', '.converge-short', 'f.converge-bak-20250101T000000', '.converge-Ab3dE6gH9']) writeFileSync(join(dir, n), 'x');
    expect(write({ path: shq(p), metadata: '' }, 'new\n').status).toBe(0);
    expect(readdirSync(dir).sort()).toEqual(['.converge-Ab3dE6gH9', '.converge-short', 'f', 'f.converge-bak-20250101T000000']);
  });

  it('keeps the owner and mode of the file it replaces with keptMetadata()', () => {
    const p = join(dir, 'sshd_config');
    writeFileSync(p, 'old\n');
    chmodSync(p, 0o600);
    expect(write({ path: shq(p), metadata: keptMetadata() }, 'new\n').status).toBe(0);
    expect(statSync(p).mode & 0o777).toBe(0o600);
    expect(write({ path: shq(join(dir, 'fresh')), metadata: keptMetadata() }, 'x\n').status).toBe(0);
    expect(statSync(join(dir, 'fresh')).mode & 0o777).toBe(0o644);
  });

  it('copies from the old file only what the caller does not set itself', () => {
    expect(keptMetadata({ owner: 'a', group: 'b', mode: '0600' })).toBe('');
    expect(keptMetadata({ owner: 'a', mode: '0600' })).toContain('chown --reference');
    expect(keptMetadata({ owner: 'a', group: 'b' })).toContain('chmod --reference');
    expect(keptMetadata({ mode: '0600' })).not.toContain('chmod');
  });

  it('swaps a symlink to a directory for a new link, instead of making one inside that directory', () => {
    const p = join(dir, 'current');
    mkdirSync(join(dir, 'r1'));
    symlinkSync('r1', p);
    expect(write({ path: shq(p), metadata: '', symlinkTo: 'r2' }, '').status).toBe(0);
    expect(readlinkSync(p)).toBe('r2');
    expect(readdirSync(join(dir, 'r1'))).toEqual([]);
    expect(readdirSync(dir).filter((n) => n.startsWith('.converge-'))).toEqual([]);
  });

  it('replaces a regular file with a link', () => {
    const p = join(dir, 'localtime');
    writeFileSync(p, 'a copied zone file\n');
    expect(write({ path: shq(p), metadata: '', symlinkTo: '/usr/share/zoneinfo/Etc/UTC' }, '').status).toBe(0);
    expect(lstatSync(p).isSymbolicLink()).toBe(true);
    expect(readlinkSync(p)).toBe('/usr/share/zoneinfo/Etc/UTC');
  });
});
