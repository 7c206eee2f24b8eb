// converge pull (on a host: fetch the tree, converge itself, leave the
// report) and converge collect-reports (on the controller: fetch the reports).

import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { HostError } from '../core/diagnostics.js';
import { defaultConnect } from '../engine/run.js';
import { collectReports } from '../fleet/collect.js';
import { fetchTree, postReport, saveReport } from '../fleet/pull.js';
import type { ProgressMode } from '../report/progress.js';
import { loadContext } from './context.js';
import { runCommand } from './run-command.js';

export interface PullArgs {
  repo: string;
  rev: string;
  host?: string;
  inventory: string;
  cache: string;
  reportDir: string;
  post?: string;
  check: boolean;
  diff: boolean;
  verbose: boolean;
  json: boolean;
  waitLock?: number;
  progress?: ProgressMode;
}

/** Git and POST failures are the host's, not bad input: one line and a hint, no stack. */
function hostFailure(e: unknown): number {
  if (!(e instanceof HostError)) throw e;
  process.stderr.write(`converge pull: ${e.message}${e.hint ? `\n  hint: ${e.hint}` : ''}\n`);
  return 1;
}

export async function pullCommand(args: PullArgs): Promise<number> {
  const host = args.host ?? hostname();
  try {
    const commit = fetchTree(args.repo, args.rev, args.cache);
    process.stderr.write(`pull: ${args.repo} ${args.rev} at ${commit.slice(0, 12)} for ${host}\n`);
    // A relative --repo path means the caller's directory; --inventory is a path inside the tree.
    return await runCommand(
      { inventory: join(args.cache, args.inventory), check: args.check, diff: args.diff, verbose: args.verbose, json: args.json, forks: 1, acceptNewHostKeys: false, waitLock: args.waitLock, progress: args.progress ?? 'plain' },
      {
        host,
        deliver: async (run) => {
          const file = saveReport(args.reportDir, host, run);
          process.stderr.write(`report written to ${file}\n`);
          if (args.post) await postReport(args.post, run).catch((e) => void hostFailure(e));
        },
      },
    );
  } catch (e) {
    return hostFailure(e);
  }
}

export interface CollectArgs {
  inventory: string;
  target?: string;
  out: string;
  reportDir: string;
  forks: number;
  acceptNewHostKeys: boolean;
}

export async function collectCommand(args: CollectArgs): Promise<number> {
  // Only the inventory and the target matter: the states are the hosts' business.
  const ctx = loadContext(args);
  const results = await collectReports(ctx.hosts, defaultConnect(args.acceptNewHostKeys), args.reportDir, resolve(args.out), args.forks);
  for (const r of results) process.stdout.write(r.file ? `${r.host}: ${r.file}\n` : `${r.host}: ${r.error}\n`);
  const got = results.filter((r) => r.file).length;
  process.stdout.write(`collected ${got} of ${results.length} report(s) into ${args.out}; \`converge merge-reports ${args.out}/*.json\` gives the fleet report\n`);
  return got === results.length ? 0 : 1;
}
