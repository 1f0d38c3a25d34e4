import type { TestProject } from 'vitest/node';
import { freePort, startMoto, startTemporal, type RunningServer } from '../devstack/servers.js';
import { ensureTools } from '../devstack/tools.js';
import { mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAwsClients } from '../activities/clients.js';
import { loadConfig } from '../temporal.config.js';
import { collectSandboxSecrets, describeHits, scanLogs, type SandboxSecrets } from './support/log-scan.js';

/** One real Temporal dev server and one real moto for the whole run, on free ports. */
let servers: RunningServer[] = [];
/** Every log of the run (servers, bulwark's loggers per test file, CLI output): grepped for secrets at teardown. */
let logDir: string | undefined;
let awsEndpoint: string | undefined;

export async function setup(project: TestProject): Promise<void> {
  await ensureTools({ onProgress: (m) => console.log(`[setup] ${m}`) });
  const dir = await mkdtemp(join(tmpdir(), 'bulwark-test-'));
  logDir = join(dir, 'logs');
  await mkdir(logDir);
  const [temporalPort, motoPort] = [await freePort(), await freePort()];
  const [temporal, moto] = await Promise.all([
    startTemporal({ port: temporalPort, headless: true, dbFile: join(dir, 'temporal.db'), logFile: join(logDir, 'temporal.log') }),
    startMoto({ port: motoPort, logFile: join(logDir, 'moto.log') }),
  ]);
  servers = [temporal, moto];
  awsEndpoint = `http://127.0.0.1:${motoPort}`;
  project.provide('temporalAddress', `127.0.0.1:${temporalPort}`);
  project.provide('awsEndpoint', `http://127.0.0.1:${motoPort}`);
  project.provide('scratchDir', dir);
  project.provide('logDir', logDir);
}

/**
 * Issue 8 §3: every secret value in moto at the end of the run is searched for in every log of the
 * run (test/support/log-scan.ts). Values are read before moto stops; files are read after the
 * servers stop, so their logs are complete. A hit fails `npm test`: vitest reports an error thrown
 * here and exits non-zero (checked with a planted leak), and exitCode is set too in case a later
 * vitest only logs teardown errors.
 */
export async function teardown(): Promise<void> {
  let sandbox: SandboxSecrets | undefined;
  try {
    if (awsEndpoint) sandbox = await collectSandboxSecrets(createAwsClients(loadConfig({ AWS_ENDPOINT_URL: awsEndpoint }).aws));
  } finally {
    for (const s of servers) await s.stop();
  }
  if (!sandbox || !logDir) return;
  const scan = scanLogs(logDir, sandbox.values);
  console.log(
    `[teardown] secrets-in-logs check: ${scan.files} log files, ${(scan.bytes / 1e6).toFixed(1)} MB scanned for ${sandbox.values.length} values ` +
      `(${scan.patterns} search strings) from ${sandbox.secrets} secrets / ${sandbox.versions} versions, ${sandbox.cognitoClients} Cognito clients, ${sandbox.apiKeys} API keys; ` +
      `${sandbox.tooShort} values under 12 chars not searched, ${sandbox.unreadable} unreadable; logs in ${logDir}`,
  );
  if (scan.hits.length > 0) {
    console.error(`\n[teardown] FAILED: ${describeHits(logDir, scan.hits)}\n`);
    process.exitCode = 1;
    throw new Error(`secrets-in-logs check failed: ${scan.hits.length} secret value(s) found in the run's logs (listed above)`);
  }
}

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    awsEndpoint: string;
    scratchDir: string;
    /** Where every log of the run goes (test/setup-logs.ts points bulwark's loggers here). */
    logDir: string;
  }
}
