import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { defaultPayloadConverter } from '@temporalio/common';
import { parseAlert, type Alert } from '../domain/alert.js';
import { fingerprint, incidentWorkflowId } from '../domain/fingerprint.js';
import {
  INTERNAL_ERROR,
  asffSeverity,
  guardDutySeverity,
  normaliseAlertmanager,
  normaliseAny,
  normaliseGuardDuty,
  normaliseMapped,
  normaliseSecurityHub,
  parseMappingsYaml,
  parsePath,
  readPath,
  type NormaliseResult,
  type SourceMapping,
} from '../domain/sources/index.js';
import { AlertDeliverer } from '../intake/deliver.js';
import { createIntakeServer, listen } from '../intake/server.js';
import { checkAlertmanagerAuth, loadSourceSettings, MappingFileError } from '../intake/sources.js';
import { createLogger } from '../telemetry/logger.js';
import { ConfigError, loadConfig, playbookDefaults } from '../temporal.config.js';
import { alertFor, createStage, startHarness, uniqueId, waitForState, type Harness, workflowExists } from './support.js';

// ── fixtures ────────────────────────────────────────────────────────────────────────────────────
const fixture = (path: string): any => JSON.parse(readFileSync(new URL(`./fixtures/sources/${path}`, import.meta.url), 'utf8'));
const FIXTURES = {
  gdExfil: 'guardduty/eventbridge-instance-credential-exfiltration.json',
  gdCredentialAccess: 'guardduty/credential-access-anomalous-behavior.json',
  gdDiscovery: 'guardduty/discovery-anomalous-behavior.json',
  gdPortProbe: 'guardduty/recon-port-probe-ec2.json',
  shImported: 'securityhub/eventbridge-findings-imported.json',
  shResolved: 'securityhub/eventbridge-finding-resolved.json',
  amFiring: 'alertmanager/grouped-firing.json',
  amResolved: 'alertmanager/grouped-resolved.json',
  snsEvent: 'sns/lambda-event-guardduty.json',
  mappedPayload: 'mapping/acme-siem-notables.json',
} as const;
const mappingsYaml = readFileSync(new URL('./fixtures/sources/mapping/mappings.yaml', import.meta.url), 'utf8');
const parsedMappings = parseMappingsYaml(mappingsYaml, 'mappings.yaml');
if (!parsedMappings.ok) throw new Error(JSON.stringify(parsedMappings.errors));
const mappings: SourceMapping[] = parsedMappings.mappings;
const acme = mappings[0]!;

const hex = (n: number) => randomBytes(n / 2).toString('hex');

/** Fixture copies with ids of their own, so tests (and files sharing the dev server) never share an incident. */
export function freshGuardDutyEvent(path: string = FIXTURES.gdExfil) {
  const e = fixture(path);
  const finding = e.detail ?? e;
  const id = hex(32);
  finding.arn = String(finding.arn).replace(finding.id, id);
  finding.id = id;
  return e;
}
function freshSecurityHub(path: string = FIXTURES.shImported, restApiId?: string) {
  const e = fixture(path);
  for (const f of e.detail.findings) {
    f.Id = String(f.Id).replace(/[0-9a-f]{32}$|[^/]+$/, (m: string) => (/^[0-9a-f]{32}$/.test(m) ? hex(32) : `${m}-${hex(8)}`));
    // The API-abuse finding names a real stage of the sandbox account, so its playbook can act.
    if (restApiId) for (const r of f.Resources) if (r.Type === 'AwsApiGatewayStage') r.Id = r.Id.replace(/restapis\/[^/]+/, `restapis/${restApiId}`);
  }
  return e;
}
function freshAlertmanager(): { firing: any; resolved: any } {
  const firing = fixture(FIXTURES.amFiring);
  const resolved = fixture(FIXTURES.amResolved);
  const client = uniqueId('tpp');
  firing.alerts.forEach((a: any, i: number) => {
    const fp = hex(16);
    a.fingerprint = fp;
    resolved.alerts[i].fingerprint = fp;
    if (a.labels.client_id) a.labels.client_id = resolved.alerts[i].labels.client_id = client;
  });
  return { firing, resolved };
}

const ok = (r: NormaliseResult): Alert[] => {
  if (!r.ok) throw new Error(`expected ok, got ${JSON.stringify(r.errors)}`);
  return r.alerts;
};
const errs = (r: NormaliseResult) => {
  if (r.ok) throw new Error('expected a refusal');
  return r.errors;
};

