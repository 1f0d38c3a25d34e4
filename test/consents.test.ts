import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Client } from '@temporalio/client';
import { parseAlert } from '../domain/alert.js';
import { retryAfterMs } from '../activities/consents.js';
import { consentFacts } from '../domain/consents.js';
import type { IncidentState } from '../domain/incident.js';
import { AlertDeliverer } from '../intake/deliver.js';
import { PlaybookCatalog } from '../intake/playbook-catalog.js';
import { playbookDefaults, type Config } from '../temporal.config.js';
import { alertFor, createTppClient, runCli, startHarness, testConfig, uniqueId, waitForState, type Harness, waitFor } from './support.js';
import { ConsentStoreServer } from './support/consent-store.js';

const open: Harness[] = [];
const stores: ConsentStoreServer[] = [];
let child: ChildProcess | undefined;

afterEach(async () => {
  child?.kill('SIGKILL');
  child = undefined;
});
afterAll(async () => {
  for (const h of open.splice(0)) await h.close();
  for (const s of stores.splice(0)) await s.stop();
});

async function newStore(): Promise<ConsentStoreServer> {
  const s = new ConsentStoreServer();
  await s.start();
  stores.push(s);
  return s;
}

function consentConfig(store: ConsentStoreServer, over: Record<string, unknown> = {}): Config {
  return testConfig({ consents: { url: store.url, token: store.token, batchSize: 100, ...over } });
}

async function harness(config: Config, worker = true): Promise<Harness> {
  const h = await startHarness({ config, worker });
  open.push(h);
  return h;
}

function deliver(h: Harness, alert: Record<string, unknown>, catalog?: PlaybookCatalog) {
  const parsed = parseAlert(alert);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return new AlertDeliverer(h.client, h.config.temporal.taskQueue, playbookDefaults(h.config), catalog ? { catalog } : {}).deliver(parsed.value);
}

const step = (s: IncidentState, id: string) => s.steps.find((x) => x.id === id)!;

async function attempts(client: Client, workflowId: string, activity: string): Promise<number[]> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const scheduled = new Map<string, string>();
  const out: number[] = [];
  for (const e of history.events ?? []) {
    const s = e.activityTaskScheduledEventAttributes;
    if (s) scheduled.set(String(e.eventId), s.activityType?.name ?? '');
    const started = e.activityTaskStartedEventAttributes;
    if (started && scheduled.get(String(started.scheduledEventId)) === activity) out.push(started.attempt ?? 1);
  }
  return out;
}

