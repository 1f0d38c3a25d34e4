import { createHmac, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { GetStageCommand } from '@aws-sdk/client-api-gateway';
import { CreateKeyCommand, DescribeKeyCommand } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApplicationFailure } from '@temporalio/common';
import { WorkflowUpdateStage } from '@temporalio/client';
import { applyParamChanges, coerceLike, parseSetting } from '../domain/approval-changes.js';
import { GetApiKeyCommand } from '@aws-sdk/client-api-gateway';
import { CreateAccessKeyCommand, CreateRoleCommand, CreateUserCommand, GetRolePolicyCommand, ListAccessKeysCommand } from '@aws-sdk/client-iam';
import { createSlackActivities, createSlackWebClient, unconfiguredSlackActivities } from '../activities/slack.js';
import { sign } from '../domain/signature.js';
import { parseSlashText } from '../domain/slack/payloads.js';
import { ReplayGuard, signSlackRequest, verifySlackSignature } from '../domain/slack/signature.js';
import { incidentBlocks, incidentView, type SlackBlock } from '../domain/slack/view.js';
import { createDeliverer, startIntake } from '../intake/app.js';
import { parseAlert } from '../domain/alert.js';
import { createLogger } from '../telemetry/logger.js';
import { abortUpdate, approveUpdate, stateQuery } from '../workflows/definitions.js';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { alertFor, createStage, createTppClient, runCli, startHarness, testConfig, uniqueId, waitForState, type Harness } from './support.js';
import { startFakeSlack, type FakeSlack } from './support/fake-slack.js';

/**
 * The Slack app against the real intake HTTP port, a real worker, Temporal and moto. Slack itself is
 * the fake Web API (test/support/fake-slack.ts); every request to /slack/events is signed here with
 * node:crypto, independently of Bolt.
 */
const botToken = `xoxb-test-${randomBytes(8).toString('hex')}`;
const signingSecret = randomBytes(16).toString('hex');
const CHANNEL = 'C0INCIDENTS';

let h: Harness;
let fake: FakeSlack;

beforeAll(async () => {
  fake = await startFakeSlack({ botToken, channelId: CHANNEL });
  h = await startHarness({ intake: true, config: testConfig({ slack: { botToken, signingSecret, channel: CHANNEL, apiUrl: fake.apiUrl } }) });
});
afterAll(async () => {
  await h?.close();
  await fake?.close();
});

const now = () => Math.floor(Date.now() / 1000);
const slackSign = (secret: string, ts: number, body: string) => `v0=${createHmac('sha256', secret).update(`v0:${ts}:${body}`).digest('hex')}`;

interface Signed {
  body: string;
  ts: number;
  signature: string;
}
function signed(body: string, opts: { ts?: number; secret?: string } = {}): Signed {
  const ts = opts.ts ?? now();
  return { body, ts, signature: slackSign(opts.secret ?? signingSecret, ts, body) };
}