// ── pure normalisers ────────────────────────────────────────────────────────────────────────────
describe('GuardDuty normaliser', () => {
  it('EventBridge InstanceCredentialExfiltration.OutsideAWS → aws-credential.compromised on the role and key', () => {
    const [a, ...rest] = ok(normaliseGuardDuty(fixture(FIXTURES.gdExfil)));
    expect(rest).toHaveLength(0);
    expect(a).toMatchObject({
      source: 'guardduty',
      type: 'aws-credential.compromised',
      severity: 'high',
      observedAt: '2026-11-20T14:02:55.811Z',
      dedupKey: 'guardduty:7ab2c5e1f9d84e6a8c3b1d0e2f4a6b8c',
      subject: { awsAccessKeyId: 'ASIAZ2UJQBV5EXAMPLE7', iamRoleName: 'payments-api-instance-role', awsAccountId: '123456789012', sourceIp: '198.51.100.77' },
      details: { findingType: 'UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS', api: 'ListBuckets', count: 3 },
    });
  });

  it('CredentialAccess and Discovery anomalous-behaviour findings → aws-credential.compromised on the IAM user', () => {
    const [ca] = ok(normaliseGuardDuty(fixture(FIXTURES.gdCredentialAccess)));
    expect(ca).toMatchObject({ type: 'aws-credential.compromised', severity: 'medium', subject: { awsAccessKeyId: 'AKIAZ2UJQBV5EXAMPLE2', iamUserName: 'svc-payments-deployer' } });
    const [d] = ok(normaliseGuardDuty(fixture(FIXTURES.gdDiscovery)));
    expect(d).toMatchObject({ type: 'aws-credential.compromised', severity: 'low', subject: { awsAccessKeyId: 'AKIAZ2UJQBV5EXAMPLE4', iamUserName: 'contractor-reporting' } });
  });

  it('non-credential findings → anomaly.detected with what identifies them in details', () => {
    const [a] = ok(normaliseGuardDuty(fixture(FIXTURES.gdPortProbe)));
    expect(a).toMatchObject({ type: 'anomaly.detected', severity: 'low', subject: { awsAccountId: '123456789012', sourceIp: '198.51.100.200' }, details: { instanceId: 'i-0f1e2d3c4b5a69788' } });
  });

  it('PascalCase (SDK GetFindings) output normalises like camelCase', () => {
    const camel = fixture(FIXTURES.gdCredentialAccess);
    const pascal = JSON.parse(JSON.stringify(camel).replace(/"([a-z])([A-Za-z0-9]*)":/g, (_m, a: string, b: string) => `"${a.toUpperCase()}${b}":`));
    expect(ok(normaliseGuardDuty({ Findings: [pascal] }))[0]).toEqual(ok(normaliseGuardDuty(camel))[0]);
  });

  it.each([
    [1, 'low'],
    [3.9, 'low'],
    [4, 'medium'],
    [6.9, 'medium'],
    [7, 'high'],
    [8.9, 'high'],
    [9, 'critical'],
    [10, 'critical'],
  ] as const)('severity %d → %s', (score, severity) => expect(guardDutySeverity(score)).toBe(severity));

  it('refuses bad findings naming the GuardDuty field', () => {
    const e = fixture(FIXTURES.gdExfil);
    e.detail.resource.accessKeyDetails.accessKeyId = 'GeneratedFindingAccessKeyId';
    expect(errs(normaliseGuardDuty(e))).toEqual([{ field: 'detail.resource.accessKeyDetails.accessKeyId', message: expect.stringContaining('IAM access key id') }]);
    const s = fixture(FIXTURES.gdExfil);
    s.detail.severity = 42;
    expect(errs(normaliseGuardDuty(s))[0]!.field).toBe('detail.severity');
    expect(errs(normaliseGuardDuty({ ...fixture(FIXTURES.gdExfil), 'detail-type': 'AWS API Call via CloudTrail' }))[0]!.field).toBe('detail-type');
  });
});

describe('Security Hub (ASFF) normaliser', () => {
  it('one alert per finding: access key → credential, API stage → endpoint abuse, posture check → anomaly', () => {
    const [key, stage, posture] = ok(normaliseSecurityHub(fixture(FIXTURES.shImported)));
    expect(key).toMatchObject({
      source: 'securityhub',
      type: 'aws-credential.compromised',
      severity: 'medium',
      observedAt: '2026-11-23T09:27:31.554Z',
      // GuardDuty findings forwarded by Security Hub share the GuardDuty dedup key.
      dedupKey: 'guardduty:5f2a9c7e1b3d48e6a0c4b8d2f6e1a9c3',
      subject: { awsAccessKeyId: 'AKIAZ2UJQBV5EXAMPLE9', iamUserName: 'svc-ledger-export', sourceIp: '203.0.113.61' },
    });
    expect(stage).toMatchObject({ type: 'endpoint.abuse', severity: 'high', subject: { endpoint: { restApiId: 'a1b2c3d4e5', stage: 'prod' }, sourceIp: '203.0.113.9' } });
    expect(stage!.dedupKey).toBe('securityhub:obapi-waf/rate-anomaly/2026-11-23/a1b2c3d4e5-prod-payments');
    // A logging-disabled control on a stage must not throttle production traffic.
    expect(posture).toMatchObject({ type: 'anomaly.detected', severity: 'medium', details: { posture: true, complianceStatus: 'FAILED' } });
  });

  it('a finding set to RESOLVED is a resolved alert with the same dedup key', () => {
    const [resolved] = ok(normaliseSecurityHub(fixture(FIXTURES.shResolved)));
    const [, stage] = ok(normaliseSecurityHub(fixture(FIXTURES.shImported)));
    expect(resolved).toMatchObject({ status: 'resolved', dedupKey: stage!.dedupKey, observedAt: '2026-11-23T11:40:02.118Z' });
    expect(fingerprint(resolved!)).toBe(fingerprint(stage!));
  });

  it.each([
    [{ Label: 'INFORMATIONAL' }, 'low'],
    [{ Label: 'CRITICAL', Normalized: 10 }, 'critical'],
    [{ Normalized: 0 }, 'low'],
    [{ Normalized: 39 }, 'low'],
    [{ Normalized: 40 }, 'medium'],
    [{ Normalized: 70 }, 'high'],
    [{ Normalized: 90 }, 'critical'],
    [{ Label: 'SEVERE' }, undefined],
  ])('Severity %j → %s', (sev, expected) => expect(asffSeverity(sev)).toBe(expected));

  it('refuses a stage resource whose Id is not a stage ARN, and an event of another detail-type', () => {
    const e = fixture(FIXTURES.shImported);
    e.detail.findings[1].Resources[0].Id = 'a1b2c3d4e5/prod';
    expect(errs(normaliseSecurityHub(e))).toEqual([{ field: 'detail.findings[1].Resources[0].Id', message: expect.stringContaining('stage ARN') }]);
    expect(errs(normaliseSecurityHub({ ...fixture(FIXTURES.shImported), 'detail-type': 'Security Hub Insight Results' }))[0]!.field).toBe('detail-type');
  });
});

