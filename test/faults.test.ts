import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { GetApiKeyCommand } from '@aws-sdk/client-api-gateway';
import { ListSecretVersionIdsCommand } from '@aws-sdk/client-secrets-manager';
import { createAwsClients } from '../activities/clients.js';
import { parseAlert } from '../domain/alert.js';
import { AlertDeliverer } from '../intake/deliver.js';
import { playbookDefaults } from '../temporal.config.js';
import { FaultProxy } from './fixtures/fault-proxy.js';
import { alertFor, createTppClient, startHarness, testConfig, waitForState, type Harness } from './support.js';

let proxy: FaultProxy;
let h: Harness;
// Direct (unproxied) clients to set up and inspect the sandbox.
const direct = () => createAwsClients(testConfig().aws);

beforeAll(async () => {
  proxy = new FaultProxy(inject('awsEndpoint'));
  const endpoint = await proxy.start();
  // One SDK attempt per activity attempt, so every retry is Temporal's and visible in history.
  h = await startHarness({ config: testConfig({ aws: { endpoint, maxAttempts: 1 } }) });
});
afterAll(async () => {
  await h.close();
  await proxy.stop();
});

async function open(clientId: string) {
  const parsed = parseAlert(alertFor({ clientId }));
  if (!parsed.ok) throw new Error();
  return new AlertDeliverer(h.client, h.config.temporal.taskQueue, playbookDefaults(h.config)).deliver(parsed.value);
}

describe('AWS faults', () => {
  it('throttling is retried with backoff and containment still completes, once', async () => {
    const aws = direct();
    const tpp = await createTppClient(aws, { keys: 1 });
    proxy.failNext(3, 'throttle');
    const before = proxy.faulted;
    const { workflowId } = await open(tpp.clientId);
    const state = await waitForState(h.client, workflowId, (s) => s.status !== 'containing', 60_000);
    expect(proxy.faulted - before).toBe(3);
    expect(state.status).toBe('contained');
    expect((await aws.apigw.send(new GetApiKeyCommand({ apiKey: tpp.apiKeyIds[0]! }))).enabled).toBe(false);
    expect((await aws.sm.send(new ListSecretVersionIdsCommand({ SecretId: tpp.secretArn }))).Versions).toHaveLength(2);
    const history = await h.client.workflow.getHandle(workflowId).fetchHistory();
    const maxAttempt = Math.max(...history.events!.filter((e) => e.activityTaskStartedEventAttributes).map((e) => e.activityTaskStartedEventAttributes!.attempt ?? 1));
    expect(maxAttempt).toBeGreaterThanOrEqual(4);
  });

  it('an outage that outlasts the retries ends in needs-attention with the reason, not an endless retry', async () => {
    const aws = direct();
    const tpp = await createTppClient(aws, { keys: 1 });
    proxy.failAlways('unavailable');
    try {
      const { workflowId } = await open(tpp.clientId);
      const state = await waitForState(h.client, workflowId, (s) => s.status !== 'containing', 60_000);
      expect(state.status).toBe('needs-attention');
      expect(state.attention).toMatch(/disable-api-keys failed: GetApiKeys on client .* failed: .*HTTP 503/);
      expect(state.steps.map((s) => s.status)).toEqual(['failed', 'pending', 'pending']);
    } finally {
      proxy.failAlways(undefined);
    }
    expect((await aws.apigw.send(new GetApiKeyCommand({ apiKey: tpp.apiKeyIds[0]! }))).enabled).toBe(true);
  });
});
