import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { GetApiKeyCommand } from '@aws-sdk/client-api-gateway';
import { DescribeSecretCommand, ListSecretVersionIdsCommand } from '@aws-sdk/client-secrets-manager';
import { parseAlert } from '../domain/alert.js';
import { AlertDeliverer } from '../intake/deliver.js';
import { playbookDefaults } from '../temporal.config.js';
import { alertFor, createTppClient, startHarness, testConfig, uniqueId, waitForState, type Harness, waitFor } from './support.js';

const open: Harness[] = [];
let child: ChildProcess | undefined;
afterEach(async () => {
  child?.kill('SIGKILL');
  for (const h of open.splice(0)) await h.close();
});

describe('a worker killed between the AWS call and its completion being recorded', () => {
  it.each(['disableApiKeys', 'createSecret', 'finishSecret'])('after %s: a new worker completes the incident, each side effect exactly once', async (activity) => {
    const config = testConfig();
    // The client side only: no worker in this process until the crash has happened.
    const h = await startHarness({ config, worker: false });
    open.push(h);
    const tpp = await createTppClient(h.aws, { keys: 2 });
    const marker = join(inject('scratchDir'), `${uniqueId('crash')}.marker`);

    child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/crash-worker.ts'], {
      env: { ...process.env, TEMPORAL_ADDRESS: config.temporal.address, AWS_ENDPOINT_URL: config.aws.endpoint, BULWARK_TASK_QUEUE: config.temporal.taskQueue, CRASH_AFTER: activity, MARKER: marker },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const parsed = parseAlert(alertFor({ clientId: tpp.clientId }));
    if (!parsed.ok) throw new Error('bad fixture');
    const { workflowId } = await new AlertDeliverer(h.client, config.temporal.taskQueue, playbookDefaults(config)).deliver(parsed.value);

    await waitFor(() => existsSync(marker), `${activity} to reach AWS in the child worker`);
    child.kill('SIGKILL');
    await new Promise((r) => child!.once('exit', r));

    const recovered = await startHarness({ config });
    open.push(recovered);
    const state = await waitForState(h.client, workflowId, (s) => s.status !== 'containing', 60_000);

    expect(state.status).toBe('contained');
    for (const id of tpp.apiKeyIds) expect((await h.aws.apigw.send(new GetApiKeyCommand({ apiKey: id }))).enabled).toBe(false);
    const versions = (await h.aws.sm.send(new ListSecretVersionIdsCommand({ SecretId: tpp.secretArn }))).Versions ?? [];
    expect(versions).toHaveLength(2);
    const stages = (await h.aws.sm.send(new DescribeSecretCommand({ SecretId: tpp.secretArn }))).VersionIdsToStages ?? {};
    expect(stages[tpp.initialVersionId]).toEqual(['AWSPREVIOUS']);
    expect(Object.values(stages).filter((s) => s.includes('AWSCURRENT'))).toHaveLength(1);
    expect(Object.values(stages).some((s) => s.includes('AWSPENDING'))).toBe(false);
    // The crashed attempt was retried, not skipped: the history shows a second attempt of that activity.
    const history = await h.client.workflow.getHandle(workflowId).fetchHistory();
    const retried = history.events!.some((e) => e.activityTaskStartedEventAttributes && (e.activityTaskStartedEventAttributes.attempt ?? 1) > 1);
    expect(retried).toBe(true);
    // The repeated disable reports that the keys were already off rather than acting again.
    if (activity === 'disableApiKeys') {
      const keys = state.steps.find((s) => s.id === 'disable-api-keys')!.output!.keys as { changed: boolean }[];
      expect(keys.every((k) => k.changed === false)).toBe(true);
    }
  });
});
