import { createHmac, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApplicationFailure } from '@temporalio/common';
import { GetApiKeyCommand } from '@aws-sdk/client-api-gateway';
import { CreateAccessKeyCommand, CreateUserCommand, ListAccessKeysCommand } from '@aws-sdk/client-iam';
import { createSlackActivities, createSlackWebClient, unconfiguredSlackActivities } from '../activities/slack.js';
import { sign } from '../domain/signature.js';
import { parseSlashText } from '../domain/slack/payloads.js';
import { ReplayGuard, signSlackRequest, verifySlackSignature } from '../domain/slack/signature.js';
import { incidentBlocks, incidentView, type SlackBlock } from '../domain/slack/view.js';
import { startIntake } from '../intake/app.js';
import { createLogger } from '../telemetry/logger.js';
import { approveUpdate, stateQuery } from '../workflows/definitions.js';
import { alertFor, createTppClient, startHarness, testConfig, uniqueId, waitForState, type Harness } from './support.js';
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

function click(user: string, actionId: 'approve' | 'reject', value: string, triggerId = `trig-${randomBytes(4).toString('hex')}`) {
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

describe('publishIncidentMessage / postIncidentThread (activities against the fake Web API)', () => {
  it('posts the first time, updates the same ts afterwards; the chat.update blocks carry the step statuses', async () => {
    const { workflowId, waiting } = await compromisedKey();
    const slack = createSlackActivities({ web: createSlackWebClient({ botToken, apiUrl: fake.apiUrl }), channel: CHANNEL });

    // The workflow keeps its own message current too; this test looks only at the calls it makes itself.
    const mark = fake.calls.length;
    const ref = await slack.publishIncidentMessage({ incidentId: workflowId, view: incidentView(waiting) });
    expect(ref.channel).toBe(CHANNEL);
    const posted = fake.calls.slice(mark).find((c) => c.method === 'chat.postMessage' && c.args.channel === CHANNEL && String(JSON.stringify(c.args.blocks ?? '')).includes(workflowId))!;
    expect(posted.authorized).toBe(true);
    const postedBlocks = JSON.stringify(posted.args.blocks);
    expect(postedBlocks).toMatch(/`delete-access-key` \*awaiting-approval\*/);
    expect((posted.args.blocks as SlackBlock[]).some((b) => b.type === 'actions')).toBe(true);

    // The step is decided and runs; the message is updated in place.
    await h.client.workflow.getHandle(workflowId).executeUpdate(approveUpdate, { args: [{ step: 'delete-access-key', by: 'alice' }] });
    const done = await waitForState(h.client, workflowId, (s) => s.status === 'contained');
    const again = await slack.publishIncidentMessage({ incidentId: workflowId, view: incidentView(done), message: ref });
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
    const slack = createSlackActivities({ web: createSlackWebClient({ botToken, apiUrl: fake.apiUrl }), channel: CHANNEL });
    const input = { incidentId: workflowId, view: incidentView(waiting) };
    const failure = async (p: Promise<unknown>) => {
      try {
        await p;
      } catch (err) {
        return err as ApplicationFailure;
      }
      throw new Error('expected a failure');
    };

    fake.failNext(1, { status: 429, retryAfter: 7 }, 'chat.postMessage');
    const limited = await failure(slack.publishIncidentMessage(input));
    expect(limited).toBeInstanceOf(ApplicationFailure);
    expect(limited.nonRetryable).toBe(false);
    expect(limited.nextRetryDelay).toBe('7s');
    expect(limited.type).toBe('SlackRateLimited');
    expect(fake.callsOf('chat.postMessage').filter((c) => c.status === 429)).toHaveLength(1);
    const ref = await slack.publishIncidentMessage(input);
    expect(ref.ts).toMatch(/^\d+\.\d+$/);

    fake.failNext(1, { status: 200, error: 'invalid_auth' });
    const auth = await failure(slack.publishIncidentMessage({ ...input, message: ref }));
    expect(auth.nonRetryable).toBe(true);
    expect(auth.message).toBe('Slack chat.update failed: invalid_auth');
    fake.failNext(1, { status: 200, error: 'channel_not_found' });
    expect((await failure(slack.publishIncidentMessage(input))).nonRetryable).toBe(true);
    fake.failNext(1, { status: 503, error: 'service_unavailable' });
    expect((await failure(slack.publishIncidentMessage(input))).nonRetryable).toBe(false);
    // A token the fake does not know: Slack answers invalid_auth; the token is not echoed.
    const wrong = createSlackActivities({ web: createSlackWebClient({ botToken: 'xoxb-wrong-token-value', apiUrl: fake.apiUrl }), channel: CHANNEL });
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
