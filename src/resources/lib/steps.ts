// A step is one resource's apply as a single script (with its content on
// stdin). Alone it is one exec; a type whose resources often change
// together on a first apply (files, directories) groups them: the steps of
// every member go in one exec, each in a subshell of its own, so one that
// fails (a validate command refusing its content) fails alone and the rest
// are still made, exactly as they would have been one exec each.

import { randomBytes } from 'node:crypto';
import type { HostError } from '../../core/diagnostics.js';
import type { ApplyContext, Command } from '../../core/resource.js';
import { commandFailure, type ExecResult } from '../../transport/transport.js';

export interface Step extends Command {
  /** What the step does, for its error message: "writing /etc/motd". */
  purpose: string;
}

/** Content larger than this is sent on its own exec's stdin rather than inlined (base64) in a grouped script. */
export const MAX_INLINED_BYTES = 64 * 1024;

export async function runStep(step: Step, ctx: ApplyContext): Promise<void> {
  await ctx.run(step, step.purpose);
}

/**
 * The steps, as few execs as they allow: those that run as the login user
 * and carry little content in one script, each in a subshell whose stdin is
 * its own content (decoded from base64 inlined in the script) or
 * /dev/null, its output and exit code cut back out of the shared stdout by
 * a token no content can guess. Returns each step's failure, or undefined.
 * A step whose end marker never came (the script was cut short) failed.
 */
export async function runSteps(steps: readonly Step[], ctx: ApplyContext): Promise<(HostError | undefined)[]> {
  const failures: (HostError | undefined)[] = new Array(steps.length).fill(undefined);
  const together: number[] = [];
  for (const [i, s] of steps.entries()) {
    if (s.runAs === undefined && (s.stdin === undefined || Buffer.byteLength(s.stdin) <= MAX_INLINED_BYTES)) together.push(i);
    else await runStep(s, ctx).catch((e: HostError) => (failures[i] = e));
  }
  if (together.length === 1) {
    const i = together[0];
    await runStep(steps[i], ctx).catch((e: HostError) => (failures[i] = e));
  } else if (together.length > 1) {
    const token = randomBytes(8).toString('hex');
    const res = await ctx.exec({ script: together.map((i, n) => grouped(steps[i], token, n)).join('\n') });
    const parts = splitGrouped(res, token, together.length);
    for (const [n, i] of together.entries()) {
      const part = parts[n] ?? { code: 1, stdout: '', stderr: '', cutOff: res.cutOff ?? `the grouped script ended before this step (${res.code === 0 ? 'no exit code' : `exit ${res.code}`})` };
      if (part.code !== 0 || part.cutOff) failures[i] = commandFailure(steps[i].purpose, part, ctx.host.name);
    }
  }
  return failures;
}

/**
 * Step n of a grouped script: a function (a heredoc on the line that calls
 * it would otherwise swallow the script), called in a subshell with its
 * stdin; its output (stderr merged), then `TOKEN n EXIT` on a line of its own.
 */
function grouped(step: Step, token: string, n: number): string {
  const fn = `converge_step_${n}`;
  // base64 carries any bytes through a heredoc; its delimiter holds a '-', which base64 text never does.
  const call = step.stdin === undefined
    ? `( ${fn} ) </dev/null 2>&1`
    : `base64 -d <<'${token}-end' | ( ${fn} ) 2>&1\n${Buffer.from(step.stdin).toString('base64').replace(/.{1,76}/g, '$&\n')}${token}-end`;
  return `${fn}() {\n${step.script}\n}\n${call}\nrc=$?; echo; echo "${token} ${n} $rc"`;
}

/** The grouped script's output, back into one result per step (undefined for steps that never reported). */
function splitGrouped(res: ExecResult, token: string, count: number): (ExecResult | undefined)[] {
  const out: (ExecResult | undefined)[] = new Array(count).fill(undefined);
  let from = 0;
  for (const m of res.stdout.matchAll(new RegExp(`\\n${token} (\\d+) (\\d+)\\n`, 'g'))) {
    const n = Number(m[1]);
    // The output echo's newline in front of the marker is the script's, not the step's.
    if (n < count) out[n] = { code: Number(m[2]), stdout: res.stdout.slice(from, m.index), stderr: '' };
    from = m.index! + m[0].length;
  }
  return out;
}
