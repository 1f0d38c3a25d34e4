/**
 * Chaos: fuzzing with fast-check. Random, mutated and adversarial inputs go to the real intake
 * server (signed and unsigned alert webhooks, Alertmanager, Slack events) and to the playbook and
 * regime loaders, the Slack payload parser and the alert-source normalisers. Nothing may throw,
 * nothing may answer 5xx, and no unauthenticated request may start an incident — checked in
 * Temporal's visibility store, not in our own bookkeeping.
 */
import { createHmac } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import type { z } from 'zod';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAlert } from '../../domain/alert.js';
import { fingerprint, incidentWorkflowId } from '../../domain/fingerprint.js';
import { parsePlaybook } from '../../domain/playbooks/load.js';
import { parseRegimeFile } from '../../domain/regimes/load.js';
import { BlockActionsPayload, ButtonValue, parseJson, parseSlashText, RejectModalMetadata, SlashCommandPayload, ViewSubmissionPayload } from '../../domain/slack/payloads.js';
import { signSlackRequest } from '../../domain/slack/signature.js';
import { normaliseAny } from '../../domain/sources/index.js';
import { startFakeSlack, type FakeSlack } from '../support/fake-slack.js';
import { startHarness, testConfig, workflowExists, type Harness } from '../support.js';
import { recordResult, SCALE, SEED } from './support.js';

const BUDGET = Math.round(2500 * SCALE);
const TIMEOUT = Math.max(120_000, BUDGET * 20);
const share = (f: number) => Math.max(20, Math.round(BUDGET * f));
const ALERTMANAGER_TOKEN = 'fuzz-alertmanager-token-0123456789';
const SLACK_SECRET = 'fuzz-slack-signing-secret-0123456789';

let h: Harness;
let slack: FakeSlack;
const counts: Record<string, number> = {};
const violations: string[] = [];
const accepted = new Set<string>();

beforeAll(async () => {
  slack = await startFakeSlack({ botToken: 'xoxb-fuzz-token' });
  const config = testConfig({
    sources: { alertmanager: { bearerToken: ALERTMANAGER_TOKEN } },
    slack: { botToken: 'xoxb-fuzz-token', signingSecret: SLACK_SECRET, channel: 'C0FUZZ0001', apiUrl: slack.apiUrl },
  });
  // No worker: whatever the intake starts stays visible in Temporal without running.
  h = await startHarness({ config, intake: true, worker: false });
});

afterAll(async () => {
  await h?.close();
  await slack?.close();
  const total = Object.values(counts).reduce((s, n) => s + n, 0);
  recordResult({ suite: 'fuzz (intake, loaders, parsers)', runs: Object.keys(counts).length, faultsInjected: 0, incidentsCompleted: 0, duplicates: 0, lostAlerts: 0, fuzzInputs: total, detail: { counts, violations: violations.slice(0, 20) } });
});

/**
 * In-process properties run in chunks with a yield between them: one synchronous loop over tens of
 * thousands of inputs would starve the test runner's own messages (it times them out).
 */
async function fuzzPure<T>(name: string, arb: fc.Arbitrary<T>, numRuns: number, predicate: (input: T) => boolean): Promise<void> {
  counts[name] = numRuns;
  const chunk = 2000;
  for (let start = 0; start < numRuns; start += chunk) {
    fc.assert(fc.property(arb, predicate), { numRuns: Math.min(chunk, numRuns - start), seed: SEED + start, endOnFailure: true });
    await new Promise((r) => setImmediate(r));
  }
}

/**
 * HTTP inputs go out 16 at a time (fast-check's async runner is sequential, far too slow for tens
 * of thousands of requests): inputs drawn from the seeded arbitrary, each checked as it answers.
 */
async function fuzzHttp<T>(name: string, arb: fc.Arbitrary<T>, numRuns: number, check: (input: T) => Promise<string | undefined>): Promise<void> {
  counts[name] = numRuns;
  const chunk = 2000;
  for (let start = 0; start < numRuns; start += chunk) {
    const inputs = fc.sample(arb, { numRuns: Math.min(chunk, numRuns - start), seed: SEED + start });
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < inputs.length) {
          const input = inputs[next++]!;
          const problem = await check(input).catch((err: Error) => `request failed: ${err.message}`);
          if (problem) violations.push(`${problem} — input ${JSON.stringify(input).slice(0, 300)}`);
        }
      }),
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Generators