async function send(req: Signed, headers: Record<string, string> = {}) {
  const started = performance.now();
  const r = await fetch(`${h.intake!.url}/slack/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': String(req.ts), 'x-slack-signature': req.signature, ...headers },
    body: req.body,
  });
  const text = await r.text();
  let json: Record<string, unknown> | undefined;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = undefined;
  }
  return { status: r.status, text, json, ms: performance.now() - started };
}

const interactive = (payload: unknown) => `payload=${encodeURIComponent(JSON.stringify(payload))}`;

function click(user: string, actionId: string, value: string, triggerId = `trig-${randomBytes(4).toString('hex')}`) {
  return interactive({
    type: 'block_actions',
    team: { id: 'T0FAKE', domain: 'bulwark-test' },
    user: { id: user, username: user.toLowerCase(), team_id: 'T0FAKE' },
    api_app_id: 'A0BULWARK',
    trigger_id: triggerId,
    channel: { id: CHANNEL, name: 'incidents' },
    container: { type: 'message', message_ts: '1700000000.000100', channel_id: CHANNEL, is_ephemeral: false },
    response_url: fake.responseUrl(`click-${randomBytes(3).toString('hex')}`),
    actions: [{ type: 'button', action_id: actionId, block_id: 'decide', value, action_ts: `${Date.now() / 1000}${randomBytes(2).toString('hex')}` }],
  });
}

function slash(user: string, text: string) {
  return new URLSearchParams({
    token: 'legacy-verification-token-unused',
    team_id: 'T0FAKE',
    team_domain: 'bulwark-test',
    channel_id: CHANNEL,
    channel_name: 'incidents',
    user_id: user,
    user_name: user.toLowerCase(),
    command: '/bulwark',
    text,
    api_app_id: 'A0BULWARK',
    response_url: fake.responseUrl(`cmd-${randomBytes(3).toString('hex')}`),
    trigger_id: `trig-${randomBytes(4).toString('hex')}`,
  }).toString();
}

/** The Approve/Reject button values of the message the app would post for this state. */
function buttons(state: Parameters<typeof incidentView>[0]): { approve: string; reject: string } {
  const actions = incidentBlocks(incidentView(state)).filter((b) => b.type === 'actions');
  expect(actions).toHaveLength(1);
  const elements = actions[0]!.elements as { action_id: string; value: string }[];
  return { approve: elements.find((e) => e.action_id === 'approve')!.value, reject: elements.find((e) => e.action_id === 'reject')!.value };
}

const history = async (workflowId: string) => (await h.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
/** Accepted Updates in the history (a validator refusal never enters it). */
const acceptedUpdates = async (workflowId: string) => (await history(workflowId)).filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes).length;
const accessKeys = async (userName: string) => (await h.aws.iam.send(new ListAccessKeysCommand({ UserName: userName }))).AccessKeyMetadata ?? [];
const ephemerals = (user: string) => fake.callsOf('chat.postEphemeral').filter((c) => c.args.user === user);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** An IAM key reported compromised through the real intake: deactivated, its deletion waiting for approval. */
async function compromisedKey() {
  const userName = uniqueId('svc');
  await h.aws.iam.send(new CreateUserCommand({ UserName: userName }));
  const { AccessKey } = await h.aws.iam.send(new CreateAccessKeyCommand({ UserName: userName }));
  const body = JSON.stringify(alertFor({ awsAccessKeyId: AccessKey!.AccessKeyId!, iamUserName: userName }, { type: 'aws-credential.compromised', source: 'guardduty' }));
  const ts = now();
  const r = await fetch(`${h.intake!.url}/v1/alerts`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-bulwark-timestamp': String(ts), 'x-bulwark-signature': sign(h.webhookSecret, ts, body) },
    body,
  });
  expect(r.status).toBe(202);
  const { workflowId } = (await r.json()) as { workflowId: string };
  const waiting = await waitForState(h.client, workflowId, (s) => s.steps.find((x) => x.id === 'delete-access-key')?.status === 'awaiting-approval');
  expect((await accessKeys(userName)).map((k) => k.Status)).toEqual(['Inactive']);
  return { workflowId, userName, waiting };
}

describe('request verification', () => {
  it('bad signature, stale or future timestamp, missing headers → 401 and no Update reaches the incident', async () => {
    const { workflowId, waiting } = await compromisedKey();
    const before = await acceptedUpdates(workflowId);
    const body = click('U_ALICE', 'approve', buttons(waiting).approve);

    const wrongSecret = await send(signed(body, { secret: randomBytes(16).toString('hex') }));
    expect(wrongSecret.status).toBe(401);
    expect(wrongSecret.json).toMatchObject({ error: 'unauthorized' });
    const stale = await send(signed(body, { ts: now() - 6 * 60 }));
    expect(stale.status).toBe(401);
    expect(stale.json).toMatchObject({ error: 'stale' });
    expect((await send(signed(body, { ts: now() + 6 * 60 }))).status).toBe(401);
    // A valid signature for another body does not cover this one.
    const other = signed(click('U_ALICE', 'approve', buttons(waiting).approve));
    expect((await send({ ...other, body })).status).toBe(401);
    const unsigned = await fetch(`${h.intake!.url}/slack/events`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
    expect(unsigned.status).toBe(401);

    await sleep(1000);
    expect(await acceptedUpdates(workflowId)).toBe(before);
    expect(await acceptedUpdates(workflowId)).toBe(0);
    const s = await h.client.workflow.getHandle(workflowId).query(stateQuery);
    expect(s.steps.find((x) => x.id === 'delete-access-key')?.status).toBe('awaiting-approval');
    expect(ephemerals('U_ALICE').filter((c) => String(c.args.text).includes(workflowId))).toEqual([]);
  });

  it('refuses a replay of an identical signed request; a Slack retry of it is answered 200 and not processed again', async () => {
    const req = signed(slash('U_ALICE', 'help'));
    const first = await send(req);
    expect(first.status).toBe(200);
    expect(first.json?.text).toMatch(/\/bulwark status &lt;incident id&gt;/);
    const replay = await send(req);
    expect(replay.status).toBe(401);
    expect(replay.json).toMatchObject({ error: 'replayed' });
    const retry = await send(req, { 'x-slack-retry-num': '1', 'x-slack-retry-reason': 'http_timeout' });
    expect(retry.status).toBe(200);
    expect(retry.text).toBe('');
  });

  it('POST /slack/events is 404 on an intake without Slack configured, and listed among the routes', async () => {
    const plain = await startIntake({ config: testConfig(), client: h.client, logger: createLogger('silent'), webhookSecret: randomBytes(16).toString('hex') });
    try {
      const req = signed(slash('U_ALICE', 'help'));
      const r = await fetch(`${plain.url}/slack/events`, { method: 'POST', headers: { 'x-slack-request-timestamp': String(req.ts), 'x-slack-signature': req.signature }, body: req.body });
      expect(r.status).toBe(404);
      const other = await fetch(`${plain.url}/nope`);
      expect(((await other.json()) as { message: string }).message).toMatch(/POST \/slack\/events/);
    } finally {
      await plain.close();
    }
  });
});

describe('approve and reject from Slack', () => {
  it('Approve: acked at once, the access key is deleted in IAM, the timeline names slack:U_ALICE; outsiders, replays and double clicks change nothing', async () => {
    const { workflowId, userName, waiting } = await compromisedKey();
    const { approve } = buttons(waiting);

    // Someone outside the policy's approvers (secops in approvals.yaml) is refused, privately.
    const outsider = await send(signed(click('U_MALLORY', 'approve', approve)));
    expect(outsider.status).toBe(200);
    const refused = await fake.waitFor('chat.postEphemeral', (c) => c.args.user === 'U_MALLORY' && String(c.args.text).includes(workflowId));
    expect(refused.args.text).toMatch(/slack:U_MALLORY is not an approver under policy security-lead/);
    expect(refused.args.channel).toBe(CHANNEL);
    expect(refused.authorized).toBe(true);
    expect(await accessKeys(userName)).toHaveLength(1);

    const req = signed(click('U_ALICE', 'approve', approve));
    const ack = await send(req);
    expect(ack.status).toBe(200);
    expect(ack.text).toBe('');
    expect(ack.ms).toBeLessThan(3000);

    const deadline = Date.now() + 30_000;
    while ((await accessKeys(userName)).length > 0 && Date.now() < deadline) await sleep(200);
    expect(await accessKeys(userName)).toEqual([]);
    const done = await waitForState(h.client, workflowId, (s) => s.status === 'contained');
    const step = done.steps.find((x) => x.id === 'delete-access-key')!;
    expect(step.status).toBe('succeeded');
    expect(step.approvedBy).toBe('slack:U_ALICE');
    expect(done.timeline.some((e) => e.kind === 'approval.granted' && e.step === 'delete-access-key' && /approved by slack:U_ALICE/.test(e.message))).toBe(true);
    const accepted = await fake.waitFor('chat.postEphemeral', (c) => c.args.user === 'U_ALICE' && String(c.args.text).includes(workflowId));
    expect(accepted.args.text).toMatch(/Approval of `delete-access-key` .* accepted/);

    // The same signed bytes again: a replay, refused before anything runs.
    const historyBefore = await acceptedUpdates(workflowId);
    const ephemeralsBefore = ephemerals('U_ALICE').length;
    expect((await send(req)).status).toBe(401);

    // A second click (new action_ts): acked, refused by the validator, answered privately; nothing changes.
    const second = await send(signed(click('U_ALICE', 'approve', approve)));
    expect(second.status).toBe(200);
    const again = await fake.waitFor('chat.postEphemeral', (c) => c.args.user === 'U_ALICE' && /not waiting for approval/.test(String(c.args.text)));
    expect(again.args.text).toMatch(/already decided/);
    expect(ephemerals('U_ALICE').length).toBe(ephemeralsBefore + 1);
    expect(await acceptedUpdates(workflowId)).toBe(historyBefore);
    expect(await acceptedUpdates(workflowId)).toBe(1);
    const after = await h.client.workflow.getHandle(workflowId).query(stateQuery);
    expect(after.timeline.filter((e) => e.kind === 'approval.granted')).toHaveLength(1);
    expect(after.status).toBe('contained');
  });

  it('Reject: opens a modal; an empty reason is refused in the modal; the submitted reason rejects the step and the key stays Inactive', async () => {
    const { workflowId, userName, waiting } = await compromisedKey();
    const triggerId = `trig-${randomBytes(4).toString('hex')}`;
    const clicked = await send(signed(click('U_CAROL', 'reject', buttons(waiting).reject, triggerId)));
    expect(clicked.status).toBe(200);
    const opened = await fake.waitFor('views.open', (c) => c.args.trigger_id === triggerId);
    expect(opened.authorized).toBe(true);
    const view = opened.args.view as { callback_id: string; private_metadata: string; blocks: SlackBlock[] };
    expect(view.callback_id).toBe('bulwark-reject');
    expect(JSON.parse(view.private_metadata)).toMatchObject({ incidentId: workflowId, step: 'delete-access-key', channel: CHANNEL });
    const input = view.blocks.find((b) => b.type === 'input') as unknown as { block_id: string; element: { action_id: string } };

    const submission = (reason: string) =>
      interactive({
        type: 'view_submission',
        team: { id: 'T0FAKE', domain: 'bulwark-test' },
        user: { id: 'U_CAROL', username: 'carol', team_id: 'T0FAKE' },
        api_app_id: 'A0BULWARK',
        trigger_id: `trig-${randomBytes(4).toString('hex')}`,
        view: {
          id: `V${randomBytes(4).toString('hex')}`,
          type: 'modal',
          team_id: 'T0FAKE',
          callback_id: view.callback_id,
          private_metadata: view.private_metadata,
          state: { values: { [input.block_id]: { [input.element.action_id]: { type: 'plain_text_input', value: reason } } } },
        },
      });

    const empty = await send(signed(submission('   ')));
    expect(empty.status).toBe(200);
    expect(empty.json).toMatchObject({ response_action: 'errors', errors: { reason: 'a rejection needs a reason' } });
    expect((await h.client.workflow.getHandle(workflowId).query(stateQuery)).steps.find((x) => x.id === 'delete-access-key')?.status).toBe('awaiting-approval');

    const submitted = await send(signed(submission('keep the key for forensics')));
    expect(submitted.status).toBe(200);
    expect(submitted.ms).toBeLessThan(3000);
    expect(submitted.json?.response_action).toBeUndefined();
    const s = await waitForState(h.client, workflowId, (st) => st.status === 'needs-attention');
    const step = s.steps.find((x) => x.id === 'delete-access-key')!;
    expect(step.status).toBe('rejected');
    expect(step.skippedBecause).toBe('rejected by slack:U_CAROL: keep the key for forensics');
    expect((await accessKeys(userName)).map((k) => k.Status)).toEqual(['Inactive']);
    const told = await fake.waitFor('chat.postEphemeral', (c) => c.args.user === 'U_CAROL' && String(c.args.text).includes(workflowId));
    expect(told.args.text).toMatch(/Rejection of `delete-access-key` .* accepted/);

    // Submitting again (a second modal): refused by the validator, shown in the modal.
    const late = await send(signed(submission('again')));
    expect(late.json).toMatchObject({ response_action: 'errors' });
    expect(String((late.json!.errors as Record<string, string>).reason)).toMatch(/already decided .*not waiting for approval/);
  });
});

describe('/bulwark', () => {
  it('open credential <client> opens an incident that disables the client’s API keys; status, list and help answer', async () => {
    const tpp = await createTppClient(h.aws);
    const opened = await send(signed(slash('U_BOB', `open credential ${tpp.clientId}`)));
    expect(opened.status).toBe(200);
    expect(opened.ms).toBeLessThan(3000);
    expect(opened.json).toMatchObject({ response_type: 'in_channel' });
    const incidentId = /(incident-[0-9a-f]+)/.exec(String(opened.json!.text))?.[1];
    expect(incidentId, String(opened.json?.text)).toBeDefined();

    const s = await waitForState(h.client, incidentId!, (st) => st.status === 'contained');
    expect(s.openedBy).toBe('operator:slack:U_BOB');
    expect(s.alert).toMatchObject({ type: 'credential.compromised', source: 'operator:slack:U_BOB', subject: { clientId: tpp.clientId } });
    for (const id of tpp.apiKeyIds) expect((await h.aws.apigw.send(new GetApiKeyCommand({ apiKey: id }))).enabled).toBe(false);

    const status = await send(signed(slash('U_BOB', `status ${incidentId}`)));
    expect(status.status).toBe(200);
    expect(status.json!.text).toMatch(new RegExp(`credential\\.compromised — ${tpp.clientId} — contained`));
    expect(JSON.stringify(status.json!.blocks)).toMatch(/disable-api-keys.*succeeded/);
    // The bare fingerprint works too.
    expect((await send(signed(slash('U_BOB', `status ${incidentId!.slice('incident-'.length)}`)))).json!.text).toMatch(/contained/);
    expect((await send(signed(slash('U_BOB', 'status incident-000000000000000000000000')))).json!.text).toMatch(/no incident/);

    // Visibility is eventually consistent: ask again until the new incident is listed.
    let listed = '';
    for (let i = 0; i < 50 && !listed.includes(incidentId!); i++) {
      listed = String((await send(signed(slash('U_BOB', 'list')))).json?.text);
      if (!listed.includes(incidentId!)) await sleep(200);
    }
    expect(listed).toMatch(new RegExp(`${incidentId}.*contained.*credential\\.compromised`));

    expect((await send(signed(slash('U_BOB', 'help')))).json!.text).toMatch(/\/bulwark open &lt;type&gt; &lt;client id&gt;/);
    expect((await send(signed(slash('U_BOB', 'open credential')))).json!.text).toMatch(/usage: `\/bulwark open &lt;type&gt; &lt;client id&gt;`/);
    expect((await send(signed(slash('U_BOB', 'open NOT_A_TYPE x')))).json!.text).toMatch(/--type must be one of/);
    expect((await send(signed(slash('U_BOB', 'frobnicate')))).json!.text).toMatch(/unknown command "frobnicate"/);
  });
});

describe('/bulwark list with an incident this app cannot decode', () => {
  it('lists the others and counts it, instead of failing the command', async () => {
    // An incident whose memo is encrypted under a codec this client lacks (as codec.test.ts's are).
    const workflowId = `incident-${randomBytes(12).toString('hex')}`;
    const sealed = { metadata: { encoding: Buffer.from('binary/encrypted') }, data: randomBytes(32) };
    await h.client.workflowService.startWorkflowExecution({
      namespace: h.config.temporal.namespace,
      workflowId,
      workflowType: { name: 'incidentWorkflow' },
      taskQueue: { name: `nobody-polls-${workflowId}` },
      memo: { fields: { status: sealed, type: sealed } },
      requestId: randomBytes(16).toString('hex'),
    });
    try {
      let answer: { status: number; json?: Record<string, unknown> } | undefined;
      for (let i = 0; i < 50 && !String(answer?.json?.text).includes(workflowId); i++) {
        answer = await send(signed(slash('U_BOB', 'list')));
        if (!String(answer.json?.text).includes(workflowId)) await sleep(200);
      }
      expect(answer!.status).toBe(200);
      expect(String(answer!.json!.text)).toMatch(new RegExp(`${workflowId}\\\` \\*unknown\\*`));
      expect(String(answer!.json!.text)).toMatch(/\d+ shown without details: their memo cannot be decoded here/);
    } finally {
      await h.client.workflow.getHandle(workflowId).terminate('test cleanup');
    }
  });
});

