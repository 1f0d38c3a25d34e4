/**
 * IP-set update throughput (issue 9): N threat-intel indicators (default 10,000, the AWS IP-set
 * limit) into a WAFv2 IP set on moto.
 *
 *   bulwark   `intelSyncWorkflow` on a STIX 2.1 bundle file: read, zod-validate, normalise, one
 *             Get→Update (lock token) per family, read back to verify, record the hold in the ledger
 *   baseline  a plain script adding the same addresses in batches of 500, one GetIPSet + UpdateIPSet
 *             per batch (what a cron job typically does), no validation or verification
 *   minimum   one GetIPSet + one UpdateIPSet with all addresses: the floor of any approach
 *
 *   npx tsx bench/waf.ts [--n 10000]                             starts its own Temporal + moto
 *   TEMPORAL_ADDRESS=… AWS_ENDPOINT_URL=… npx tsx bench/waf.ts   uses running servers
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateIPSetCommand, GetIPSetCommand, ListIPSetsCommand, UpdateIPSetCommand, type WAFV2Client } from '@aws-sdk/client-wafv2';
import { createAwsClients } from '../activities/clients.js';
import { benchServers, benchWorker, runIfMain } from './servers.js';
import { loadConfig } from '../temporal.config.js';
import type { IntelSyncResult } from '../workflows/intel.js';
import { plainTable } from '../cli/render.js';

export interface WafBenchResult {
  n: number;
  batchSize: number;
  bulwarkSeconds: number;
  bulwarkPerSecond: number;
  resyncSeconds: number;
  baselineSeconds: number;
  baselinePerSecond: number;
  minimumSeconds: number;
  /** bulwark's rate over the batched baseline's. */
  ratio: number;
  verified: number;
  baselineVerified: number;
}

const round = (x: number) => Math.round(x * 100) / 100;

/** N distinct, non-adjacent public /32s (every other address of 45.0.0.0/16 …), so nothing merges. */
export function benchAddresses(n: number): string[] {
  return Array.from({ length: n }, (_, i) => {
    const v = i * 2;
    return `45.${(v >> 16) & 255}.${(v >> 8) & 255}.${v & 255}`;
  });
}

function stixBundle(addresses: string[]): string {
  const objects = addresses.map((a, i) => ({
    type: 'indicator',
    spec_version: '2.1',
    id: `indicator--${randomUUID()}`,
    created: '2026-11-01T00:00:00Z',
    modified: '2026-11-01T00:00:00Z',
    pattern: `[ipv4-addr:value = '${a}']`,
    pattern_type: 'stix',
    valid_from: '2026-11-01T00:00:00Z',
    confidence: 50 + (i % 50),
  }));
  return JSON.stringify({ type: 'bundle', id: `bundle--${randomUUID()}`, objects });
}

async function createSet(waf: WAFV2Client, name: string) {
  return (await waf.send(new CreateIPSetCommand({ Name: name, Scope: 'REGIONAL', IPAddressVersion: 'IPV4', Addresses: [] }))).Summary!;
}

async function readSet(waf: WAFV2Client, name: string): Promise<string[]> {
  const s = (await waf.send(new ListIPSetsCommand({ Scope: 'REGIONAL', Limit: 100 }))).IPSets?.find((x) => x.Name === name);
  if (!s) return [];
  return (await waf.send(new GetIPSetCommand({ Name: name, Scope: 'REGIONAL', Id: s.Id! }))).IPSet?.Addresses ?? [];
}

/** The plain script: per batch, read the set and write it back with the batch appended. */
async function plainBatches(waf: WAFV2Client, name: string, addresses: string[], batchSize: number): Promise<void> {
  const { Id } = await createSet(waf, name);
  for (let i = 0; i < addresses.length; i += batchSize) {
    const got = await waf.send(new GetIPSetCommand({ Name: name, Scope: 'REGIONAL', Id }));
    const next = [...(got.IPSet?.Addresses ?? []), ...addresses.slice(i, i + batchSize).map((a) => `${a}/32`)];
    await waf.send(new UpdateIPSetCommand({ Name: name, Scope: 'REGIONAL', Id, LockToken: got.LockToken!, Addresses: next }));
  }
}

