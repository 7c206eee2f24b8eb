// Global setup of the `integration` vitest project: fails (never skips) when
// Docker is not reachable, builds the test image once (scripts/build-test-image.sh
// reuses it by tag), removes containers left by dead runs, and on teardown
// removes every container this run started.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { REPO_ROOT, RELEASES, assertDocker, imageEnv, removeRunContainers, removeStaleContainers, type Release } from './docker.js';

/** Builds (or finds by stamp) one release's image; resolves to its tag, which the script prints. */
function buildImage(release: Release): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('bash', [join(REPO_ROOT, 'scripts/build-test-image.sh'), release], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGTERM'), 20 * 60_000);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const tag = out.trim().split('\n').pop() ?? '';
      if (code === 0 && tag) resolvePromise(tag);
      else reject(new Error(`scripts/build-test-image.sh ${release} failed (${signal ?? `exit ${code}`}); see its output above`));
    });
  });
}

export default async function setup(): Promise<() => Promise<void>> {
  await assertDocker();
  // Workers are forked after global setup and inherit this environment.
  process.env.TESTCONTAINERS_RYUK_DISABLED ??= 'true';
  const runId = (process.env.CONVERGE_TEST_RUN_ID ??= `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`);
  const stale = await removeStaleContainers();
  if (stale > 0) console.log(`[integration] removed ${stale} stale test container(s)`);
  // One after the other: the script holds a lock, and both share 2 cores.
  for (const release of RELEASES) process.env[imageEnv(release)] = await buildImage(release);
  return async () => {
    await removeRunContainers(runId);
  };
}
