// Pull mode: a host converges itself. It fetches the state tree at a
// revision into a cache (git, from a remote or a local path), runs the
// ordinary highstate for its own inventory entry over the local transport
// (so the run lock and journal under /var/lib/converge are the ones a push
// run takes: a push and a pull never interleave), and leaves its JSON report
// where `converge collect-reports` fetches it over SSH, optionally POSTing it.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HostError } from '../core/diagnostics.js';
import type { RunResult } from '../core/result.js';

export const DEFAULT_CACHE_DIR = '/var/cache/converge/tree';
export const DEFAULT_REPORT_DIR = '/var/lib/converge/reports';

function git(args: string[], cwd?: string): string {
  try {
    return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch (e) {
    const err = e as { stderr?: string; code?: string; message: string };
    if (err.code === 'ENOENT') throw new HostError('git is not installed', 'pull mode fetches the state tree with git: apt-get install git');
    throw new HostError(`git ${args.join(' ')} failed: ${(err.stderr ?? err.message).trim()}`, 'check --repo (a URL git can fetch, or a path to a repository) and --rev (a branch, tag or commit in it)');
  }
}

/** Check out REPO at REV in CACHE (created on first use, fetched after); returns the commit checked out. */
export function fetchTree(repo: string, rev: string, cache: string): string {
  if (!existsSync(join(cache, '.git'))) {
    mkdirSync(cache, { recursive: true });
    git(['init', '--quiet', cache]);
  }
  // Fetching REV alone (a branch, tag or commit) keeps the cache small; the URL is given each time, so a changed --repo takes effect.
  git(['fetch', '--quiet', '--depth', '1', '--force', repo, rev], cache);
  git(['checkout', '--quiet', '--force', '--detach', 'FETCH_HEAD'], cache);
  // Files a hand left in the cache would be read as states: the checkout is exactly the revision.
  git(['clean', '--quiet', '-fdx'], cache);
  return git(['rev-parse', 'HEAD'], cache);
}

/** The report file of a host in a report directory (what collect-reports fetches). */
export const reportFile = (dir: string, host: string) => join(dir, `${host}.json`);

/** Written whole or not at all: collect-reports never reads half a report. */
export function saveReport(dir: string, host: string, run: RunResult): string {
  mkdirSync(dir, { recursive: true });
  const file = reportFile(dir, host);
  writeFileSync(`${file}.tmp`, JSON.stringify(run, null, 2) + '\n');
  renameSync(`${file}.tmp`, file);
  return file;
}

/** POST the report as JSON; a receiver that fails is reported, the run's result stands. */
export async function postReport(url: string, run: RunResult): Promise<void> {
  let res: Response;
  try {
    res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(run), signal: AbortSignal.timeout(30_000) });
  } catch (e) {
    throw new HostError(`cannot POST the report to ${url}: ${(e as Error).message}`, 'the report is still in the report directory, for collect-reports');
  }
  if (!res.ok) throw new HostError(`POST ${url} answered ${res.status} ${res.statusText}`, 'the report is still in the report directory, for collect-reports');
}