describe('publishIncidentMessage / postIncidentThread (activities against the fake Web API)', () => {
  it('posts the first time, updates the same ts afterwards; the chat.update blocks carry the step statuses', async () => {
    const { workflowId, waiting } = await compromisedKey();
    const slack = createSlackActivities({ web: createSlackWebClient({ botToken, apiUrl: fake.apiUrl }), channel: CHANNEL });

    // The workflow keeps its own message current too; this test looks only at the calls it makes itself.
    // The workflow's own message is found by its metadata (idempotent posting): another key makes a second one.
    const mark = fake.calls.length;
    const ref = await slack.publishIncidentMessage({ incidentId: `${workflowId}-direct`, view: incidentView(waiting) });
    expect(ref.channel).toBe(CHANNEL);
    const posted = fake.calls.slice(mark).find((c) => c.method === 'chat.postMessage' && c.args.channel === CHANNEL && String(JSON.stringify(c.args.blocks ?? '')).includes(workflowId))!;
    expect(posted.authorized).toBe(true);
    const postedBlocks = JSON.stringify(posted.args.blocks);
    expect(postedBlocks).toMatch(/`delete-access-key` \*awaiting-approval\*/);
    expect((posted.args.blocks as SlackBlock[]).some((b) => b.type === 'actions')).toBe(true);

    // The step is decided and runs; the message is updated in place.
    await h.client.workflow.getHandle(workflowId).executeUpdate(approveUpdate, { args: [{ step: 'delete-access-key', by: 'alice' }] });
    const done = await waitForState(h.client, workflowId, (s) => s.status === 'contained');
    const again = await slack.publishIncidentMessage({ incidentId: `${workflowId}-direct`, view: incidentView(done), message: ref });
    expect(again).toEqual(ref);
    const updated = fake.callsOf('chat.update').filter((c) => c.args.ts === ref.ts);
    expect(updated).toHaveLength(1);
    const blocks = updated[0]!.args.blocks as SlackBlock[];
    const text = JSON.stringify(blocks);
    expect(text).toMatch(/`deactivate-access-key` \*succeeded\*/);
    expect(text).toMatch(/`revoke-role-sessions` \*skipped\*/);
    expect(text).toMatch(/`delete-access-key` \*succeeded\*.*✓ alice/);
    expect(blocks.some((b) => b.type === 'actions')).toBe(false);
    expect(updated[0]!.args.channel).toBe(CHANNEL);

    const thread = await slack.postIncidentThread({ channel: ref.channel, threadTs: ref.ts, lines: done.timeline.map((e) => `${e.kind} ${e.message}`).concat('<!channel> from an alert') });
    expect(thread.posted).toBe(1);
    const reply = fake.calls.slice(mark).find((c) => c.method === 'chat.postMessage' && c.args.thread_ts === ref.ts)!;
    expect(reply.args.text).toMatch(/approval\.granted approved by alice/);
    expect(reply.args.text).toContain('&lt;!channel&gt;');
  });

  it('429 + Retry-After → retryable failure with nextRetryDelay, then the next call succeeds; auth and channel errors are non-retryable; no secret in messages', async () => {
    const { workflowId, waiting } = await compromisedKey();
    // Its own channel, and failures injected only there: the harness worker posts this incident's
    // message to CHANNEL at the same time and must not take an injected failure meant for these calls.
    const DIRECT = 'C0DIRECTTEST';
    const here = (args: Record<string, unknown>) => args.channel === DIRECT;
    const slack = createSlackActivities({ web: createSlackWebClient({ botToken, apiUrl: fake.apiUrl }), channel: DIRECT });
    const input = { incidentId: `${workflowId}-direct`, view: incidentView(waiting) };
    const failure = async (p: Promise<unknown>) => {
      try {
        await p;
      } catch (err) {
        return err as ApplicationFailure;
      }
      throw new Error('expected a failure');
    };

    fake.failNext(1, { status: 429, retryAfter: 7 }, 'chat.postMessage', here);
    const limited = await failure(slack.publishIncidentMessage(input));
    expect(limited).toBeInstanceOf(ApplicationFailure);
    expect(limited.nonRetryable).toBe(false);
    expect(limited.nextRetryDelay).toBe('7s');
    expect(limited.type).toBe('SlackRateLimited');
    expect(fake.callsOf('chat.postMessage').filter((c) => c.status === 429)).toHaveLength(1);
    const ref = await slack.publishIncidentMessage(input);
    expect(ref.ts).toMatch(/^\d+\.\d+$/);

    fake.failNext(1, { status: 200, error: 'invalid_auth' }, undefined, here);
    const auth = await failure(slack.publishIncidentMessage({ ...input, message: ref }));
    expect(auth.nonRetryable).toBe(true);
    expect(auth.message).toBe('Slack chat.update failed: invalid_auth');
    fake.failNext(1, { status: 200, error: 'channel_not_found' }, undefined, here);
    expect((await failure(slack.publishIncidentMessage(input))).nonRetryable).toBe(true);
    fake.failNext(1, { status: 503, error: 'service_unavailable' }, undefined, here);
    expect((await failure(slack.publishIncidentMessage(input))).nonRetryable).toBe(false);
    // A token the fake does not know: Slack answers invalid_auth; the token is not echoed.
    const wrong = createSlackActivities({ web: createSlackWebClient({ botToken: 'xoxb-wrong-token-value', apiUrl: fake.apiUrl }), channel: DIRECT });
    const bad = await failure(wrong.publishIncidentMessage(input));
    expect(bad.nonRetryable).toBe(true);
    expect(JSON.stringify({ m: bad.message, s: bad.stack })).not.toMatch(/xoxb-wrong-token-value|xoxb-test/);

    const off = await failure(unconfiguredSlackActivities().publishIncidentMessage(input));
    expect(off.nonRetryable).toBe(true);
    expect(off.message).toMatch(/Slack is not configured/);
  });
});