const ALERT_TYPES = ['credential.compromised', 'endpoint.abuse', 'key.exposed', 'aws-credential.compromised', 'client.offboard', 'anomaly.detected'];
/** Alerts that are valid or nearly so: the interesting inputs sit at the schema's edges. */
const alertLike = fc.record(
  {
    source: fc.oneof(fc.constant('fuzz'), fc.string({ maxLength: 140 })),
    type: fc.oneof(fc.constantFrom(...ALERT_TYPES), fc.string({ maxLength: 40 })),
    severity: fc.oneof(fc.constantFrom('low', 'medium', 'high', 'critical'), fc.string({ maxLength: 10 })),
    observedAt: fc.oneof(fc.date({ noInvalidDate: true, min: new Date('2000-01-01'), max: new Date('2100-01-01') }).map((d) => d.toISOString()), fc.string({ maxLength: 30 })),
    dedupKey: fc.string({ maxLength: 80 }),
    status: fc.constantFrom('firing', 'resolved', 'other'),
    subject: fc.record(
      {
        clientId: fc.string({ maxLength: 40 }),
        apiKeyId: fc.string({ maxLength: 40 }),
        secretId: fc.string({ maxLength: 60 }),
        kmsKeyId: fc.string({ maxLength: 60 }),
        endpoint: fc.record({ restApiId: fc.string({ maxLength: 12 }), stage: fc.string({ maxLength: 12 }) }, { requiredKeys: [] }),
        sourceIp: fc.oneof(fc.ipV4(), fc.ipV6(), fc.string({ maxLength: 20 })),
      },
      { requiredKeys: [] },
    ),
    details: fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 5 }),
  },
  { requiredKeys: ['source', 'type', 'severity', 'observedAt', 'subject'] },
);
/** A definitely valid alert of its own fingerprint (triage: nothing routes anomaly.detected). */
const validAlert = fc.nat({ max: 19 }).map((k) => ({ source: 'fuzz', type: 'anomaly.detected', severity: 'high', observedAt: new Date().toISOString(), dedupKey: `fuzz-${k}`, subject: {} }));
const body = fc.oneof(
  { weight: 4, arbitrary: alertLike.map((a) => JSON.stringify(a)) },
  { weight: 2, arbitrary: validAlert.map((a) => JSON.stringify(a)) },
  { weight: 2, arbitrary: fc.json({ maxDepth: 4 }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 300 }) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString('latin1')) },
  { weight: 1, arbitrary: fc.constantFrom('', '{}', '[]', 'null', '{"source":', '\u0000', '{"__proto__":{"x":1}}', JSON.stringify({ constructor: { prototype: { polluted: true } } })) },
);
const ALERT_PATHS = ['/v1/alerts', '/v1/alerts/guardduty', '/v1/alerts/securityhub', '/v1/alerts/mapped/anything', '/v1/alerts/alertmanager'];
const path = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...ALERT_PATHS) },
  { weight: 1, arbitrary: fc.constantFrom('/healthz', '/metrics', '/', '/v1', '/v1/alerts/', '/v1/alerts?x=1', '/codec/decode', '/slack/events', '//v1/alerts', '/v1/alerts/../alerts') },
  { weight: 1, arbitrary: fc.webPath() },
);
/** How (and whether) a request is authenticated. Only `valid` may start anything. */
const auth = fc.constantFrom('valid', 'none', 'wrong-secret', 'stale', 'future', 'garbage', 'other-body');
const contentType = fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded', '', 'application/json; charset=utf-16');

function signedHeaders(mode: string, raw: string, secret: string): Record<string, string> {
  const now = Math.floor(Date.now() / 1000);
  const sig = (ts: number, text: string, key = secret) => `v1=${createHmac('sha256', key).update(`${ts}.${text}`).digest('hex')}`;
  switch (mode) {
    case 'valid':
      return { 'x-bulwark-timestamp': String(now), 'x-bulwark-signature': sig(now, raw) };
    case 'wrong-secret':
      return { 'x-bulwark-timestamp': String(now), 'x-bulwark-signature': sig(now, raw, 'not-the-secret-at-all') };
    // Well outside the 5-minute window: a request can wait seconds in the queue on a loaded machine.
    case 'stale':
      return { 'x-bulwark-timestamp': String(now - 360), 'x-bulwark-signature': sig(now - 360, raw) };
    case 'future':
      return { 'x-bulwark-timestamp': String(now + 360), 'x-bulwark-signature': sig(now + 360, raw) };
    case 'garbage':
      return { 'x-bulwark-timestamp': 'yesterday', 'x-bulwark-signature': `v1=${'zz'.repeat(32)}` };
    case 'other-body':
      return { 'x-bulwark-timestamp': String(now), 'x-bulwark-signature': sig(now, `${raw} `) };
    default:
      return {};
  }
}

