import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { CreateEmailIdentityCommand } from '@aws-sdk/client-sesv2';
import { Worker } from '@temporalio/worker';
import { workflowBundle } from '../worker/bundle.js';
import { registerRegulatorCommands } from '../cli/commands/regulators.js';
import { notificationWorkflowId } from '../domain/regimes/notification.js';
import type { NotificationState } from '../domain/regimes/notification.js';
import { parseAlert } from '../domain/alert.js';
import { AlertDeliverer } from '../intake/deliver.js';
import { PlaybookCatalog } from '../intake/playbook-catalog.js';
import { playbookDefaults } from '../temporal.config.js';
import { regulatorApproveUpdate, regulatorFactsUpdate, regulatorStateQuery } from '../workflows/notification-definitions.js';
import type { NotificationInput } from '../workflows/notification.js';
import { startFakeSlack, type FakeSlack } from './support/fake-slack.js';
import { alertFor, refusal, startHarness, testConfig, uniqueId, waitForState, workflowExists, type Harness } from './support.js';

/**
 * The regulator-notification child workflow on the real dev server and moto, with the test clock
 * (BULWARK_REGULATOR_TIME_SCALE=1200: an hour of regulatory time is 3 real seconds), so a 4 h
 * window takes 12 s (the 95 % reminder then has 0.6 s of margin on a busy machine). Reminders are observed at a fake Slack, submissions in moto's SES store and at
 * a local webhook receiver.
 */
const TIME_SCALE = 1200;
const regimesDir = fileURLToPath(new URL('./fixtures/regimes-notification/', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'bulwark-regulators-'));
const FROM = 'reports@bulwark-test.example';
const TO = 'authority@regulator-test.example';

interface Received {
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
}
let hook: { server: Server; url: string; received: Received[] };
let slack: FakeSlack;
let h: Harness;
let profileFile: string;

function writeProfile(name: string, body: unknown): string {
  const path = join(scratch, name);
  writeFileSync(path, JSON.stringify(body));
  return path;
}

beforeAll(async () => {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown> });
      res.writeHead(202, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: `receipt-${received.length}` }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  hook = { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/reports`, received };
  profileFile = writeProfile('profile.json', {
    name: 'Test Payments Ltd',
    entityType: 'payment-institution',
    jurisdictions: ['EU'],
    memberState: 'DE',
    reportingContact: { name: 'Carol Compliance', email: 'carol@example.com' },
    contacts: {
      'test-notice': { authority: { channel: 'email', to: [TO], from: FROM } },
      'test-hook': { '*': { channel: 'webhook', url: hook.url } },
    },
    approvers: { 'compliance-officer': ['carol'] },
  });
  const botToken = 'xoxb-test-regulators';
  slack = await startFakeSlack({ botToken });
  const config = testConfig({
    regulators: { profileFile, regimesDir, ledgerDir: join(scratch, 'ledger'), timeScale: TIME_SCALE },
    slack: { botToken, signingSecret: 'regulators-signing-secret', channel: 'C0REGULATORS', apiUrl: slack.apiUrl },
  });
  h = await startHarness({ config });
  await h.aws.ses.send(new CreateEmailIdentityCommand({ EmailIdentity: FROM }));
});

afterAll(async () => {
  await h?.close();
  await slack?.close();
  await new Promise<void>((r) => (hook ? hook.server.close(() => r()) : r()));
});

afterEach(() => vi.restoreAllMocks());

async function startNotification(regimeId: string, facts: NotificationInput['facts'], over: Partial<NotificationInput> = {}) {
  const incidentId = `incident-${uniqueId('reg')}`;
  const input: NotificationInput = { incidentId, regimeId, facts, events: { aware: new Date().toISOString() }, openedBy: 'operator:alice', summary: 'Leaked TPP credentials', ...over };
  const handle = await h.client.workflow.start('regulatorNotificationWorkflow', { workflowId: notificationWorkflowId(incidentId, regimeId), taskQueue: h.config.temporal.taskQueue, args: [input] });
  return { incidentId, handle };
}

async function waitFor(handle: { query: (q: typeof regulatorStateQuery) => Promise<NotificationState> }, predicate: (s: NotificationState) => boolean, timeoutMs = 20_000): Promise<NotificationState> {
  const until = Date.now() + timeoutMs;
  let last: NotificationState | undefined;
  while (Date.now() < until) {
    last = await handle.query(regulatorStateQuery);
    if (predicate(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out; last state: ${JSON.stringify(last?.log, null, 1)}`);
}

