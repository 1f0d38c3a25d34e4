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
import { alertFor, createStage, createTppClient, startHarness, testConfig, waitForState, type Harness } from './support.js';

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
    const restApiId = await createStage(h.aws);
    const histories = {
      'playbook-credential-compromise': await record(alertFor({ clientId: tpp.clientId })),
      'playbook-endpoint-abuse': await record(alertFor({ endpoint: { restApiId, stage: 'prod' } }, { type: 'endpoint.abuse' })),
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
