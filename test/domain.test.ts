import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseAlert } from '../domain/alert.js';
import { parseDurationSeconds } from '../domain/duration.js';
import { classifyError } from '../domain/errors.js';
import { canonicalJson, fingerprint, normaliseIncidentId } from '../domain/fingerprint.js';
import { applyDelivery, initialState, MAX_REPEAT_ENTRIES } from '../domain/incident.js';
import { DEFAULT_PLAYBOOK_SETTINGS, legacyPlanFor, severityBelow } from '../domain/playbook.js';
import { sign, verifySignature } from '../domain/signature.js';
import { ConfigError, loadConfig } from '../temporal.config.js';

const base = {
  source: 'siem',
  type: 'credential.compromised',
  severity: 'high',
  observedAt: '2026-11-24T10:00:00Z',
  subject: { clientId: 'acme' },
};

describe('alert schema v1', () => {
  const cases: [string, unknown, string | null][] = [
    ['a minimal credential alert', base, null],
    ['an abuse alert with an endpoint', { ...base, type: 'endpoint.abuse', subject: { endpoint: { restApiId: 'a1', stage: 'prod', resourcePath: '/payments', httpMethod: 'POST' } } }, null],
    ['an offset timestamp', { ...base, observedAt: '2026-11-24T10:00:00+01:00' }, null],
    ['an ill-formed type', { ...base, type: 'Disk Full' }, 'type'],
    ['an unknown severity', { ...base, severity: 'urgent' }, 'severity'],
    ['a timestamp that is not ISO-8601', { ...base, observedAt: 'yesterday' }, 'observedAt'],
    ['a missing source', { ...base, source: undefined }, 'source'],
    ['an unknown top-level field', { ...base, extra: 1 }, '(root)'],
    ['an unknown subject field', { ...base, subject: { clientId: 'a', user: 'x' } }, 'subject'],
    ['a client id with spaces', { ...base, subject: { clientId: 'acme pay' } }, 'subject.clientId'],
    ['a credential alert naming nothing', { ...base, subject: {} }, 'subject'],
    ['an abuse alert without endpoint', { ...base, type: 'endpoint.abuse' }, 'subject.endpoint'],
    ['a resource path without slash', { ...base, type: 'endpoint.abuse', subject: { endpoint: { restApiId: 'a', stage: 'p', resourcePath: 'x' } } }, 'subject.endpoint.resourcePath'],
    ['not an object', 'hello', '(root)'],
  ];
  it.each(cases)('%s', (_name, input, badField) => {
    const result = parseAlert(input);
    if (badField === null) expect(result).toMatchObject({ ok: true });
    else {
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.errors.map((e) => e.field)).toContain(badField);
    }
  });

  it('never throws on arbitrary JSON, and reports at least one field error when it refuses', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const r = parseAlert(value);
        return r.ok || r.errors.length > 0;
      }),
      { numRuns: 2000 },
    );
  });
});

describe('fingerprint', () => {
  it('ignores key order, severity, time and details', () => {
    const a = fingerprint({ source: 's', type: 'endpoint.abuse', subject: { endpoint: { restApiId: 'a', stage: 'p' } } });
    const b = fingerprint({ subject: { endpoint: { stage: 'p', restApiId: 'a' } }, type: 'endpoint.abuse', source: 's' } as never);
    expect(a).toBe(b);
    expect(a).toMatch(/^[0-9a-f]{24}$/);
  });
  it.each([
    ['source', { source: 'other' }],
    ['type', { type: 'endpoint.abuse' }],
    ['subject', { subject: { clientId: 'b' } }],
  ])('changes with %s', (_n, change) => {
    const a = { source: 's', type: 'credential.compromised' as const, subject: { clientId: 'a' } };
    expect(fingerprint({ ...a, ...change } as never)).not.toBe(fingerprint(a));
  });
  it('uses dedupKey alone when given', () => {
    expect(fingerprint({ source: 'x', type: 'credential.compromised', subject: { clientId: 'a' }, dedupKey: 'k' })).toBe(
      fingerprint({ source: 'y', type: 'endpoint.abuse', subject: {}, dedupKey: 'k' }),
    );
  });
  it('canonical JSON sorts keys at every depth and drops undefined', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { z: 1, y: undefined }], c: null } })).toBe('{"a":{"c":null,"d":[2,{"z":1}]},"b":1}');
  });
  it('accepts bare fingerprints as incident ids', () => {
    expect(normaliseIncidentId('abc')).toBe('incident-abc');
    expect(normaliseIncidentId('incident-abc')).toBe('incident-abc');
  });
});

