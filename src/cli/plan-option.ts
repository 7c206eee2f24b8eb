// The saved-plan side of highstate/apply (--check --out PLAN) and of
// `converge apply-plan PLAN`: which hosts run, what each must match, and the
// plan file written after a check (src/engine/saved-plan.ts).

import { InputError } from '../core/diagnostics.js';
import type { HostResult, RunResult } from '../core/result.js';
import { runOrigin } from '../engine/applied-record.js';
import type { PreparedHost, RunOptions } from '../engine/run.js';
import { readPlan, specDifferences, writePlan, type HostPlan, type SavedPlan } from '../engine/saved-plan.js';

export interface PlanArgs {
  check: boolean;
  /** --out PLAN (with --check) */
  out?: string;
  /** apply-plan PLAN */
  plan?: string;
  /** apply-plan --max-age SECONDS */
  maxAge?: number;
}

export const DEFAULT_MAX_AGE_SECONDS = 3600;

export interface PlanMode {
  /** The hosts to run (apply-plan: those of the plan whose states did not change). */
  prepared: PreparedHost[];
  options: Pick<RunOptions, 'onHostPlan' | 'expectPlans'>;
  /** After the run: write the plan file, add the refused hosts (returned, to be reported). */
  finish(run: RunResult): HostResult[];
}

/** The saved plan to apply, if any: bad arguments and a bad or stale plan are refused before any host is contacted. */
export function checkPlanArgs(args: PlanArgs): SavedPlan | undefined {
  if (args.out && !args.check) throw new InputError({ message: '--out writes a plan, which only a check makes', where: { path: '--out' }, hint: 'add --check; apply the plan with `converge apply-plan FILE`' });
  return args.plan ? readPlan(args.plan, args.maxAge ?? DEFAULT_MAX_AGE_SECONDS) : undefined;
}

/** targeted: the names of the hosts this run targets (prepared lacks those whose facts could not be read). */
export function planMode(args: PlanArgs, plan: SavedPlan | undefined, targeted: string[], prepared: PreparedHost[], statesDir: string): PlanMode {
  if (args.out) {
    const hosts: Record<string, HostPlan> = {};
    const origin = runOrigin(statesDir);
    return {
      prepared,
      options: { onHostPlan: (host, plan) => void (hosts[host] = plan) },
      finish: (run) => {
        // A host that failed to plan has nothing to approve: it is left out, and apply-plan will not touch it.
        for (const h of run.hosts) if (h.status === 'failed' || h.status === 'unreachable') delete hosts[h.host];
        writePlan(args.out!, { version: 1, createdAt: new Date().toISOString(), origin, hosts });
        process.stderr.write(`plan of ${Object.keys(hosts).length} host(s) written to ${args.out}: apply it with \`converge apply-plan ${args.out}\`\n`);
        return [];
      },
    };
  }
  if (!plan) return { prepared, options: {}, finish: () => [] };
  const refused: HostResult[] = [];
  const run: PreparedHost[] = [];
  for (const p of prepared) {
    const saved = plan.hosts[p.host.name];
    if (!saved) continue;
    const why = specDifferences(saved, p.graph.order);
    if (why) refused.push({ host: p.host.name, roles: p.host.roles, status: 'failed', resources: [], execCount: 0, durationMs: 0, error: { message: `refused: ${why}`, hint: 'nothing was applied to this host: check again (--check --out) and review the new plan' } });
    else run.push(p);
  }
  const missing = Object.keys(plan.hosts).filter((h) => !targeted.includes(h));
  if (missing.length) throw new InputError({ message: `the plan names host(s) the inventory (or --target) does not: ${missing.join(', ')}`, where: { file: args.plan! }, hint: 'use the inventory the plan was made with' });
  return {
    prepared: run,
    options: { expectPlans: Object.fromEntries(Object.entries(plan.hosts)) },
    finish: (r) => {
      r.hosts.push(...refused);
      return refused;
    },
  };
}
