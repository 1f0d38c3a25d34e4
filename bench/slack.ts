/**
 * Slack approval latency: a click on Approve (a signed interactive payload POSTed to the real intake,
 * acked, then sent to the incident workflow as an Update with waitForStage ACCEPTED) until the
 * approved step starts, beside the bare Update round-trip on the same kind of workflow (an incident
 * waiting on the same step), interleaved in the same run on the same servers.
 *
 *   npx tsx bench/slack.ts [--n 40]                                 starts its own Temporal + moto
 *   TEMPORAL_ADDRESS=… AWS_ENDPOINT_URL=… npx tsx bench/slack.ts      uses running servers
 *
 * "Step started" is the workflow's own `step.started` timeline time (the worker's clock, the same
 * process as the bench), so polling the state does not add to the figure. Slack's Web API is the
 * local fake from the tests. Prints a table on stderr and one JSON line on stdout.
 */
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { CreateAccessKeyCommand, CreateUserCommand } from '@aws-sdk/client-iam';
import { WorkflowUpdateStage, type Client } from '@temporalio/client';
import { createAwsClients } from '../activities/clients.js';
import { parseAlert } from '../domain/alert.js';
import type { IncidentState } from '../domain/incident.js';
import { buttonValue } from '../domain/slack/view.js';
import { benchServers, benchWorker, runIfMain } from './servers.js';
import { createDeliverer, startIntake } from '../intake/app.js';
import { createLogger } from '../telemetry/logger.js';
import { loadConfig } from '../temporal.config.js';
import { startFakeSlack } from '../test/support/fake-slack.js';
import { approveUpdate, stateQuery } from '../workflows/definitions.js';
import type { Row } from './pure.js';
import { renderRows, summarise, type Summary } from './stats.js';

export interface SlackBenchOptions {
  /** Samples per side. */
  n?: number;
  temporalAddress?: string;
  awsEndpoint?: string;
  log?: (message: string) => void;
}

export interface SlackBenchResult {
  n: number;
  /** Signed click POST → intake's 200 (Slack's 3-second budget). */
  clickAck: Summary;
  /** Click sent → the approved step's `step.started`. */
  clickToStarted: Summary;
  /** Baseline: client startUpdate(approve, waitForStage ACCEPTED) round trip. */
  updateAccepted: Summary;
  /** Baseline: Update sent → the approved step's `step.started`. */
  updateToStarted: Summary;
  rows: Row[];
}

const STEP = 'delete-access-key';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runSlackBench(opts: SlackBenchOptions = {}): Promise<SlackBenchResult> {
  const n = opts.n ?? 40;
  const log = opts.log ?? ((m: string) => process.stderr.write(`bench: ${m}\n`));
  const servers = await benchServers('slack', opts);
  const { temporalAddress, awsEndpoint } = servers;
  const botToken = `xoxb-bench-${randomBytes(6).toString('hex')}`;
  const signingSecret = randomBytes(16).toString('hex');
  const fake = await startFakeSlack({ botToken, channelId: 'C0BENCH' });
  const config = loadConfig(
    { TEMPORAL_ADDRESS: temporalAddress, AWS_ENDPOINT_URL: awsEndpoint, BULWARK_TASK_QUEUE: `bench-slack-${randomUUID()}`, BULWARK_LOG_LEVEL: 'silent', BULWARK_INTAKE_PORT: '0' },
    { slack: { botToken, signingSecret, channel: 'C0BENCH', apiUrl: fake.apiUrl } },
  );
  const aws = createAwsClients(config.aws);
  const bench = await benchWorker(config, aws);
  const { client } = bench;
  const intake = await startIntake({ config, client, logger: createLogger('silent'), webhookSecret: randomBytes(16).toString('hex') });
  try {
    log(`slack: ${2 * n} incidents waiting for approval of ${STEP}…`);
    const deliverer = createDeliverer(config, client, createLogger('silent'));
    const incidents: IncidentState[] = [];
    for (let i = 0; i < 2 * n; i += 10) {
      incidents.push(...(await Promise.all(Array.from({ length: Math.min(10, 2 * n - i) }, () => waitingIncident(client, aws, deliverer)))));
    }

    const clickAck: number[] = [];
    const clickToStarted: number[] = [];
    const updateAccepted: number[] = [];
    const updateToStarted: number[] = [];
    log(`slack: ${n} clicks and ${n} bare Updates, interleaved one at a time…`);
    for (let i = 0; i < 2 * n; i++) {
      const s = incidents[i]!;
      const digest = s.steps.find((x) => x.id === STEP)!.digest;
      const t0 = Date.now();
      if (i % 2 === 0) {
        const body = `payload=${encodeURIComponent(JSON.stringify(clickPayload(buttonValue(s.incidentId, STEP, digest))))}`;
        const ts = Math.floor(Date.now() / 1000);
        const signature = `v0=${createHmac('sha256', signingSecret).update(`v0:${ts}:${body}`).digest('hex')}`;
        const p0 = performance.now();
        const r = await fetch(`${intake.url}/slack/events`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': String(ts), 'x-slack-signature': signature },
          body,
        });
        await r.text();
        if (r.status !== 200) throw new Error(`intake answered ${r.status} to a click`);
        clickAck.push(performance.now() - p0);
        clickToStarted.push((await stepStartedAt(client, s.incidentId)) - t0);
      } else {
        const p0 = performance.now();
        await client.workflow.getHandle(s.incidentId).startUpdate(approveUpdate, { args: [{ step: STEP, by: 'slack:U_ALICE', digest }], waitForStage: WorkflowUpdateStage.ACCEPTED });
        updateAccepted.push(performance.now() - p0);
        updateToStarted.push((await stepStartedAt(client, s.incidentId)) - t0);
      }
      await sleep(50);
    }
    const result = {
      n,
      clickAck: summarise(clickAck),
      clickToStarted: summarise(clickToStarted),
      updateAccepted: summarise(updateAccepted),
      updateToStarted: summarise(updateToStarted),
    };
    const ratio = (x: number, y: number) => Math.round((x / y) * 100) / 100;
    const rows: Row[] = [
      { metric: `(g) Slack click → step started p50 ms (${n}/side; baseline: Update → step started)`, bulwark: result.clickToStarted.p50, baseline: result.updateToStarted.p50, ratio: ratio(result.clickToStarted.p50, result.updateToStarted.p50), target: 'report' },
      { metric: '(g) Slack click → step started p99 ms', bulwark: result.clickToStarted.p99, baseline: result.updateToStarted.p99, ratio: ratio(result.clickToStarted.p99, result.updateToStarted.p99), target: 'report' },
      { metric: '(g) Slack click acked p50 / p99 ms (baseline: bare Update accepted round trip)', bulwark: `${result.clickAck.p50} / ${result.clickAck.p99}`, baseline: `${result.updateAccepted.p50} / ${result.updateAccepted.p99}`, target: 'ack < 3000 ms', pass: result.clickAck.p99 < 3000 },
    ];
    log(`\n${renderRows(rows)}`);
    return { ...result, rows };
  } finally {
    await intake.close();
    await bench.stop();
    await fake.close();
    await servers.stop();
  }
}

