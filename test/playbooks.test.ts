import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseAlert, type Alert } from '../domain/alert.js';
import { DEFAULT_PLAYBOOK_SETTINGS } from '../domain/playbook.js';
import { evaluate, parseCondition } from '../domain/playbooks/condition.js';
import { formatPlaybookError, parsePlaybook } from '../domain/playbooks/load.js';
import { planFromPlaybook, settingsFrom } from '../domain/playbooks/plan.js';
import { routingTies } from '../domain/playbooks/route.js';
import { resolveTemplates } from '../domain/playbooks/template.js';
import { loadPlaybooks, PlaybookCatalog, playbookFiles, SHIPPED_PLAYBOOKS_DIR } from '../intake/playbook-catalog.js';

const alertOf = (over: Record<string, unknown>): Alert => {
  const r = parseAlert({ source: 'test', type: 'credential.compromised', severity: 'high', observedAt: '2026-11-26T10:00:00Z', subject: { clientId: 'acme' }, ...over });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.value;
};

const minimal = (steps: string, extra = '') => `id: p1
version: 1
title: test
match:
  types: [credential.compromised]
${extra}steps:
${steps}`;

describe('playbook loading: errors point at file, line and field', () => {
  it.each([
    [
      'a string where a number belongs',
      minimal(`  - id: t
    action: apigateway.throttle
    with:
      endpoint: { restApiId: a, stage: prod }
      rateLimit: lots
      burstLimit: 5
      ttl: 30m
`),
      'x.yaml:11 steps[0].with.rateLimit: expected number, received string',
    ],
    ['an unknown action', minimal(`  - id: t\n    action: apigateway.nuke\n`), 'x.yaml:8 steps[0].action: unknown action "apigateway.nuke"'],
    ['an action not yet available', minimal(`  - id: t\n    action: slack.notify\n    with: { message: hi }\n`), 'steps[0].action: slack.notify is not yet available'],
    ['a destructive step without approval', minimal(`  - id: t\n    action: iam.deleteAccessKey\n    with:\n      accessKeyId: "\${alert.subject.awsAccessKeyId}"\n`), 'x.yaml:7 steps[0].approval: iam.deleteAccessKey is irreversible and destructive'],
    ['duplicate step ids', minimal(`  - id: t\n    action: wait\n    with: { duration: 1s }\n  - id: t\n    action: wait\n    with: { duration: 1s }\n`), 'x.yaml:10 steps[1].id: duplicate step id "t"'],
    ['a condition on a later step', minimal(`  - id: a\n    action: wait\n    when: steps.b.status == succeeded\n    with: { duration: 1s }\n  - id: b\n    action: wait\n    with: { duration: 1s }\n`), 'steps[0].when: steps.b must be a step that runs before this one'],
    ['an unparsable condition', minimal(`  - id: a\n    action: wait\n    when: "alert.severity in high"\n    with: { duration: 1s }\n`), 'x.yaml:9 steps[0].when: cannot parse condition: expected "["'],
    ['an undeclared input', minimal(`  - id: a\n    action: secrets.rotate\n    with:\n      secretId: "\${inputs.nope}"\n`), 'steps[0].with: inputs.nope is not declared under inputs'],
    ['an unknown field', minimal(`  - id: a\n    action: wait\n    with: { duration: 1s }\n    retries: 3\n`), "steps[0]: Unrecognized key: \"retries\""],
    ['a bad duration', minimal(`  - id: a\n    action: wait\n    with: { duration: soon }\n`), 'x.yaml:9 steps[0].with.duration: expected a duration like 90s'],
    ['a missing version', `id: p1\ntitle: t\nmatch: {}\nsteps:\n  - id: a\n    action: wait\n    with: { duration: 1s }\n`, 'x.yaml:1 version: expected number, received undefined'],
    ['invalid YAML', `id: p1\nversion: 1\n  title: : t\n`, 'x.yaml:3 (yaml): Nested mappings are not allowed'],
    ['a misspelt severity in match', minimal(`  - id: a\n    action: wait\n    with: { duration: 1s }\n`).replace('types: [credential.compromised]', 'severities: [hgih]'), 'x.yaml:5 match.severities[0]'],
  ])('%s', (_name, text, expected) => {
    const r = parsePlaybook(text, 'x.yaml');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors.map(formatPlaybookError).join('\n')).toContain(expected);
  });

  it('accepts every shipped playbook, and the set has no routing ties', () => {
    const { loaded, errors } = loadPlaybooks(playbookFiles(SHIPPED_PLAYBOOKS_DIR));
    expect(errors).toEqual([]);
    expect(loaded.map((p) => p.doc.id).sort()).toEqual(['aws-credential-compromise', 'certificate-compromise', 'credential-compromise', 'endpoint-abuse', 'intel-block', 'key-exposure', 'posture-unprotected-endpoint', 'tpp-offboarding']);
  });

  it('the promoted certificate-compromise playbook re-issues the certificate the alert names', () => {
    const { loaded, errors } = loadPlaybooks(playbookFiles(join(SHIPPED_PLAYBOOKS_DIR, 'certificate-compromise.yaml')));
    expect(errors).toEqual([]);
    const plan = planFromPlaybook(loaded[0]!.doc, alertOf({ type: 'certificate.compromised', subject: { certificateArn: 'api-gateway-mtls' } }), settingsFrom(DEFAULT_PLAYBOOK_SETTINGS));
    expect(plan.steps.map((s) => [s.id, s.action, s.with])).toEqual([
      ['replace-certificate', 'certificates.rotate', { certificate: 'api-gateway-mtls', reason: 'keyCompromise' }],
      ['tell-operators', 'notify.operators', { message: expect.stringContaining('api-gateway-mtls') }],
    ]);
  });

  it('never throws on arbitrary text (returns errors instead)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (text) => {
        const r = parsePlaybook(text, 'f.yaml');
        expect(typeof r.ok).toBe('boolean');
      }),
      { numRuns: 300 },
    );
  });
});