/** Reportable and its first deadline running (becoming reportable sets `classified`, then re-evaluates). */
const running = (s: NotificationState) => s.status === 'reportable' && !!s.stages[0]?.timeline.dueAt;

async function motoSentEmails(): Promise<string> {
  const res = await fetch(`${h.config.aws.endpoint}/moto-api/data.json`);
  return JSON.stringify(await res.json());
}

/**
 * The CLI in-process (the same commander tree `bulwark` runs), with the harness's servers in env.
 * In-process rather than runCli: a child process start takes 10+ s on a busy machine, longer than
 * the test windows.
 */
async function cli(args: string[]): Promise<{ out: string; error?: Error }> {
  const out: string[] = [];
  vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.map(String).join(' ')));
  const env = {
    TEMPORAL_ADDRESS: h.config.temporal.address,
    BULWARK_TASK_QUEUE: h.config.temporal.taskQueue,
    BULWARK_REGULATOR_PROFILE: profileFile,
    BULWARK_REGIMES_DIR: regimesDir,
    BULWARK_REGULATOR_TIME_SCALE: String(TIME_SCALE),
  };
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  const program = new Command('bulwark').exitOverride().option('--address <a>').option('--namespace <n>').option('--task-queue <q>');
  registerRegulatorCommands(program);
  for (const c of program.commands.flatMap((x) => [x, ...x.commands])) c.exitOverride();
  try {
    await program.parseAsync(args, { from: 'user' });
    return { out: out.join('\n') };
  } catch (error) {
    return { out: out.join('\n'), error: error as Error };
  } finally {
    for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
}