export async function runWafBench(opts: { n?: number; batchSize?: number; temporalAddress?: string; awsEndpoint?: string; log?: (m: string) => void } = {}): Promise<WafBenchResult> {
  const n = opts.n ?? 10_000;
  const batchSize = opts.batchSize ?? 500;
  const log = opts.log ?? ((m: string) => process.stderr.write(`bench: ${m}\n`));
  const servers = await benchServers('waf', opts);
  const { temporalAddress, awsEndpoint } = servers;
  const run = randomBytes(3).toString('hex');
  const ipSetName = `bench-${run}`;
  const config = loadConfig({ TEMPORAL_ADDRESS: temporalAddress, AWS_ENDPOINT_URL: awsEndpoint, BULWARK_TASK_QUEUE: `bench-waf-${run}`, BULWARK_LOG_LEVEL: 'silent', BULWARK_WAF_IP_SET: ipSetName });
  const aws = createAwsClients(config.aws);
  const bench = await benchWorker(config, aws);
  const { client } = bench;
  try {
    const addresses = benchAddresses(n);
    const feed = join(mkdtempSync(join(tmpdir(), 'bulwark-waf-bench-')), 'indicators.json');
    writeFileSync(feed, stixBundle(addresses));

    log(`baseline: ${n} addresses, one GetIPSet + UpdateIPSet per batch of ${batchSize}…`);
    let t0 = performance.now();
    await plainBatches(aws.waf, `${ipSetName}-plain`, addresses, batchSize);
    const baselineSeconds = (performance.now() - t0) / 1000;
    const baselineVerified = (await readSet(aws.waf, `${ipSetName}-plain`)).length;

    log(`minimum: ${n} addresses in one GetIPSet + UpdateIPSet…`);
    const min = await createSet(aws.waf, `${ipSetName}-min`);
    t0 = performance.now();
    const got = await aws.waf.send(new GetIPSetCommand({ Name: `${ipSetName}-min`, Scope: 'REGIONAL', Id: min.Id }));
    await aws.waf.send(new UpdateIPSetCommand({ Name: `${ipSetName}-min`, Scope: 'REGIONAL', Id: min.Id, LockToken: got.LockToken!, Addresses: addresses.map((a) => `${a}/32`) }));
    const minimumSeconds = (performance.now() - t0) / 1000;

    const sync = (tag: string) =>
      client.workflow.execute('intelSyncWorkflow', {
        workflowId: `bench-intel-sync-${run}-${tag}`,
        taskQueue: config.temporal.taskQueue,
        args: [{ feed: 'bench', inline: { name: 'bench', source: feed, allow: [], enrich: false } }],
      }) as Promise<IntelSyncResult>;

    log(`bulwark: intelSyncWorkflow on a ${n}-indicator STIX bundle…`);
    t0 = performance.now();
    const first = await sync('first');
    const bulwarkSeconds = (performance.now() - t0) / 1000;
    const verified = (await readSet(aws.waf, `${ipSetName}-ipv4`)).length;
    if (first.added !== n) log(`warning: bulwark added ${first.added} of ${n}`);

    log('bulwark: the same feed again (idempotent re-sync, nothing to change)…');
    t0 = performance.now();
    await sync('again');
    const resyncSeconds = (performance.now() - t0) / 1000;

    const bulwarkPerSecond = round(n / bulwarkSeconds);
    const baselinePerSecond = round(n / baselineSeconds);
    const result: WafBenchResult = {
      n,
      batchSize,
      bulwarkSeconds: round(bulwarkSeconds),
      bulwarkPerSecond,
      resyncSeconds: round(resyncSeconds),
      baselineSeconds: round(baselineSeconds),
      baselinePerSecond,
      minimumSeconds: round(minimumSeconds),
      ratio: round(bulwarkPerSecond / baselinePerSecond),
      verified,
      baselineVerified,
    };
    const table = plainTable(['waf ip set', 'bulwark', 'baseline', 'ratio']);
    table.push([`${n} indicators: seconds (baseline: batches of ${batchSize})`, String(result.bulwarkSeconds), String(result.baselineSeconds), `${round(result.bulwarkSeconds / result.baselineSeconds)}×`]);
    table.push(['indicators per second', String(bulwarkPerSecond), String(baselinePerSecond), `${result.ratio}×`]);
    table.push(['re-sync of the unchanged feed, seconds', String(result.resyncSeconds), '-', '']);
    table.push(['one Get + one Update of all entries (floor), seconds', '-', String(result.minimumSeconds), '']);
    table.push(['entries read back', `${verified}/${n}`, `${baselineVerified}/${n}`, '']);
    log(`\n${table.toString()}`);
    return result;
  } finally {
    await bench.stop();
    await servers.stop();
  }
}

await runIfMain(import.meta.url, (option, given) => runWafBench({ n: Number(option('n') ?? 10_000), ...given }));
