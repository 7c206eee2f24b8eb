// Runs the real converge CLI (bin/converge.js, built into dist/) as a user
// would, for integration tests.

import { spawn } from 'node:child_process';
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

export function converge(args: string[], opts: { cwd?: string; env?: Record<string, string>; signalAfterMs?: { signal: NodeJS.Signals; ms: number } } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: opts.cwd ?? ROOT, env: { ...process.env, NO_COLOR: '1', ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    if (opts.signalAfterMs) setTimeout(() => child.kill(opts.signalAfterMs!.signal), opts.signalAfterMs.ms);
    child.on('error', reject);
    child.on('close', (code) => {
      let json: unknown;
      if (args.includes('--json')) {
        try {
          json = JSON.parse(stdout);
        } catch {
          json = undefined;
        }
      }
      resolve({ code: code ?? 1, stdout, stderr, json });
    });
  });
}

/** Resource results of one host from a --json run, by state id. */
export function resourcesOf(json: any, host: string): Record<string, any> {
  const h = json.hosts.find((x: any) => x.host === host);
  if (!h) throw new Error(`no host ${host} in result`);
  return Object.fromEntries(h.resources.map((r: any) => [r.id, r]));
}