describe('regulator notification workflow', () => {
  it('reminds at 50/80/95 % of the window and escalates at the deadline (seen at Slack); a late approval needs a reason; the SES e-mail is in moto; the next stage is anchored on the submission', async () => {
    const { incidentId, handle } = await startNotification('test-notice', { maliciousAccess: true });
    const mine = (c: { args: Record<string, unknown> }) => String(c.args.text).includes(incidentId);

    const reportable = await waitFor(handle, running);
    expect(reportable.classifications).toEqual([expect.objectContaining({ reportable: true })]);
    expect(reportable.stages.map((s) => [s.id, s.timeline.state])).toEqual([['initial', 'pending'], ['update', 'not-started']]);
    const classifiedMs = Date.parse(reportable.events.classified!);
    expect(Date.parse(reportable.stages[0]!.timeline.dueAt!)).toBe(classifiedMs + 4 * 3_600_000);

    const escalation = await slack.waitFor('chat.postMessage', (c) => mine(c) && /deadline missed/.test(String(c.args.text)), 15_000);
    const posts = slack.callsOf('chat.postMessage').filter(mine).map((c) => String(c.args.text));
    expect(posts, JSON.stringify([posts, (await handle.query(regulatorStateQuery)).log], null, 1)).toHaveLength(4);
    expect(posts[0]).toMatch(/reminder.*Initial notification.*50% of the window used/);
    expect(posts[1]).toMatch(/80% of the window used/);
    expect(posts[2]).toMatch(/95% of the window used/);
    expect(posts[3]).toMatch(/Regulator deadline missed.*escalating to carol/);
    expect(escalation.authorized).toBe(true);
    // The stage before the reminder was due is never reminded early: 50 % came after 2 h of the window.
    const overdue = await handle.query(regulatorStateQuery);
    expect(overdue.stages[0]!.remindersSent).toEqual([0.5, 0.8, 0.95]);
    expect(overdue.stages[0]!.escalatedAt).toBeDefined();
    expect(overdue.log.filter((e) => e.kind === 'reminder' || e.kind === 'escalated').map((e) => e.kind)).toEqual(['reminder', 'reminder', 'reminder', 'escalated']);

    // Refused by the validator before anything is sent: late without a reason, not an approver, four-eyes.
    expect(await refusal(handle.executeUpdate(regulatorApproveUpdate, { args: [{ stage: 'initial', by: 'carol' }] }))).toMatch(/late .*needs a reason for delay/);
    expect(await refusal(handle.executeUpdate(regulatorApproveUpdate, { args: [{ stage: 'initial', by: 'mallory', reason: 'x' }] }))).toMatch(/mallory is not an approver/);
    expect(await refusal(handle.executeUpdate(regulatorApproveUpdate, { args: [{ stage: 'update', by: 'carol' }] }))).toMatch(/stage update has not started: waiting for stage:initial.submitted/);
    expect(await motoSentEmails()).not.toContain(incidentId);

    const sub = await handle.executeUpdate(regulatorApproveUpdate, { args: [{ stage: 'initial', by: 'carol', reason: 'forensic confirmation took longer' }] });
    expect(sub).toMatchObject({ late: true, reason: 'forensic confirmation took longer', approvedBy: 'carol', channel: `authority: e-mail to ${TO}` });
    expect(sub.id).toMatch(/^ses:/);
    const sent = await motoSentEmails();
    expect(sent).toContain(`[${incidentId}/test-notice/initial] Test notice regime — Initial notification (late)`);
    expect(sent).toContain(TO);
    expect(sent).toContain('forensic confirmation took longer');

    const chained = await waitFor(handle, (s) => !!s.stages[1]!.timeline.dueAt);
    expect(chained.events['stage:initial.submitted']).toBe(sub.at);
    expect(chained.stages[1]!.timeline.anchor).toBe('stage:initial.submitted');
    expect(Date.parse(chained.stages[1]!.timeline.dueAt!)).toBe(Date.parse(sub.at) + 4 * 3_600_000);
    expect(chained.stages[0]!.timeline.state).toBe('submitted-late');

    // The update stage in time, from the CLI path (same validator), then the workflow completes.
    const approved = await cli(['regulators', 'approve', incidentId, 'test-notice', 'update', '--as', 'carol']);
    expect(approved.error).toBeUndefined();
    expect(approved.out).toMatch(/test-notice update submitted at .* via authority: e-mail to .*: ses:/);
    const result = (await handle.result()) as NotificationState;
    expect(result.status).toBe('complete');
    expect(result.stages.map((s) => [s.id, s.submission?.approvedBy, s.submission?.late])).toEqual([['initial', 'carol', true], ['update', 'carol', false]]);
    // Deterministic: the recorded history (timers, updates, activities) replays on the current bundle.
    await expect(Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, await handle.fetchHistory(), handle.workflowId)).resolves.toBeUndefined();
  });

  it('submits through the webhook channel, keyed, with the draft; a second approval is refused', async () => {
    const { incidentId, handle } = await startNotification('test-hook', { maliciousAccess: true, clientsAffected: 40 });
    await waitFor(handle, running);
    const sub = await handle.executeUpdate(regulatorApproveUpdate, { args: [{ stage: 'notice', by: 'carol' }] });
    const got = hook.received.filter((r) => r.headers['idempotency-key'] === `${incidentId}/test-hook/notice`);
    expect(got).toHaveLength(1);
    expect(sub).toMatchObject({ late: false, id: `webhook:receipt-${hook.received.indexOf(got[0]!) + 1}` });
    const report = got[0]!.body.report as { fields: { name: string; value?: string }[]; flags: string[] };
    expect(report.fields).toEqual([
      { name: 'incident_reference', value: incidentId, source: 'incident' },
      { name: 'clients_affected', value: '40', source: 'facts' },
      { name: 'suspected_unlawful_or_malicious', value: 'yes', source: 'facts' },
    ]);
    expect(report.flags).toEqual(['test-hook stage notice: needs-legal-review (test flag)']);
    expect(await refusal(handle.executeUpdate(regulatorApproveUpdate, { args: [{ stage: 'notice', by: 'carol' }] }))).toMatch(/already submitted/);
    expect((await handle.result()).status).toBe('complete');
  });

  it('updated facts are classified again and recorded; the deadline starts when the regime becomes reportable', async () => {
    const { handle } = await startNotification('test-notice', { maliciousAccess: false });
    const first = await waitFor(handle, (s) => s.status === 'not-reportable');
    expect(first.stages[0]!.timeline.dueAt).toBeUndefined();
    expect(await refusal(handle.executeUpdate(regulatorFactsUpdate, { args: [{ by: '' }] }))).toMatch(/by: expected who changes the facts/);
    const r = await handle.executeUpdate(regulatorFactsUpdate, { args: [{ by: 'alice', facts: { maliciousAccess: true }, fields: { root_cause: 'leaked token' } }] });
    expect(r).toEqual({ status: 'reportable', reportable: true });
    const s = await handle.query(regulatorStateQuery);
    expect(s.classifications.map((c) => c.reportable)).toEqual([false, true]);
    expect(s.log.filter((e) => e.kind === 'reclassified')).toHaveLength(1);
    expect(Date.parse(s.stages[0]!.timeline.dueAt!)).toBe(Date.parse(s.events.classified!) + 4 * 3_600_000);
    expect(s.fields).toEqual({ root_cause: 'leaked token' });
    const badFacts = writeProfile(`facts-bad-${Date.now()}.json`, { clientsAffected: -3 });
    const refused = await cli(['regulators', 'facts', s.incidentId, 'test-notice', badFacts, '--as', 'bob']);
    expect(refused.error?.message).toMatch(/invalid facts in .*:\n  clientsAffected: expected a number ≥ 0/);
    const okFacts = writeProfile(`facts-ok-${Date.now()}.json`, { facts: { clientsAffected: 12 }, fields: { root_cause: 'CI logs' } });
    const updated = await cli(['regulators', 'facts', s.incidentId, 'test-notice', okFacts, '--as', 'bob']);
    expect(updated.out).toBe('test-notice: reportable (reportable: true)');
    const after = await handle.query(regulatorStateQuery);
    expect(after.facts).toEqual({ maliciousAccess: true, clientsAffected: 12 });
    expect(after.fields.root_cause).toBe('CI logs');
    await handle.terminate('test done');
  });

  it('`regulators status` shows every stage with UTC and local deadline, time left and state; `regulators draft` prints the pre-filled report', async () => {
    const { incidentId, handle } = await startNotification('test-notice', { maliciousAccess: true });
    await waitFor(handle, running);
    const status = await cli(['regulators', 'status', incidentId]);
    expect(status.error).toBeUndefined();
    expect(status.out).toContain(`regulator notifications for ${incidentId}`);
    expect(status.out).toMatch(/test-notice[\s│]+reportable[\s│]+initial[\s│]+\S+Z[\s│]+\d{4}-\d{2}-\d{2} \d{2}:\d{2} GMT\+1[\s│]+[0-3]h \d+m[\s│]+(pending|due-soon)/);
    expect(status.out).toMatch(/update[\s│—]+not-started[\s│]+waiting for stage:initial.submitted/);
    const json = await cli(['regulators', 'status', incidentId, '--json']);
    const rows = (JSON.parse(json.out) as { regime: string; stages: { stage: string; state: string; dueUtc?: string }[] }[])[0]!;
    expect(rows.regime).toBe('test-notice');
    expect(rows.stages.map((x) => x.stage)).toEqual(['initial', 'update']);

    const md = await cli(['regulators', 'draft', incidentId, 'test-notice', 'initial']);
    expect(md.error).toBeUndefined();
    expect(md.out).toContain('# Test notice regime — Initial notification');
    expect(md.out).toContain(`| incident_reference | ${incidentId} | incident |`);
    expect(md.out).toContain('| contact_person | Carol Compliance, carol@example.com | profile |');
    expect(md.out).toMatch(/\| classification_criteria_met \| malicious \(maliciousAccess is true\) \| classification \|/);
    const draft = JSON.parse((await cli(['regulators', 'draft', incidentId, 'test-notice', 'update', '--json'])).out) as { missing: string[] };
    expect(draft.missing).toEqual(['root_cause', 'reason_for_delay']);

    const bad = await cli(['regulators', 'draft', incidentId, 'test-notice', 'nope']);
    expect(bad.error).toMatchObject({ exitCode: 2, message: 'stage "nope" is not a stage of test-notice (stages: initial, update)' });
    const refused = await cli(['regulators', 'approve', incidentId, 'test-notice', 'initial', '--as', 'mallory']);
    expect(refused.error?.message).toMatch(/^refused: mallory is not an approver under policy regulators:test-notice/);
    const none = await cli(['regulators', 'status', 'incident-does-not-exist']);
    expect(none.error?.message).toMatch(/no regulator notifications for incident-does-not-exist/);
    await handle.terminate('test done');
  });

  it('an invalid regulator profile is refused with the field named (CLI and worker)', async () => {
    const bad = writeProfile('bad.json', { entityType: 'payment-institution', jurisdictions: ['EU'], memberState: 'DE', contacts: { dora: { nca: { channel: 'webhook', url: 'http://portal.example/hook' } } } });
    const facts = writeProfile('facts.json', { maliciousAccess: true });
    const r = await cli(['regulators', 'classify', facts, '--profile', bad]);
    expect(r.error?.message).toContain('contacts.dora.nca.url: expected an https:// URL (http:// only to localhost)');

    const { createRegulatorActivities } = await import('../activities/regulators.js');
    const { createLogger } = await import('../telemetry/logger.js');
    const acts = createRegulatorActivities({ ses: h.aws.ses, logger: createLogger('silent'), settings: { profileFile: bad, regimesDir, ledgerDir: join(scratch, 'l2'), timeScale: 1 } });
    await expect(acts.regulatorsClassify({ facts: {}, at: new Date().toISOString() })).rejects.toMatchObject({
      nonRetryable: true,
      message: expect.stringContaining('contacts.dora.nca.url: expected an https:// URL'),
    });
  });
});

