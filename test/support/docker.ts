// Docker plumbing shared by the integration global setup and test/support/fleet.ts:
// where the test image, key and apt pool are, whether Docker answers, and the
// removal of labelled test containers (Ryuk, testcontainers' reaper, cannot be
// pulled here, so the harness cleans up after itself).

import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** The Debian releases a test host can run; the first is the default. */
export const RELEASES = ['bookworm', 'trixie'] as const;
export type Release = (typeof RELEASES)[number];
/** Environment variable through which global setup hands each release's image tag to the test workers. */
export const imageEnv = (release: Release): string => `CONVERGE_TEST_IMAGE_${release.toUpperCase()}`;
/**
 * The test image of a release: tagged by release and content stamp by
 * scripts/build-test-image.sh (so two checkouts never rebuild each other's
 * image), and handed over by global setup.
 */
export function testImage(release: Release = 'bookworm'): string {
  const tag = process.env[imageEnv(release)];
  if (!tag) throw new Error(`no test image for ${release}: ${imageEnv(release)} is unset (the integration project's global setup builds it; run tests through vitest's integration project)`);
  return tag;
}
/** Private key that logs in as root on every test container (made by scripts/build-test-image.sh). */
export const TEST_KEY = join(REPO_ROOT, '.cache', 'test-key');

/** Every container the harness starts carries these labels. */
export const LABEL = 'converge.test';
export const LABEL_RUN = 'converge.test.run';
export const LABEL_PID = 'converge.test.pid';
export const LABEL_HOST = 'converge.test.host';

/** Containers older than this are stale even when their owner's pid seems alive (pid reuse). */
const STALE_AFTER_S = 6 * 3600;

/**
 * Host directory shared by all test containers as their .deb pool (mounted at
 * /var/cache/converge-apt-pool; see test/image/Dockerfile for why it is not
 * /var/cache/apt/archives). CONVERGE_TEST_APT_POOL overrides it.
 */
export function aptPoolDir(): string {
  const wanted = process.env.CONVERGE_TEST_APT_POOL ?? '/var/cache/converge-test/apt-archives';
  try {
    mkdirSync(wanted, { recursive: true });
    return wanted;
  } catch {
    const fallback = join(REPO_ROOT, '.cache', 'apt-archives');
    mkdirSync(fallback, { recursive: true });
    return fallback;
  }
}

export async function docker(args: string[], timeoutMs = 60_000): Promise<{ stdout: string; stderr: string }> {
  return run('docker', args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
}

/** Throws a clear error when the Docker daemon does not answer. */
export async function assertDocker(): Promise<string> {
  try {
    const { stdout } = await docker(['version', '--format', '{{.Server.Version}}'], 20_000);
    return stdout.trim();
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    const why =
      e.code === 'ENOENT'
        ? 'the docker command is not installed'
        : ((e.stderr || e.message).trim().split('\n').pop() ?? '').replace(/[.\s]+$/, '');
    throw new Error(
      `integration tests need Docker: ${why}. ` +
        '`sudo node scripts/setup.mjs --for test` installs Docker and starts dockerd (as .ci/run does); ' +
        '`npm run test:unit` runs the unit tests alone.',
    );
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function listTestContainers(): Promise<{ id: string; labels: Record<string, string>; created: number }[]> {
  const { stdout } = await docker(['ps', '-aq', '--no-trunc', '--filter', `label=${LABEL}`]);
  const ids = stdout.split('\n').filter(Boolean);
  if (ids.length === 0) return [];
  // A container another run removes in the meantime makes inspect exit 1; it
  // still prints the others.
  const { stdout: json } = await docker(['inspect', ...ids]).catch((e: { stdout?: string }) => ({ stdout: e.stdout || '[]' }));
  return (JSON.parse(json) as { Id: string; Created: string; Config: { Labels: Record<string, string> | null } }[]).map((c) => ({
    id: c.Id,
    labels: c.Config.Labels ?? {},
    created: Date.parse(c.Created) / 1000,
  }));
}

export async function removeContainers(ids: string[]): Promise<void> {
  if (ids.length > 0) await docker(['rm', '-f', '-v', ...ids], 120_000).catch(() => undefined);
}

/** Removes test containers left by runs whose process is gone (crashed or killed runs). */
export async function removeStaleContainers(): Promise<number> {
  const now = Date.now() / 1000;
  const stale = (await listTestContainers()).filter((c) => {
    if (now - c.created > STALE_AFTER_S) return true;
    if (c.labels[LABEL_HOST] !== hostname()) return false;
    const pid = Number(c.labels[LABEL_PID]);
    return !Number.isInteger(pid) || pid <= 0 || !pidAlive(pid);
  });
  await removeContainers(stale.map((c) => c.id));
  return stale.length;
}

/** Removes every test container of one run (global teardown). */
export async function removeRunContainers(runId: string): Promise<void> {
  const mine = (await listTestContainers()).filter((c) => c.labels[LABEL_RUN] === runId);
  await removeContainers(mine.map((c) => c.id));
}
