/**
 * Consent revocation throughput: N active consents of one provider revoked by an incident whose
 * playbook is one `consents.revoke` step (inventory, batches with heartbeats and progress entries,
 * verification by re-listing) beside a baseline plain script making the same HTTP calls (list pages
 * of active consents, POST revoke with an Idempotency-Key, the same batch size and concurrency, a
 * final list) against the same local consent store (test/support/consent-store.ts), in one run.
 *
 *   npx tsx bench/consents.ts [--n 5000]                              starts its own Temporal + moto
 *   TEMPORAL_ADDRESS=… AWS_ENDPOINT_URL=… npx tsx bench/consents.ts   uses running servers
 *
 * Prints a table on stderr and one JSON line on stdout.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { plainTable } from '../cli/render.js';
import { parseAlert } from '../domain/alert.js';
import { benchServers, benchWorker, runIfMain } from './servers.js';
import { AlertDeliverer } from '../intake/deliver.js';
import { PlaybookCatalog } from '../intake/playbook-catalog.js';
import { loadConfig, playbookDefaults } from '../temporal.config.js';
import { ConsentStoreServer } from '../test/support/consent-store.js';
import { stateQuery } from '../workflows/definitions.js';

export interface ConsentBenchOptions {
  n?: number;
  batchSize?: number;
  concurrency?: number;
  temporalAddress?: string;
  awsEndpoint?: string;
  log?: (message: string) => void;
}

export interface ConsentBenchResult {
  n: number;
  batchSize: number;
  concurrency: number;
  bulwarkSeconds: number;
  baselineSeconds: number;
  bulwarkPerSecond: number;
  baselinePerSecond: number;
  ratio: number;
  /** Read back from the store: consents of each side revoked exactly once. */
  bulwarkRevokedOnce: number;
  baselineRevokedOnce: number;
  bulwarkCounts?: unknown;
}

const round = (x: number) => Math.round(x * 100) / 100;

/** The baseline: the same HTTP calls, nothing else (no durability, no heartbeats, no classification). */
async function plainRevocation(store: ConsentStoreServer, clientId: string, batchSize: number, concurrency: number): Promise<void> {
  const headers = { authorization: `Bearer ${store.token}`, accept: 'application/json' };
  const list = async (cursor?: string) => {
    const url = new URL(`${store.url}/clients/${encodeURIComponent(clientId)}/consents`);
    url.searchParams.set('status', 'active');
    url.searchParams.set('limit', String(batchSize));
    if (cursor) url.searchParams.set('cursor', cursor);
    const res = await fetch(url, { headers });
    if (res.status !== 200) throw new Error(`list: HTTP ${res.status}`);
    return (await res.json()) as { consents: { id: string }[]; nextCursor?: string | null };
  };
  let cursor: string | undefined;
  const runId = randomUUID();
  for (;;) {
    const page = await list(cursor);
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(concurrency, page.consents.length) }, async () => {
        while (next < page.consents.length) {
          const c = page.consents[next++]!;
          const res = await fetch(`${store.url}/consents/${encodeURIComponent(c.id)}/revoke`, {
            method: 'POST',
            headers: { ...headers, 'content-type': 'application/json', 'idempotency-key': `${runId}/${c.id}` },
            body: '{}',
          });
          if (res.status !== 200) throw new Error(`revoke: HTTP ${res.status}`);
          await res.arrayBuffer();
        }
      }),
    );
    cursor = page.nextCursor ?? undefined;
    if (!cursor) break;
  }
  if ((await list()).consents.length !== 0) throw new Error('baseline: consents still active');
}

