// cmd: guard outputs captured from a test container
// (test/fixtures/cmd/guards.json: each spec's guardScript run inside a
// subshell, as the fact batch does, followed by a line the batch prints
// after it), the parser, and plans.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CmdSpec } from '../generated/index.js';
import { recorder } from '../../test/unit/apply-recorder.js';
import { cmd, guardScript, parseGuards, planCmd } from './cmd.js';

const fixtures: Record<string, { spec: CmdSpec; output: string }> = JSON.parse(readFileSync(join(import.meta.dirname, '../../test/fixtures/cmd/guards.json'), 'utf8'));
const guardOf = (name: string) => parseGuards(fixtures[name].output).guard;

describe('guards (captured from a container)', () => {
  it('names the guard that decided', () => {
    expect(guardOf('creates-exists')).toBe('creates');
    expect(guardOf('creates-missing')).toBe('none');
    expect(guardOf('unless-passes')).toBe('unless');
    expect(guardOf('unless-fails')).toBe('none');
    expect(guardOf('onlyif-fails')).toBe('onlyif');
    expect(guardOf('onlyif-passes-in-cwd')).toBe('none');
    expect(guardOf('cwd-missing')).toBe('cwd');
  });

  it('gives the guards the env', () => {
    expect(guardOf('env-seen-by-guard')).toBe('unless');
  });

  it('keeps a broken or stdin-reading guard from breaking the fact batch', () => {
    expect(guardOf('guard-syntax-error')).toBe('none');
    // The guard's stdin is /dev/null, not the rest of the batched script.
    expect(fixtures['guard-reads-stdin'].output).toBe('guard=none\nafter-the-guards\n');
  });

  it('matches the script the fixtures were captured with', () => {
    expect(guardScript(fixtures['env-seen-by-guard'].spec)).toBe(
      [`export WANT='it'\\''s here'`, `if ! { cd "\${HOME:-/}" || cd /; }; then echo guard=cwd`, `elif ( eval 'test "$WANT" = "it'\\''s here"' ) </dev/null >/dev/null 2>&1; then echo guard=unless`, 'else echo guard=none; fi'].join('\n'),
    );
  });

  it('reads nothing from empty output', () => {
    expect(parseGuards('')).toEqual({});
    expect(parseGuards('guard=bogus\n')).toEqual({});
  });
});

describe('planCmd', () => {
  it('runs when the guards say so, saying why', () => {
    expect(planCmd(fixtures['creates-missing'].spec, { guard: 'none' })).toEqual([{ path: 'command', action: 'run', before: '/tmp/made is missing', after: 'touch /tmp/made' }]);
    expect(planCmd({ run: 'x', unless: 'a', onlyif: 'b' }, { guard: 'none' })[0].before).toBe('unless check failed, onlyif check passed');
    expect(planCmd({ run: 'ls', cwd: '/srv/nope', unless: 'true' }, { guard: 'cwd' })[0].before).toBe('cwd /srv/nope is missing');
  });

  it('is empty when a guard says skip', () => {
    for (const guard of ['creates', 'unless', 'onlyif'] as const) expect(planCmd({ run: 'x', creates: '/x', unless: 'a', onlyif: 'b' }, { guard })).toEqual([]);
  });

  it('is empty without guards: a triggered command runs from watch/onchanges only', () => {
    expect(planCmd({ run: 'systemctl daemon-reload' }, {})).toEqual([]);
    expect(cmd.facts({ run: 'systemctl daemon-reload' }, { host: { name: 'h', sshPort: 22, loginUser: 'root' }, sensitive: false, statesDir: '/s' })).toEqual({});
  });

  it('fails clearly when the guards could not be evaluated', () => {
    expect(() => planCmd({ run: 'x', creates: '/x' }, {})).toThrow(/could not evaluate the guards/);
  });
});

describe('cmd resource', () => {
  it('runs its guards as runas, keyed by everything they depend on', () => {
    const ctx = { host: { name: 'h', sshPort: 22, loginUser: 'root' }, sensitive: false, statesDir: '/s' };
    const q = cmd.facts({ run: 'x', runas: 'app', creates: '/x' }, ctx).guards!;
    expect(q.runAs).toBe('app');
    expect(q.key).not.toBe(cmd.facts({ run: 'x', runas: 'app', creates: '/y' }, ctx).guards?.key);
    expect(q.key).toBe(cmd.facts({ run: 'other command', runas: 'app', creates: '/x' }, ctx).guards?.key);
  });

  it('comes after its runas user and its cwd', () => {
    expect(cmd.implicitAfter!({ run: 'x', runas: 'app', cwd: '/srv/app/' })).toEqual(['user:app', 'directory:/srv/app']);
    expect(cmd.implicitAfter!({ run: 'x' })).toEqual([]);
  });

  it('never puts env values in the script (they go on stdin)', async () => {
    const { ctx, commands: calls } = recorder(undefined, true);
    expect(await cmd.onWatch!({ run: 'deploy --token "$TOKEN"', env: { TOKEN: 'hunter2-secret' }, runas: 'app', cwd: '/srv' }, {}, [], ctx)).toBe('ran');
    expect(calls).toHaveLength(1);
    expect(calls[0].script).not.toContain('hunter2');
    expect(calls[0].script).not.toContain('deploy');
    expect(calls[0].stdin).toBe(`export TOKEN=hunter2-secret\ndeploy --token "$TOKEN"\n`);
    expect(calls[0].runAs).toBe('app');
    // Triggered again after its own apply ran it, or while its guards say skip: nothing.
    expect(await cmd.onWatch!({ run: 'x', creates: '/x' }, { guards: { guard: 'none' } }, [{ path: 'command', action: 'run' }], ctx)).toBeUndefined();
    expect(await cmd.onWatch!({ run: 'x', creates: '/x' }, { guards: { guard: 'creates' } }, [], ctx)).toBeUndefined();
    expect(calls).toHaveLength(1);
  });
});
