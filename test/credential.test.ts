import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetApiKeyCommand } from '@aws-sdk/client-api-gateway';
import { DescribeSecretCommand, GetSecretValueCommand, ListSecretVersionIdsCommand } from '@aws-sdk/client-secrets-manager';
import { parseAlert } from '../domain/alert.js';
import { AlertDeliverer } from '../intake/deliver.js';
import { playbookDefaults } from '../temporal.config.js';
import { containUpdate, resolveUpdate } from '../workflows/definitions.js';
import { alertFor, createTppClient, startHarness, uniqueId, waitForState, refusal, type Harness } from './support.js';

let h: Harness;
let deliverer: AlertDeliverer;
beforeAll(async () => {
  h = await startHarness();
  deliverer = new AlertDeliverer(h.client, h.config.temporal.taskQueue, playbookDefaults(h.config));
});
afterAll(() => h.close());

function open(subject: Record<string, unknown>, over: Record<string, unknown> = {}) {
  const parsed = parseAlert(alertFor(subject, over));
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return deliverer.deliver(parsed.value);
}

async function keyEnabled(id: string) {
  return (await h.aws.apigw.send(new GetApiKeyCommand({ apiKey: id }))).enabled;
}
async function versions(secretArn: string) {
  return (await h.aws.sm.send(new ListSecretVersionIdsCommand({ SecretId: secretArn }))).Versions ?? [];
}
async function stages(secretArn: string) {
  return (await h.aws.sm.send(new DescribeSecretCommand({ SecretId: secretArn }))).VersionIdsToStages ?? {};
}

describe('credential compromise playbook', () => {
  it('high severity: disables every key of the client and rotates its secret, exactly once', async () => {
    const tpp = await createTppClient(h.aws);
    const { workflowId } = await open({ clientId: tpp.clientId });
    const state = await waitForState(h.client, workflowId, (s) => s.status !== 'containing');

    expect(state.status).toBe('contained');
    for (const id of tpp.apiKeyIds) expect(await keyEnabled(id)).toBe(false);
    const after = await stages(tpp.secretArn);
    const current = Object.entries(after).find(([, s]) => s.includes('AWSCURRENT'))![0];
    expect(current).not.toBe(tpp.initialVersionId);
    expect(after[tpp.initialVersionId]).toEqual(['AWSPREVIOUS']);
    expect(await versions(tpp.secretArn)).toHaveLength(2);
    const newValue = (await h.aws.sm.send(new GetSecretValueCommand({ SecretId: tpp.secretArn, VersionStage: 'AWSCURRENT' }))).SecretString!;
    expect(JSON.parse(newValue).clientId).toBe(tpp.clientId);
    expect(newValue).not.toBe(tpp.secretValue);

    // The timeline names what was touched, never the values.
    const resources = state.timeline.flatMap((e) => e.resources ?? []);
    expect(resources).toEqual(expect.arrayContaining([...tpp.apiKeyIds, tpp.secretArn, current]));
    const history = JSON.stringify(await h.client.workflow.getHandle(workflowId).fetchHistory());
    expect(history).not.toContain(JSON.parse(newValue).clientSecret);
    expect(history).not.toContain(JSON.parse(tpp.secretValue).clientSecret);
  });

  it('low severity waits for `contain`, touching nothing until then', async () => {
    const tpp = await createTppClient(h.aws, { keys: 1 });
    const { workflowId } = await open({ clientId: tpp.clientId }, { severity: 'low' });
    const waiting = await waitForState(h.client, workflowId, (s) => s.status === 'awaiting-containment');
    expect(waiting.steps.every((s) => s.status === 'pending')).toBe(true);
    expect(await keyEnabled(tpp.apiKeyIds[0]!)).toBe(true);

    const handle = h.client.workflow.getHandle(workflowId);
    expect(await refusal(handle.executeUpdate(containUpdate, { args: [{ by: 'not a name!' }] }))).toMatch(/by/);
    expect(await handle.executeUpdate(containUpdate, { args: [{ by: 'alice' }] })).toBe('contained');
    expect(await keyEnabled(tpp.apiKeyIds[0]!)).toBe(false);
    // A second contain is refused by the validator: the gate is already open.
    expect(await refusal(handle.executeUpdate(containUpdate, { args: [{ by: 'bob' }] }))).toMatch(/not waiting for containment/);
  });

  it('a repeat alert of higher severity opens the gate by itself', async () => {
    const tpp = await createTppClient(h.aws, { keys: 1 });
    const { workflowId } = await open({ clientId: tpp.clientId }, { severity: 'medium' });
    await waitForState(h.client, workflowId, (s) => s.status === 'awaiting-containment');
    const again = await open({ clientId: tpp.clientId }, { severity: 'critical' });
    expect(again).toMatchObject({ workflowId, deduplicated: true });
    const state = await waitForState(h.client, workflowId, (s) => s.status === 'contained');
    expect(state.alertCount).toBe(2);
    expect(await keyEnabled(tpp.apiKeyIds[0]!)).toBe(false);
  });

  it('an unknown API key ends in needs-attention with the reason, and leaves the secret alone', async () => {
    const tpp = await createTppClient(h.aws, { keys: 1 });
    const { workflowId } = await open({ apiKeyId: 'doesnotexist', secretId: tpp.secretArn });
    const state = await waitForState(h.client, workflowId, (s) => s.status !== 'containing');
    expect(state.status).toBe('needs-attention');
    expect(state.attention).toMatch(/disable-api-keys failed: GetApiKey on API key doesnotexist failed: NotFoundException/);
    expect(state.steps.find((s) => s.id === 'rotate-secret')!.status).toBe('pending');
    expect(await versions(tpp.secretArn)).toHaveLength(1);
    // Non-retryable: failed on the first attempt, not after a retry storm.
    const history = await h.client.workflow.getHandle(workflowId).fetchHistory();
    const disableTasks = new Set(history.events!.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'disableApiKeys').map((e) => String(e.eventId)));
    const attempts = history.events!.filter((e) => e.activityTaskStartedEventAttributes && disableTasks.has(String(e.activityTaskStartedEventAttributes.scheduledEventId))).map((e) => e.activityTaskStartedEventAttributes!.attempt);
    expect(attempts).toEqual([1]);
  });

  it('a client with no tagged keys or secrets is reported, not guessed at', async () => {
    const clientId = uniqueId('nobody');
    const { workflowId } = await open({ clientId });
    const state = await waitForState(h.client, workflowId, (s) => s.status !== 'containing');
    expect(state.status).toBe('needs-attention');
    expect(state.attention).toContain(`no API Gateway API key is tagged bulwark:client-id=${clientId}`);
  });

  it('resolve closes the incident; a new alert after that opens a new run', async () => {
    const tpp = await createTppClient(h.aws, { keys: 1 });
    const first = await open({ clientId: tpp.clientId });
    await waitForState(h.client, first.workflowId, (s) => s.status === 'contained');
    const handle = h.client.workflow.getHandle(first.workflowId);
    expect(await handle.executeUpdate(resolveUpdate, { args: [{ by: 'alice', reason: 'keys reissued' }] })).toBe('resolved');
    const result = await handle.result();
    expect(result.resolvedBy).toBe('alice');
    const second = await open({ clientId: tpp.clientId });
    expect(second).toMatchObject({ workflowId: first.workflowId, deduplicated: false });
  });
});