describe('Alertmanager normaliser', () => {
  it('one alert per grouped entry, labels → type, severity and subject', () => {
    const [cred, abuse] = ok(normaliseAlertmanager(fixture(FIXTURES.amFiring)));
    expect(cred).toMatchObject({
      source: 'alertmanager:bulwark',
      type: 'credential.compromised',
      severity: 'medium',
      status: 'firing',
      observedAt: '2026-11-24T09:12:30.512Z',
      dedupKey: 'alertmanager:3f8a2c1d9e7b6a54',
      subject: { clientId: 'tpp-fintech-42' },
      details: { alertname: 'OpenBankingClientAnomaly', runbookUrl: 'https://runbooks.example.internal/ob/credential-anomaly' },
    });
    expect(abuse).toMatchObject({ type: 'endpoint.abuse', subject: { endpoint: { restApiId: 'a1b2c3d4e5', stage: 'prod', resourcePath: '/payments', httpMethod: 'POST' } } });
  });

  it('resolved entries keep their fingerprint (same incident) and are observed at endsAt', () => {
    const firing = ok(normaliseAlertmanager(fixture(FIXTURES.amFiring)));
    const resolved = ok(normaliseAlertmanager(fixture(FIXTURES.amResolved)));
    expect(resolved.map((a) => a.status)).toEqual(['resolved', 'resolved']);
    expect(resolved[0]!.observedAt).toBe('2026-11-24T09:41:30.512Z');
    expect(resolved.map(fingerprint)).toEqual(firing.map(fingerprint));
  });

  it('without bulwark_type → anomaly.detected; an unknown severity or half an endpoint is refused by label name', () => {
    const p = fixture(FIXTURES.amFiring);
    delete p.alerts[0].labels.bulwark_type;
    expect(ok(normaliseAlertmanager(p))[0]!.type).toBe('anomaly.detected');
    const bad = fixture(FIXTURES.amFiring);
    bad.alerts[0].labels.severity = 'sev1';
    delete bad.alerts[1].labels.stage;
    delete bad.commonLabels.severity;
    expect(errs(normaliseAlertmanager(bad)).map((e) => e.field)).toEqual(['alerts[0].labels.severity', 'alerts[1].labels.stage']);
  });
});

describe('generic JSON mapping', () => {
  it('paths: dotted keys, [n] indexes, quoted keys, $$ for the whole payload', () => {
    const p = (t: string) => {
      const r = parsePath(t);
      if ('error' in r) throw new Error(r.error);
      return r;
    };
    const doc = { a: { 'b.c': [{ d: 1 }, { d: 2 }] }, top: 't' };
    expect(readPath(p("$.a['b.c'][1].d"), doc)).toBe(2);
    expect(readPath(p('$$.top'), { other: 1 }, doc)).toBe('t');
    expect(readPath(p('$.a.missing.deeper'), doc)).toBeUndefined();
    expect(readPath(p('$.constructor'), doc)).toBeUndefined();
    expect(parsePath('a.b')).toEqual({ error: expect.stringContaining('starts with $') });
  });

  it('maps a grouped SIEM payload with match, each, maps, defaults and epoch times', () => {
    const [cred, abuse] = ok(normaliseMapped(acme, fixture(FIXTURES.mappedPayload), { receivedAt: '2026-11-24T11:00:00Z' }));
    expect(cred).toEqual({
      source: 'acme-siem',
      type: 'credential.compromised',
      severity: 'high',
      observedAt: '2026-11-24T09:52:00.000Z',
      dedupKey: 'acme-siem:nb-20261124-000871',
      status: 'firing',
      subject: { clientId: 'tpp-budgetly-7', sourceIp: '198.51.100.203' },
      details: { rule: 'OAuth client secret used from TOR exit', tenant: 'acme-bank-prod', links: ['https://siem.example.internal/notable/nb-20261124-000871'] },
    });
    expect(abuse).toMatchObject({ type: 'endpoint.abuse', severity: 'medium', subject: { endpoint: { restApiId: 'k7l8m9n0p1', stage: 'prod', resourcePath: '/v3/payments', httpMethod: 'POST' }, sourceIp: '2001:db8::7' } });
  });

  it('schema errors name the payload path of each item', () => {
    const p = fixture(FIXTURES.mappedPayload);
    p.notables[0].entities.oauth_client = 'has space';
    p.notables[1].urgency = 'P9';
    expect(errs(normaliseMapped(acme, p)).map((e) => e.field)).toEqual(['$.notables[0].entities.oauth_client', '$.notables[1].urgency']);
  });

  it('a payload outside the match is refused naming the condition', () => {
    expect(errs(normaliseMapped(acme, { ...fixture(FIXTURES.mappedPayload), vendor: 'other' }))).toEqual([{ field: '$.vendor', message: 'mapping acme-siem needs "acme-siem"' }]);
  });

  it('bad mapping files are refused with file:line and field', () => {
    const bad = parseMappingsYaml(
      ['mappings:', '  - name: Bad Name', '    fields:', '      type: "$.a..b"', '      severity: { path: "$.s", map: 3 }', '      subject.user: "$.u"'].join('\n'),
      'siem.yaml',
    );
    expect(bad.ok).toBe(false);
    if (bad.ok) return;
    expect(bad.errors.map((e) => e.field)).toEqual([
      'siem.yaml:2 mappings[0].name',
      'siem.yaml:4 mappings[0].fields.type',
      'siem.yaml:5 mappings[0].fields.severity.map',
      'siem.yaml:6 mappings[0].fields.subject.user',
    ]);
    expect(bad.errors[3]!.message).toContain('unknown alert field "subject.user"');
    const missing = parseMappingsYaml('mappings:\n  - name: x\n    fields: { type: anomaly.detected }\n', 'm.yaml');
    expect(missing).toEqual({ ok: false, errors: [{ field: 'm.yaml:3 mappings[0].fields.severity', message: 'severity must be mapped (a path or a literal)' }] });
    expect(parseMappingsYaml('mappings: [', 'broken.yaml')).toMatchObject({ ok: false, errors: [{ field: expect.stringMatching(/^broken\.yaml:\d+$/) }] });
  });
});

