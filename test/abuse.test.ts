import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetStageCommand } from '@aws-sdk/client-api-gateway';
import { parseAlert } from '../domain/alert.js';
import { AlertDeliverer } from '../intake/deliver.js';
import { playbookDefaults } from '../temporal.config.js';
import { extendUpdate, resolveUpdate } from '../workflows/definitions.js';
import { alertFor, createStage, startHarness, testConfig, uniqueId, waitForState, refusal, type Harness } from './support.js';

let h: Harness;
let deliverer: AlertDeliverer;
beforeAll(async () => {
  // A short TTL so the durable timer's restore is observed within the test.
  h = await startHarness({ config: testConfig({ playbooks: { throttleTtlSeconds: 3, throttleRateLimit: 7, throttleBurstLimit: 3 } }) });
  deliverer = new AlertDeliverer(h.client, h.config.temporal.taskQueue, playbookDefaults(h.config));
});
afterAll(() => h.close());

const stageWithLimits = () => createStage(h.aws, { rate: 500, burst: 1000 });

async function limits(restApiId: string, key = '*/*') {
  const s = (await h.aws.apigw.send(new GetStageCommand({ restApiId, stageName: 'prod' }))).methodSettings?.[key];
  return { rate: s?.throttlingRateLimit, burst: s?.throttlingBurstLimit };
}

function open(restApiId: string, over: Record<string, unknown> = {}) {
  const parsed = parseAlert(alertFor({ endpoint: { restApiId, stage: 'prod', ...over } }, { type: 'endpoint.abuse' }));
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return deliverer.deliver(parsed.value);
}

describe('endpoint abuse playbook', () => {
  it('throttles the stage, then restores the previous limits when the TTL ends', async () => {
    const restApiId = await stageWithLimits();
    const { workflowId } = await open(restApiId);
    const contained = await waitForState(h.client, workflowId, (s) => s.status === 'contained');
    expect(contained.throttleUntil).toBeDefined();
    expect(await limits(restApiId)).toEqual({ rate: 7, burst: 3 });

    const restored = await waitForState(h.client, workflowId, (s) => s.steps[0]!.status === 'compensated', 20_000);
    expect(await limits(restApiId)).toEqual({ rate: 500, burst: 1000 });
    expect(restored.timeline.some((e) => e.kind === 'step.compensated' && /TTL expired/.test(e.message))).toBe(true);
    expect(restored.status).toBe('contained');
  });

  it('throttles one method only, and resolve restores it at once', async () => {
    const restApiId = await stageWithLimits();
    const { workflowId } = await open(restApiId, { resourcePath: '/payments', httpMethod: 'POST' });
    await waitForState(h.client, workflowId, (s) => s.status === 'contained');
    expect(await limits(restApiId, '~1payments/POST')).toEqual({ rate: 7, burst: 3 });
    expect(await limits(restApiId)).toEqual({ rate: 500, burst: 1000 });

    const handle = h.client.workflow.getHandle(workflowId);
    // The method had no override: its limits were the stage-wide ones, and that is what comes back.
    await handle.executeUpdate(extendUpdate, { args: [{ by: 'alice', ttlSeconds: 3600 }] });
    expect(await handle.executeUpdate(resolveUpdate, { args: [{ by: 'alice' }] })).toBe('resolved');
    expect(await limits(restApiId, '~1payments/POST')).toEqual({ rate: 500, burst: 1000 });
  });

  it('extend pushes the restore back; bad extensions are refused by the validator', async () => {
    const restApiId = await stageWithLimits();
    const { workflowId } = await open(restApiId);
    await waitForState(h.client, workflowId, (s) => s.status === 'contained');
    const handle = h.client.workflow.getHandle(workflowId);
    expect(await refusal(handle.executeUpdate(extendUpdate, { args: [{ by: 'alice', ttlSeconds: 5 }] }))).toMatch(/between 60 and 604800/);
    const until = await handle.executeUpdate(extendUpdate, { args: [{ by: 'alice', ttlSeconds: 600 }] });
    expect(Date.parse(until) - Date.now()).toBeGreaterThan(590_000);
    await new Promise((r) => setTimeout(r, 4000));
    expect(await limits(restApiId)).toEqual({ rate: 7, burst: 3 });
    await handle.executeUpdate(resolveUpdate, { args: [{ by: 'alice' }] });
    expect(await limits(restApiId)).toEqual({ rate: 500, burst: 1000 });
  });

  it('an unknown REST API ends in needs-attention and nothing is throttled', async () => {
    const missing = uniqueId('nosuchapi');
    const { workflowId } = await open(missing);
    const state = await waitForState(h.client, workflowId, (s) => s.status !== 'containing');
    expect(state.status).toBe('needs-attention');
    expect(state.attention).toContain(`GetStage on stage ${missing}/prod failed: NotFoundException`);
  });
});