describe('domain/slack (pure)', () => {
  it('signature check agrees with an independent HMAC; replay memory forgets after the window', () => {
    const body = Buffer.from('payload=%7B%7D');
    const ts = 1_800_000_000;
    expect(signSlackRequest(signingSecret, ts, body)).toBe(slackSign(signingSecret, ts, body.toString()));
    const check = (sig: string, at = ts) => verifySlackSignature({ signingSecret, timestampHeader: String(ts), signatureHeader: sig, rawBody: body, nowSeconds: at });
    expect(check(slackSign(signingSecret, ts, body.toString()))).toEqual({ ok: true });
    expect(check(slackSign(signingSecret, ts, body.toString()), ts + 301)).toEqual({ ok: false, reason: 'stale' });
    expect(check('v1=abc')).toEqual({ ok: false, reason: 'malformed' });
    const guard = new ReplayGuard(300);
    expect(guard.check('v0=a', ts, ts)).toBe(false);
    expect(guard.check('v0=a', ts, ts + 299)).toBe(true);
    expect(guard.check('v0=a', ts, ts + 301)).toBe(false);
  });

  it('the view is small plain JSON, escapes alert text for mrkdwn, and shows buttons only for steps awaiting approval', async () => {
    const { waiting } = await compromisedKey();
    const hostile = { ...waiting, alert: { ...waiting.alert, source: '<!channel> <https://evil.example|click>' }, attention: 'a & b' };
    const view = incidentView(hostile);
    expect(JSON.parse(JSON.stringify(view))).toEqual(view);
    expect(JSON.stringify(view).length).toBeLessThan(4000);
    expect(view.steps.map((s) => [s.id, s.status, s.awaitingApproval])).toEqual([
      ['deactivate-access-key', 'succeeded', false],
      ['revoke-role-sessions', 'skipped', false],
      ['delete-access-key', 'awaiting-approval', true],
    ]);
    expect(view.steps[2]).toMatchObject({ approval: 'security-lead', required: 1, digest: waiting.steps[2]!.digest });
    const text = JSON.stringify(incidentBlocks(view));
    expect(text).not.toContain('<!channel>');
    expect(text).toContain('&lt;!channel&gt; &lt;https://evil.example|click&gt;');
    expect(text).toContain('a &amp; b');
    expect(JSON.parse(buttons(waiting).approve)).toEqual({ incidentId: waiting.incidentId, step: 'delete-access-key', digest: waiting.steps[2]!.digest });
  });

  it.each([
    [{ rateLimit: 5 }, { ok: true }],
    [{ rateLimit: 5, ttl: '10m' }, { ok: true }],
    [{ rateLimit: 0 }, { ok: false, message: /^rateLimit: .*>0/ }],
    [{ rateLimit: 'lots' }, { ok: false, message: /^rateLimit: .*expected number/ }],
    [{ burstLimit: 2.5 }, { ok: false, message: /^burstLimit: .*int/ }],
    [{ ttl: 'soon' }, { ok: false, message: /^ttl: / }],
    [{ endpoint: 'x' }, { ok: false, message: /^endpoint: not a parameter of step t that can be changed on approval \(expected one of rateLimit, burstLimit, ttl\)/ }],
    [{ rateLimit: { n: 1 } }, { ok: false, message: /^rateLimit: expected a number or text/ }],
    [{}, { ok: false, message: /changes name no parameter/ }],
    [[1], { ok: false, message: /changes must be an object/ }],
  ] as [unknown, { ok: boolean; message?: RegExp }][])('approve with changes %j on a throttle step → %j', (changes, want) => {
    const step = { id: 't', action: 'apigateway.throttle', with: { endpoint: { restApiId: 'a1', stage: 'prod' }, rateLimit: 10, burstLimit: 5, ttl: '30m' } };
    const r = applyParamChanges(step, changes);
    expect(r.ok).toBe(want.ok);
    if (!r.ok) expect(r.message).toMatch(want.message!);
  });

  it('approve with changes: untunable actions refused; --set and form values typed; unchanged values are not changes', () => {
    expect(applyParamChanges({ id: 'd', action: 'iam.deleteAccessKey', with: { accessKeyId: 'AKIA1' } }, { accessKeyId: 'AKIA2' })).toEqual({ ok: false, message: 'step d (iam.deleteAccessKey) has no parameters that can be changed on approval' });
    const same = applyParamChanges({ id: 't', action: 'wait', with: { duration: '5m' } }, { duration: '5m' });
    expect(same).toMatchObject({ ok: true, changed: [] });
    expect(parseSetting('rateLimit=5')).toEqual({ param: 'rateLimit', value: 5 });
    expect(parseSetting('ttl= 10m ')).toEqual({ param: 'ttl', value: '10m' });
    expect(parseSetting('flag=true')).toEqual({ param: 'flag', value: true });
    expect(parseSetting('rateLimit')).toEqual({ error: '--set rateLimit: expected name=value (e.g. rateLimit=5)' });
    expect(parseSetting('rateLimit=')).toEqual({ error: '--set rateLimit: a value is needed' });
    expect([coerceLike(10, ' 7 '), coerceLike(10, 'x'), coerceLike('30m', '5'), coerceLike(true, 'false')]).toEqual([7, 'x', '5', false]);
  });

  it('parses /bulwark text', () => {
    expect(parseSlashText('')).toEqual({ kind: 'help' });
    expect(parseSlashText('  STATUS  abc123 ')).toEqual({ kind: 'status', incidentId: 'incident-abc123' });
    expect(parseSlashText('status a b')).toMatchObject({ kind: 'invalid' });
    expect(parseSlashText('status <x>')).toMatchObject({ kind: 'invalid' });
    expect(parseSlashText('open aws-credential tpp-1')).toEqual({ kind: 'open', type: 'aws-credential', client: 'tpp-1' });
    expect(parseSlashText('list now')).toMatchObject({ kind: 'invalid' });
  });
});