// ── totality: no input makes a normaliser throw ─────────────────────────────────────────────────
const normalisers: [string, (input: unknown) => NormaliseResult][] = [
  ['guardduty', normaliseGuardDuty],
  ['securityhub', normaliseSecurityHub],
  ['alertmanager', normaliseAlertmanager],
  ['any', normaliseAny],
  ['mapped', (input) => normaliseMapped(acme, input, { receivedAt: '2026-11-24T11:00:00Z' })],
];

/** A result is ok with schema-valid, JSON-round-trippable alerts, or a refusal with field errors; never the internal-error fallback. */
function wellFormed(r: NormaliseResult): boolean {
  if (r.ok) return r.alerts.every((a) => parseAlert(a).ok && JSON.stringify(JSON.parse(JSON.stringify(a))) === JSON.stringify(a));
  return r.errors.length > 0 && r.errors.every((e) => typeof e.field === 'string' && typeof e.message === 'string' && !e.message.includes(INTERNAL_ERROR));
}

const anything = fc.anything({
  withBigInt: true,
  withBoxedValues: true,
  withDate: true,
  withMap: true,
  withSet: true,
  withNullPrototype: true,
  withObjectString: true,
  withSparseArray: true,
  withTypedArray: true,
  withUnicodeString: true,
  key: fc.oneof(fc.string(), fc.constantFrom('__proto__', 'constructor', 'detail', 'detail-type', 'alerts', 'labels', 'Findings', 'id', 'Id', 'type', 'resource')),
});

/** Random edits of a fixture: a value replaced by anything, a key deleted, or an array emptied, at random depths. */
function mutated(path: string) {
  const base = fixture(path);
  const paths: (string | number)[][] = [];
  const walk = (node: unknown, at: (string | number)[]) => {
    paths.push(at);
    if (Array.isArray(node)) node.forEach((v, i) => walk(v, [...at, i]));
    else if (node && typeof node === 'object') for (const [k, v] of Object.entries(node)) walk(v, [...at, k]);
  };
  walk(base, []);
  return fc
    .array(fc.tuple(fc.nat(paths.length - 1), fc.constantFrom('replace', 'delete', 'stringify'), anything), { minLength: 1, maxLength: 4 })
    .map((edits) => {
      let doc: any = structuredClone(base);
      // Generated values are fast-check's to keep (it reuses them while shrinking): never edit inside one.
      const replaced: string[] = [];
      for (const [i, op, value] of edits) {
        const at = paths[i]!;
        const id = JSON.stringify(at);
        if (replaced.some((r) => id.startsWith(r.slice(0, -1)))) continue;
        if (op !== 'delete') replaced.push(id);
        if (at.length === 0) {
          if (op === 'replace') doc = value;
          continue;
        }
        let parent = doc;
        for (const k of at.slice(0, -1)) parent = parent && typeof parent === 'object' ? parent[k] : undefined;
        if (!parent || typeof parent !== 'object') continue;
        const key = at[at.length - 1]!;
        // An earlier edit may have put something exotic (a frozen or typed array) on the path: skip the edit then.
        try {
          if (op === 'delete') delete parent[key];
          else if (op === 'stringify') parent[key] = JSON.stringify(parent[key]) ?? null;
          else parent[key] = value;
        } catch {
          continue;
        }
      }
      return doc;
    });
}

