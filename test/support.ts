import { randomBytes, randomUUID } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { expect, inject } from 'vitest';
import { WorkflowFailedError, WorkflowNotFoundError, type Client, type WorkflowHandle } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import {
  CreateApiKeyCommand,
  CreateDeploymentCommand,
  CreateRestApiCommand,
  GetResourcesCommand,
  PutIntegrationCommand,
  PutMethodCommand,
  UpdateStageCommand,
} from '@aws-sdk/client-api-gateway';
import { CreateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { createAwsClients, type AwsClients } from '../activities/clients.js';
import { startIntake, type RunningIntake } from '../intake/app.js';
import { connectClient } from '../intake/temporal-client.js';
import { createLogger } from '../telemetry/logger.js';
import { loadConfig, type Config } from '../temporal.config.js';
import { createBulwarkWorker, type WorkerOptions } from '../worker/worker.js';
import { stateQuery } from '../workflows/definitions.js';
import type { IncidentState } from '../domain/incident.js';

export interface Harness {
  config: Config;
  client: Client;
  aws: AwsClients;
  worker?: Worker;
  intake?: RunningIntake;
  webhookSecret: string;
  stopWorker(): Promise<void>;
  close(): Promise<void>;
}

/** Config aimed at the run's shared servers, with a task queue of this file's own. */
export function testConfig(overrides: Record<string, unknown> = {}): Config {
  return loadConfig(
    {
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      AWS_ENDPOINT_URL: inject('awsEndpoint'),
      BULWARK_TASK_QUEUE: `test-${randomUUID()}`,
      BULWARK_LOG_LEVEL: 'silent',
      BULWARK_INTAKE_PORT: '0',
    },
    overrides,
  );
}

/** A real worker (in this process), a real client and optionally the real intake HTTP server. */
export async function startHarness(opts: { intake?: boolean; worker?: boolean; config?: Config; wrapActivities?: WorkerOptions['wrapActivities'] } = {}): Promise<Harness> {
  const config = opts.config ?? testConfig();
  const aws = createAwsClients(config.aws);
  const client = await connectClient(config);
  const webhookSecret = randomBytes(24).toString('hex');
  let worker: Worker | undefined;
  let running: Promise<void> | undefined;
  if (opts.worker !== false) {
    worker = (await createBulwarkWorker({ config, clients: aws, wrapActivities: opts.wrapActivities })).worker;
    running = worker.run();
  }
  // Level and file from the environment (test/setup-logs.ts): the intake's logs join the run's grepped logs.
  const intake = opts.intake ? await startIntake({ config, client, logger: createLogger(), webhookSecret }) : undefined;
  const stopWorker = async () => {
    if (worker && worker.getState() === 'RUNNING') worker.shutdown();
    await running;
  };
  return {
    config,
    client,
    aws,
    worker,
    intake,
    webhookSecret,
    stopWorker,
    async close() {
      await intake?.close();
      await stopWorker();
      await client.connection.close();
    },
  };
}

export const uniqueId = (prefix: string) => `${prefix}-${randomBytes(4).toString('hex')}`;

/** A client in the sandbox account: API keys tagged with its id and one tagged secret. */
export async function createTppClient(aws: AwsClients, opts: { keys?: number } = {}) {
  const clientId = uniqueId('tpp');
  const apiKeyIds: string[] = [];
  for (let i = 1; i <= (opts.keys ?? 2); i++) {
    const key = await aws.apigw.send(new CreateApiKeyCommand({ name: `tpp-${clientId}-${i}`, enabled: true, tags: { 'bulwark:client-id': clientId } }));
    apiKeyIds.push(key.id!);
  }
  const secretValue = JSON.stringify({ clientId, clientSecret: randomBytes(24).toString('base64url') });
  const secret = await aws.sm.send(
    new CreateSecretCommand({ Name: `test/${clientId}/oauth-client`, SecretString: secretValue, Tags: [{ Key: 'bulwark:client-id', Value: clientId }] }),
  );
  return { clientId, apiKeyIds, secretArn: secret.ARN!, initialVersionId: secret.VersionId!, secretValue };
}

/** Polls the incident's state until the predicate holds (workflow code runs asynchronously to the test). */
export async function waitForState(client: Client, workflowId: string, predicate: (s: IncidentState) => boolean, timeoutMs = 30_000): Promise<IncidentState> {
  const deadline = Date.now() + timeoutMs;
  let last: IncidentState | undefined;
  while (Date.now() < deadline) {
    try {
      last = await client.workflow.getHandle(workflowId).query(stateQuery);
      if (predicate(last)) return last;
    } catch (err) {
      if (Date.now() > deadline - 1000) throw err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${workflowId}; last status ${last?.status}, timeline:\n${last?.timeline.map((e) => `  ${e.kind} ${e.message}`).join('\n')}`);
}

export function alertFor(subject: Record<string, unknown>, overrides: Record<string, unknown> = {}) {
  return {
    source: 'test-detector',
    type: 'credential.compromised',
    severity: 'high',
    observedAt: new Date().toISOString(),
    subject,
    ...overrides,
  };
}

/** The validator's reason when a Workflow Update is refused (the SDK wraps it as the error's cause). */
export async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    const e = err as { cause?: { message?: string }; message: string };
    return e.cause?.message ?? e.message;
  }
  throw new Error('expected the update to be refused, but it was accepted');
}

/** A deployed REST API with a `prod` stage; with `limits`, stage-wide throttling is set explicitly. */
export async function createStage(aws: AwsClients, limits?: { rate: number; burst: number }): Promise<string> {
  const api = await aws.apigw.send(new CreateRestApiCommand({ name: uniqueId('api') }));
  const restApiId = api.id!;
  const root = (await aws.apigw.send(new GetResourcesCommand({ restApiId }))).items![0]!;
  await aws.apigw.send(new PutMethodCommand({ restApiId, resourceId: root.id!, httpMethod: 'GET', authorizationType: 'NONE' }));
  await aws.apigw.send(new PutIntegrationCommand({ restApiId, resourceId: root.id!, httpMethod: 'GET', type: 'MOCK' }));
  await aws.apigw.send(new CreateDeploymentCommand({ restApiId, stageName: 'prod' }));
  if (limits) {
    await aws.apigw.send(
      new UpdateStageCommand({
        restApiId,
        stageName: 'prod',
        patchOperations: [
          { op: 'replace', path: '/*/*/throttling/rateLimit', value: String(limits.rate) },
          { op: 'replace', path: '/*/*/throttling/burstLimit', value: String(limits.burst) },
        ],
      }),
    );
  }
  return restApiId;
}

/** Runs the real `bulwark` CLI in a child process against the harness's servers; returns exit code and output. */
export async function runCli(h: Pick<Harness, 'config'>, args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const { execFile } = await import('node:child_process');
  const { promisify } = await import('node:util');
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'cli/bulwark.ts', ...args], {
      env: {
        ...process.env,
        TEMPORAL_ADDRESS: h.config.temporal.address,
        AWS_ENDPOINT_URL: h.config.aws.endpoint,
        BULWARK_TASK_QUEUE: h.config.temporal.taskQueue,
        NO_COLOR: '1',
        ...env,
      },
    });
    return keepCliOutput(args, { code: 0, stdout, stderr });
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return keepCliOutput(args, { code: e.code, stdout: e.stdout, stderr: e.stderr });
  }
}

/**
 * What the CLI printed joins the run's logs (next to this test file's log, test/setup-logs.ts), so
 * the teardown's secret grep covers it. Only the subcommand is recorded: arguments are the test's.
 */
function keepCliOutput<T extends { code: number; stdout: string; stderr: string }>(args: string[], r: T): T {
  const log = process.env.BULWARK_LOG_FILE;
  if (log) {
    const firstFlag = args.findIndex((a) => a.startsWith('-'));
    const command = args.slice(0, Math.min(2, firstFlag === -1 ? args.length : firstFlag)).join(' ');
    appendFileSync(log.replace(/(\.log)?$/, '.cli-output.log'), `--- bulwark ${command} (exit ${r.code})\n[stdout]\n${r.stdout ?? ''}\n[stderr]\n${r.stderr ?? ''}\n`);
  }
  return r;
}

/** Whether a workflow with this id exists (open or closed) on the server. */
export async function workflowExists(client: Client, workflowId: string): Promise<boolean> {
  try {
    await client.workflow.getHandle(workflowId).describe();
    return true;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}

/** Every payload in a workflow's history, decoded to text (payload data are bytes, which JSON.stringify would hide): for "no secret in history" checks. */
export async function historyText(handle: Pick<WorkflowHandle, 'fetchHistory'>): Promise<string> {
  const history = await handle.fetchHistory();
  const decode = (v: unknown): unknown => {
    if (v instanceof Uint8Array) return Buffer.from(v).toString('utf8');
    if (Array.isArray(v)) return v.map(decode);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, decode(x)]));
    return v;
  };
  return JSON.stringify(decode(history));
}

/** Polls `check` until it holds; fails naming `what` after `timeoutMs`. */
export async function waitFor(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Polls `probe` until `ok` accepts its value, and returns that value; the last value is in the timeout error. */
export async function waitForValue<T>(what: string, probe: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = await probe();
  while (!ok(last)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 200));
    last = await probe();
  }
  return last;
}

/** The root cause of a workflow that must fail (its ApplicationFailure: message and type). */
export async function failureOf(p: Promise<unknown>): Promise<{ message: string; type?: string }> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(WorkflowFailedError);
    let e = err as { cause?: unknown; message: string; type?: string };
    while (e.cause) e = e.cause as typeof e;
    return e;
  }
  throw new Error('expected the workflow to fail');
}
