import { defineConfig } from 'vitest/config';

// Two projects:
//   unit         fast, no Docker: src/**/*.test.ts and test/unit/**/*.test.ts
//   integration  real SSH targets in containers (test/support/fleet.ts); needs Docker
//                and FAILS (never skips) without it. Its global setup builds the test
//                image once (scripts/build-test-image.sh, reused by tag) and removes
//                leftover containers. One file at a time: the machine has 2 cores.
//                The longest file is demo-e2e (the whole demo fleet serving
//                traffic, 10-14 min); `npm run test:e2e` runs it alone.
// `npx vitest run --project unit` runs the unit tests alone.
export default defineConfig({
  test: {
    // Global teardown removes this run's containers.
    teardownTimeout: 120_000,
    projects: [
      {
        test: {
          name: 'unit',
          include: ['src/**/*.test.ts', 'test/unit/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/support/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['test/support/global-setup.ts'],
          fileParallelism: false,
          testTimeout: 600_000,
          hookTimeout: 600_000,
          env: { TESTCONTAINERS_RYUK_DISABLED: 'true', TESTCONTAINERS_HOST_OVERRIDE: '127.0.0.1' },
        },
      },
    ],
  },
});
