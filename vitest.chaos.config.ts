import { defineConfig } from 'vitest/config';

// Set here (not only in test.env) so the global teardown's report states the scale too.
process.env.CHAOS_SCALE ??= '40';

/**
 * `npm run test:chaos`: the fault-injection suite at full scale (docs/chaos.md). The same files run
 * inside `npm test` at CHAOS_SCALE=1; here the scale defaults to 40 (≥ 100,000 fuzz inputs, every
 * step boundary of every built-in playbook) and a results table is printed and written as JSON.
 */
export default defineConfig({
  test: {
    include: ['test/chaos/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts', 'test/chaos/summary.ts'],
    // bulwark's logs go to files under the run's log dir (grepped for secrets at teardown), not the console.
    setupFiles: ['test/setup-logs.ts'],
    env: { CHAOS_SCALE: process.env.CHAOS_SCALE },
    testTimeout: 900_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // One file at a time: the runs measure recovery, and a starved machine would measure the machine.
    poolOptions: { forks: { maxForks: 1, minForks: 1 } },
    reporters: ['default'],
  },
});
