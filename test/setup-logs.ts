/**
 * Runs in each test file's process before the file (vitest setupFiles). Every bulwark logger made in
 * this process — pino through BULWARK_LOG_FILE (telemetry/logger.ts), the worker's SDK and core logs
 * (worker/worker.ts), and child processes that inherit the environment (the CLI, fixture workers) —
 * writes at debug to this file's own log under the run's log directory, not to the console; the
 * global teardown greps all of them for secret values (test/support/log-scan.ts).
 */
import { join, relative } from 'node:path';
import { expect, inject } from 'vitest';

const testPath = expect.getState().testPath;
const label = testPath ? relative(join(process.cwd(), 'test'), testPath).replace(/\.test\.ts$/, '').replaceAll('/', '-') : `pid-${process.pid}`;
process.env.BULWARK_LOG_FILE = join(inject('logDir'), `${label}.log`);
process.env.BULWARK_LOG_LEVEL = 'debug';
