// A recording ApplyContext for unit tests of apply() and onWatch(): it keeps
// every command a resource sends, and answers each with a canned result
// (exit 0 unless `answer` says otherwise). run() throws on a non-zero exit,
// as the engine's does.

import type { ApplyContext, Command } from '../../src/core/resource.js';
import type { ExecResult } from '../../src/transport/transport.js';
import { planCtx } from './fixtures.js';

export interface Recorder {
  ctx: ApplyContext;
  commands: Command[];
  /** The scripts sent, in order. */
  scripts(): string[];
}

export function recorder(answer: (cmd: Command) => Partial<ExecResult> = () => ({}), sensitive = false): Recorder {
  const commands: Command[] = [];
  const exec = async (cmd: Command): Promise<ExecResult> => {
    commands.push(cmd);
    return { code: 0, stdout: '', stderr: '', ...answer(cmd) };
  };
  const ctx: ApplyContext = {
    ...planCtx(sensitive),
    signal: new AbortController().signal,
    exec,
    canReconnect: async () => true,
    run: async (cmd, purpose) => {
      const res = await exec(cmd);
      if (res.code !== 0) throw new Error(`${purpose} failed (exit ${res.code})`);
      return res;
    },
  };
  return { ctx, commands, scripts: () => commands.map((c) => c.script) };
}

/** Facts for an apply or onWatch that never reads them (the test would fail loudly if it did). */
export const unread = <F>(): F =>
  new Proxy({}, { get: (_t, name) => { throw new Error(`the test says this apply reads no facts, but it read ${String(name)}`); } }) as F;