async function post(url: string, p: string, raw: string | Buffer, headers: Record<string, string>, method = 'POST'): Promise<{ status: number; text: string }> {
  const r = await fetch(`${url}${p}`, { method, headers, body: method === 'GET' || method === 'HEAD' ? undefined : raw, signal: AbortSignal.timeout(15_000) });
  return { status: r.status, text: await r.text() };
}

function noteAccepted(text: string): void {
  try {
    const b = JSON.parse(text) as { workflowId?: string; results?: { workflowId?: string }[] };
    if (b.workflowId) accepted.add(b.workflowId);
    for (const r of b.results ?? []) if (r.workflowId) accepted.add(r.workflowId);
  } catch {
    // not JSON: nothing was accepted
  }
}

/** Mutations of a real document: replace, delete or retype a value somewhere in it. */
function mutate(doc: unknown, edits: { at: number; op: 'delete' | 'replace'; value: unknown }[]): unknown {
  const copy = structuredClone(doc);
  for (const e of edits) {
    const slots: { parent: Record<string, unknown> | unknown[]; key: string | number }[] = [];
    const walk = (v: unknown) => {
      if (Array.isArray(v)) v.forEach((x, i) => (slots.push({ parent: v, key: i }), walk(x)));
      else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) (slots.push({ parent: v as Record<string, unknown>, key: k }), walk(x));
    };
    walk(copy);
    if (slots.length === 0) return e.value;
    const { parent, key } = slots[e.at % slots.length]!;
    if (e.op === 'delete') {
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete parent[key as string];
    } else (parent as Record<string | number, unknown>)[key] = e.value;
  }
  return copy;
}
const edits = fc.array(fc.record({ at: fc.nat(), op: fc.constantFrom('delete' as const, 'replace' as const), value: fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.string({ maxLength: 30 }), fc.constantFrom(null, -1, 0, 1e309, '', '${alert.subject.clientId}', '${steps.x.status}', 'P1Y', '1h', '-5m')) }), { minLength: 1, maxLength: 4 });

const yamlDocs = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => parseYaml(readFileSync(join(dir, f), 'utf8')) as unknown);
const yamlInput = (docs: unknown[]) =>
  fc.oneof(
    { weight: 6, arbitrary: fc.tuple(fc.constantFrom(...docs), edits).map(([d, e]) => stringifyYaml(mutate(d, e))) },
    { weight: 1, arbitrary: fc.string({ maxLength: 400 }) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => stringifyYaml(v)) },
    { weight: 1, arbitrary: fc.constantFrom('', '---\n---\n', '&a [*a]', 'a: &x\n  b: *x\n', '!!binary AAAA', 'id: [', '\t\tid: x') },
  );

// ---------------------------------------------------------------------------------------------

