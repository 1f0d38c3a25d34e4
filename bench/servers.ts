import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Client } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { AwsClients } from '../activities/clients.js';
import { freePort, startMoto, startTemporal, type RunningServer } from '../devstack/servers.js';
import { connectClient } from '../intake/temporal-client.js';
import { temporalConnectionOptions, type Config } from '../temporal.config.js';
import { createBulwarkWorker } from '../worker/worker.js';

export interface BenchServers {
  temporalAddress: string;
  awsEndpoint: string;
  /** Stops the servers this call started (none when both were given). */
  stop(): Promise<void>;
}

/**
 * The servers a standalone bench runs against: the given ones (from `npm run bench`, which shares
 * one dev server and moto between sections), or a fresh dev server and moto of its own.
 */
export async function benchServers(name: string, given: { temporalAddress?: string; awsEndpoint?: string }): Promise<BenchServers> {
  const started: RunningServer[] = [];
  let { temporalAddress, awsEndpoint } = given;
  if (!temporalAddress || !awsEndpoint) {
    const dir = mkdtempSync(join(tmpdir(), `bulwark-${name}-bench-`));
    if (!temporalAddress) {
      const t = await startTemporal({ port: await freePort(), headless: true, dbFile: join(dir, 'temporal.db'), logFile: join(dir, 'temporal.log') });
      started.push(t);
      temporalAddress = t.address;
    }
    if (!awsEndpoint) {
      const m = await startMoto({ port: await freePort(), logFile: join(dir, 'moto.log') });
      started.push(m);
      awsEndpoint = m.address;
    }
  }
  return {
    temporalAddress,
    awsEndpoint,
    async stop() {
      for (const s of started) await s.stop();
    },
  };
}

/** A running bulwark worker and a client for one bench section; `stop()` shuts both down. */
export async function benchWorker(config: Config, clients?: AwsClients): Promise<{ client: Client; stop(): Promise<void> }> {
  const client = await connectClient(config);
  const { worker } = await createBulwarkWorker({ config, ...(clients ? { clients } : {}) });
  const running = worker.run();
  return {
    client,
    async stop() {
      worker.shutdown();
      await running;
      await client.connection.close();
    },
  };
}

/**
 * A running worker for the bare baseline workflows (bench/baseline-workflow.ts) on `taskQueue`,
 * with `activities`; `stop()` shuts it down and closes its connection.
 */
export async function baselineWorker(config: Config, taskQueue: string, activities: object): Promise<{ stop(): Promise<void> }> {
  const connection = await NativeConnection.connect(await temporalConnectionOptions(config));
  const worker = await Worker.create({ connection, taskQueue, workflowsPath: fileURLToPath(new URL('./baseline-workflow.ts', import.meta.url)), activities });
  const running = worker.run();
  return {
    async stop() {
      worker.shutdown();
      await running;
      await connection.close();
    },
  };
}

/**
 * Runs a bench section when its own file is run (`npx tsx bench/<section>.ts [--n N] …`), not when
 * bench/run.ts imports it: `run` gets the `--name value` options and the servers named by
 * TEMPORAL_ADDRESS / AWS_ENDPOINT_URL (absent: the section starts its own), and the result is
 * printed as one JSON line.
 */
export async function runIfMain(moduleUrl: string, run: (option: (name: string) => string | undefined, given: { temporalAddress?: string; awsEndpoint?: string }) => Promise<unknown>): Promise<void> {
  if (!process.argv[1] || fileURLToPath(moduleUrl) !== process.argv[1]) return;
  const option = (name: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const result = await run(option, { temporalAddress: process.env.TEMPORAL_ADDRESS, awsEndpoint: process.env.AWS_ENDPOINT_URL });
  console.log(JSON.stringify(result));
  // The Temporal Runtime's native threads can keep the process alive after everything closed.
  process.exit(0);
}