describe('normalisers are total (fast-check)', () => {
  it.each(normalisers)('%s: never throws on fc.anything()', (_n, normalise) => {
    fc.assert(fc.property(anything, (input) => wellFormed(normalise(input))), { numRuns: 1500 });
  });
  it.each(normalisers)('%s: never throws on arbitrary JSON text parsed', (_n, normalise) => {
    fc.assert(fc.property(fc.json({ maxDepth: 6 }), (text) => wellFormed(normalise(JSON.parse(text)))), { numRuns: 1500 });
  });
  it.each([
    ['guardduty', FIXTURES.gdExfil, normaliseGuardDuty],
    ['guardduty', FIXTURES.gdCredentialAccess, normaliseGuardDuty],
    ['securityhub', FIXTURES.shImported, normaliseSecurityHub],
    ['alertmanager', FIXTURES.amFiring, normaliseAlertmanager],
    ['any (sns)', FIXTURES.snsEvent, (i: unknown) => normaliseAny((i as any)?.Records?.[0]?.Sns ?? i)],
    ['mapped', FIXTURES.mappedPayload, (i: unknown) => normaliseMapped(acme, i, { receivedAt: '2026-11-24T11:00:00Z' })],
  ] as const)('%s: mutated fixture %s → ok with valid alerts or field errors', (_n, path, normalise) => {
    let accepted = 0;
    fc.assert(
      fc.property(mutated(path), (doc) => {
        const r = normalise(doc);
        if (r.ok) accepted++;
        return wellFormed(r);
      }),
      { numRuns: 1500 },
    );
    // Mutations that miss the mapped fields still normalise: the property saw both outcomes.
    expect(accepted).toBeGreaterThan(0);
  });
});

// ── through the real intake server and real Temporal ────────────────────────────────────────────
function signed(secret: string, body: string, ts = Math.floor(Date.now() / 1000)) {
  const sig = createHmac('sha256', secret).update(`${ts}.${body}`).digest('hex');
  return { 'content-type': 'application/json', 'x-bulwark-timestamp': String(ts), 'x-bulwark-signature': `v1=${sig}` };
}

const AM_TOKEN = randomBytes(24).toString('hex');
const AM_USER = 'alertmanager';
const AM_PASSWORD = randomBytes(12).toString('hex');

let h: Harness;
/** A second server from the same code, with Alertmanager auth and mappings configured (the harness's has none). */
let configured: { server: Server; url: string };

beforeAll(async () => {
  h = await startHarness({ intake: true });
  const server = createIntakeServer({
    client: h.client,
    deliverer: new AlertDeliverer(h.client, h.config.temporal.taskQueue, playbookDefaults(h.config)),
    webhookSecret: h.webhookSecret,
    maxBodyBytes: h.config.intake.maxBodyBytes,
    logger: createLogger('silent'),
    sources: { alertmanager: { bearerToken: AM_TOKEN, basicUser: AM_USER, basicPassword: AM_PASSWORD }, mappings },
  });
  const address = await listen(server, 0, '127.0.0.1');
  configured = { server, url: `http://127.0.0.1:${address.port}` };
});
afterAll(async () => {
  configured?.server.closeAllConnections();
  await new Promise((r) => configured?.server.close(r));
  await h?.close();
});

async function post(base: string, path: string, payload: unknown, headers: Record<string, string> | ((body: string) => Record<string, string>)) {
  const body = typeof payload === 'string' ? payload : JSON.stringify(payload);
  const res = await fetch(`${base}${path}`, { method: 'POST', headers: typeof headers === 'function' ? headers(body) : headers, body });
  return { status: res.status, json: (await res.json()) as any };
}
const postSigned = (path: string, payload: unknown) => post(h.intake!.url, path, payload, (b) => signed(h.webhookSecret, b));
const bearer = (token: string) => ({ 'content-type': 'application/json', authorization: `Bearer ${token}` });
const basic = (user: string, password: string) => ({ 'content-type': 'application/json', authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });

const exists = (workflowId: string) => workflowExists(h.client, workflowId);