describe('consent revocation for a compromised provider (tpp-offboarding)', () => {
  it('revokes all 1,250 active consents in batches, leaves other clients and revoked consents alone, records counts and progress', async () => {
    const store = await newStore();
    const h = await harness(consentConfig(store));
    const tpp = await createTppClient(h.aws, { keys: 1 });
    const active = store.seed(tpp.clientId, 1250, { psus: 1000 });
    const revokedBefore = store.seed(tpp.clientId, 40, { status: 'revoked', psuPrefix: 'old' });
    const other = uniqueId('other-tpp');
    store.seed(other, 300);

    const { workflowId } = await deliver(h, alertFor({ clientId: tpp.clientId }, { type: 'client.offboard' }));
    const s = await waitForState(h.client, workflowId, (x) => x.status !== 'containing' && x.status !== 'awaiting-containment', 120_000);
    expect(s.status).toBe('contained');

    const revoke = step(s, 'revoke-consents');
    expect(revoke.status).toBe('succeeded');
    expect(revoke.output).toMatchObject({
      clientId: tpp.clientId,
      counts: { active: 1250, revoked: 1250, alreadyRevoked: 0, failed: 0 },
      clientsAffected: 1000,
      batches: 13,
      verified: { active: 0 },
    });
    expect(consentFacts(s)).toEqual({ clientsAffected: 1000 });

    // The store's own record: each active consent revoked exactly once, under one key; nothing else touched.
    for (const id of active) {
      expect(store.consents.get(id)!.status).toBe('revoked');
      expect(store.revocations.get(id)).toBe(1);
      expect(store.keysUsed.get(id)?.size).toBe(1);
    }
    for (const id of revokedBefore) {
      expect(store.revokeCalls.get(id)).toBeUndefined();
      expect(store.consents.get(id)!.revokedAt).toBe('2026-02-01T00:00:00.000Z');
    }
    expect(store.of(other).every((c) => c.status === 'active' && !store.revokeCalls.has(c.id))).toBe(true);
    // Batches of the configured size: revocation listed 100 at a time.
    const revokeLists = store.requests.filter((r) => r.method === 'GET' && r.query.limit === '100');
    expect(revokeLists.length).toBeGreaterThanOrEqual(13);
    expect(store.requests.every((r) => r.authorization === `Bearer ${store.token}`)).toBe(true);

    const progress = s.timeline.filter((e) => e.kind === 'step.progress' && e.step === 'revoke-consents').map((e) => e.message);
    expect(progress[0]).toMatch(/^1250 active consent\(s\) of .* held for 1000 PSU\(s\); revoking in batches of 100/);
    expect(progress.length).toBeGreaterThanOrEqual(4);
    expect(progress.at(-1)).toMatch(/^batch 13\/13: 1250 revoked, 0 already revoked, 0 failed/);
    expect(JSON.stringify(s)).not.toContain(store.token);

    // The operator's view shows the counts.
    const shown = await runCli(h, ['incident', 'show', workflowId]);
    expect(shown.stderr).toBe('');
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/revoke-consents\s+│\s+consents\.revoke\s+│\s+succeeded/);
    expect(shown.stdout).toContain(`revoked 1250 of 1250 active consent(s) of ${tpp.clientId} in 13 batch(es) (0 already revoked, 0 failed); 1000 PSU(s) affected; re-listed: 0 active`);
  }, 240_000);

  it('a batch throttled with 429 and Retry-After is retried after the wait, without failing the attempt', async () => {
    const store = await newStore();
    const h = await harness(consentConfig(store, { batchSize: 50 }));
    const tpp = await createTppClient(h.aws, { keys: 1 });
    store.seed(tpp.clientId, 120, { psus: 60 });
    store.failNext(2, 429, { headers: { 'retry-after': '1' }, on: 'revoke' });

    const { workflowId } = await deliver(h, alertFor({ clientId: tpp.clientId }, { type: 'client.offboard' }));
    const s = await waitForState(h.client, workflowId, (x) => x.status !== 'containing', 60_000);
    expect(s.status).toBe('contained');
    expect(step(s, 'revoke-consents').output).toMatchObject({ counts: { active: 120, revoked: 120, alreadyRevoked: 0, failed: 0 }, clientsAffected: 60 });

    const limited = store.requests.filter((r) => r.status === 429);
    expect(limited).toHaveLength(2);
    for (const r of limited) {
      const again = store.requests.find((x) => x.path === r.path && x.at > r.at - 1 && x !== r && x.status === 200);
      expect(again, `${r.path} was retried`).toBeDefined();
      expect(again!.at - r.at).toBeGreaterThanOrEqual(950);
      expect(again!.idempotencyKey).toBe(r.idempotencyKey);
    }
    expect(await attempts(h.client, workflowId, 'revokeConsents')).toSatisfy((a: number[]) => a.length > 0 && a.every((n) => n === 1));
    expect([...store.revocations.values()].every((n) => n === 1)).toBe(true);
  });

  it('401 from the store fails the step at once with a clear reason and no token in it', async () => {
    const store = await newStore();
    const wrongToken = `wrong-${'x'.repeat(20)}-token`;
    const h = await harness(testConfig({ consents: { url: store.url, token: wrongToken } }));
    const tpp = await createTppClient(h.aws, { keys: 1 });
    store.seed(tpp.clientId, 10);

    const { workflowId } = await deliver(h, alertFor({ clientId: tpp.clientId }));
    const s = await waitForState(h.client, workflowId, (x) => x.status !== 'containing', 60_000);
    expect(s.status).toBe('needs-attention');
    expect(s.steps.map((x) => [x.id, x.status])).toEqual([
      ['disable-api-keys', 'succeeded'],
      ['rotate-secret', 'succeeded'],
      ['revoke-consents', 'failed'],
    ]);
    const error = step(s, 'revoke-consents').error!;
    expect(error).toMatch(/GET \/clients\/.*\/consents: HTTP 401 invalid_token: the consent store refused the bearer token \(check BULWARK_CONSENT_STORE_TOKEN/);
    const everything = JSON.stringify(s);
    expect(everything).not.toContain(wrongToken);
    expect(everything).not.toContain(store.token);
    // Not retried: one attempt of one activity, and nothing revoked.
    expect(await attempts(h.client, workflowId, 'listConsents')).toEqual([1]);
    expect(store.totalRevocations()).toBe(0);
    expect(store.of(tpp.clientId).every((c) => c.status === 'active')).toBe(true);
  });

  it('without a consent store configured the shipped playbook skips the step and says why', async () => {
    const h = await harness(testConfig());
    const tpp = await createTppClient(h.aws, { keys: 1 });
    const { workflowId } = await deliver(h, alertFor({ clientId: tpp.clientId }));
    const s = await waitForState(h.client, workflowId, (x) => x.status !== 'containing', 60_000);
    expect(s.status).toBe('contained');
    expect(step(s, 'revoke-consents')).toMatchObject({ status: 'skipped', skippedBecause: 'condition is false: settings.consents.enabled and inputs.clientId' });
    expect(consentFacts(s)).toEqual({});
  });

  it('consents.list counts what a provider holds, and its figure feeds regulator facts through a reference', async () => {
    const store = await newStore();
    const h = await harness(consentConfig(store));
    const clientId = uniqueId('tpp');
    store.seed(clientId, 30, { psus: 12 });
    store.seed(clientId, 5, { status: 'revoked' });
    const dir = mkdtempSync(join(tmpdir(), 'bulwark-consent-pb-'));
    writeFileSync(
      join(dir, 'count.yaml'),
      `id: count-consents
version: 1
title: Count a provider's consents
match: { types: [anomaly.detected] }
inputs: { clientId: "\${alert.subject.clientId}" }
steps:
  - id: list-consents
    action: consents.list
    with: { clientId: "\${inputs.clientId}" }
  - id: tell
    action: notify.operators
    with: { message: "\${steps.list-consents.output.clientsAffected} PSU(s) hold consents of \${inputs.clientId}" }
`,
    );
    const { catalog, result } = PlaybookCatalog.fromDir(dir);
    expect(result.errors).toEqual([]);
    const { workflowId } = await deliver(h, alertFor({ clientId }, { type: 'anomaly.detected' }), catalog);
    const s = await waitForState(h.client, workflowId, (x) => x.status !== 'containing', 60_000);
    expect(s.status).toBe('contained');
    expect(step(s, 'list-consents').output).toMatchObject({ clientId, counts: { active: 30 }, clientsAffected: 12 });
    expect(s.timeline.find((e) => e.step === 'tell' && e.kind === 'step.succeeded')?.message).toBe(`12 PSU(s) hold consents of ${clientId}`);
    expect(consentFacts(s)).toEqual({ clientsAffected: 12 });
    expect(store.totalRevocations()).toBe(0);
  });
});