describe('the incident message, kept current by the workflow', () => {
  it('is posted when the incident opens, updated in place as steps progress, with the timeline in its thread; a Slack outage does not hold up containment', async () => {
    const tpp = await createTppClient(h.aws, { keys: 1 });
    // Slack fails the first post: containment must go on regardless.
    fake.failNext(1, { status: 500 }, 'chat.postMessage');
    const { createDeliverer } = await import('../intake/app.js');
    const deliverer = createDeliverer(h.config, h.client, createLogger('silent'));
    const parsed = (await import('../domain/alert.js')).parseAlert(alertFor({ clientId: tpp.clientId }));
    if (!parsed.ok) throw new Error('bad alert');
    const { workflowId } = await deliverer.deliver(parsed.value);
    await waitForState(h.client, workflowId, (s) => s.status === 'contained');
    expect((await h.aws.apigw.send(new GetApiKeyCommand({ apiKey: tpp.apiKeyIds[0]! }))).enabled).toBe(false);

    const posted = await fake.waitFor('chat.postMessage', (c) => c.status === 200 && JSON.stringify(c.args).includes(workflowId) && !c.args.thread_ts, 20_000);
    const ts = String((await waitForState(h.client, workflowId, (s) => Boolean(s.slackMessage))).slackMessage!.ts);
    const update = await fake.waitFor('chat.update', (c) => c.args.ts === ts && JSON.stringify(c.args.blocks).includes('contained'), 20_000);
    expect(JSON.stringify(update.args.blocks)).toMatch(/rotate-secret/);
    const thread = await fake.waitFor('chat.postMessage', (c) => c.args.thread_ts === ts, 20_000);
    expect(String(thread.args.text ?? JSON.stringify(thread.args))).toMatch(/step\.succeeded|alert\.received|incident\.status/);
    expect(posted.args.channel).toBe(CHANNEL);
  });
});

/** A modal submitted by `user`: the view the app opened, with `values` typed into its inputs (block id → text). */
function submitView(user: string, view: { callback_id: string; private_metadata: string; blocks: SlackBlock[] }, values: Record<string, string>) {
  const state: Record<string, Record<string, { type: string; value: string }>> = {};
  for (const b of view.blocks.filter((x) => x.type === 'input') as unknown as { block_id: string; element: { action_id: string } }[]) {
    if (values[b.block_id] !== undefined) state[b.block_id] = { [b.element.action_id]: { type: 'plain_text_input', value: values[b.block_id]! } };
  }
  return interactive({
    type: 'view_submission',
    team: { id: 'T0FAKE', domain: 'bulwark-test' },
    user: { id: user, username: user.toLowerCase(), team_id: 'T0FAKE' },
    api_app_id: 'A0BULWARK',
    trigger_id: `trig-${randomBytes(4).toString('hex')}`,
    view: { id: `V${randomBytes(4).toString('hex')}`, type: 'modal', team_id: 'T0FAKE', callback_id: view.callback_id, private_metadata: view.private_metadata, state: { values: state } },
  });
}

/** Clicks a button and returns the modal the app opened for it. */
async function openModal(user: string, actionId: string, value: string) {
  const triggerId = `trig-${randomBytes(4).toString('hex')}`;
  expect((await send(signed(click(user, actionId, value, triggerId)))).status).toBe(200);
  const opened = await fake.waitFor('views.open', (c) => c.args.trigger_id === triggerId);
  return opened.args.view as { callback_id: string; private_metadata: string; blocks: SlackBlock[] };
}

/** The value of a button on the incident's message as Slack holds it now (posted, then updated in place by the workflow). */
async function messageButton(workflowId: string, actionId: string, timeoutMs = 20_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const m of fake.messages) {
      if (m.thread_ts || m.metadata?.event_payload?.incidentId !== workflowId) continue;
      for (const b of (m.blocks ?? []) as SlackBlock[]) {
        const hit = ((b.elements ?? []) as { action_id?: string; value?: string }[]).find((e) => e.action_id === actionId);
        if (hit?.value) return hit.value;
      }
    }
    if (Date.now() > deadline) throw new Error(`no ${actionId} button on the message of ${workflowId}`);
    await sleep(100);
  }
}

/** An incident whose role-session revocation fails (the role does not exist): it stops and needs an operator. */
async function failedRoleIncident() {
  const roleName = uniqueId('gone-role');
  const parsed = parseAlert(alertFor({ iamRoleName: roleName }, { type: 'aws-credential.compromised', source: 'guardduty' }));
  if (!parsed.ok) throw new Error('bad alert');
  const { workflowId } = await createDeliverer(h.config, h.client, createLogger('silent')).deliver(parsed.value);
  const stopped = await waitForState(h.client, workflowId, (s) => s.status === 'needs-attention');
  expect(stopped.steps.find((x) => x.id === 'revoke-role-sessions')?.status).toBe('failed');
  return { workflowId, roleName };
}

const createRole = (roleName: string) =>
  h.aws.iam.send(
    new CreateRoleCommand({ RoleName: roleName, AssumeRolePolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }] }) }),
  );