describe('webhook signature', () => {
  const secret = 'a-long-enough-secret';
  const body = Buffer.from('{"x":1}');
  const now = 1_800_000_000;
  const good = sign(secret, now, body);
  const cases: [string, { ts?: string; sig?: string; now?: number; body?: Buffer }, string][] = [
    ['a valid signature', {}, 'ok'],
    ['no timestamp', { ts: undefined }, 'missing'],
    ['no signature', { sig: undefined }, 'missing'],
    ['a non-numeric timestamp', { ts: 'soon' }, 'malformed'],
    ['a signature without v1=', { sig: good.slice(3) }, 'malformed'],
    ['a timestamp 301 s old', { now: now + 301 }, 'stale'],
    ['a timestamp 301 s in the future', { now: now - 301 }, 'stale'],
    ['a timestamp 300 s old', { now: now + 300 }, 'ok'],
    ['a changed body', { body: Buffer.from('{"x":2}') }, 'mismatch'],
    ['another secret', { sig: sign('another-secret-value', now, body) }, 'mismatch'],
  ];
  it.each(cases)('%s', (_n, c, expected) => {
    const result = verifySignature({
      secret,
      timestampHeader: 'ts' in c ? c.ts : String(now),
      signatureHeader: 'sig' in c ? c.sig : good,
      rawBody: c.body ?? body,
      nowSeconds: c.now ?? now,
    });
    expect(result.ok ? 'ok' : result.reason).toBe(expected);
  });
});

describe('error classification', () => {
  it.each([
    [{ name: 'ThrottlingException', httpStatus: 400 }, 'retryable'],
    [{ name: 'TooManyRequestsException', httpStatus: 429 }, 'retryable'],
    [{ name: 'InternalFailure', httpStatus: 500 }, 'retryable'],
    [{ name: 'SomethingNew', httpStatus: 503 }, 'retryable'],
    [{ code: 'ECONNREFUSED' }, 'retryable'],
    [{ name: 'Error' }, 'retryable'],
    [{ name: 'NotFoundException', httpStatus: 404 }, 'fatal'],
    [{ name: 'ResourceNotFoundException', httpStatus: 400 }, 'fatal'],
    [{ name: 'AccessDeniedException', httpStatus: 403 }, 'fatal'],
    [{ name: 'SomethingNew', httpStatus: 400 }, 'fatal'],
  ] as const)('%j is %s', (facts, expected) => {
    expect(classifyError(facts)).toBe(expected);
  });
});

describe('legacy plan (incidents started before playbooks were data)', () => {
  const alert = (over: object) => parseAlert({ ...base, ...over });
  it.each([
    ['critical credential alert with client', { severity: 'critical' }, ['disable-api-keys', 'rotate-secret'], undefined],
    ['medium credential alert gates the first step', { severity: 'medium' }, ['disable-api-keys', 'rotate-secret'], 'contain'],
    ['only an API key: no rotation', { subject: { apiKeyId: 'k1' } }, ['disable-api-keys'], undefined],
    ['only a secret: no key step', { subject: { secretId: 's1' } }, ['rotate-secret'], undefined],
    ['abuse throttles', { type: 'endpoint.abuse', subject: { endpoint: { restApiId: 'a', stage: 'prod' } } }, ['throttle-endpoint'], undefined],
    ['low abuse is gated', { type: 'endpoint.abuse', severity: 'low', subject: { endpoint: { restApiId: 'a', stage: 'prod' } } }, ['throttle-endpoint'], 'contain'],
  ])('%s', (_n, over, steps, gate) => {
    const a = alert(over);
    if (!a.ok) throw new Error(JSON.stringify(a.errors));
    const plan = legacyPlanFor(a.value);
    expect(plan.steps.map((s) => s.id)).toEqual(steps);
    expect(plan.steps[0]!.gate).toBe(gate);
  });
  it('throttling is the only reversible step and carries the configured TTL', () => {
    const a = alert({ type: 'endpoint.abuse', subject: { endpoint: { restApiId: 'a', stage: 'prod' } } });
    if (!a.ok) throw new Error();
    const [step] = legacyPlanFor(a.value, { ...DEFAULT_PLAYBOOK_SETTINGS, throttleTtlSeconds: 99 }).steps;
    expect(step).toMatchObject({ reversible: true, action: 'apigateway.throttle', with: { ttl: '99s', ...DEFAULT_PLAYBOOK_SETTINGS.throttle } });
  });
  it.each([
    ['low', true],
    ['medium', true],
    ['high', false],
    ['critical', false],
  ] as const)('%s severity gated: %s', (s, g) => expect(severityBelow(s, 'high')).toBe(g));
});

