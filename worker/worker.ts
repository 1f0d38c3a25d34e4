import { appendFileSync } from 'node:fs';
import { inspect } from 'node:util';
import { DefaultLogger, NativeConnection, type LogEntry, Runtime, Worker, makeTelemetryFilterString } from '@temporalio/worker';
import { createActivities } from '../activities/index.js';
import { createAwsClients, type AwsClients } from '../activities/clients.js';
import { instrumentActivities } from '../telemetry/metrics.js';
import { scrubSecrets } from '../telemetry/scrub.js';
import { codecDataConverter } from '../intake/codec.js';
import { temporalConnectionOptions, type Config } from '../temporal.config.js';
import { workflowBundle } from './bundle.js';

let runtimeInstalled = false;

/**
 * Keeps the SDK's and the Rust core's own logs at warn so the CLI's output stays readable. The core's
 * lines are forwarded through the same scrubbed sink rather than printed by the core itself.
 */
function installRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    Runtime.install({ logger: new DefaultLogger('WARN', scrubbedSdkLog), telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'WARN' }), forward: {} } } });
  } catch {
    // Already installed by an earlier worker in this process.
  }
}

/**
 * The SDK logs failed activities with their error (message and stack): scrub those lines like ours.
 * They go where bulwark's own logs go: BULWARK_LOG_FILE when set (telemetry/logger.ts), else stderr.
 */
function scrubbedSdkLog(entry: LogEntry): void {
  const meta = entry.meta === undefined ? '' : ` ${inspect(entry.meta, { depth: 6, breakLength: Infinity })}`;
  const line = `${scrubSecrets(`${new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString()} [${entry.level}] ${entry.message}${meta}`)}\n`;
  const file = process.env.BULWARK_LOG_FILE;
  try {
    if (file) return appendFileSync(file, line);
  } catch {
    // An unwritable log file must not take the worker down; the line goes to stderr instead.
  }
  process.stderr.write(line);
}

export interface WorkerOptions {
  config: Config;
  connection?: NativeConnection;
  clients?: AwsClients;
  /** Lets tests wrap activities (e.g. to pause one after its AWS call); production passes nothing. */
  wrapActivities?: <T extends object>(activities: T) => T;
  identity?: string;
  /**
   * A workflow bundle built ahead of time (worker/bundle.ts, same failure converter), so processes
   * started by the dozen (the chaos suite's kill-9 workers) do not each bundle; default: bundle here.
   */
  workflowBundle?: { codePath: string };
}

/** A worker polling the task queue with the incident workflow and every activity wired to real clients. */
export async function createBulwarkWorker(opts: WorkerOptions): Promise<{ worker: Worker; connection: NativeConnection }> {
  installRuntime();
  const { config } = opts;
  const connection = opts.connection ?? (await NativeConnection.connect(await temporalConnectionOptions(config)));
  const clients = opts.clients ?? createAwsClients(config.aws);
  let activities = instrumentActivities(createActivities(clients, config));
  if (opts.wrapActivities) activities = opts.wrapActivities(activities);
  // Payload (and failure) encryption when config.codec is enabled (off by default); clients must use the same codec.
  const { dataConverter } = codecDataConverter(config, clients.kms);
  const worker = await Worker.create({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    workflowBundle: opts.workflowBundle ?? (await workflowBundle({ failureConverterPath: dataConverter?.failureConverterPath })),
    activities,
    ...(dataConverter ? { dataConverter } : {}),
    ...(opts.identity ? { identity: opts.identity } : {}),
    shutdownGraceTime: '10 seconds',
  });
  return { worker, connection };
}
