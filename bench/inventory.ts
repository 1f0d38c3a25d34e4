/**
 * Inventory scan time: `scanApiInventory` over N endpoints (default 500: 5 REST APIs × 100
 * resources, one method each, a deployed `prod` stage, a usage plan, a WAF lookup per stage) beside
 * a baseline that only pages GetRestApis + GetResources(embed=methods) over the same APIs — the
 * least any inventory must read. Same run, same moto.
 *
 *   npx tsx bench/inventory.ts [--n 500]                 starts its own moto
 *   AWS_ENDPOINT_URL=… npx tsx bench/inventory.ts        uses a running moto
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CreateDeploymentCommand,
  CreateResourceCommand,
  CreateRestApiCommand,
  CreateUsagePlanCommand,
  GetResourcesCommand,
  GetRestApisCommand,
  PutIntegrationCommand,
  PutMethodCommand,
  UpdateStageCommand,
} from '@aws-sdk/client-api-gateway';
import { createAwsClients } from '../activities/clients.js';
import { createInventoryActivities } from '../activities/inventory.js';
import { freePort, startMoto } from '../devstack/servers.js';
import { loadConfig } from '../temporal.config.js';

export interface InventoryBenchResult {
  endpoints: number;
  apis: number;
  runs: number;
  /** Median wall time of a full scan (ms). */
  scanMs: number;
  /** Median wall time of the bare GetRestApis + GetResources pagination (ms). */
  baselineMs: number;
  /** scan time over baseline time (how much the protections cost on top of listing). */
  ratio: number;
  scanApiCalls: number;
  baselineApiCalls: number;
  seedSeconds: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function runInventoryBench(opts: { awsEndpoint: string; n?: number; runs?: number; region?: string; log?: (m: string) => void }): Promise<InventoryBenchResult> {
  const n = opts.n ?? 500;
  const runs = opts.runs ?? 3;
  const region = opts.region ?? 'eu-west-1';
  const log = opts.log ?? (() => {});
  const aws = createAwsClients(loadConfig({ AWS_ENDPOINT_URL: opts.awsEndpoint, AWS_REGION: region }).aws);
  const perApi = 100;
  const apiCount = Math.ceil(n / perApi);
  const prefix = `bench-inv-${Date.now().toString(36)}`;
  const seedStart = performance.now();
  const names: string[] = [];
  for (let a = 0; a < apiCount; a++) {
    const name = `${prefix}-${a}`;
    names.push(name);
    const restApiId = (await aws.apigw.send(new CreateRestApiCommand({ name }))).id!;
    const root = (await aws.apigw.send(new GetResourcesCommand({ restApiId }))).items!.find((r) => r.path === '/')!;
    const count = Math.min(perApi, n - a * perApi);
    for (let i = 0; i < count; i += 20) {
      await Promise.all(
        Array.from({ length: Math.min(20, count - i) }, async (_, j) => {
          const r = await aws.apigw.send(new CreateResourceCommand({ restApiId, parentId: root.id!, pathPart: `r${i + j}` }));
          await aws.apigw.send(new PutMethodCommand({ restApiId, resourceId: r.id!, httpMethod: (i + j) % 2 ? 'GET' : 'POST', authorizationType: (i + j) % 3 ? 'NONE' : 'AWS_IAM', apiKeyRequired: (i + j) % 5 === 0 }));
          await aws.apigw.send(new PutIntegrationCommand({ restApiId, resourceId: r.id!, httpMethod: (i + j) % 2 ? 'GET' : 'POST', type: 'MOCK' }));
        }),
      );
    }
    await aws.apigw.send(new CreateDeploymentCommand({ restApiId, stageName: 'prod' }));
    await aws.apigw.send(new UpdateStageCommand({ restApiId, stageName: 'prod', patchOperations: [{ op: 'replace', path: '/*/*/throttling/rateLimit', value: '100' }, { op: 'replace', path: '/*/*/throttling/burstLimit', value: '200' }] }));
    await aws.apigw.send(new CreateUsagePlanCommand({ name: `${name}-plan`, apiStages: [{ apiId: restApiId, stage: 'prod' }], throttle: { rateLimit: 10, burstLimit: 20 } }));
    log(`seeded API ${a + 1}/${apiCount}`);
  }
  const seedSeconds = Math.round((performance.now() - seedStart) / 100) / 10;

  const { scanApiInventory } = createInventoryActivities({ apigw: aws.apigw, waf: aws.waf, region });
  const scanTimes: number[] = [];
  const baseTimes: number[] = [];
  let scanApiCalls = 0;
  let baselineApiCalls = 0;
  let endpoints = 0;
  // Interleaved so both sides see the same moment's machine load.
  for (let r = 0; r < runs; r++) {
    let t = performance.now();
    const scan = await scanApiInventory({ apis: names });
    scanTimes.push(performance.now() - t);
    scanApiCalls = scan.stats.apiCalls;
    endpoints = scan.endpoints.length;

    t = performance.now();
    let calls = 0;
    let position: string | undefined;
    const ids: string[] = [];
    do {
      const page = await aws.apigw.send(new GetRestApisCommand({ position, limit: 500 }));
      calls++;
      for (const a of page.items ?? []) if (names.includes(a.name!)) ids.push(a.id!);
      position = page.position;
    } while (position);
    let methods = 0;
    for (const restApiId of ids) {
      let pos: string | undefined;
      do {
        const page = await aws.apigw.send(new GetResourcesCommand({ restApiId, position: pos, limit: 500, embed: ['methods'] }));
        calls++;
        for (const res of page.items ?? []) methods += Object.keys(res.resourceMethods ?? {}).length;
        pos = page.position;
      } while (pos);
    }
    baseTimes.push(performance.now() - t);
    baselineApiCalls = calls;
    if (methods !== endpoints) throw new Error(`baseline saw ${methods} methods, the scan ${endpoints} endpoints`);
  }
  const scanMs = Math.round(median(scanTimes));
  const baselineMs = Math.round(median(baseTimes));
  return { endpoints, apis: apiCount, runs, scanMs, baselineMs, ratio: Math.round((scanMs / Math.max(1, baselineMs)) * 100) / 100, scanApiCalls, baselineApiCalls, seedSeconds };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const nArg = process.argv.indexOf('--n');
  const n = nArg > 0 ? Number(process.argv[nArg + 1]) : 500;
  let endpoint = process.env.AWS_ENDPOINT_URL;
  let stop: (() => Promise<void>) | undefined;
  if (!endpoint) {
    const moto = await startMoto({ port: await freePort(), logFile: join(mkdtempSync(join(tmpdir(), 'bulwark-bench-inv-')), 'moto.log') });
    endpoint = moto.address;
    stop = () => moto.stop();
  }
  const result = await runInventoryBench({ awsEndpoint: endpoint, n, log: (m) => process.stderr.write(`bench: ${m}\n`) });
  console.log(JSON.stringify(result));
  await stop?.();
}
