// The transport helpers every transport shares: what is exec'd (the script
// on stdin, never in argv; the run.active guard), progress lines on stderr,
// and how a command ended.

import { spawnSync } from 'node:child_process';
import { userInfo } from 'node:os';
import { describe, expect, it } from 'vitest';
import { commandLine, describeExit, invocation, stderrCollector } from './transport.js';

describe('invocation', () => {
  const sh = (inv: { line: string; input: string | Buffer }) => spawnSync('/bin/sh', ['-c', inv.line], { input: inv.input, encoding: 'utf8' });

  it('sends the script on stdin, never on the command line, also ahead of content', () => {
    const script = 'secret=canary-1234; cat | tr a-z A-Z; echo "$secret" >&2';
    const alone = invocation(userInfo().username, undefined, script);
    expect(alone).toEqual({ line: 'sh -s', input: script });
    const withContent = invocation(userInfo().username, undefined, script, 'hello\nworld\n');
    expect(withContent.line).not.toContain('canary');
    const r = sh(withContent);
    expect([r.status, r.stdout, r.stderr]).toEqual([0, 'HELLO\nWORLD\n', 'canary-1234\n']);
  });

  it('refuses a script that arrived cut short', () => {
    const inv = invocation(userInfo().username, undefined, 'echo ran', 'content');
    const r = sh({ line: inv.line, input: Buffer.from(inv.input).subarray(0, 5) });
    expect([r.status, r.stdout, r.stderr]).toEqual([125, '', 'converge: the script arrived incomplete\n']);
  });

  it('holds the guard shared by a flock of its own (-o: not inherited by what the command starts)', () => {
    expect(commandLine('root', undefined, 'sh -s', '/var/lib/converge/run.active')).toBe("flock -s -o '/var/lib/converge/run.active' sh -s");
    expect(commandLine('root', 'app', 'sh -s', '/g')).toBe("flock -s -o '/g' su -s /bin/sh -c 'sh -s' 'app'");
    expect(commandLine('deploy', undefined, 'sh -s', '/g')).toBe("flock -s -o '/g' sudo -n -H -u 'root' sh -s");
  });
});

describe('stderrCollector', () => {
  it('passes progress lines on, however the chunks split them, and keeps the rest', () => {
    const notes: string[] = [];
    const c = stderrCollector((n) => notes.push(n));
    for (const chunk of ['warn: a\nconverge-pro', 'gress: waiting for X\r\n', 'E: b']) c.push(Buffer.from(chunk));
    expect(notes).toEqual(['waiting for X']);
    expect(c.text()).toBe('warn: a\nE: b');
  });
});

describe('describeExit', () => {
  it('names a signal behind 128+n and says why a command was cut off', () => {
    expect(describeExit({ code: 3, stdout: '', stderr: '' })).toBe('exit 3');
    expect(describeExit({ code: 137, stdout: '', stderr: '' })).toBe('exit 137 (killed by SIGKILL)');
    expect(describeExit({ code: 255, stdout: '', stderr: '', cutOff: 'the SSH connection was lost' })).toBe('the SSH connection was lost');
  });
});