/** What intake put into Temporal: the alert in the start input and the deliveries signalled, read from history. */
async function recorded(workflowId: string) {
  const history = await h.client.workflow.getHandle(workflowId).fetchHistory();
  const started = history.events![0]!.workflowExecutionStartedEventAttributes!;
  const input = defaultPayloadConverter.fromPayload<{ alert: Alert }>(started.input!.payloads![0]!);
  const deliveries = history
    .events!.filter((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'alerts')
    .map((e) => defaultPayloadConverter.fromPayload<{ count: number; resolved?: number }>(e.workflowExecutionSignaledEventAttributes!.input!.payloads![0]!));
  return { alert: input.alert, deliveries };
}

describe('POST /v1/alerts/guardduty', () => {
  it('a signed EventBridge finding → 202, an incident keyed by the finding id holding the credential alert', async () => {
    const event = freshGuardDutyEvent();
    const expected = ok(normaliseGuardDuty(event))[0]!;
    const res = await postSigned('/v1/alerts/guardduty', event);
    expect(res.status).toBe(202);
    const workflowId = incidentWorkflowId(fingerprint({ source: 'guardduty', type: 'x.y', subject: {}, dedupKey: `guardduty:${event.detail.id}` }));
    expect(res.json).toMatchObject({ source: 'guardduty', accepted: 1, results: [{ type: 'aws-credential.compromised', severity: 'high', status: 'firing', workflowId, deduplicated: false }] });
    const { alert } = await recorded(workflowId);
    expect(alert).toEqual(expected);
    const state = await waitForState(h.client, workflowId, (s) => s.alertCount === 1);
    expect(state.alert.type).toBe('aws-credential.compromised');
    expect(state.alert.subject).toMatchObject({ awsAccessKeyId: 'ASIAZ2UJQBV5EXAMPLE7', iamRoleName: 'payments-api-instance-role' });

    // GuardDuty re-publishes the finding as it updates: it joins the same incident.
    event.detail.updatedAt = new Date().toISOString();
    event.detail.service.count = 7;
    event.detail.severity = 9.1;
    const again = await postSigned('/v1/alerts/guardduty', event);
    expect(again.json.results[0]).toMatchObject({ workflowId, deduplicated: true, severity: 'critical' });
    const after = await waitForState(h.client, workflowId, (s) => s.alertCount === 2);
    expect(after.severity).toBe('critical');
  });

  it('a bare finding and a GetFindings-style list are accepted too', async () => {
    const bare = freshGuardDutyEvent(FIXTURES.gdDiscovery);
    const res = await postSigned('/v1/alerts/guardduty', { findings: [bare, freshGuardDutyEvent(FIXTURES.gdCredentialAccess)] });
    expect(res.status).toBe(202);
    expect(res.json.results.map((r: any) => [r.type, r.severity])).toEqual([
      ['aws-credential.compromised', 'low'],
      ['aws-credential.compromised', 'medium'],
    ]);
    for (const r of res.json.results) expect(await exists(r.workflowId)).toBe(true);
  });

  it('unsigned or wrongly signed → 401 and nothing started', async () => {
    const event = freshGuardDutyEvent();
    const workflowId = incidentWorkflowId(fingerprint(ok(normaliseGuardDuty(event))[0]!));
    expect((await post(h.intake!.url, '/v1/alerts/guardduty', event, { 'content-type': 'application/json' })).status).toBe(401);
    expect((await post(h.intake!.url, '/v1/alerts/guardduty', event, (b) => signed('not-the-secret-at-all', b))).json.error).toBe('unauthorized');
    expect(await exists(workflowId)).toBe(false);
  });

  it('a malformed finding → 400 naming the GuardDuty field, nothing started', async () => {
    const event = freshGuardDutyEvent();
    event.detail.resource.accessKeyDetails.accessKeyId = 'GeneratedFindingAccessKeyId';
    delete event.detail.updatedAt;
    delete event.detail.createdAt;
    delete event.detail.service.eventLastSeen;
    const res = await postSigned('/v1/alerts/guardduty', event);
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ error: 'invalid-alert', source: 'guardduty', errors: [{ field: 'detail.updatedAt' }] });
    event.detail.updatedAt = new Date().toISOString();
    const res2 = await postSigned('/v1/alerts/guardduty', event);
    expect(res2.json.errors).toEqual([{ field: 'detail.resource.accessKeyDetails.accessKeyId', message: expect.stringContaining('expected an IAM access key id') }]);
    expect(await exists(incidentWorkflowId(fingerprint({ source: 'guardduty', type: 'x.y', subject: {}, dedupKey: `guardduty:${event.detail.id}` })))).toBe(false);
  });

  it('not JSON → 400 invalid-json', async () => {
    expect((await postSigned('/v1/alerts/guardduty', '{"detail": ')).json.error).toBe('invalid-json');
  });
});

describe('POST /v1/alerts/securityhub', () => {
  it('an EventBridge batch of three findings → three incidents, one result per finding in order', async () => {
    const restApiId = await createStage(h.aws);
    const event = freshSecurityHub(FIXTURES.shImported, restApiId);
    const res = await postSigned('/v1/alerts/securityhub', event);
    expect(res.status).toBe(202);
    expect(res.json.accepted).toBe(3);
    expect(res.json.results.map((r: any) => r.type)).toEqual(['aws-credential.compromised', 'endpoint.abuse', 'anomaly.detected']);
    expect(new Set(res.json.results.map((r: any) => r.workflowId)).size).toBe(3);
    for (const r of res.json.results) {
      const state = await waitForState(h.client, r.workflowId, (s) => s.alertCount === 1);
      expect(state.alert.type).toBe(r.type);
    }
    const stage = await waitForState(h.client, res.json.results[1].workflowId, (s) => s.alertCount === 1);
    expect(stage.alert.subject.endpoint).toEqual({ restApiId, stage: 'prod' });
  });

  it('the finding set to RESOLVED attaches to its incident as alert.resolved and opens nothing', async () => {
    const imported = freshSecurityHub(FIXTURES.shImported, await createStage(h.aws));
    const first = await postSigned('/v1/alerts/securityhub', imported);
    const stageWorkflow = first.json.results[1].workflowId;
    await waitForState(h.client, stageWorkflow, (s) => s.alertCount === 1);
    const resolved = fixture(FIXTURES.shResolved);
    resolved.detail.findings[0].Id = imported.detail.findings[1].Id;
    const res = await postSigned('/v1/alerts/securityhub', resolved);
    expect(res.status).toBe(202);
    expect(res.json.results).toEqual([expect.objectContaining({ status: 'resolved', workflowId: stageWorkflow, attached: true })]);
    const state = await waitForState(h.client, stageWorkflow, (s) => s.timeline.some((e) => e.kind === 'alert.resolved'));
    expect(state.alertCount).toBe(1);
    expect(state.resolvedAlerts).toBe(1);
    const { deliveries } = await recorded(stageWorkflow);
    expect(deliveries.at(-1)).toMatchObject({ count: 1, resolved: 1 });
  });
});

