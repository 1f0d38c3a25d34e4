import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Worker } from '@temporalio/worker';
import type { temporal } from '@temporalio/proto';
import { historyFromJSON, historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { parseAlert } from '../domain/alert.js';
import { AlertDeliverer } from '../intake/deliver.js';
import { playbookDefaults } from '../temporal.config.js';
import { workflowBundle } from '../worker/bundle.js';
import { resolveUpdate } from '../workflows/definitions.js';
import { alertFor, createTppClient, startHarness, testConfig, waitForState, type Harness } from './support.js';
import { CreateRestApiCommand, CreateDeploymentCommand, GetResourcesCommand, PutMethodCommand, PutIntegrationCommand } from '@aws-sdk/client-api-gateway';

const FIXTURES = join(import.meta.dirname, 'fixtures', 'histories');
type History = temporal.api.history.v1.IHistory;

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ config: testConfig({ playbooks: { throttleTtlSeconds: 1 } }) });
});
afterAll(() => h.close());

/** Runs a playbook to its end (resolved) on the real server and returns its recorded history. */
async function record(alert: Record<string, unknown>): Promise<History> {
  const parsed = parseAlert(alert);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  const { workflowId } = await new AlertDeliverer(h.client, h.config.temporal.taskQueue, playbookDefaults(h.config)).deliver(parsed.value);
  await waitForState(h.client, workflowId, (s) => s.status === 'contained' && !s.throttleUntil);
  await h.client.workflow.getHandle(workflowId).executeUpdate(resolveUpdate, { args: [{ by: 'replay-test' }] });
  return h.client.workflow.getHandle(workflowId).fetchHistory();
}

describe('replay', () => {
  it('fresh histories of both playbooks replay with the current workflow code', async () => {
    const tpp = await createTppClient(h.aws, { keys: 1 });
    const api = await h.aws.apigw.send(new CreateRestApiCommand({ name: 'replay' }));
    const root = (await h.aws.apigw.send(new GetResourcesCommand({ restApiId: api.id! }))).items![0]!;
    await h.aws.apigw.send(new PutMethodCommand({ restApiId: api.id!, resourceId: root.id!, httpMethod: 'GET', authorizationType: 'NONE' }));
    await h.aws.apigw.send(new PutIntegrationCommand({ restApiId: api.id!, resourceId: root.id!, httpMethod: 'GET', type: 'MOCK' }));
    await h.aws.apigw.send(new CreateDeploymentCommand({ restApiId: api.id!, stageName: 'prod' }));
    const histories = {
      'credential-compromise': await record(alertFor({ clientId: tpp.clientId })),
      'endpoint-abuse': await record(alertFor({ endpoint: { restApiId: api.id!, stage: 'prod' } }, { type: 'endpoint.abuse' })),
    };
    for (const [name, history] of Object.entries(histories)) {
      await expect(Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, name)).resolves.toBeUndefined();
      // RECORD_HISTORIES=1 refreshes the committed fixtures (do it only for a deliberate, compatible change).
      if (process.env.RECORD_HISTORIES === '1') writeFileSync(join(FIXTURES, `${name}.json`), historyToJSON(history as never));
    }
  });

  it('committed histories from earlier versions still replay (determinism across deploys)', async () => {
    const files = readdirSync(FIXTURES).filter((f) => f.endsWith('.json'));
    expect(files.length).toBeGreaterThanOrEqual(2);
    const histories = files.map((f) => ({ workflowId: f, history: historyFromJSON(JSON.parse(readFileSync(join(FIXTURES, f), 'utf8'))) }));
    const results = Worker.runReplayHistories({ workflowBundle: await workflowBundle() }, histories);
    for await (const result of results) expect(result.error, `${result.workflowId}: ${String(result.error)}`).toBeUndefined();
  });
});
