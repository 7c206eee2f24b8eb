// Exclusive directories: the fact script lists exactly the entries nobody
// declared (run by sh on a real temp directory), with content only for small
// plain text and never when the directory is redact; compile hands each
// exclusive directory the names its host's other resources declare.

import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { removeUnmanagedScript, unmanagedChanges, unmanagedQuery, type ExclusiveSpec } from '../../src/resources/lib/exclusive-dir.js';
import { resourceTypes } from '../../src/resources/index.js';
import type { Resource } from '../../src/state/compile.js';
import { withDeclaredEntries } from '../../src/state/exclusive.js';

function listed(spec: ExclusiveSpec) {
  const q = unmanagedQuery(spec);
  const r = spawnSync('sh', ['-c', q.script], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return q.parse(r.stdout, { stdout: r.stdout, code: r.status ?? -1, stderr: r.stderr });
}

describe('exclusive directories', () => {
  const dir = mkdtempSync(join(tmpdir(), 'converge-excl-'));
  writeFileSync(join(dir, 'converge-alice'), 'alice ALL=(ALL) NOPASSWD:ALL\n');
  writeFileSync(join(dir, 'README'), 'from the package\n');
  writeFileSync(join(dir, 'zz-hand'), 'bob ALL=(ALL) ALL\n');
  writeFileSync(join(dir, '.hidden'), '');
  writeFileSync(join(dir, 'blob'), Buffer.from([0, 1, 2, 3]));
  writeFileSync(join(dir, 'big'), 'x'.repeat(5000));
  mkdirSync(join(dir, 'sub'));
  symlinkSync('../elsewhere', join(dir, 'link'));

  it('lists each undeclared, unkept entry: small text with its content, the rest by size and hash', () => {
    const entries = listed({ path: dir, managed: ['converge-alice'], keep: ['READ*'] });
    expect(entries.map((e) => e.name).sort()).toEqual(['.hidden', 'big', 'blob', 'link', 'sub', 'zz-hand']);
    const by = Object.fromEntries(entries.map((e) => [e.name, e]));
    expect(by['zz-hand']).toMatchObject({ type: 'regular file', size: 18, content: 'bob ALL=(ALL) ALL\n' });
    expect(by['zz-hand'].sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(by.blob.content).toBeUndefined();
    expect(by.big.content).toBeUndefined();
    expect(by.link).toMatchObject({ type: 'symbolic link', content: '../elsewhere' });
    expect(by.sub.type).toBe('directory');

    const changes = Object.fromEntries(unmanagedChanges({ path: dir }, entries).map((c) => [c.path, c]));
    expect(changes['entry:zz-hand']).toMatchObject({ action: 'delete' });
    expect(changes['entry:zz-hand'].diff).toContain('-bob ALL=(ALL) ALL');
    expect(changes['entry:blob'].before).toMatch(/content not shown: not small plain text/);
    expect(changes['entry:link'].before).toBe('symbolic link to ../elsewhere');
  });

  it('never reads content when the directory is redact', () => {
    const entries = listed({ path: dir, managed: ['converge-alice'], keep: ['README'], redact: true });
    expect(entries.every((e) => e.type === 'symbolic link' || e.content === undefined)).toBe(true);
    const c = unmanagedChanges({ path: dir, redact: true }, entries).find((x) => x.path === 'entry:zz-hand')!;
    expect(c.diff).toBeUndefined();
    expect(String(c.before)).toMatch(/^regular file, 18 bytes, sha256:[0-9a-f]{64} \(content not shown: entries here may hold secrets\)$/);
    expect(JSON.stringify(c)).not.toContain('bob ALL');
  });

  it('a missing directory has no entries', () => {
    expect(listed({ path: join(dir, 'nope') })).toEqual([]);
  });

  it('apply moves entries into the backup tree, stamped', () => {
    const s = removeUnmanagedScript('/etc/sudoers.d/', ['zz-hand']);
    expect(s).toContain('mkdir -p /var/lib/converge/backup/etc/sudoers.d');
    expect(s).toContain('mv -- /etc/sudoers.d/zz-hand /var/lib/converge/backup/etc/sudoers.d/zz-hand."$ts"');
  });

  it('compile gives each exclusive directory the names its host declares inside it, without touching shared resources', () => {
    const r = (kind: string, spec: object) => ({ kind, type: resourceTypes[kind], spec }) as unknown as Resource;
    const dirRes = r('directory', { path: '/etc/sudoers.d/', exclusive: true });
    const out = withDeclaredEntries([
      dirRes,
      r('user', { name: 'alice', sudo: 'nopasswd' }),
      r('user', { name: 'carol', sudo: 'none' }),
      r('file', { path: '/etc/sudoers.d/extra', content: 'x' }),
      r('file', { path: '/etc/sudoers.d/gone', ensure: 'absent' }),
      r('file', { path: '/etc/motd', content: 'x' }),
    ]);
    expect(out[0].spec.managed).toEqual(['converge-alice', 'extra']);
    expect(out[0].kind).toBe('directory');
    expect(dirRes.spec.managed).toBeUndefined();
  });
});
