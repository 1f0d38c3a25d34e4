import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    // bulwark's logs go to files under the run's log dir (grepped for secrets at teardown), not the console.
    setupFiles: ['test/setup-logs.ts'],
    testTimeout: 90_000,
    hookTimeout: 120_000,
    // Every file runs its own worker against one shared dev server and moto; two at a time fits 2 cores.
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    reporters: ['default'],
  },
});
