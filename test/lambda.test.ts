import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlertDeliverer } from '../intake/deliver.js';
import { createHandler } from '../intake/lambda.js';
import { createLogger } from '../telemetry/logger.js';
import { playbookDefaults } from '../temporal.config.js';
import { createStage, startHarness, waitForState, type Harness, workflowExists } from './support.js';

// The handler is invoked with the event shapes Lambda delivers (EventBridge, SNS, SQS), against the
// real dev server through a deliverer built on the harness's real client.
const fixture = (path: string): any => JSON.parse(readFileSync(new URL(`./fixtures/sources/${path}`, import.meta.url), 'utf8'));
const hex = (n: number) => randomBytes(n / 2).toString('hex');

function guardDutyEvent() {
  const e = fixture('guardduty/eventbridge-instance-credential-exfiltration.json');
  const id = hex(32);
  e.detail.arn = e.detail.arn.replace(e.detail.id, id);
  e.detail.id = id;
  e.id = crypto.randomUUID();
  return e;
}
/** The Security Hub fixture with fresh finding ids; its API-abuse finding names a real stage in the sandbox account. */
function securityHubEvent() {
  const e = fixture('securityhub/eventbridge-findings-imported.json');
  for (const f of e.detail.findings) f.Id = `${f.Id.replace(/[0-9a-f]{32}$/, '')}${hex(32)}`;
  e.detail.findings[1].Resources[0].Id = `arn:aws:apigateway:eu-west-1::/restapis/${restApiId}/stages/prod`;
  return e;
}
/** The SNS fixture with a fresh finding inside its Message. */
function snsRecord(message: string | unknown, messageId: string = crypto.randomUUID()) {
  const record = structuredClone(fixture('sns/lambda-event-guardduty.json').Records[0]);
  record.Sns.MessageId = messageId;
  record.Sns.Message = typeof message === 'string' ? message : JSON.stringify(message);
  return record;
}
function sqsRecord(body: string, messageId: string = crypto.randomUUID()) {
  return {
    messageId,
    receiptHandle: 'AQEBexampleReceiptHandle==',
    body,
    attributes: { ApproximateReceiveCount: '1', SentTimestamp: String(Date.now()), SenderId: 'AIDAEXAMPLE', ApproximateFirstReceiveTimestamp: String(Date.now()) },
    messageAttributes: {},
    md5OfBody: 'e4e68fb7bd0e697a0ae8f1bb342846b3',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:eu-west-1:123456789012:bulwark-findings',
    awsRegion: 'eu-west-1',
  };
}

let h: Harness;
let restApiId: string;
let deliverer: AlertDeliverer;
let handler: ReturnType<typeof createHandler>;
const logger = createLogger('silent');

beforeAll(async () => {
  h = await startHarness();
  restApiId = await createStage(h.aws);
  deliverer = new AlertDeliverer(h.client, h.config.temporal.taskQueue, playbookDefaults(h.config));
  handler = createHandler({ deliverer, logger });
});
afterAll(() => h?.close());

const exists = (workflowId: string) => workflowExists(h.client, workflowId);

describe('EventBridge events invoking the handler directly', () => {
  it('a GuardDuty Finding event → one incident holding the credential alert', async () => {
    const summary = await handler(guardDutyEvent());
    expect(summary).toMatchObject({ accepted: 1, refused: 0, batchItemFailures: [] });
    const [record] = summary.results;
    expect(record).toMatchObject({ ok: true, source: 'guardduty' });
    const [alert] = record!.alerts!;
    expect(alert).toMatchObject({ type: 'aws-credential.compromised', severity: 'high', deduplicated: false });
    const state = await waitForState(h.client, alert!.workflowId, (s) => s.alertCount === 1);
    expect(state.alert.subject).toMatchObject({ awsAccessKeyId: 'ASIAZ2UJQBV5EXAMPLE7', iamRoleName: 'payments-api-instance-role' });
  });

  it('a Security Hub Findings - Imported event → one incident per finding', async () => {
    const summary = await handler(securityHubEvent());
    expect(summary.accepted).toBe(1);
    const alerts = summary.results[0]!.alerts!;
    expect(alerts.map((a) => a.type)).toEqual(['aws-credential.compromised', 'endpoint.abuse', 'anomaly.detected']);
    for (const a of alerts) expect(await exists(a.workflowId)).toBe(true);
  });

  it('an event of another detail-type is refused with its reason, not thrown', async () => {
    const summary = await handler({ ...guardDutyEvent(), 'detail-type': 'AWS API Call via CloudTrail', source: 'aws.iam' });
    expect(summary).toMatchObject({ accepted: 0, refused: 1, results: [{ ok: false, reason: 'unsupported-event', errors: [{ field: 'detail-type' }] }] });
  });
});

