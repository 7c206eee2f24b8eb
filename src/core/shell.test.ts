import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { spooled } from './shell.js';

const sh = (script: string, stdin = '') => spawnSync('/bin/sh', ['-c', script], { input: stdin, encoding: 'utf8' });

describe('spooled', () => {
  it('prints the output (stderr merged) when the script ends, with its exit code', () => {
    const r = sh(spooled('set -e\necho one\necho two >&2\nfalse\necho never'));
    expect(r.stdout).toBe('one\ntwo\n');
    expect(r.status).toBe(1);
  });
  it('runs to its end when whatever reads its output is gone (SIGPIPE on a write would stop it half way)', () => {
    const done = join(mkdtempSync(join(tmpdir(), 'spooled-')), 'done');
    // `| true` reads nothing and exits: every write to the pipe after that is a SIGPIPE.
    const script = spooled(`set -e\nsleep 0.3\necho one\necho two\ntouch ${done}`);
    spawnSync('/bin/sh', ['-c', `/bin/sh -c '${script.replace(/'/g, `'\\''`)}' | true`]);
    expect(existsSync(done)).toBe(true);
  });
  it('gives the script /dev/null as stdin, so it cannot swallow what follows on the real stdin', () => {
    expect(sh(spooled('cat; echo end'), 'rest of the input\n').stdout).toBe('end\n');
  });
});