describe('POST /v1/alerts/alertmanager', () => {
  it('is 503 while no Alertmanager credentials are configured (never open)', async () => {
    const res = await post(h.intake!.url, '/v1/alerts/alertmanager', freshAlertmanager().firing, bearer(AM_TOKEN));
    expect(res.status).toBe(503);
    expect(res.json).toMatchObject({ error: 'not-configured', message: expect.stringContaining('alertmanager intake not configured') });
  });

  it.each([
    ['no Authorization', { 'content-type': 'application/json' }],
    ['a wrong bearer token', bearer('x'.repeat(48))],
    ['the token under Basic', basic(AM_USER, AM_TOKEN)],
    ['a wrong password', basic(AM_USER, `${AM_PASSWORD}x`)],
    ['a wrong user', basic('prometheus', AM_PASSWORD)],
    ['an unknown scheme', { 'content-type': 'application/json', authorization: `Token ${AM_TOKEN}` }],
  ])('%s → 401, nothing started', async (_n, headers) => {
    const { firing } = freshAlertmanager();
    const res = await post(configured.url, '/v1/alerts/alertmanager', firing, headers as Record<string, string>);
    expect(res.status).toBe(401);
    expect(res.json.error).toBe('unauthorized');
    const [a] = ok(normaliseAlertmanager(firing));
    expect(await exists(incidentWorkflowId(fingerprint(a!)))).toBe(false);
  });

  it('a grouped firing notification → one incident per alert; its resolved notification attaches to them', async () => {
    const { firing, resolved } = freshAlertmanager();
    const res = await post(configured.url, '/v1/alerts/alertmanager', firing, bearer(AM_TOKEN));
    expect(res.status).toBe(202);
    expect(res.json).toMatchObject({ source: 'alertmanager', accepted: 2 });
    const [cred, abuse] = res.json.results;
    expect(cred).toMatchObject({ type: 'credential.compromised', severity: 'medium', status: 'firing', deduplicated: false });
    expect(abuse).toMatchObject({ type: 'endpoint.abuse', status: 'firing', deduplicated: false });
    const credState = await waitForState(h.client, cred.workflowId, (s) => s.alertCount === 1);
    expect(credState.alert.subject).toEqual({ clientId: firing.alerts[0].labels.client_id });
    expect(credState.alert.source).toBe('alertmanager:bulwark');

    const back = await post(configured.url, '/v1/alerts/alertmanager', resolved, basic(AM_USER, AM_PASSWORD));
    expect(back.status).toBe(202);
    expect(back.json.results).toEqual([
      expect.objectContaining({ status: 'resolved', workflowId: cred.workflowId, attached: true }),
      expect.objectContaining({ status: 'resolved', workflowId: abuse.workflowId, attached: true }),
    ]);
    for (const id of [cred.workflowId, abuse.workflowId]) {
      const state = await waitForState(h.client, id, (s) => s.timeline.some((e) => e.kind === 'alert.resolved'));
      expect(state.alertCount).toBe(1);
      expect(state.resolvedAlerts).toBe(1);
      expect(state.timeline.find((e) => e.kind === 'alert.resolved')!.message).toContain('alertmanager:bulwark');
    }
  });

  it('a resolved notification with no open incident → 202 attached: false, and no workflow is created', async () => {
    const { resolved } = freshAlertmanager();
    const res = await post(configured.url, '/v1/alerts/alertmanager', resolved, bearer(AM_TOKEN));
    expect(res.status).toBe(202);
    for (const r of res.json.results) {
      expect(r).toMatchObject({ status: 'resolved', attached: false, reason: 'no open incident' });
      expect(await exists(r.workflowId)).toBe(false);
    }
  });

  it('one bad entry refuses the whole notification (400 with every field error), nothing half-applied', async () => {
    const { firing } = freshAlertmanager();
    firing.alerts[1].labels.severity = 'sev1';
    firing.alerts[1].startsAt = 'yesterday';
    delete firing.commonLabels.severity;
    const res = await post(configured.url, '/v1/alerts/alertmanager', firing, bearer(AM_TOKEN));
    expect(res.status).toBe(400);
    expect(res.json.errors.map((e: any) => e.field)).toEqual(['alerts[1].startsAt']);
    const [good] = ok(normaliseAlertmanager({ ...firing, alerts: [firing.alerts[0]] }));
    expect(await exists(incidentWorkflowId(fingerprint(good!)))).toBe(false);
  });
});

