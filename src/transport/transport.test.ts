// The transport helpers every transport shares: the command line (with the
// run.active guard), progress lines on stderr, and how a command ended.

import { describe, expect, it } from 'vitest';
import { commandLine, describeExit, stderrCollector } from './transport.js';

describe('commandLine', () => {
  it('holds the guard shared by a flock of its own (-o: not inherited by what the command starts)', () => {
    expect(commandLine('root', undefined, true, 'x')).toBe('sh -s');
    expect(commandLine('root', undefined, true, 'x', '/var/lib/converge/run.active')).toBe("flock -s -o '/var/lib/converge/run.active' sh -s");
    expect(commandLine('root', 'app', true, 'x', '/g')).toBe("flock -s -o '/g' su -s /bin/sh -c 'sh -s' 'app'");
    expect(commandLine('deploy', undefined, true, 'x', '/g')).toBe("flock -s -o '/g' sudo -n -H -u 'root' sh -s");
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