describe('a failed step from Slack: Retry now / Skip… / Abort incident…', () => {
  it('Retry now runs the failed step again (role sessions revoked in IAM) and records who; a second click is refused privately with the validator’s reason', async () => {
    const { workflowId, roleName } = await failedRoleIncident();
    const retry = await messageButton(workflowId, 'retry-step');
    expect(JSON.parse(retry)).toEqual({ incidentId: workflowId, step: 'revoke-role-sessions' });
    await createRole(roleName);

    const ack = await send(signed(click('U_BOB', 'retry-step', retry)));
    expect(ack.status).toBe(200);
    expect(ack.ms).toBeLessThan(3000);
    const done = await waitForState(h.client, workflowId, (s) => s.status === 'contained');
    expect(done.steps.find((x) => x.id === 'revoke-role-sessions')?.status).toBe('succeeded');
    expect(done.timeline.some((e) => e.kind === 'step.progress' && e.step === 'revoke-role-sessions' && e.message === 'retry requested by slack:U_BOB')).toBe(true);
    const policy = await h.aws.iam.send(new GetRolePolicyCommand({ RoleName: roleName, PolicyName: 'AWSRevokeOlderSessions' }));
    expect(decodeURIComponent(policy.PolicyDocument!)).toMatch(/aws:TokenIssueTime/);
    const told = await fake.waitFor('chat.postEphemeral', (c) => c.args.user === 'U_BOB' && String(c.args.text).includes(workflowId));
    expect(told.args.text).toMatch(/Retry of `revoke-role-sessions` .* accepted/);

    // The message no longer offers Retry once the incident is contained (updated in place).
    const ts = done.slackMessage!.ts;
    await fake.waitFor('chat.update', (c) => c.args.ts === ts && JSON.stringify(c.args.blocks).includes('contained') && !JSON.stringify(c.args.blocks).includes('retry-step'), 20_000);

    const updates = await acceptedUpdates(workflowId);
    expect((await send(signed(click('U_BOB', 'retry-step', retry)))).status).toBe(200);
    const refused = await fake.waitFor('chat.postEphemeral', (c) => c.args.user === 'U_BOB' && /Could not retry/.test(String(c.args.text)) && String(c.args.text).includes(workflowId));
    expect(refused.args.text).toMatch(/step revoke-role-sessions is succeeded and the incident is contained: only a step that stopped the playbook can be retried/);
    expect(await acceptedUpdates(workflowId)).toBe(updates);
  });

  it('Skip… and Abort incident… open a reason modal; an empty reason is refused in the modal; the reason goes in the timeline; a late abort is refused in the modal', async () => {
    const [toSkip, toAbort] = await Promise.all([failedRoleIncident(), failedRoleIncident()]);

    const skipView = await openModal('U_BOB', 'skip-step', await messageButton(toSkip.workflowId, 'skip-step'));
    expect(skipView.callback_id).toBe('bulwark-skip');
    const empty = await send(signed(submitView('U_BOB', skipView, { reason: '  ' })));
    expect(empty.json).toMatchObject({ response_action: 'errors', errors: { reason: 'skipping a step needs a reason' } });
    const skipped = await send(signed(submitView('U_BOB', skipView, { reason: 'role was deleted on purpose' })));
    expect(skipped.status).toBe(200);
    expect(skipped.json?.response_action).toBeUndefined();
    const s1 = await waitForState(h.client, toSkip.workflowId, (s) => s.status === 'contained');
    expect(s1.steps.find((x) => x.id === 'revoke-role-sessions')).toMatchObject({ status: 'skipped', skippedBecause: 'skipped by slack:U_BOB: role was deleted on purpose' });
    expect(s1.timeline.some((e) => e.kind === 'step.skipped' && e.message === 'skipped by slack:U_BOB: role was deleted on purpose')).toBe(true);

    const abortView = await openModal('U_CAROL', 'abort-incident', await messageButton(toAbort.workflowId, 'abort-incident'));
    expect(abortView.callback_id).toBe('bulwark-abort');
    const aborted = await send(signed(submitView('U_CAROL', abortView, { reason: 'false positive' })));
    expect(aborted.status).toBe(200);
    const s2 = await waitForState(h.client, toAbort.workflowId, (s) => s.status === 'aborted');
    expect(s2.resolvedBy).toBe('slack:U_CAROL');
    expect(s2.timeline.some((e) => e.kind === 'incident.aborted' && e.message === 'aborted by slack:U_CAROL: false positive')).toBe(true);
    // The role was never created: nothing was written to IAM for it.
    await expect(h.aws.iam.send(new GetRolePolicyCommand({ RoleName: toAbort.roleName, PolicyName: 'AWSRevokeOlderSessions' }))).rejects.toThrow();

    const late = await send(signed(submitView('U_CAROL', abortView, { reason: 'again' })));
    expect(late.json).toMatchObject({ response_action: 'errors' });
    expect(String((late.json!.errors as Record<string, string>).reason)).toMatch(/incident is already abort(ing|ed)/);
  });
});

describe('idempotent posting', () => {
  it('a post whose answer was lost (Slack posted, then 500) is found by its metadata on retry: one incident message, one copy of each thread chunk', async () => {
    const { workflowId, waiting } = await compromisedKey();
    const slack = createSlackActivities({ web: createSlackWebClient({ botToken, apiUrl: fake.apiUrl }), channel: CHANNEL });
    const key = `${workflowId}-retried`;
    const input = { incidentId: key, view: incidentView(waiting) };
    const mine = () => fake.messages.filter((m) => m.metadata?.event_payload?.incidentId === key);

    // Only this test's posts fail: the workflows of earlier tests keep posting to the same fake.
    const metaOf = (a: Record<string, unknown>) => (a.metadata as { event_payload?: Record<string, unknown> } | undefined)?.event_payload;
    fake.failNext(1, { status: 500, error: 'internal_error', committed: true }, 'chat.postMessage', (a) => metaOf(a)?.incidentId === key);
    await expect(slack.publishIncidentMessage(input)).rejects.toMatchObject({ nonRetryable: false });
    expect(mine()).toHaveLength(1);
    const ref = await slack.publishIncidentMessage(input);
    expect(mine()).toHaveLength(1);
    expect(ref).toEqual({ channel: CHANNEL, ts: mine()[0]!.ts });

    const lines = ['10:00:00 step.started one', '10:00:01 step.succeeded one'];
    fake.failNext(1, { status: 500, error: 'internal_error', committed: true }, 'chat.postMessage', (a) => metaOf(a)?.key === `${key}:0-2`);
    await expect(slack.postIncidentThread({ channel: ref.channel, threadTs: ref.ts, lines, key: `${key}:0-2` })).rejects.toMatchObject({ nonRetryable: false });
    expect(await slack.postIncidentThread({ channel: ref.channel, threadTs: ref.ts, lines, key: `${key}:0-2` })).toEqual({ posted: 0 });
    expect(await slack.postIncidentThread({ channel: ref.channel, threadTs: ref.ts, lines, key: `${key}:2-4` })).toEqual({ posted: 1 });
    expect(fake.messages.filter((m) => m.thread_ts === ref.ts).map((m) => m.metadata?.event_payload?.key)).toEqual([`${key}:0-2`, `${key}:2-4`]);
  });

  it('through the workflow: Slack posts the first incident message but the answer is lost; the retried activity adopts it', async () => {
    const tpp = await createTppClient(h.aws, { keys: 1 });
    const parsed = parseAlert(alertFor({ clientId: tpp.clientId }));
    if (!parsed.ok) throw new Error('bad alert');
    const incidentId = (a: Record<string, unknown>) => (a.metadata as { event_payload?: { incidentId?: string } } | undefined)?.event_payload?.incidentId;
    fake.failNext(1, { status: 500, error: 'internal_error', committed: true }, 'chat.postMessage', (a) => Boolean(incidentId(a)?.startsWith('incident-')) && !fake.messages.some((m) => m.metadata?.event_payload?.incidentId === incidentId(a)));
    const { workflowId } = await createDeliverer(h.config, h.client, createLogger('silent')).deliver(parsed.value);
    const s = await waitForState(h.client, workflowId, (st) => st.status === 'contained' && Boolean(st.slackMessage) && (st.slackThreadCount ?? 0) > 0, 30_000);
    const top = fake.messages.filter((m) => !m.thread_ts && m.metadata?.event_payload?.incidentId === workflowId);
    expect(top).toHaveLength(1);
    expect(top[0]!.ts).toBe(s.slackMessage!.ts);
    expect(fake.callsOf('chat.postMessage').some((c) => c.status === 500 && incidentId(c.args) === workflowId)).toBe(true);
  });
});

