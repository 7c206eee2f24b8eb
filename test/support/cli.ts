// Runs the real converge CLI (bin/converge.js, built into dist/) as a user
// would, for integration tests.

import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = join(ROOT, 'bin/converge.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  /** Parsed stdout when --json was given. */
  json?: any;
}

export interface Running {
  child: ChildProcess;
  /** Resolves when the process has exited. */
  done: Promise<CliResult>;
  /** What it printed so far (progress lines on stderr show what a run is waiting for). */
  output(): { stdout: string; stderr: string };
}

/** Starts converge and returns at once: for tests that interrupt or kill it at a moment of their choosing. */
export function startConverge(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Running {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: opts.cwd ?? ROOT, env: { ...process.env, NO_COLOR: '1', ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      let json: unknown;
      if (args.includes('--json')) {
        try {
          json = JSON.parse(stdout);
        } catch {
          json = undefined;
        }
      }
      resolve({ code: code ?? (signal ? 128 + (constants.signals[signal] ?? 0) : 1), stdout, stderr, json });
    });
  });
  return { child, done, output: () => ({ stdout, stderr }) };
}

export function converge(args: string[], opts: { cwd?: string; env?: Record<string, string>; signalAfterMs?: { signal: NodeJS.Signals; ms: number } } = {}): Promise<CliResult> {
  const { child, done } = startConverge(args, opts);
  if (opts.signalAfterMs) setTimeout(() => child.kill(opts.signalAfterMs!.signal), opts.signalAfterMs.ms);
  return done;
}

/** Resource results of one host from a --json run, by state id. */
export function resourcesOf(json: any, host: string): Record<string, any> {
  const h = json.hosts.find((x: any) => x.host === host);
  if (!h) throw new Error(`no host ${host} in result`);
  return Object.fromEntries(h.resources.map((r: any) => [r.id, r]));
}