describe('conditions', () => {
  const ctx = { alert: { severity: 'high', subject: { clientId: 'c' } }, inputs: { secretId: '', n: 3 }, steps: { a: { status: 'succeeded', output: { keys: [1, 2] } } } };
  it.each([
    ['inputs.n', true],
    ['inputs.secretId', false],
    ['inputs.missing', false],
    ['not inputs.secretId', true],
    ['alert.severity in [high, critical]', true],
    ['alert.severity in [low]', false],
    ['alert.severity == high and steps.a.status == succeeded', true],
    ['steps.a.output.keys > 1', true],
    ['steps.a.output.keys >= 3', false],
    ['inputs.secretId or alert.subject.clientId', true],
    ['(inputs.secretId or inputs.n) and not steps.a.status != succeeded', true],
    ["alert.subject.clientId == 'c'", true],
    ['inputs.n < 2', false],
  ])('%s → %s', (text, expected) => expect(evaluate(parseCondition(text), ctx)).toBe(expected));

  it.each(['', 'and', 'a ==', 'inputs.x in [a', 'inputs.x == (b', 'inputs.x $ 3'])('refuses %j', (text) => {
    expect(() => parseCondition(text)).toThrow();
  });
});

describe('templates', () => {
  const ctx = { alert: { subject: { clientId: 'acme', endpoint: { restApiId: 'r', stage: 'prod' } } }, inputs: { rate: 5 } };
  it.each([
    ['${alert.subject.clientId}', 'acme'],
    ['${alert.subject.endpoint}', { restApiId: 'r', stage: 'prod' }],
    ['${inputs.rate}', 5],
    ['client ${alert.subject.clientId} at ${inputs.rate} rps', 'client acme at 5 rps'],
    ['${alert.subject.missing}', undefined],
    ['x ${alert.subject.missing}', undefined],
    ['plain', 'plain'],
  ])('%s', (t, expected) => expect(resolveTemplates(t, ctx)).toEqual(expected));

  it('defers references to roots it is not asked to resolve', () => {
    expect(resolveTemplates({ a: '${steps.x.output}', b: '${inputs.rate}' }, ctx, ['inputs'])).toEqual({ a: '${steps.x.output}', b: 5 });
  });
});