describe('long-lived incidents', () => {
  it('continue-as-new keeps state and every alert count when history grows', async () => {
    const tpp = await createTppClient(h.aws, { keys: 1 });
    // A tiny history limit forces several continue-as-new hand-overs within the test.
    const small = new AlertDeliverer(h.client, h.config.temporal.taskQueue, playbookDefaults(h.config), { historyLimit: 60 });
    const parsed = parseAlert(alertFor({ clientId: tpp.clientId }));
    if (!parsed.ok) throw new Error();
    const first = await small.deliver(parsed.value);
    const handle = h.client.workflow.getHandle(first.workflowId);
    await waitForState(h.client, first.workflowId, (s) => s.status === 'contained');
    const firstRun = (await handle.describe()).runId;
    // Sequential deliveries: each is its own signal, the worst case for history growth.
    for (let i = 0; i < 60; i++) await small.deliver(parsed.value);
    await waitForState(h.client, first.workflowId, (s) => s.alertCount === 61);
    // The hand-over happens at the next safe point, once the audit trail has caught up.
    await expect.poll(async () => (await handle.describe()).runId, { timeout: 20_000 }).not.toBe(firstRun);
    const state = await waitForState(h.client, first.workflowId, (s) => s.alertCount === 61);
    expect(state.status).toBe('contained');
    expect(state.steps.map((s) => s.status)).toEqual(['succeeded', 'succeeded', 'skipped']);
    expect(state.deliveries).toBe(61);
    // Nothing ran twice across runs: still exactly one new secret version.
    expect(await versions(tpp.secretArn)).toHaveLength(2);
    expect(await handle.executeUpdate(resolveUpdate, { args: [{ by: 'alice' }] })).toBe('resolved');
  });
});
