// highstate and apply: plan (and apply unless --check) over the targeted
// hosts, print per-host reports as hosts finish and a closing summary.

import { defaultConnect, loadHostStates, prepareHosts } from '../engine/run.js';
import { FactsCache } from '../engine/facts-cache.js';
import { readMissingFacts } from '../engine/first-facts.js';
import type { HostEvent } from '../engine/host-run.js';
import { exitCode, type FailOn, type RunResult } from '../core/result.js';
import { InputError } from '../core/diagnostics.js';
import { hostReport, redactRun, redactedJson, summaryLine, useColor } from '../report/text.js';
import { htmlReport } from '../report/html.js';
import { markdownReport } from '../report/markdown.js';
import { writeFileSync } from 'node:fs';
import { createProgress, type ProgressMode } from '../report/progress.js';
import { checkPlanArgs, planMode } from './plan-option.js';
import { loadContext, oneHost, type CommonArgs } from './context.js';
import { inShard, parseShard } from '../fleet/shard.js';
import { checkBatch, crossHost, runWithCrossHost } from '../fleet/fleet-run.js';
import { Rollouts } from '../fleet/rollout.js';
import type { Host } from '../inventory/inventory.js';

export interface RunArgs extends CommonArgs {
  check: boolean;
  diff: boolean;
  forks: number;
  json: boolean;
  verbose: boolean;
  acceptNewHostKeys: boolean;
  waitLock?: number;
  batch?: string;
  progress?: ProgressMode;
  report?: string;
  maxFail?: string;
  stateNames?: string[];
  /** --shard K/N: this controller's part of the targeted hosts. */
  shard?: string;
  /** --check --out PLAN; apply-plan PLAN and its --max-age. */
  out?: string;
  plan?: string;
  maxAge?: number;
  /** --fail-on: which would-change classes make a check exit 2. */
  failOn?: FailOn[];
}

/** "5" or "25%" of the targeted hosts (at least 1 for a batch). */
export function countOrPercent(value: string, total: number, flag: string, min: number): number {
  const m = /^(\d+)(%?)$/.exec(value.trim());
  if (!m) throw new InputError({ message: `must be a number or a percentage, got "${value}"`, where: { path: flag }, hint: `e.g. ${flag} 2 or ${flag} 25%` });
  const n = m[2] ? Math.floor((Number(m[1]) * total) / 100) : Number(m[1]);
  return Math.max(min, n);
}

/** --report FILE.html or FILE.md: checked before the run, written after it. */
export function reportWriter(file: string): (run: RunResult) => void {
  const render = /\.html?$/.test(file) ? htmlReport : /\.md$/.test(file) ? markdownReport : undefined;
  if (!render) throw new InputError({ message: `unknown report format "${file}"`, where: { path: '--report' }, hint: 'name the file .html (one self-contained page) or .md (Markdown)' });
  return (run) => {
    writeFileSync(file, render(run));
    process.stderr.write(`report written to ${file}\n`);
  };
}

/** How `converge pull` runs a host on itself: that host alone, over the local transport, its report delivered. */
export interface SelfRun {
  host: string;
  deliver(run: RunResult): Promise<void>;
}

/** Hosts outside the target that targeted resources name: their facts read if not kept, then compiled (cross-host requisites). */
function readOthers(ctx: ReturnType<typeof loadContext>, args: RunArgs, factsCache: FactsCache, onEvent: (e: HostEvent) => void) {
  return async (others: Host[]) => {
    const read = await readMissingFacts(others, factsCache, defaultConnect(args.acceptNewHostKeys), args.forks, onEvent);
    return { prepared: prepareHosts(ctx.inventory, ctx.tree, others.filter((h) => read.facts.has(h)), args.stateNames, (h) => read.facts.get(h)), failed: read.failed };
  };
}

/** A pulling host reaches no other host: what its resources name there cannot be waited for, so they are skipped. */
async function notInPull(others: Host[]) {
  const why = 'not reachable from a pull run (converge pull runs one host): push from a controller to honour requisites on other hosts';
  return { prepared: [], failed: others.map((h) => ({ host: h.name, roles: h.roles, status: 'not-attempted' as const, resources: [], execCount: 0, durationMs: 0, error: { message: why } })) };
}