describe('SNS events (EventBridge rule → SNS topic → Lambda)', () => {
  it('the SNS fixture as published delivers its GuardDuty finding', async () => {
    const event = fixture('sns/lambda-event-guardduty.json');
    const inner = JSON.parse(event.Records[0].Sns.Message);
    inner.detail.id = hex(32);
    event.Records[0].Sns.Message = JSON.stringify(inner);
    const summary = await handler(event);
    expect(summary).toMatchObject({ accepted: 1, refused: 0, batchItemFailures: [], results: [{ record: '95df01b4-ee98-5cb9-9903-4c221d41eb5e', ok: true }] });
    expect(await exists(summary.results[0]!.alerts![0]!.workflowId)).toBe(true);
  });

  it('malformed records are refused with their reasons while the others go through (partial batch)', async () => {
    const good = guardDutyEvent();
    const broken = guardDutyEvent();
    broken.detail.resource.accessKeyDetails.accessKeyId = 'not-a-key';
    const summary = await handler({
      Records: [snsRecord(good, 'm-good'), snsRecord('{"detail-type": ', 'm-not-json'), snsRecord(broken, 'm-bad-finding'), snsRecord(securityHubEvent(), 'm-securityhub')],
    });
    expect(summary.accepted).toBe(2);
    expect(summary.refused).toBe(2);
    expect(summary.batchItemFailures).toEqual([{ itemIdentifier: 'm-not-json' }, { itemIdentifier: 'm-bad-finding' }]);
    expect(summary.results.map((r) => [r.record, r.ok, r.reason])).toEqual([
      ['m-good', true, undefined],
      ['m-not-json', false, 'invalid-json'],
      ['m-bad-finding', false, 'invalid-alert'],
      ['m-securityhub', true, undefined],
    ]);
    expect(summary.results[2]!.errors).toEqual([{ field: 'detail.resource.accessKeyDetails.accessKeyId', message: expect.stringContaining('IAM access key id') }]);
    const goodAlert = summary.results[0]!.alerts![0]!;
    await waitForState(h.client, goodAlert.workflowId, (s) => s.alertCount === 1);
  });

  it('an Alertmanager payload published to SNS is normalised too, and its resolved notification attaches', async () => {
    const firing = fixture('alertmanager/grouped-firing.json');
    const resolved = fixture('alertmanager/grouped-resolved.json');
    firing.alerts = firing.alerts.slice(0, 1);
    resolved.alerts = resolved.alerts.slice(0, 1);
    firing.alerts[0].fingerprint = resolved.alerts[0].fingerprint = hex(16);
    const opened = await handler({ Records: [snsRecord(firing)] });
    const workflowId = opened.results[0]!.alerts![0]!.workflowId;
    await waitForState(h.client, workflowId, (s) => s.alertCount === 1);
    const closed = await handler({ Records: [snsRecord(resolved)] });
    expect(closed.results[0]!.alerts).toEqual([expect.objectContaining({ status: 'resolved', workflowId, attached: true })]);
    const state = await waitForState(h.client, workflowId, (s) => s.timeline.some((e) => e.kind === 'alert.resolved'));
    expect(state.alertCount).toBe(1);
  });
});

describe('SQS events (partial batch response)', () => {
  it('raw EventBridge bodies and SNS-envelope bodies are both read; failures are listed by messageId', async () => {
    const viaSns = { Type: 'Notification', MessageId: crypto.randomUUID(), TopicArn: 'arn:aws:sns:eu-west-1:123456789012:findings', Message: JSON.stringify(guardDutyEvent()) };
    const summary = await handler({
      Records: [sqsRecord(JSON.stringify(guardDutyEvent()), 'q-raw'), sqsRecord(JSON.stringify(viaSns), 'q-sns'), sqsRecord('hello', 'q-junk'), sqsRecord(JSON.stringify({ some: 'thing' }), 'q-unknown')],
    });
    expect(summary).toMatchObject({ accepted: 2, refused: 2, batchItemFailures: [{ itemIdentifier: 'q-junk' }, { itemIdentifier: 'q-unknown' }] });
    expect(summary.results[3]).toMatchObject({ reason: 'unsupported-event' });
    for (const r of summary.results.slice(0, 2)) expect(await exists(r.alerts![0]!.workflowId)).toBe(true);
  });

  it('when Temporal cannot be reached: SQS records are reported for retry; EventBridge invocations throw so Lambda retries', async () => {
    const down = { deliverAlert: async () => Promise.reject(new Error('14 UNAVAILABLE: connect ECONNREFUSED')) } as unknown as AlertDeliverer;
    const failing = createHandler({ deliverer: down, logger });
    const summary = await failing({ Records: [sqsRecord(JSON.stringify(guardDutyEvent()), 'q-1')] });
    expect(summary).toMatchObject({ accepted: 0, refused: 1, batchItemFailures: [{ itemIdentifier: 'q-1' }], results: [{ reason: 'unavailable' }] });
    await expect(failing(guardDutyEvent())).rejects.toThrow(/Temporal unreachable/);
  });
});

describe('handler wiring', () => {
  it('builds its deliverer lazily, once per container, and retries a failed build on the next invocation', async () => {
    let builds = 0;
    const lazy = createHandler({
      logger,
      deliverer: async () => {
        builds++;
        if (builds === 1) throw new Error('first connect fails');
        return deliverer;
      },
    });
    const first = await lazy({ Records: [sqsRecord(JSON.stringify(guardDutyEvent()), 'q-a')] });
    expect(first.batchItemFailures).toEqual([{ itemIdentifier: 'q-a' }]);
    const second = await lazy(guardDutyEvent());
    const third = await lazy(guardDutyEvent());
    expect([second.accepted, third.accepted]).toEqual([1, 1]);
    expect(builds).toBe(2);
  });

  it('the exported handler module loads without connecting (connection happens on first invocation)', async () => {
    const mod = await import('../intake/lambda.js');
    expect(typeof mod.handler).toBe('function');
    const summary = await mod.handler({ nothing: true });
    expect(summary).toMatchObject({ accepted: 0, refused: 1, results: [{ reason: 'unsupported-event' }] });
  });
});