/** An IAM key reported compromised: deactivated, its deletion waiting for approval (shipped playbook and approvals). */
async function waitingIncident(client: Client, aws: ReturnType<typeof createAwsClients>, deliverer: ReturnType<typeof createDeliverer>): Promise<IncidentState> {
  const userName = `bench-${randomBytes(5).toString('hex')}`;
  await aws.iam.send(new CreateUserCommand({ UserName: userName }));
  const { AccessKey } = await aws.iam.send(new CreateAccessKeyCommand({ UserName: userName }));
  const parsed = parseAlert({ source: 'bench', type: 'aws-credential.compromised', severity: 'high', observedAt: new Date().toISOString(), subject: { awsAccessKeyId: AccessKey!.AccessKeyId!, iamUserName: userName } });
  if (!parsed.ok) throw new Error('bench alert invalid');
  const { workflowId } = await deliverer.deliver(parsed.value);
  for (;;) {
    const s = await client.workflow.getHandle(workflowId).query(stateQuery);
    if (s.steps.find((x) => x.id === STEP)?.status === 'awaiting-approval') return s;
    await sleep(100);
  }
}

/** The workflow's time for the approved step's start (ms since epoch). */
async function stepStartedAt(client: Client, incidentId: string): Promise<number> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const s = await client.workflow.getHandle(incidentId).query(stateQuery);
    const entry = s.timeline.find((e) => e.kind === 'step.started' && e.step === STEP);
    if (entry) return Date.parse(entry.at);
    await sleep(10);
  }
  throw new Error(`${incidentId}: ${STEP} did not start within 30 s`);
}

function clickPayload(value: string) {
  return {
    type: 'block_actions',
    team: { id: 'T0BENCH', domain: 'bench' },
    user: { id: 'U_ALICE', username: 'alice', team_id: 'T0BENCH' },
    api_app_id: 'A0BULWARK',
    trigger_id: `trig-${randomBytes(4).toString('hex')}`,
    channel: { id: 'C0BENCH', name: 'incidents' },
    container: { type: 'message', message_ts: '1700000000.000100', channel_id: 'C0BENCH', is_ephemeral: false },
    actions: [{ type: 'button', action_id: 'approve', block_id: 'decide', value, action_ts: `${Date.now() / 1000}${randomBytes(2).toString('hex')}` }],
  };
}

await runIfMain(import.meta.url, async (option, given) => ({ date: new Date().toISOString(), ...(await runSlackBench({ n: Number(option('n') ?? process.env.BULWARK_BENCH_SLACK ?? 40), ...given })) }));
