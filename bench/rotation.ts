/**
 * Rotation throughput: N secrets rotated through `secretRotationWorkflow` (bulk, `rotateMany` with a
 * concurrency limit, the same path as `bulwark rotate --all`) beside a baseline plain script making
 * the four AWS calls of a rotation per secret (read current, PutSecretValue AWSPENDING, read pending,
 * UpdateSecretVersionStage AWSCURRENT) with the same concurrency, in the same run on the same servers.
 * A third side, the floor, runs the plain script's rotation as the one local activity of a bare
 * workflow per secret (bench/baseline-workflow.ts): what any durable per-secret rotation costs here.
 *
 *   npx tsx bench/rotation.ts [--n 200] [--concurrency 20]          starts its own Temporal + moto
 *   TEMPORAL_ADDRESS=… AWS_ENDPOINT_URL=… npx tsx bench/rotation.ts  uses running servers
 *
 * Prints a table on stderr and one JSON line on stdout.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  UpdateSecretVersionStageCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import type { Client } from '@temporalio/client';
import { createAwsClients } from '../activities/clients.js';
import { rotateMany } from '../cli/commands/rotate.js';
import { plainTable } from '../cli/render.js';
import type { FloorActivities } from './baseline-workflow.js';
import { baselineWorker, benchServers, benchWorker, runIfMain } from './servers.js';
import { loadConfig, type Config } from '../temporal.config.js';

export interface RotationBenchOptions {
  n?: number;
  concurrency?: number;
  /** host:port of a running Temporal; omitted: a dev server is started for the bench. */
  temporalAddress?: string;
  /** moto (or AWS) endpoint; omitted: moto is started for the bench. */
  awsEndpoint?: string;
  log?: (message: string) => void;
}

export interface RotationBenchResult {
  n: number;
  concurrency: number;
  bulwarkSeconds: number;
  baselineSeconds: number;
  floorSeconds: number;
  bulwarkPerSecond: number;
  baselinePerSecond: number;
  /** A bare workflow per secret with the plain script's calls as one local activity. */
  floorPerSecond: number;
  /** bulwark's rate over the baseline's (target ≥ 0.5). */
  ratio: number;
  /** The floor's rate over the baseline's: the most any workflow per secret reaches on these cores. */
  floorRatio: number;
  /** bulwark's rate over the floor's: what bulwark's own steps and checks cost. */
  ofFloor: number;
  bulwarkFailed: number;
  baselineFailed: number;
  floorFailed: number;
  verifiedRotated: number;
  floorVerified: number;
}

const round = (x: number) => Math.round(x * 100) / 100;

async function pool<T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<number> {
  let next = 0;
  let failed = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) {
        const item = items[next++]!;
        await fn(item).catch(() => failed++);
      }
    }),
  );
  return failed;
}

async function makeSecrets(sm: SecretsManagerClient, prefix: string, n: number): Promise<string[]> {
  const arns: string[] = [];
  await pool(Array.from({ length: n }, (_, i) => i), 20, async (i) => {
    const s = await sm.send(new CreateSecretCommand({ Name: `${prefix}/${i}`, SecretString: JSON.stringify({ username: `svc${i}`, password: randomBytes(18).toString('base64url') }) }));
    arns.push(s.ARN!);
  });
  return arns;
}

/**
 * The floor's side: a baseline worker on its own task queue whose one activity is `plainRotation`;
 * rotates `arns` at `concurrency`, start + result per secret like `rotateMany`. Returns the failures.
 */
async function floorRotations(config: Config, sm: SecretsManagerClient, arns: string[], concurrency: number, client: Client): Promise<number> {
  const taskQueue = `bench-rotation-floor-${randomUUID()}`;
  const activities: FloorActivities = { plainRotation: (arn) => plainRotation(sm, arn) };
  const worker = await baselineWorker(config, taskQueue, activities);
  try {
    return await pool(arns, concurrency, async (arn) => {
      await client.workflow.execute('baselineRotateSecret', { taskQueue, workflowId: `bench-floor-${arn}`, args: [arn] });
    });
  } finally {
    await worker.stop();
  }
}

/** The baseline: the four AWS calls of a rotation, nothing else (no state checks, no durability). */
async function plainRotation(sm: SecretsManagerClient, secretArn: string): Promise<void> {
  const current = await sm.send(new GetSecretValueCommand({ SecretId: secretArn, VersionStage: 'AWSCURRENT' }));
  const token = randomUUID();
  const value = { ...JSON.parse(current.SecretString!), password: randomBytes(24).toString('base64url') };
  await sm.send(new PutSecretValueCommand({ SecretId: secretArn, ClientRequestToken: token, SecretString: JSON.stringify(value), VersionStages: ['AWSPENDING'] }));
  const pending = await sm.send(new GetSecretValueCommand({ SecretId: secretArn, VersionId: token, VersionStage: 'AWSPENDING' }));
  if (pending.SecretString === current.SecretString) throw new Error('pending equals current');
  await sm.send(new UpdateSecretVersionStageCommand({ SecretId: secretArn, VersionStage: 'AWSCURRENT', MoveToVersionId: token, RemoveFromVersionId: current.VersionId }));
}

