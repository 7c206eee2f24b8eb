// The simulated fleet (bench/sim.mjs: the real engine against hosts that
// answer as converged ones, every 7th with a drifted file) run once whole and
// once as 4 shards (--shard K/4, as four controllers would): merge-reports
// gives the same fleet report and the same exit code. No container: it sits
// here because it runs the built CLI and bench script (npm test builds first).

import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { RunResult } from '../../src/core/result.js';
import { converge } from '../support/cli.js';

const run = promisify(execFile);
const SIM = join(import.meta.dirname, '../../bench/sim.mjs');
const HOSTS = 300;

/** Per host: status and the ids of resources that would change, by host name. */
const outcome = (r: RunResult) => Object.fromEntries([...r.hosts].sort((a, b) => a.host.localeCompare(b.host)).map((h) => [h.host, `${h.status} ${h.resources.filter((x) => x.status !== 'unchanged').map((x) => x.id).join(',')}`]));

describe('sharded push on the simulated fleet', () => {
  it('4 shards merged give the same report and exit code as one run of the whole fleet', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'converge-shards-'));
    const sim = (out: string, ...extra: string[]) => run(process.execPath, [SIM, String(HOSTS), '10', '0', '--drift-every', '7', '--out', join(dir, out), ...extra]);
    await sim('whole.json');
    await Promise.all([1, 2, 3, 4].map((k) => sim(`shard-${k}.json`, '--shard', `${k}/4`)));
    const shards = [1, 2, 3, 4].map((k) => JSON.parse(readFileSync(join(dir, `shard-${k}.json`), 'utf8')) as RunResult);
    // Every shard did some of the work; none did all of it.
    for (const s of shards) expect(s.hosts.length).toBeGreaterThan(HOSTS / 8);

    const merged = await converge(['merge-reports', ...[1, 2, 3, 4].map((k) => join(dir, `shard-${k}.json`)), '--json']);
    const whole = await converge(['merge-reports', join(dir, 'whole.json'), '--json']);
    expect(merged.code, merged.stderr).toBe(2);
    expect(whole.code, whole.stderr).toBe(2);
    const m = merged.json as RunResult;
    const w = whole.json as RunResult;
    expect(m.hosts).toHaveLength(HOSTS);
    expect(outcome(m)).toEqual(outcome(w));
    expect(Object.values(outcome(m)).filter((o) => o.startsWith('drift'))).toHaveLength(Math.ceil(HOSTS / 7));

    const text = await converge(['merge-reports', ...[1, 2, 3, 4].map((k) => join(dir, `shard-${k}.json`))]);
    expect(text.stdout).toMatch(/^check: 300 host\(s\): 257 unchanged, 0 changed, 43 drifted, 0 failed, 0 unreachable/m);
  });
});