export async function runCommand(args: RunArgs, self?: SelfRun): Promise<number> {
  const savedPlan = checkPlanArgs(args);
  const writeReport = args.report ? reportWriter(args.report) : undefined;
  // apply STATE... names its states: the top file is not used, nor checked.
  const ctx = loadContext(args, { useTop: !args.stateNames });
  const shard = args.shard === undefined ? undefined : parseShard(args.shard);
  const hosts = self ? [{ ...oneHost(ctx, self.host), transport: 'local' as const }] : shard ? inShard(ctx.hosts, shard) : ctx.hosts;
  if (shard) process.stderr.write(`shard ${shard.k}/${shard.n}: ${hosts.length} of ${ctx.hosts.length} targeted host(s)\n`);
  // States may branch on host facts: the kept ones, or (first time) read now;
  // the state files themselves are checked before any host is contacted.
  loadHostStates(ctx.tree, hosts, args.stateNames);
  const textOpts = { diff: args.diff, verbose: args.verbose, color: !args.json && useColor(process.stdout) };
  const redactor = ctx.inventory.redactor;
  const factsCache = new FactsCache();
  // Shown once the progress display starts, after the states compiled (an input error is then printed alone).
  const early: HostEvent[] = [];
  const first = await readMissingFacts(hosts, factsCache, defaultConnect(args.acceptNewHostKeys), args.forks, (e) => early.push(e));
  const planned = planMode(
    args,
    savedPlan,
    hosts.map((h) => h.name),
    prepareHosts(ctx.inventory, ctx.tree, hosts.filter((h) => first.facts.has(h)), args.stateNames, (h) => first.facts.get(h)).map((p) => ({ ...p, execsBefore: first.execs.get(p.host) })),
    ctx.tree.dir,
  );
  const prepared = planned.prepared;
  const cross = await crossHost(prepared, ctx.inventory, self ? notInPull : readOthers(ctx, args, factsCache, (e) => early.push(e)), first.failed);
  // A pulling host has no controller to take turns with: its rolled changes are made at once.
  const rollouts = self ? undefined : Rollouts.of(prepared, ctx.inventory, defaultConnect(args.acceptNewHostKeys));
  const batchSize = args.batch === undefined ? undefined : countOrPercent(args.batch, prepared.length, '--batch', 1);
  checkBatch(cross, batchSize, prepared.length);
  const maxFail = args.maxFail === undefined ? undefined : countOrPercent(args.maxFail, prepared.length, '--max-fail', 0);
  const progress = createProgress(args.progress ?? (process.stderr.isTTY ? 'tty' : 'plain'), hosts.map((h) => h.name), process.stderr, useColor(process.stderr));
  // Progress names resources and what a host waits for: redacted like every other line.
  const onEvent = (e: HostEvent) => progress.event(redactor.empty ? e : redactor.redactValue(e));
  early.forEach(onEvent);
  const controller = new AbortController();
  let interrupts = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    interrupts++;
    if (interrupts > 1) process.exit(130);
    // Through the progress display, so the live lines do not draw over it.
    progress.note(`${sig}: stopping at a safe point (commands in flight finish; nothing new starts). Press Ctrl-C again to quit at once.`);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const run = await runWithCrossHost(prepared, {
      check: args.check,
      forks: args.forks,
      statesDir: ctx.tree.dir,
      acceptNewHostKeys: args.acceptNewHostKeys,
      waitLock: args.waitLock,
      batchSize,
      maxFail,
      signal: controller.signal,
      onEvent,
      ...planned.options,
      onHostDone: (h) => progress.hostDone(h, args.json ? undefined : hostReport(h, textOpts, redactor)),
      factsCache,
      rolloutFor: rollouts && ((h) => rollouts.for(h)),
    }, first.failed, cross);
    progress.finish();
    for (const h of planned.finish(run)) if (!args.json) process.stdout.write(hostReport(h, textOpts, redactor) + '\n');
    if (run.across?.length && !args.json) process.stdout.write(`order across hosts:\n${run.across.map((e) => `  ${e.from} -> ${e.to} (${e.kind})`).join('\n')}\n`);
    if (shard) run.shard = shard;
    writeReport?.(redactRun(run, redactor));
    await self?.deliver(redactRun(run, redactor));
    if (args.json) process.stdout.write(redactedJson(run, redactor) + '\n');
    else process.stdout.write(summaryLine(run, textOpts) + '\n');
    return exitCode(run, args.failOn);
  } finally {
    await rollouts?.close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