describe('a worker killed in the middle of a revocation batch', () => {
  it('the retried attempt resumes from its heartbeat: every consent revoked once, under one key, counts exact', async () => {
    const store = await newStore();
    const config = consentConfig(store, { batchSize: 50 });
    const h = await harness(config, false);
    const tpp = await createTppClient(h.aws, { keys: 1 });
    const ids = store.seed(tpp.clientId, 600, { psus: 600 });
    // 5 batches in the first call, then the 6th batch (the next call's first) hangs half done.
    store.holdRevocationsAfter(275);

    child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/consent-worker.ts'], {
      env: {
        ...process.env,
        TEMPORAL_ADDRESS: config.temporal.address,
        AWS_ENDPOINT_URL: config.aws.endpoint,
        BULWARK_TASK_QUEUE: config.temporal.taskQueue,
        BULWARK_CONSENT_STORE_URL: store.url,
        BULWARK_CONSENT_STORE_TOKEN: store.token,
        BULWARK_CONSENT_BATCH_SIZE: '50',
        BULWARK_LOG_LEVEL: 'silent',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const { workflowId } = await deliver(h, alertFor({ clientId: tpp.clientId }));
    await waitFor(() => store.held > 0, 'a revocation to hang in the child worker', 150_000);
    // Heartbeats are throttled (0.8 × the 10 s heartbeat timeout): let the one naming the batch in flight reach Temporal.
    await new Promise((r) => setTimeout(r, 9000));
    child.kill('SIGKILL');
    await new Promise((r) => child!.once('exit', r));
    const revokedByCrashed = store.totalRevocations();
    expect(revokedByCrashed).toBe(275);
    store.holdRevocationsAfter(undefined);

    await harness(config);
    const s = await waitForState(h.client, workflowId, (x) => x.status !== 'containing', 120_000);
    expect(s.status).toBe('contained');
    expect(step(s, 'revoke-consents').output).toMatchObject({ counts: { active: 600, revoked: 600, alreadyRevoked: 0, failed: 0 }, clientsAffected: 600, batches: 12 });
    for (const id of ids) {
      expect(store.revocations.get(id), id).toBe(1);
      expect(store.keysUsed.get(id)?.size, id).toBe(1);
    }
    // Only the batch in flight was sent again (its consents answered from the store's idempotency record).
    const calls = [...store.revokeCalls.values()].reduce((a, b) => a + b, 0);
    expect(calls).toBeGreaterThan(600);
    expect(calls).toBeLessThanOrEqual(650);
    expect(Math.max(...(await attempts(h.client, workflowId, 'revokeConsents')))).toBeGreaterThan(1);
    expect(s.timeline.some((e) => e.step === 'revoke-consents' && /resumed from batch 1 of this call after a retry/.test(e.message))).toBe(true);
  }, 240_000);
});

describe('pure helpers', () => {
  const now = Date.parse('2026-11-26T12:00:00Z');
  it.each([
    ['1', 1000],
    ['0', 0],
    ['2.5', 2500],
    ['600', 300_000],
    ['Thu, 26 Nov 2026 12:00:05 GMT', 5000],
    ['Thu, 26 Nov 2026 11:59:00 GMT', undefined],
    ['soon', undefined],
    [null, undefined],
  ] as const)('Retry-After %s → %s ms (capped at 5 minutes)', (header, expected) => {
    expect(retryAfterMs(header, now)).toBe(expected);
  });

  const stateWith = (steps: { id: string; action: string; status: string; output?: Record<string, unknown> }[]) =>
    ({ plan: { steps: steps.map((s) => ({ id: s.id, action: s.action })) }, steps: steps.map((s) => ({ id: s.id, status: s.status, output: s.output })) }) as unknown as IncidentState;
  it.each([
    ['no consent steps', [], {}],
    ['a skipped revoke step (fact unknown, not 0)', [{ id: 'r', action: 'consents.revoke', status: 'skipped' }], {}],
    ['a failed revoke step', [{ id: 'r', action: 'consents.revoke', status: 'failed' }], {}],
    ['one provider', [{ id: 'r', action: 'consents.revoke', status: 'succeeded', output: { clientId: 'a', clientsAffected: 7 } }], { clientsAffected: 7 }],
    [
      'list then revoke of the same provider: the revoke figure',
      [
        { id: 'l', action: 'consents.list', status: 'succeeded', output: { clientId: 'a', clientsAffected: 9 } },
        { id: 'r', action: 'consents.revoke', status: 'succeeded', output: { clientId: 'a', clientsAffected: 7 } },
      ],
      { clientsAffected: 7 },
    ],
    [
      'two providers: summed',
      [
        { id: 'r1', action: 'consents.revoke', status: 'succeeded', output: { clientId: 'a', clientsAffected: 7 } },
        { id: 'r2', action: 'consents.revoke', status: 'succeeded', output: { clientId: 'b', clientsAffected: 5 } },
      ],
      { clientsAffected: 12 },
    ],
  ] as const)('consentFacts: %s', (_, steps, expected) => {
    expect(consentFacts(stateWith(steps as never))).toEqual(expected);
  });
});
