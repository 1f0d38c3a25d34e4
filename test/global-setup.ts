import type { TestProject } from 'vitest/node';
import { freePort, startMoto, startTemporal, type RunningServer } from '../devstack/servers.js';
import { ensureTools } from '../devstack/tools.js';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** One real Temporal dev server and one real moto for the whole run, on free ports. */
let servers: RunningServer[] = [];

export async function setup(project: TestProject): Promise<void> {
  await ensureTools({ onProgress: (m) => console.log(`[setup] ${m}`) });
  const dir = await mkdtemp(join(tmpdir(), 'bulwark-test-'));
  const [temporalPort, motoPort] = [await freePort(), await freePort()];
  const [temporal, moto] = await Promise.all([
    startTemporal({ port: temporalPort, headless: true, dbFile: join(dir, 'temporal.db'), logFile: join(dir, 'temporal.log') }),
    startMoto({ port: motoPort, logFile: join(dir, 'moto.log') }),
  ]);
  servers = [temporal, moto];
  project.provide('temporalAddress', `127.0.0.1:${temporalPort}`);
  project.provide('awsEndpoint', `http://127.0.0.1:${motoPort}`);
  project.provide('scratchDir', dir);
}

export async function teardown(): Promise<void> {
  for (const s of servers) await s.stop();
}

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    awsEndpoint: string;
    scratchDir: string;
  }
}