describe('routing', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-route-'));
  const write = (name: string, match: string) =>
    writeFileSync(join(dir, `${name}.yaml`), `id: ${name}\nversion: 1\ntitle: ${name}\nmatch:\n${match}\nsteps:\n  - id: n\n    action: notify.operators\n    with: { message: ${name} }\n`);
  write('generic', '  types: [credential.compromised]');
  write('from-guardduty', '  types: [credential.compromised]\n  sources: [guardduty]');
  write('acme-critical', '  types: [credential.compromised]\n  severities: [critical]\n  subject: { clientId: acme }');
  const { catalog, result } = PlaybookCatalog.fromDir(dir);

  it('loads without ties', () => expect(result.errors).toEqual([]));
  it.each([
    [{}, 'generic'],
    [{ source: 'guardduty' }, 'from-guardduty'],
    [{ severity: 'critical', subject: { clientId: 'birch' } }, 'generic'],
    [{ severity: 'critical', subject: { clientId: 'acme' } }, 'acme-critical'],
    [{ type: 'endpoint.abuse', subject: { endpoint: { restApiId: 'a', stage: 'b' } } }, 'triage'],
  ])('%j → %s', (over, expected) => {
    expect(catalog.plan(alertOf(over), DEFAULT_PLAYBOOK_SETTINGS).plan.playbook).toBe(expected);
  });

  it('reports ties between equally specific overlapping playbooks, and not disjoint ones', () => {
    const doc = (id: string, match: object) => ({ id, version: 1, title: id, match, inputs: {}, steps: [] }) as never;
    expect(routingTies([doc('a', { types: ['x.y'] }), doc('b', { types: ['x.y', 'z.w'] })])).toEqual([['a', 'b']]);
    expect(routingTies([doc('a', { types: ['x.y'] }), doc('b', { types: ['z.w'] })])).toEqual([]);
    expect(routingTies([doc('a', { subject: { clientId: 'p' } }), doc('b', { subject: { clientId: 'q' } })])).toEqual([]);
    expect(routingTies([doc('a', { sources: ['alertmanager:*'] }), doc('b', { sources: ['alertmanager:prod'] })])).toEqual([['a', 'b']]);
  });
});

describe('plans from the shipped playbooks', () => {
  const { catalog } = PlaybookCatalog.fromDir(SHIPPED_PLAYBOOKS_DIR);
  const plan = (over: Record<string, unknown>) => catalog.plan(alertOf(over), DEFAULT_PLAYBOOK_SETTINGS).plan;

  it('credential compromise: both steps, parameters resolved from the alert, gate only below high', () => {
    const p = plan({ severity: 'medium', subject: { clientId: 'acme' } });
    expect(p).toMatchObject({ playbook: 'credential-compromise', version: 2, operatorBelow: 'high' });
    expect(p.steps.map((s) => [s.id, s.action, s.gate, s.effect])).toEqual([
      ['disable-api-keys', 'apigateway.disableApiKey', 'contain', 'containment'],
      ['rotate-secret', 'secrets.rotate', undefined, 'containment'],
      ['revoke-consents', 'consents.revoke', undefined, 'containment'],
    ]);
    expect(p.steps[0]!.with).toEqual({ clientId: 'acme' });
  });

  it('endpoint abuse reads the configured throttle defaults through ${settings.…}', () => {
    const p = catalog.plan(alertOf({ type: 'endpoint.abuse', subject: { endpoint: { restApiId: 'r', stage: 'prod' } } }), { throttle: { rateLimit: 7, burstLimit: 3 }, throttleTtlSeconds: 60 }).plan;
    expect(p.steps[0]).toMatchObject({ reversible: true, with: { endpoint: { restApiId: 'r', stage: 'prod' }, rateLimit: 7, burstLimit: 3, ttl: '60s' } });
  });

  it('key exposure runs its two rotations as one parallel group, then re-encrypts what the key protects', () => {
    const p = plan({ type: 'key.exposed', subject: { kmsKeyId: 'k', secretId: 's' } });
    expect(p.steps.map((s) => [s.id, s.group])).toEqual([['rotate-kms-key', 0], ['rotate-signing-secret', 0], ['reencrypt-secrets', 1], ['tell-operators', 2]]);
  });

  it('marks parameters that cannot work as invalid at plan time', () => {
    const { doc } = (parsePlaybook(minimal(`  - id: t\n    action: apigateway.disableApiKey\n    with:\n      apiKeyId: "\${alert.subject.apiKeyId}"\n`), 'x.yaml') as unknown as { ok: true; playbook: { doc: never } }).playbook;
    const p = planFromPlaybook(doc, alertOf({ subject: { clientId: 'c' } }), settingsFrom(DEFAULT_PLAYBOOK_SETTINGS));
    expect(p.steps[0]!.invalid).toBe('needs apiKeyId or clientId');
  });

  it('an unmatched alert gets the triage plan, which only notifies', () => {
    const r = catalog.plan(alertOf({ type: 'anomaly.detected', subject: {} }), DEFAULT_PLAYBOOK_SETTINGS);
    expect(r.routing).toBe('no playbook matches anomaly.detected');
    expect(r.plan.steps.map((s) => s.action)).toEqual(['notify.operators']);
  });
});