export async function runConsentBench(opts: ConsentBenchOptions = {}): Promise<ConsentBenchResult> {
  const n = opts.n ?? 5000;
  const batchSize = opts.batchSize ?? 100;
  const concurrency = opts.concurrency ?? 8;
  const log = opts.log ?? ((m: string) => process.stderr.write(`bench: ${m}\n`));
  const servers = await benchServers('consent', opts);
  const { temporalAddress, awsEndpoint } = servers;
  const store = new ConsentStoreServer();
  await store.start();
  const config = loadConfig({
    TEMPORAL_ADDRESS: temporalAddress,
    AWS_ENDPOINT_URL: awsEndpoint,
    BULWARK_TASK_QUEUE: `bench-consents-${randomUUID()}`,
    BULWARK_LOG_LEVEL: 'silent',
    BULWARK_CONSENT_STORE_URL: store.url,
    BULWARK_CONSENT_STORE_TOKEN: store.token,
    BULWARK_CONSENT_BATCH_SIZE: String(batchSize),
    BULWARK_CONSENT_CONCURRENCY: String(concurrency),
  });
  const bench = await benchWorker(config);
  const { client } = bench;
  try {
    const [mine, base, base2] = [`bench-tpp-${randomUUID().slice(0, 8)}`, `bench-base-${randomUUID().slice(0, 8)}`, `bench-base2-${randomUUID().slice(0, 8)}`];
    for (const c of [mine, base, base2]) store.seed(c, n, { psus: Math.ceil(n * 0.8) });

    // The baseline runs before and after bulwark (best of the two counts), so warm-up and load
    // drift on a shared machine do not favour either side.
    const baselineRun = async (clientId: string) => {
      log(`baseline: ${n} consents, plain list + revoke calls, batches of ${batchSize}, ${concurrency} at a time…`);
      const t = performance.now();
      await plainRevocation(store, clientId, batchSize, concurrency);
      return (performance.now() - t) / 1000;
    };
    const firstBaselineSeconds = await baselineRun(base);
    let t0: number;

    log(`bulwark: ${n} consents revoked by an incident (consents.revoke)…`);
    const dir = mkdtempSync(join(tmpdir(), 'bulwark-consent-bench-pb-'));
    writeFileSync(
      join(dir, 'revoke.yaml'),
      ['id: bench-revoke-consents', 'version: 1', 'title: Revoke consents (bench)', 'match: { types: [client.offboard] }', 'steps:', '  - id: revoke-consents', '    action: consents.revoke', '    with: { clientId: "${alert.subject.clientId}", batchSize: "${settings.consents.batchSize}" }', ''].join('\n'),
    );
    const { catalog } = PlaybookCatalog.fromDir(dir);
    const alert = parseAlert({ source: 'bench', type: 'client.offboard', severity: 'high', observedAt: new Date().toISOString(), subject: { clientId: mine } });
    if (!alert.ok) throw new Error('bench alert is invalid');
    t0 = performance.now();
    const { workflowId } = await new AlertDeliverer(client, config.temporal.taskQueue, playbookDefaults(config), { catalog }).deliver(alert.value);
    let state;
    for (;;) {
      state = await client.workflow.getHandle(workflowId).query(stateQuery);
      if (state.status !== 'containing') break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const bulwarkSeconds = (performance.now() - t0) / 1000;
    const step = state.steps.find((s) => s.id === 'revoke-consents');
    if (step?.status !== 'succeeded') throw new Error(`bulwark: the revoke step ended ${step?.status}: ${step?.error ?? state.attention ?? ''}`);
    const baselineSeconds = Math.min(firstBaselineSeconds, await baselineRun(base2));

    const once = (clientId: string) => store.of(clientId).filter((c) => c.status === 'revoked' && store.revocations.get(c.id) === 1).length;
    const bulwarkPerSecond = round(n / bulwarkSeconds);
    const baselinePerSecond = round(n / baselineSeconds);
    const result: ConsentBenchResult = {
      n,
      batchSize,
      concurrency,
      bulwarkSeconds: round(bulwarkSeconds),
      baselineSeconds: round(baselineSeconds),
      bulwarkPerSecond,
      baselinePerSecond,
      ratio: round(bulwarkPerSecond / baselinePerSecond),
      bulwarkRevokedOnce: once(mine),
      baselineRevokedOnce: Math.min(once(base), once(base2)),
      bulwarkCounts: step.output?.counts,
    };
    const table = plainTable(['consents', 'bulwark', 'baseline', 'ratio', 'target']);
    table.push([`${n} consents, batches of ${batchSize}, ${concurrency} in flight: revoked/s`, String(bulwarkPerSecond), String(baselinePerSecond), `${result.ratio}×`, 'report']);
    table.push(['revoked exactly once (read back from the store)', `${result.bulwarkRevokedOnce}/${n}`, `${result.baselineRevokedOnce}/${n}`, '', `${n}/${n}`]);
    log(`\n${table.toString()}`);
    return result;
  } finally {
    await bench.stop();
    await store.stop();
    await servers.stop();
  }
}

await runIfMain(import.meta.url, (option, given) => runConsentBench({ n: Number(option('n') ?? process.env.BULWARK_BENCH_CONSENTS ?? 5000), ...given }));
