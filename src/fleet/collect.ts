// collect-reports: the controller fetches the JSON report that each
// targeted host's last pull run left in its report directory, over the same
// SSH connection a push run uses, into one local directory for merge-reports.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import PQueue from 'p-queue';
import { errorMessage } from '../core/diagnostics.js';
import { shq } from '../core/shell.js';
import type { Host } from '../inventory/inventory.js';
import type { Connect } from '../engine/run.js';
import { reportFile } from './pull.js';

export interface Collected {
  host: string;
  /** The local copy, when the host had a report. */
  file?: string;
  error?: string;
}

export async function collectReports(hosts: Host[], connect: Connect, reportDir: string, outDir: string, forks: number): Promise<Collected[]> {
  mkdirSync(outDir, { recursive: true });
  const queue = new PQueue({ concurrency: Math.max(1, forks) });
  return Promise.all(
    hosts.map((host) =>
      queue.add(async (): Promise<Collected> => {
        const remote = reportFile(reportDir, host.name);
        try {
          const t = await connect(host);
          try {
            const r = await t.exec(`cat ${shq(remote)}`);
            if (r.code !== 0) return { host: host.name, error: `no report at ${remote}: ${r.stderr.trim() || `exit ${r.code}`} (has its pull timer run yet? systemctl status converge-pull.timer)` };
            const file = join(outDir, `${host.name}.json`);
            writeFileSync(file, r.stdout);
            return { host: host.name, file };
          } finally {
            await t.close();
          }
        } catch (e) {
          return { host: host.name, error: errorMessage(e) };
        }
      }) as Promise<Collected>,
    ),
  );
}
