// The CLI skips yargs' help layout after a command's handler
// (skipHelpLayoutAfterHandler in src/cli/main.ts reaches into yargs'
// internals): these fail when a yargs upgrade moves what it replaces, and
// show that help asked for is still laid out.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import yargs from 'yargs';
import { buildCli, type YargsUsageInternals } from '../../src/cli/main.js';

type Usage = ReturnType<ReturnType<YargsUsageInternals['getInternalMethods']>['getUsageInstance']> & { hasCachedHelpMessage(): boolean };
const usageOf = (cli: unknown) => (cli as YargsUsageInternals).getInternalMethods().getUsageInstance() as Usage;

describe('yargs help layout after a handler', () => {
  it('is what yargs does unless told otherwise (the internals replaced are still there)', async () => {
    const plain = yargs([]).command('go', 'a command', (y) => y, () => undefined);
    expect(typeof usageOf(plain).cacheHelpMessage).toBe('function');
    await plain.parseAsync(['go']);
    expect(usageOf(plain).hasCachedHelpMessage()).toBe(true);
  });

  it('is skipped by the converge CLI, whose command still runs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'converge-cli-'));
    try {
      const { cli, exitCode } = buildCli(['init', dir]);
      await cli.parseAsync();
      expect(exitCode()).toBe(0);
      expect(usageOf(cli).hasCachedHelpMessage()).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("still lays out a command's help when asked", async () => {
    const { cli } = buildCli([]);
    const output = await new Promise<string>((resolve) => cli.parse(['highstate', '--help'], {}, (_err: unknown, _argv: unknown, out: string) => resolve(out)));
    expect(output).toContain('converge highstate');
    expect(output).toContain('--check');
  });
});
