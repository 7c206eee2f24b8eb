// Fact fixtures: { command, output } captured from a real container, so
// parsers are tested against what hosts really print (pyinfra's model).
import type { ApplyContext, Command } from '../../src/core/resource.js';
import type { ExecResult } from '../../src/transport/transport.js';

import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const FIXTURES = join(import.meta.dirname, '../fixtures');

export function fixture(kind: string, name: string): { command: string; output: string } {
  return JSON.parse(readFileSync(join(FIXTURES, kind, `${name}.json`), 'utf8'));
}

export const planCtx = (sensitive = false) => ({ host: { name: 'h', sshPort: 22, loginUser: 'root' }, statesDir: '/states', sensitive });

/** An ApplyContext that records the commands apply sends and answers each with `reply` (exit 0 by default). */
export function recordingContext(opts: { sensitive?: boolean; reply?: (c: Command) => ExecResult } = {}) {
  const sent: Command[] = [];
  const answer = async (c: Command) => (sent.push(c), opts.reply?.(c) ?? { code: 0, stdout: '', stderr: '' });
  const ctx: ApplyContext = { ...planCtx(opts.sensitive), signal: new AbortController().signal, run: answer, exec: answer, canReconnect: async () => true };
  return { ctx, sent };
}
