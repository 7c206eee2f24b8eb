// Global setup of the `integration` vitest project: fails (never skips) when
// Docker is not reachable, builds the test image once (scripts/build-test-image.sh
// reuses it by tag), removes containers left by dead runs, and on teardown
// removes every container this run started.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { REPO_ROOT, TEST_IMAGE, assertDocker, removeRunContainers, removeStaleContainers } from './docker.js';

function buildImage(): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('bash', [join(REPO_ROOT, 'scripts/build-test-image.sh')], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, CONVERGE_TEST_IMAGE: TEST_IMAGE },
    });
    const timer = setTimeout(() => child.kill('SIGTERM'), 20 * 60_000);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolvePromise();
      else reject(new Error(`scripts/build-test-image.sh failed (${signal ?? `exit ${code}`}); see its output above`));
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
  await buildImage();
  return async () => {
    await removeRunContainers(runId);
  };
}
