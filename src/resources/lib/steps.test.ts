// Grouped steps run by the local sh (the same POSIX sh + coreutils as on a
// target): one exec for many steps, each with its own stdin and its own
// failure.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ApplyContext } from '../../core/resource.js';
import { shq } from '../../core/shell.js';
import { commandFailure } from '../../transport/transport.js';
import { LocalTransport } from '../../transport/local.js';
import { planCtx } from '../../../test/unit/fixtures.js';
import { MAX_INLINED_BYTES, runSteps, type Step } from './steps.js';

let dir: string;
let transport: LocalTransport;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'converge-steps-'));
  transport = new LocalTransport('local');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function context(): ApplyContext {
  const exec: ApplyContext['exec'] = (cmd) => transport.exec(cmd.script, { stdin: cmd.stdin, runAs: cmd.runAs });
  return {
    ...planCtx(false),
    signal: new AbortController().signal,
    exec,
    canReconnect: async () => true,
    run: async (cmd, purpose) => {
      const res = await exec(cmd);
      if (res.code !== 0) throw commandFailure(purpose, res, 'local');
      return res;
    },
  };
}

const writeStep = (name: string, content: string | Buffer): Step => ({ script: `cat > ${shq(join(dir, name))}`, stdin: content, purpose: `writing ${name}` });

describe('runSteps', () => {
  it('runs the steps in one exec, each with its own stdin, and fails only the step that failed', async () => {
    const binary = Buffer.from([0, 1, 2, 255, 10, 0]);
    const failures = await runSteps(
      [
        writeStep('a', 'first\nline without its newline'),
        writeStep('b', binary),
        { script: 'echo checking >&2\necho refused >&2\nexit 3', purpose: 'checking c' },
        // A step without content reads an empty stdin, not the rest of the script.
        { script: `cat > ${shq(join(dir, 'd'))}`, purpose: 'writing d' },
        writeStep('e', ''),
      ],
      context(),
    );
    expect(transport.execCount).toBe(1);
    expect(failures.map((f) => f?.message)).toEqual([undefined, undefined, 'checking c failed (exit 3): checking / refused', undefined, undefined]);
    expect(readFileSync(join(dir, 'a'), 'utf8')).toBe('first\nline without its newline');
    expect(readFileSync(join(dir, 'b')).equals(binary)).toBe(true);
    expect(readFileSync(join(dir, 'd'), 'utf8')).toBe('');
    expect(readFileSync(join(dir, 'e'), 'utf8')).toBe('');
  });

  it('sends large content on an exec of its own', async () => {
    const big = 'x'.repeat(MAX_INLINED_BYTES + 1);
    const failures = await runSteps([writeStep('big', big), writeStep('small-1', '1'), writeStep('small-2', '2')], context());
    expect(failures).toEqual([undefined, undefined, undefined]);
    expect(transport.execCount).toBe(2);
    expect(readFileSync(join(dir, 'big'), 'utf8')).toBe(big);
    expect(readFileSync(join(dir, 'small-2'), 'utf8')).toBe('2');
  });

  it('fails the steps that never reported when the script itself was cut short', async () => {
    const failures = await runSteps([writeStep('a', 'a'), { script: 'kill -KILL $$', purpose: 'dying' }, writeStep('c', 'c')], context());
    expect(failures[0]).toBeUndefined();
    expect(failures[1]?.message).toMatch(/^dying failed \(the grouped script ended before this step \(exit 137\)\)/);
    expect(failures[2]?.message).toMatch(/^writing c failed \(the grouped script ended before this step/);
  });
});