describe('catalog reload', () => {
  it('keeps the previous valid version of a file whose new version is broken', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bulwark-reload-'));
    const file = join(dir, 'p.yaml');
    writeFileSync(file, minimal(`  - id: a\n    action: wait\n    with: { duration: 1s }\n`));
    const { catalog } = PlaybookCatalog.fromDir(dir);
    expect(catalog.playbooks.map((p) => p.doc.version)).toEqual([1]);
    writeFileSync(file, minimal(`  - id: a\n    action: wait\n    with: { duration: 1s }\n`).replace('version: 1', 'version: 2').replace('duration: 1s', 'duration: later'));
    const r = catalog.reload();
    expect(r.errors.map(formatPlaybookError).join()).toMatch(/p\.yaml:\d+ steps\[0\]\.with\.duration/);
    expect(r.kept).toHaveLength(1);
    expect(catalog.playbooks.map((p) => p.doc.version)).toEqual([1]);
    writeFileSync(file, minimal(`  - id: a\n    action: wait\n    with: { duration: 2s }\n`).replace('version: 1', 'version: 2'));
    expect(catalog.reload().errors).toEqual([]);
    expect(catalog.playbooks.map((p) => p.doc.version)).toEqual([2]);
  });
});

describe('approval policies (pure)', async () => {
  const { approvalRefusal, resolvePolicy, ApprovalsFile } = await import('../domain/approval.js');
  const file = ApprovalsFile.parse({
    groups: { a: ['alice', 'group:b'], b: ['bob', 'group:a'] },
    policies: { p: { approvers: ['group:a'], required: 2, onExpiry: 'proceed' } },
  });
  it('expands nested groups once, and honours proceed only for containment steps', () => {
    expect(resolvePolicy(file, 'p', 'containment')).toMatchObject({ approvers: ['alice', 'bob'], required: 2, expirySeconds: 900, onExpiry: 'proceed' });
    expect(resolvePolicy(file, 'p', 'destructive').onExpiry).toBe('reject');
    expect(resolvePolicy(file, 'missing', 'containment')).toMatchObject({ undefinedPolicy: true, approvers: [], required: 1, onExpiry: 'reject' });
  });
  const policy = resolvePolicy(file, 'p', 'containment');
  it.each([
    ['an approver', { by: 'alice' }, undefined],
    ['the opener', { by: 'alice', opener: 'operator:alice' }, /four-eyes/],
    ['an outsider', { by: 'mallory' }, /not an approver/],
    ['the same person twice', { by: 'bob', approvals: [{ by: 'bob', at: 'x' }] }, /already approved/],
    ['after expiry', { by: 'bob', expiresAt: '2026-01-01T00:00:00Z' }, /window closed/],
  ] as const)('%s', (_n, over, expected) => {
    const r = approvalRefusal({ policy, opener: 'alert:guardduty', approvals: [], now: Date.parse('2026-06-01T00:00:00Z'), ...over } as never);
    if (expected) expect(r).toMatch(expected);
    else expect(r).toBeUndefined();
  });
});