describe('POST /v1/alerts/mapped/<name>', () => {
  it('a signed SIEM payload through its YAML mapping → one incident per notable', async () => {
    const payload = fixture(FIXTURES.mappedPayload);
    for (const n of payload.notables) n.event_id = uniqueId(n.event_id);
    const res = await post(configured.url, '/v1/alerts/mapped/acme-siem', payload, (b) => signed(h.webhookSecret, b));
    expect(res.status).toBe(202);
    expect(res.json).toMatchObject({ source: 'mapped:acme-siem', accepted: 2 });
    expect(res.json.results.map((r: any) => r.type)).toEqual(['credential.compromised', 'endpoint.abuse']);
    const state = await waitForState(h.client, res.json.results[0].workflowId, (s) => s.alertCount === 1);
    expect(state.alert).toMatchObject({ source: 'acme-siem', subject: { clientId: 'tpp-budgetly-7' } });
  });

  it('unknown mapping → 404, a payload outside the match → 400, unsigned → 401', async () => {
    const payload = fixture(FIXTURES.mappedPayload);
    const unknown = await post(configured.url, '/v1/alerts/mapped/nope', payload, (b) => signed(h.webhookSecret, b));
    expect(unknown).toMatchObject({ status: 404, json: { error: 'unknown-mapping', message: expect.stringContaining('acme-siem') } });
    const off = await post(configured.url, '/v1/alerts/mapped/acme-siem', { ...payload, schema: 'notable/v1' }, (b) => signed(h.webhookSecret, b));
    expect(off).toMatchObject({ status: 400, json: { errors: [{ field: '$.schema' }] } });
    expect((await post(configured.url, '/v1/alerts/mapped/acme-siem', payload, { 'content-type': 'application/json' })).status).toBe(401);
  });
});

describe('resolved alerts on /v1/alerts and routes', () => {
  it('a resolved alert for no open incident → 202 attached: false, nothing started', async () => {
    const alert = alertFor({ clientId: uniqueId('c') }, { status: 'resolved' });
    const res = await postSigned('/v1/alerts', alert);
    expect(res.status).toBe(202);
    expect(res.json).toMatchObject({ attached: false, reason: 'no open incident' });
    expect(await exists(res.json.workflowId)).toBe(false);
  });

  it('a firing then a resolved alert on /v1/alerts → one incident with alert.resolved in its timeline', async () => {
    const alert = alertFor({ clientId: uniqueId('c') }, { severity: 'low' });
    const first = await postSigned('/v1/alerts', alert);
    const second = await postSigned('/v1/alerts', { ...alert, status: 'resolved' });
    expect(second.json).toEqual({ incidentId: first.json.workflowId, workflowId: first.json.workflowId, attached: true });
    const state = await waitForState(h.client, first.json.workflowId, (s) => s.timeline.some((e) => e.kind === 'alert.resolved'));
    expect(state.alertCount).toBe(1);
  });

  it('404 lists every route; GET on a source route is 405', async () => {
    const res = await fetch(`${h.intake!.url}/v1/nothing`);
    expect(res.status).toBe(404);
    const body = (await res.json()) as { message: string };
    for (const r of ['POST /v1/alerts/guardduty', 'POST /v1/alerts/securityhub', 'POST /v1/alerts/alertmanager', 'POST /v1/alerts/mapped/<name>']) expect(body.message).toContain(r);
    expect((await fetch(`${h.intake!.url}/v1/alerts/guardduty`)).status).toBe(405);
    expect((await fetch(`${h.intake!.url}/v1/alerts/mapped/acme-siem`)).status).toBe(405);
  });

  it('Alertmanager credentials are compared whole (unit)', () => {
    const cfg = { bearerToken: AM_TOKEN };
    expect(checkAlertmanagerAuth(`Bearer ${AM_TOKEN}`, cfg)).toBe('ok');
    expect(checkAlertmanagerAuth(`bearer ${AM_TOKEN}`, cfg)).toBe('ok');
    expect(checkAlertmanagerAuth(`Bearer ${AM_TOKEN.slice(0, -1)}`, cfg)).toBe('unauthorized');
    expect(checkAlertmanagerAuth(`Bearer ${AM_TOKEN}0`, cfg)).toBe('unauthorized');
    expect(checkAlertmanagerAuth(undefined, {})).toBe('not-configured');
    expect(checkAlertmanagerAuth(`Basic ${Buffer.from(`${AM_USER}:${AM_PASSWORD}:x`).toString('base64')}`, { basicUser: AM_USER, basicPassword: AM_PASSWORD })).toBe('unauthorized');
  });
});

describe('source settings from config', () => {
  it('reads Alertmanager credentials and the mappings file from the environment', async () => {
    const file = fileURLToPath(new URL('./fixtures/sources/mapping/mappings.yaml', import.meta.url));
    const config = loadConfig({ BULWARK_ALERTMANAGER_TOKEN: AM_TOKEN, BULWARK_SOURCE_MAPPINGS: file });
    const settings = await loadSourceSettings(config);
    expect(settings.alertmanager).toEqual({ bearerToken: AM_TOKEN });
    expect(settings.mappings!.map((m) => m.name)).toEqual(['acme-siem']);
    expect((await loadSourceSettings(loadConfig({}))).mappings).toBeUndefined();
  });

  it('refuses a short token, half a basic-auth pair and a bad mappings file', async () => {
    expect(() => loadConfig({ BULWARK_ALERTMANAGER_TOKEN: 'short' })).toThrow(ConfigError);
    expect(() => loadConfig({ BULWARK_ALERTMANAGER_BASIC_USER: 'am' })).toThrow(/basic auth needs both user and password/);
    const bad = join(tmpdir(), `bulwark-mappings-${hex(8)}.yaml`);
    writeFileSync(bad, 'mappings:\n  - name: x\n    fields: { type: "$.t" }\n');
    const err = await loadSourceSettings(loadConfig({ BULWARK_SOURCE_MAPPINGS: bad })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MappingFileError);
    expect((err as Error).message).toContain(`${bad}:3 mappings[0].fields.severity`);
  });
});
