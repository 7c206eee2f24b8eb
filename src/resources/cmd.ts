// cmd: a shell command. With guards (creates, unless, onlyif) it runs when
// they say so, and must then satisfy them: the engine re-reads the guards
// after apply and requires them to say "skip". Without guards it runs only
// when something it watches (or names in onchanges) changed.

import { HostError } from '../core/diagnostics.js';
import type { ApplyContext, Change, FactQueries, ResourceType } from '../core/resource.js';
import { shq, spooled } from '../core/shell.js';
import type { CmdSpec } from '../generated/index.js';
import { sha256 } from './file.js';
import { keyValues } from './lib/fs-common.js';

/** Which guard decided: none (run), cwd (missing, so run and let it fail clearly), or the guard that says skip. */
export type Guard = 'none' | 'cwd' | 'creates' | 'unless' | 'onlyif';

export interface GuardFacts {
  /** Undefined when the guard script printed nothing. */
  guard?: Guard;
}

export const hasGuards = (spec: CmdSpec) => spec.creates !== undefined || spec.unless !== undefined || spec.onlyif !== undefined;
const guardSaysRun = (g: GuardFacts) => g.guard === 'none' || g.guard === 'cwd';

/** sh exports of spec.env; they travel on stdin (apply) or in the fact script (stdin of sh -s), never in argv. */
function envExports(env: CmdSpec['env']): string {
  return Object.entries(env ?? {})
    .map(([k, v]) => `export ${k}=${shq(v)}\n`)
    .join('');
}

/** sh that enters the command's working directory: cwd, or runas's home (sudo -H sets it), or /. */
function cdCommand(spec: CmdSpec): string {
  return spec.cwd !== undefined ? `cd ${shq(spec.cwd)}` : '{ cd "${HOME:-/}" || cd /; }';
}

/**
 * Read-only: evaluate the guards in order and print `guard=NAME`. The checks
 * run under eval in a subshell, with no stdin (stdin is the batched fact
 * script itself) and their output discarded, so a typo in one cannot break
 * the batch.
 */
export function guardScript(spec: CmdSpec): string {
  const check = (cmd: string) => `( eval ${shq(cmd)} ) </dev/null >/dev/null 2>&1`;
  const tests: [string, Guard][] = [];
  if (spec.creates !== undefined) tests.push([`[ -e ${shq(spec.creates)} ]`, 'creates']);
  tests.push([`! ${cdCommand(spec)}`, 'cwd']);
  if (spec.unless !== undefined) tests.push([check(spec.unless), 'unless']);
  if (spec.onlyif !== undefined) tests.push([`! ${check(spec.onlyif)}`, 'onlyif']);
  const chain = tests.map(([test, guard], i) => `${i ? 'elif' : 'if'} ${test}; then echo guard=${guard}`);
  return `${envExports(spec.env)}${chain.join('\n')}\nelse echo guard=none; fi`;
}

export function parseGuards(text: string): GuardFacts {
  const g = keyValues(text).get('guard');
  return g && ['none', 'cwd', 'creates', 'unless', 'onlyif'].includes(g) ? { guard: g as Guard } : {};
}

/** Why the command would run, for the report. */
function runReason(spec: CmdSpec, g: GuardFacts): string {
  if (g.guard === 'cwd') return `cwd ${spec.cwd} is missing`;
  const why = [spec.creates !== undefined && `${spec.creates} is missing`, spec.unless !== undefined && 'unless check failed', spec.onlyif !== undefined && 'onlyif check passed'];
  return why.filter(Boolean).join(', ');
}

export function planCmd(spec: CmdSpec, g: GuardFacts): Change[] {
  // No guard: a triggered command, run by onWatch only.
  if (!hasGuards(spec)) return [];
  if (!g.guard) throw new HostError('could not evaluate the guards (creates/unless/onlyif): their check printed nothing', 'run the guard commands by hand on the host to see why');
  return guardSaysRun(g) ? [{ path: 'command', action: 'run', before: runReason(spec, g), after: spec.run }] : [];
}

/** The first line of the command, shortened, to name it in errors. */
const label = (run: string) => {
  const line = run.trim().split('\n')[0];
  return line.length > 60 ? `${line.slice(0, 57)}...` : line;
};

/**
 * Run the command with sh in its cwd as runas. The command and its env go on
 * stdin (env values may be secrets); the command's own stdin is /dev/null.
 * Its output (stderr merged, so a failure shows the output's tail) is
 * spooled on the host: a connection lost meanwhile cannot kill it, and it
 * runs to its end.
 */
async function runCommand(spec: CmdSpec, ctx: ApplyContext): Promise<void> {
  const script = ['s=$(cat)', `${cdCommand(spec)} || exit 1`, spooled('eval "$s"')].join('\n');
  await ctx.run({ script, stdin: `${envExports(spec.env)}${spec.run}\n`, runAs: spec.runas }, `running "${label(spec.run)}"`);
}

/** A command without guards reads nothing. */
type CmdFacts = { guards?: GuardFacts };

export const cmd: ResourceType<CmdSpec, CmdFacts> = {
  kind: 'cmd',
  implicitAfter: (spec) => [...(spec.runas ? [`user:${spec.runas}`] : []), ...(spec.cwd ? [`directory:${spec.cwd.replace(/\/+$/, '') || '/'}`] : [])],

  facts(spec): FactQueries<CmdFacts> {
    if (!hasGuards(spec)) return {};
    const { runas, cwd, env, creates, unless, onlyif } = spec;
    return { guards: { key: `cmd-guards:${sha256(JSON.stringify([runas, cwd, env, creates, unless, onlyif]))}`, runAs: runas, script: guardScript(spec), parse: parseGuards } };
  },

  plan: (spec, facts) => planCmd(spec, facts.guards ?? {}),

  apply: (spec, _changes, _facts, ctx) => runCommand(spec, ctx),

  async onWatch(spec, facts, applied, ctx) {
    // Guards decide even when triggered (as in Salt); a run its own apply just made is not repeated.
    if (applied.length || (hasGuards(spec) && !guardSaysRun(facts.guards ?? {}))) return undefined;
    await runCommand(spec, ctx);
    return 'ran';
  },

  watchVerb: () => 'run',
};