export async function runRotationBench(opts: RotationBenchOptions = {}): Promise<RotationBenchResult> {
  const n = opts.n ?? 200;
  const concurrency = opts.concurrency ?? 20;
  const log = opts.log ?? ((m: string) => process.stderr.write(`bench: ${m}\n`));
  const servers = await benchServers('rotation', opts);
  const { temporalAddress, awsEndpoint } = servers;
  const config = loadConfig({ TEMPORAL_ADDRESS: temporalAddress, AWS_ENDPOINT_URL: awsEndpoint, BULWARK_TASK_QUEUE: `bench-rotation-${randomUUID()}`, BULWARK_LOG_LEVEL: 'silent' });
  const aws = createAwsClients(config.aws);
  const bench = await benchWorker(config, aws);
  const { client } = bench;
  try {
    const run = randomBytes(4).toString('hex');
    log(`creating ${3 * n} secrets…`);
    const [mine, base, bare] = [await makeSecrets(aws.sm, `bench-${run}/bulwark`, n), await makeSecrets(aws.sm, `bench-${run}/baseline`, n), await makeSecrets(aws.sm, `bench-${run}/floor`, n)];

    log(`baseline: ${n} plain 4-call rotations, ${concurrency} at a time…`);
    let t0 = performance.now();
    const baselineFailed = await pool(base, concurrency, (arn) => plainRotation(aws.sm, arn));
    const baselineSeconds = (performance.now() - t0) / 1000;

    log(`floor: ${n} bare workflows, each the plain rotation as one local activity, ${concurrency} at a time…`);
    t0 = performance.now();
    const floorFailed = await floorRotations(config, aws.sm, bare, concurrency, client);
    const floorSeconds = (performance.now() - t0) / 1000;

    log(`bulwark: ${n} rotation workflows, ${concurrency} at a time…`);
    t0 = performance.now();
    const outcomes = await rotateMany(client, config.temporal.taskQueue, mine.map((secretId) => ({ secretId, strategy: 'single-user' as const, requestedBy: 'bench' })), { concurrency });
    const bulwarkSeconds = (performance.now() - t0) / 1000;
    const bulwarkFailed = outcomes.filter((o) => o.status === 'failed').length;

    // Read back: every rotated secret has a new AWSCURRENT with the old version as AWSPREVIOUS.
    const readBack = async (arns: string[]) => {
      let rotated = 0;
      await pool(arns, 20, async (arn) => {
        const stages = (await aws.sm.send(new DescribeSecretCommand({ SecretId: arn }))).VersionIdsToStages ?? {};
        if (Object.values(stages).some((l) => l.includes('AWSPREVIOUS'))) rotated++;
      });
      return rotated;
    };
    const verifiedRotated = await readBack(mine);
    const floorVerified = await readBack(bare);

    const bulwarkPerSecond = round(n / bulwarkSeconds);
    const baselinePerSecond = round(n / baselineSeconds);
    const floorPerSecond = round(n / floorSeconds);
    const result: RotationBenchResult = {
      n,
      concurrency,
      bulwarkSeconds: round(bulwarkSeconds),
      baselineSeconds: round(baselineSeconds),
      floorSeconds: round(floorSeconds),
      bulwarkPerSecond,
      baselinePerSecond,
      floorPerSecond,
      ratio: round(bulwarkPerSecond / baselinePerSecond),
      floorRatio: round(floorPerSecond / baselinePerSecond),
      ofFloor: round(bulwarkPerSecond / floorPerSecond),
      bulwarkFailed,
      baselineFailed,
      floorFailed,
      verifiedRotated,
      floorVerified,
    };
    const table = plainTable(['rotation', 'bulwark', 'baseline', 'ratio', 'target']);
    table.push([`${n} secrets, ${concurrency} at a time: rotations/s`, String(bulwarkPerSecond), String(baselinePerSecond), `${result.ratio}×`, '≥ 0.5×']);
    table.push([`floor: a bare workflow per secret, the plain rotation as its one local activity`, `${floorPerSecond} (floor)`, String(baselinePerSecond), `${result.floorRatio}×`, 'report']);
    table.push(['bulwark over the floor', String(bulwarkPerSecond), `${floorPerSecond} (floor)`, `${result.ofFloor}×`, 'report']);
    table.push(['failed (bulwark / baseline / floor)', String(bulwarkFailed), `${baselineFailed} / ${floorFailed}`, '', '0']);
    table.push(['read back as rotated (AWSPREVIOUS present; bulwark / floor)', `${verifiedRotated}/${n}`, `${floorVerified}/${n} (floor)`, '', `${n}/${n}`]);
    log(`\n${table.toString()}`);
    return result;
  } finally {
    await bench.stop();
    await servers.stop();
  }
}

await runIfMain(import.meta.url, (option, given) =>
  runRotationBench({ n: Number(option('n') ?? process.env.BULWARK_BENCH_ROTATIONS ?? 200), concurrency: Number(option('concurrency') ?? 20), ...given }),
);