describe(`chaos: fuzzing (${BUDGET.toLocaleString('en')} inputs)`, () => {
  it('the alert endpoints never answer 5xx, and only a valid signature gets anything accepted', async () => {
    const url = h.intake!.url;
    const unauthenticatedValid: string[] = [];
    const request = fc.tuple(path, body, auth, contentType, fc.constantFrom('POST', 'POST', 'POST', 'GET', 'PUT'));
    await fuzzHttp('intake alert endpoints', request, share(0.1), async ([p, raw, mode, ct, method]) => {
        const headers: Record<string, string> = { ...(ct ? { 'content-type': ct } : {}) };
        if (p.startsWith('/v1/alerts/alertmanager')) {
          if (mode === 'valid') headers.authorization = `Bearer ${ALERTMANAGER_TOKEN}`;
          else if (mode !== 'none') headers.authorization = mode === 'garbage' ? 'Basic !!!' : `Bearer ${ALERTMANAGER_TOKEN}x`;
        } else Object.assign(headers, signedHeaders(mode, raw, h.webhookSecret));
        const r = await post(url, p, raw, headers, method);
        if (r.status === 202) noteAccepted(r.text);
        if (mode !== 'valid' && p === '/v1/alerts') {
          const parsed = (() => {
            try {
              return parseAlert(JSON.parse(raw));
            } catch {
              return undefined;
            }
          })();
          if (parsed?.ok && parsed.value.status !== 'resolved') unauthenticatedValid.push(incidentWorkflowId(fingerprint(parsed.value)));
        }
        if (r.status >= 500) return `${method} ${p} (${mode}) answered ${r.status}: ${r.text.slice(0, 200)}`;
        if (r.status === 202 && mode !== 'valid') return `${method} ${p} (${mode}) was accepted without authentication`;
        return undefined;
      });
    expect(violations).toEqual([]);
    expect(accepted.size, 'valid signed alerts were accepted (the check is not vacuous)').toBeGreaterThan(0);
    // Well-formed alerts sent without a valid signature: no incident exists for any of them.
    for (const id of unauthenticatedValid.slice(0, 25)) if (!accepted.has(id)) expect(await workflowExists(h.client, id), id).toBe(false);
  }, TIMEOUT);

  it('Slack events: unsigned or replayed requests are refused, signed random payloads never crash the app', async () => {
    const url = h.intake!.url;
    const payload = fc.oneof(
      fc.record({ type: fc.constant('block_actions'), user: fc.record({ id: fc.oneof(fc.constant('U0FUZZ'), fc.string({ maxLength: 12 })) }), actions: fc.array(fc.record({ action_id: fc.oneof(fc.constantFrom('bulwark-approve', 'bulwark-reject', 'approve', 'reject'), fc.string({ maxLength: 20 })), value: fc.oneof(fc.json({ maxDepth: 2 }), fc.record({ incidentId: fc.string({ maxLength: 30 }).map((s) => `incident-${s}`), step: fc.string({ maxLength: 20 }) }).map((v) => JSON.stringify(v))) }), { maxLength: 3 }), response_url: fc.constant(slack.responseUrl('fuzz')) }, { requiredKeys: ['type'] }).map((p) => new URLSearchParams({ payload: JSON.stringify(p) }).toString()),
      fc.record({ type: fc.constant('view_submission'), user: fc.record({ id: fc.constant('U0FUZZ') }), view: fc.record({ callback_id: fc.constantFrom('bulwark-reject', 'bulwark-skip', 'bulwark-abort', 'x'), private_metadata: fc.oneof(fc.json({ maxDepth: 2 }), fc.string({ maxLength: 50 })), state: fc.record({ values: fc.dictionary(fc.string({ maxLength: 8 }), fc.dictionary(fc.string({ maxLength: 8 }), fc.record({ value: fc.string({ maxLength: 30 }) }))) }) }, { requiredKeys: [] }) }).map((p) => new URLSearchParams({ payload: JSON.stringify(p) }).toString()),
      // Slash commands, never `open`: a signed `open` legitimately starts an incident.
      fc.record({ command: fc.constantFrom('/bulwark', '/other', 'bulwark'), text: fc.string({ maxLength: 60 }).filter((t) => t.trim().split(/\s+/)[0]?.toLowerCase() !== 'open'), user_id: fc.oneof(fc.constant('U0FUZZ'), fc.string({ maxLength: 10 })), response_url: fc.constant(slack.responseUrl('fuzz')) }, { requiredKeys: [] }).map((p) => new URLSearchParams(p as Record<string, string>).toString()),
      fc.string({ maxLength: 200 }),
      fc.json({ maxDepth: 3 }),
    );
    await fuzzHttp('slack events endpoint', fc.tuple(payload, fc.constantFrom('valid', 'none', 'wrong', 'stale')), share(0.03), async ([raw, mode]) => {
        const now = Math.floor(Date.now() / 1000);
        const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
        if (mode !== 'none') {
          const ts = mode === 'stale' ? now - 400 : now;
          headers['x-slack-request-timestamp'] = String(ts);
          headers['x-slack-signature'] = signSlackRequest(mode === 'wrong' ? 'wrong-secret-wrong-secret' : SLACK_SECRET, ts, raw);
        }
        const r = await post(url, '/slack/events', raw, headers);
        if (r.status >= 500) return `slack (${mode}) answered ${r.status}: ${r.text.slice(0, 200)}`;
        if (mode !== 'valid' && r.status !== 401) return `slack (${mode}) answered ${r.status}, expected 401`;
        return undefined;
      });
    expect(violations).toEqual([]);
  }, TIMEOUT);

  it('no incident exists that was not accepted from a validly signed request (Temporal visibility)', async () => {
    await new Promise((r) => setTimeout(r, 1500));
    const started: string[] = [];
    for await (const wf of h.client.workflow.list({ query: `TaskQueue = "${h.config.temporal.taskQueue}"` })) started.push(wf.workflowId);
    expect(started.filter((id) => !accepted.has(id))).toEqual([]);
    expect(started.length).toBeGreaterThan(0);
    // The intake is still healthy after everything above.
    expect((await fetch(`${h.intake!.url}/healthz`)).status).toBe(200);
  }, TIMEOUT);

  it('the playbook loader never throws: a mutated playbook loads or is refused with field errors', async () => {
    const docs = yamlDocs('playbooks');
    await fuzzPure('playbook loader', yamlInput(docs), share(0.05), (text) => {
      const r = parsePlaybook(text, 'fuzz.yaml');
      return r.ok ? typeof r.playbook.doc.id === 'string' : r.errors.length > 0 && r.errors.every((e) => typeof e.message === 'string' && e.message.length > 0 && typeof e.line === 'number');
    });
  }, TIMEOUT);

  it('the regime loader never throws: a mutated rule file loads or is refused with field errors', async () => {
    const docs = yamlDocs('regimes');
    await fuzzPure('regime loader', yamlInput(docs), share(0.03), (text) => {
      const r = parseRegimeFile(text, 'fuzz.yaml');
      return r.ok ? typeof r.regime.id === 'string' : r.errors.length > 0 && r.errors.every((e) => typeof e.message === 'string' && e.message.length > 0);
    });
  }, TIMEOUT);

  it('the Slack payload parser never throws and refuses what does not match', async () => {
    const valid = [
      { type: 'block_actions', user: { id: 'U0AB' }, actions: [{ action_id: 'bulwark-approve', value: JSON.stringify({ incidentId: 'incident-x', step: 's' }) }] },
      { type: 'view_submission', user: { id: 'U0AB' }, view: { callback_id: 'bulwark-reject', private_metadata: '{}', state: { values: { reason: { reason: { value: 'x' } } } } } },
      { command: '/bulwark', text: 'status incident-x', user_id: 'U0AB' },
      { incidentId: 'incident-abc', step: 'disable-api-keys', digest: '0123abcd' },
    ];
    const schemas = [BlockActionsPayload, ViewSubmissionPayload, SlashCommandPayload, ButtonValue, RejectModalMetadata] as const;
    const text = fc.oneof(
      { weight: 4, arbitrary: fc.tuple(fc.constantFrom(...valid), edits).map(([d, e]) => JSON.stringify(mutate(d, e))) },
      { weight: 2, arbitrary: fc.json({ maxDepth: 4 }) },
      { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
    );
    await fuzzPure('slack payload parser', fc.tuple(text, fc.nat({ max: schemas.length - 1 }), fc.string({ maxLength: 120 })), share(0.42), ([t, i, slash]) => {
      const r = parseJson(schemas[i]! as z.ZodType<unknown>, t);
      const s = parseSlashText(slash);
      return (r.ok || (typeof r.message === 'string' && r.message.length > 0)) && typeof s.kind === 'string';
    });
  }, TIMEOUT);

  it('the alert-source normalisers never throw on any JSON', async () => {
    const fixtures = ['guardduty', 'securityhub', 'alertmanager', 'sns'].flatMap((d) => {
      try {
        return readdirSync(join('test/fixtures/sources', d))
          .filter((f) => f.endsWith('.json'))
          .map((f) => JSON.parse(readFileSync(join('test/fixtures/sources', d, f), 'utf8')) as unknown);
      } catch {
        return [];
      }
    });
    const input = fixtures.length ? fc.oneof(fc.tuple(fc.constantFrom(...fixtures), edits).map(([d, e]) => mutate(d, e)), fc.jsonValue({ maxDepth: 5 })) : fc.jsonValue({ maxDepth: 5 });
    await fuzzPure('alert-source normalisers', input, share(0.37), (v) => {
      const r = normaliseAny(v);
      return r.ok ? Array.isArray(r.alerts) : r.errors.length > 0;
    });
  }, TIMEOUT);
});