describe('regulator activities', () => {
  it('without Slack, reminders go to the operator log; a repeated submission with the same key is sent once', async () => {
    const { createRegulatorActivities } = await import('../activities/regulators.js');
    const { createLogger } = await import('../telemetry/logger.js');
    const lines: string[] = [];
    const logger = createLogger('info', 'test', { write: (l: string) => void lines.push(l) });
    const acts = createRegulatorActivities({ ses: h.aws.ses, logger, settings: { profileFile, regimesDir, ledgerDir: join(scratch, `ledger-${Date.now()}`), timeScale: 1 } });
    const incidentId = `incident-${uniqueId('act')}`;
    expect(await acts.regulatorsNotify({ incidentId, regimeId: 'test-notice', stage: 'initial', kind: 'escalation', text: 'due and not approved' })).toMatchObject({ channel: 'log' });
    expect(JSON.parse(lines.at(-1)!)).toMatchObject({ level: 40, incidentId, regime: 'test-notice', stage: 'initial', kind: 'escalation', msg: 'regulators: due and not approved' });

    const input = { key: `${incidentId}/test-hook/notice`, regimeId: 'test-hook', stage: 'notice', approvedBy: 'carol', late: false, at: new Date().toISOString(), draft: { incidentId, facts: { maliciousAccess: true }, events: {} } };
    const first = await acts.regulatorsSubmit(input);
    const again = await acts.regulatorsSubmit(input);
    expect(again).toEqual(first);
    expect(hook.received.filter((r) => r.headers['idempotency-key'] === input.key)).toHaveLength(1);
  });
});