describe('incident state under alert storms', () => {
  it('counts every alert but keeps the timeline bounded', () => {
    const a = parseAlert(base);
    if (!a.ok) throw new Error();
    const input = { incidentId: 'i', fingerprint: 'f', alert: a.value, openedBy: 't', defaults: DEFAULT_PLAYBOOK_SETTINGS };
    const state = initialState(input, legacyPlanFor(a.value), 'now');
    for (let i = 0; i < 1000; i++) {
      applyDelivery(state, { count: 5, firstReceivedAt: 'x', lastReceivedAt: 'y', highestSeverity: i === 500 ? 'critical' : 'low', sources: ['s'] }, 't');
    }
    expect(state.alertCount).toBe(5000);
    expect(state.deliveries).toBe(1000);
    expect(state.severity).toBe('critical');
    expect(state.timeline.filter((e) => e.kind === 'alert.repeated')).toHaveLength(MAX_REPEAT_ENTRIES);
  });
});

describe('durations', () => {
  it.each([
    ['90s', 90],
    ['30m', 1800],
    ['2h', 7200],
    ['1d', 86400],
    ['45', 45],
  ])('%s = %i s', (t, s) => expect(parseDurationSeconds(t)).toBe(s));
  it.each(['', '1w', '-5m', 'soon'])('refuses %j', (t) => expect(() => parseDurationSeconds(t)).toThrow(/expected a duration/));
});

describe('config', () => {
  it('defaults to the embedded stack', () => {
    const c = loadConfig({});
    expect(c.temporal).toMatchObject({ address: '127.0.0.1:7233', namespace: 'default', taskQueue: 'bulwark' });
    expect(c.intake.port).toBe(8787);
    expect(c.aws.endpoint).toBeUndefined();
  });
  it('takes environment overrides', () => {
    const c = loadConfig({ TEMPORAL_ADDRESS: 'temporal.example:7233', AWS_ENDPOINT_URL: 'http://127.0.0.1:4566', BULWARK_INTAKE_PORT: '9000', TEMPORAL_TLS: 'true' });
    expect(c.temporal.address).toBe('temporal.example:7233');
    expect(c.temporal.tls.enabled).toBe(true);
    expect(c.intake.port).toBe(9000);
  });
  it('names every bad field, by its environment variable', () => {
    try {
      loadConfig({ TEMPORAL_ADDRESS: 'no-port', BULWARK_INTAKE_PORT: '70000', AWS_REGION: 'mars', BULWARK_WEBHOOK_SECRET: 'short' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const fields = (err as ConfigError).problems.map((p) => p.field);
      expect(fields).toEqual(
        expect.arrayContaining([
          'TEMPORAL_ADDRESS (temporal.address)',
          'BULWARK_INTAKE_PORT (intake.port)',
          'AWS_REGION (aws.region)',
          'BULWARK_WEBHOOK_SECRET (intake.webhookSecret)',
        ]),
      );
      expect((err as Error).message).not.toContain('short');
    }
  });
});
