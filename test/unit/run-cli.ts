// Runs the converge CLI in this process (main(), as bin/converge.js does) and
// captures what it prints, for tests of commands that need no host: no build
// of dist/ is needed, and each run costs milliseconds.

import { vi } from 'vitest';
import { main } from '../../src/cli/main.js';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export async function runCli(args: string[]): Promise<CliRun> {
  const captured = { stdout: '', stderr: '' };
  const capture = (stream: 'stdout' | 'stderr') =>
    vi.spyOn(process[stream], 'write').mockImplementation((chunk: string | Uint8Array) => {
      captured[stream] += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
      return true;
    });
  const spies = [capture('stdout'), capture('stderr')];
  const saved = { exitCode: process.exitCode, noColor: process.env.NO_COLOR };
  process.exitCode = undefined;
  process.env.NO_COLOR = '1';
  try {
    await main(args);
    return { code: Number(process.exitCode ?? 0), ...captured };
  } finally {
    spies.forEach((s) => s.mockRestore());
    process.exitCode = saved.exitCode;
    if (saved.noColor === undefined) delete process.env.NO_COLOR;
    else process.env.NO_COLOR = saved.noColor;
  }
}