describe('regulators.assess playbook step', () => {
  it('starts one notification child per applicable regime (ABANDON, id from incident + regime) and says which are reportable and why', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bulwark-pb-'));
    writeFileSync(
      join(dir, 'reg.yaml'),
      `id: regulator-assessment
version: 1
title: assess regulator notifications
match:
  types: [regulated.breach]
steps:
  - id: assess
    action: regulators.assess
    with:
      facts: { maliciousAccess: true }
      regimes: [test-notice, test-hook]
      summary: Leaked TPP credentials
`,
    );
    const { catalog, result } = PlaybookCatalog.fromDir(dir);
    expect(result.errors).toEqual([]);
    const parsed = parseAlert(alertFor({ clientId: uniqueId('tpp') }, { type: 'regulated.breach' }));
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
    const { workflowId } = await new AlertDeliverer(h.client, h.config.temporal.taskQueue, playbookDefaults(h.config), { catalog }).deliver(parsed.value);
    const s = await waitForState(h.client, workflowId, (st) => st.steps.some((x) => x.id === 'assess' && (x.status === 'succeeded' || x.status === 'failed')));
    const step = s.steps.find((x) => x.id === 'assess')!;
    expect(step.status).toBe('succeeded');
    const out = step.output as { regimes: { regime: string; reportable: boolean; why: string[] }[]; notifications: { workflowId: string; started: boolean }[] };
    expect(out.regimes.map((r) => [r.regime, r.reportable])).toEqual([['test-hook', true], ['test-notice', true]]);
    expect(out.regimes[0]!.why).toEqual(['✓ malicious: maliciousAccess is true']);
    expect(out.notifications.map((n) => n.workflowId).sort()).toEqual([notificationWorkflowId(workflowId, 'test-hook'), notificationWorkflowId(workflowId, 'test-notice')]);
    for (const n of out.notifications) {
      expect(await workflowExists(h.client, n.workflowId)).toBe(true);
      const d = await h.client.workflow.getHandle(n.workflowId).describe();
      expect(d.raw.workflowExecutionInfo?.parentExecution?.workflowId).toBe(workflowId);
    }
    const child = h.client.workflow.getHandle(notificationWorkflowId(workflowId, 'test-notice'));
    expect((await waitFor(child, running)).summary).toBe('Leaked TPP credentials');
    for (const n of out.notifications) await h.client.workflow.getHandle(n.workflowId).terminate('test done');
  });
});