describe('per-incident channels, approve with changes, escalation DMs (own playbooks and approvals)', () => {
  // A second worker + intake with incident channels on, a throttle step that needs approval and a
  // policy whose short window escalates to an on-call group by DM before its default (reject) applies.
  let h2: Harness;
  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bulwark-slack-'));
    mkdirSync(join(dir, 'playbooks'));
    writeFileSync(
      join(dir, 'playbooks', 'throttle-approved.yaml'),
      stringify({
        id: 'throttle-approved',
        version: 1,
        title: 'Throttle, with a lead’s approval',
        match: { types: ['endpoint.abuse'] },
        steps: [{ id: 'throttle-endpoint', title: 'Lower throttling', action: 'apigateway.throttle', approval: 'throttle-lead', with: { endpoint: '${alert.subject.endpoint}', rateLimit: '${settings.throttle.rateLimit}', burstLimit: '${settings.throttle.burstLimit}', ttl: '${settings.throttle.ttl}' } }],
      }),
    );
    writeFileSync(
      join(dir, 'playbooks', 'disable-key-quick.yaml'),
      stringify({
        id: 'disable-key-quick',
        version: 1,
        title: 'Disable an exposed KMS key, if a lead agrees quickly',
        match: { types: ['key.exposed'] },
        steps: [{ id: 'disable-key', title: 'Disable the KMS key', action: 'kms.disableKey', approval: 'quick', with: { keyId: '${alert.subject.kmsKeyId}' } }],
      }),
    );
    writeFileSync(
      join(dir, 'approvals.yaml'),
      stringify({
        groups: { leads: ['alice', 'slack:U_ALICE', 'slack:U_CAROL'], oncall: ['slack:U_DAVE', 'slack:U_ERIN'] },
        policies: {
          'throttle-lead': { approvers: ['group:leads'], required: 2, expiry: '15m' },
          quick: { approvers: ['group:leads'], required: 1, expiry: '3s', escalation: [{ after: '3s', notify: ['group:oncall'] }], onExpiry: 'reject' },
        },
      }),
    );
    h2 = await startHarness({
      intake: true,
      config: testConfig({ playbooks: { dir: join(dir, 'playbooks'), approvalsFile: join(dir, 'approvals.yaml') }, slack: { botToken, signingSecret, channel: CHANNEL, apiUrl: fake.apiUrl, incidentChannels: true } }),
    });
  });
  afterAll(async () => {
    await h2?.close();
  });

  async function throttleIncident() {
    const restApiId = await createStage(h2.aws, { rate: 500, burst: 1000 });
    const body = JSON.stringify(alertFor({ endpoint: { restApiId, stage: 'prod' } }, { type: 'endpoint.abuse' }));
    const ts = now();
    const r = await fetch(`${h2.intake!.url}/v1/alerts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-bulwark-timestamp': String(ts), 'x-bulwark-signature': sign(h2.webhookSecret, ts, body) },
      body,
    });
    expect(r.status).toBe(202);
    const { workflowId } = (await r.json()) as { workflowId: string };
    const waiting = await waitForState(h2.client, workflowId, (s) => s.steps[0]?.status === 'awaiting-approval' && Boolean(s.slackMessage));
    return { workflowId, restApiId, waiting };
  }
  const stageLimits = async (restApiId: string) => {
    const s = (await h2.aws.apigw.send(new GetStageCommand({ restApiId, stageName: 'prod' }))).methodSettings?.['*/*'];
    return { rate: s?.throttlingRateLimit, burst: s?.throttlingBurstLimit };
  };
  const sendTo = async (req: Signed) => {
    const r = await fetch(`${h2.intake!.url}/slack/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': String(req.ts), 'x-slack-signature': req.signature },
      body: req.body,
    });
    const text = await r.text();
    return { status: r.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : undefined };
  };

  it('the incident gets its own channel inc-<date>-<short id> with the approvers invited; Approve with changes validates against the action schema and throttles at the changed rate', async () => {
    const { workflowId, restApiId, waiting } = await throttleIncident();
    const name = `inc-${waiting.openedAt.slice(0, 10).replace(/-/g, '')}-${workflowId.slice('incident-'.length, 'incident-'.length + 8)}`;
    const channel = fake.channels.find((c) => c.name === name);
    expect(channel, `channels: ${fake.channels.map((c) => c.name).join(', ')}`).toBeDefined();
    expect(channel!.members).toEqual(expect.arrayContaining(['U_ALICE', 'U_CAROL']));
    expect(channel!.members).not.toContain('alice');
    expect(waiting.slackMessage!.channel).toBe(channel!.id);
    const message = fake.messages.find((m) => m.channel === channel!.id && m.ts === waiting.slackMessage!.ts)!;
    expect(message.metadata).toEqual({ event_type: 'bulwark_incident', event_payload: { incidentId: workflowId } });

    const change = await messageButton(workflowId, 'approve-with-changes');
    const triggerId = `trig-${randomBytes(4).toString('hex')}`;
    expect((await sendTo(signed(click('U_ALICE', 'approve-with-changes', change, triggerId)))).status).toBe(200);
    const view = (await fake.waitFor('views.open', (c) => c.args.trigger_id === triggerId)).args.view as { callback_id: string; private_metadata: string; blocks: SlackBlock[] };
    expect(view.callback_id).toBe('bulwark-approve-changes');
    const inputs = view.blocks.filter((b) => b.type === 'input') as unknown as { block_id: string; element: { initial_value?: string } }[];
    expect(inputs.map((b) => [b.block_id, b.element.initial_value])).toEqual([
      ['param:rateLimit', '10'],
      ['param:burstLimit', '5'],
      ['param:ttl', '1800s'],
      ['comment', undefined],
    ]);

    // Out of the action's schema: refused by the workflow's validator, shown under the field; nothing enters history.
    const bad = await sendTo(signed(submitView('U_ALICE', view, { 'param:rateLimit': '-3', 'param:burstLimit': '5', 'param:ttl': '1800s' })));
    expect(bad.json).toMatchObject({ response_action: 'errors' });
    expect(String((bad.json!.errors as Record<string, string>)['param:rateLimit'])).toMatch(/cannot approve throttle-endpoint with these changes: rateLimit: .*0/);
    const badTtl = await sendTo(signed(submitView('U_ALICE', view, { 'param:rateLimit': '5', 'param:burstLimit': '5', 'param:ttl': 'soon' })));
    expect(Object.keys(badTtl.json!.errors as object)).toEqual(['param:ttl']);
    expect((await h2.client.workflow.getHandle(workflowId).fetchHistory()).events!.filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes)).toHaveLength(0);

    const oldApprove = await messageButton(workflowId, 'approve');
    const ok = await sendTo(signed(submitView('U_ALICE', view, { 'param:rateLimit': '5', 'param:burstLimit': '5', 'param:ttl': '1800s', comment: 'gentler' })));
    expect(ok.status).toBe(200);
    expect(ok.json?.response_action).toBeUndefined();
    // Two of the leads must approve: the step waits, now bound to the changed parameters.
    const changed = await waitForState(h2.client, workflowId, (s) => s.plan.steps[0]!.with.rateLimit === 5);
    expect(changed.steps[0]).toMatchObject({ status: 'awaiting-approval', approvals: [expect.objectContaining({ by: 'slack:U_ALICE', comment: 'gentler' })] });
    expect(changed.steps[0]!.digest).not.toBe(waiting.steps[0]!.digest);
    expect(changed.timeline.find((e) => e.kind === 'approval.granted')?.message).toBe('approved by slack:U_ALICE with changes: rateLimit 10 → 5: gentler (1 more needed)');
    const told = await fake.waitFor('chat.postEphemeral', (c) => c.args.user === 'U_ALICE' && String(c.args.text).includes(workflowId));
    expect(told.args.text).toMatch(/Approval with changes of `throttle-endpoint` .* accepted: more approvals are needed/);
    expect(await stageLimits(restApiId)).toEqual({ rate: 500, burst: 1000 });

    // Carol's click on the message as it was (old digest) is refused: she was shown other parameters.
    expect((await sendTo(signed(click('U_CAROL', 'approve', oldApprove)))).status).toBe(200);
    const stale = await fake.waitFor('chat.postEphemeral', (c) => c.args.user === 'U_CAROL' && String(c.args.text).includes(workflowId));
    expect(stale.args.text).toMatch(/throttle-endpoint changed since it was shown to you/);
    // The message is refreshed in place with the new digest; approving that runs the step at the changed rate.
    const deadline = Date.now() + 20_000;
    let fresh = oldApprove;
    while (fresh === oldApprove && Date.now() < deadline) {
      await sleep(100);
      fresh = await messageButton(workflowId, 'approve');
    }
    expect(JSON.parse(fresh).digest).toBe(changed.steps[0]!.digest);
    expect((await sendTo(signed(click('U_CAROL', 'approve', fresh)))).status).toBe(200);
    const done = await waitForState(h2.client, workflowId, (s) => s.steps[0]?.status === 'succeeded');
    expect(await stageLimits(restApiId)).toEqual({ rate: 5, burst: 5 });
    expect(done.steps[0]!.approvedBy).toBe('slack:U_ALICE, slack:U_CAROL');
    await fake.waitFor('chat.update', (c) => c.args.channel === channel!.id && c.args.ts === waiting.slackMessage!.ts && /`throttle-endpoint` \*succeeded\*/.test(JSON.stringify(c.args.blocks)), 20_000);
  });

  it('the CLI approves with --set, validated the same way; an approval given for the old parameters no longer counts', async () => {
    const { workflowId, restApiId, waiting } = await throttleIncident();
    const handle = h2.client.workflow.getHandle(workflowId);
    const badCli = await runCli(h2, ['incident', 'approve', workflowId, 'throttle-endpoint', '--as', 'alice', '--set', 'rateLimit=lots']);
    expect(badCli.code).not.toBe(0);
    expect(badCli.stderr).toMatch(/rateLimit: .*number/);
    // Which resource a step acts on (the endpoint) cannot be changed on approval; refused by the validator, without history.
    const refused = await handle
      .startUpdate(approveUpdate, { args: [{ step: 'throttle-endpoint', by: 'alice', changes: { endpoint: 'x' } }], waitForStage: WorkflowUpdateStage.ACCEPTED })
      .then((u) => u.result())
      .catch((err: Error) => String((err.cause as Error | undefined)?.message ?? err.message));
    expect(refused).toMatch(/endpoint: not a parameter of step throttle-endpoint that can be changed on approval/);
    expect((await handle.fetchHistory()).events!.filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes)).toHaveLength(0);

    // Carol approves the parameters as planned; Alice then changes them: Carol's approval no longer counts.
    expect(await handle.executeUpdate(approveUpdate, { args: [{ step: 'throttle-endpoint', by: 'slack:U_CAROL', digest: waiting.steps[0]!.digest }] })).toBe('awaiting-approval');
    const cli = await runCli(h2, ['incident', 'approve', workflowId, 'throttle-endpoint', '--as', 'alice', '--set', 'rateLimit=7', '--set', 'burstLimit=3']);
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout).toMatch(/throttle-endpoint: awaiting-approval/);
    const s = await handle.query(stateQuery);
    expect(s.steps[0]!.approvals?.map((a) => a.by)).toEqual(['alice']);
    expect(s.timeline.filter((e) => e.kind === 'approval.granted').map((e) => e.message)).toEqual([
      'approved by slack:U_CAROL (1 more needed)',
      'approved by alice with changes: rateLimit 10 → 7, burstLimit 5 → 3 (earlier approval by slack:U_CAROL no longer counts) (1 more needed)',
    ]);
    expect(await stageLimits(restApiId)).toEqual({ rate: 500, burst: 1000 });
    expect(await handle.executeUpdate(approveUpdate, { args: [{ step: 'throttle-endpoint', by: 'slack:U_CAROL', digest: s.steps[0]!.digest }] })).toBe('succeeded');
    expect(await stageLimits(restApiId)).toEqual({ rate: 7, burst: 3 });
  });

  it('an undecided step escalates by DM to the on-call group at expiry, then the policy default (reject) applies: the KMS key stays enabled', async () => {
    const { KeyMetadata } = await h2.aws.kms.send(new CreateKeyCommand({ Description: 'slack escalation test' }));
    const body = JSON.stringify(alertFor({ kmsKeyId: KeyMetadata!.KeyId! }, { type: 'key.exposed' }));
    const ts = now();
    const r = await fetch(`${h2.intake!.url}/v1/alerts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-bulwark-timestamp': String(ts), 'x-bulwark-signature': sign(h2.webhookSecret, ts, body) },
      body,
    });
    const { workflowId } = (await r.json()) as { workflowId: string };
    const s = await waitForState(h2.client, workflowId, (st) => st.steps[0]?.status === 'rejected', 30_000);
    expect(s.steps[0]!.skippedBecause).toMatch(/approval expired at .* \(policy quick: reject\)/);
    const kinds = s.timeline.map((e) => e.kind);
    expect(kinds.indexOf('approval.escalated')).toBeGreaterThan(-1);
    expect(kinds.indexOf('approval.escalated')).toBeLessThan(kinds.indexOf('approval.expired'));
    expect(s.timeline.find((e) => e.kind === 'approval.escalated')?.message).toMatch(/paging slack:U_DAVE, slack:U_ERIN/);
    for (const user of ['U_DAVE', 'U_ERIN']) {
      const opened = await fake.waitFor('conversations.open', (c) => c.args.users === user);
      expect(opened.authorized).toBe(true);
      const dm = await fake.waitFor('chat.postMessage', (c) => String(c.args.channel).startsWith('D') && String(c.args.channel).includes(user.replace(/[^A-Z0-9]/g, '')) && String(c.args.text).includes(workflowId));
      expect(dm.args.text).toMatch(/Approval needed: Disable the KMS key \(disable-key\).*policy quick applies: reject/);
    }
    expect((await h2.aws.kms.send(new DescribeKeyCommand({ KeyId: KeyMetadata!.KeyId! }))).KeyMetadata!.KeyState).toBe('Enabled');
    // RECORD_HISTORIES=1 adds this run (escalation DMs, behind patch slack-escalation-dm) to the replay fixtures.
    if (process.env.RECORD_HISTORIES === '1') {
      const handle = h2.client.workflow.getHandle(workflowId);
      await handle.executeUpdate(abortUpdate, { args: [{ by: 'replay-fixture', reason: 'recorded' }] });
      await handle.result();
      writeFileSync(join(import.meta.dirname, 'fixtures', 'histories', 'slack-escalation-dm.json'), historyToJSON((await handle.fetchHistory()) as never));
    }
  });
});
