import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  CreateAuthorizerCommand,
  CreateDeploymentCommand,
  CreateResourceCommand,
  CreateRestApiCommand,
  CreateUsagePlanCommand,
  GetResourcesCommand,
  GetStageCommand,
  PutIntegrationCommand,
  PutMethodCommand,
  UpdateStageCommand,
} from '@aws-sdk/client-api-gateway';
import { CreateBucketCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { AssociateWebACLCommand, CreateWebACLCommand, DisassociateWebACLCommand, WAFV2Client } from '@aws-sdk/client-wafv2';
import { APIGatewayClient } from '@aws-sdk/client-api-gateway';
import { ApplicationFailure } from '@temporalio/common';
import { createServer, type Server } from 'node:http';
import { createInventoryActivities } from '../activities/inventory.js';
import { CreateApiCommand, CreateAuthorizerCommand as CreateHttpAuthorizerCommand, CreateRouteCommand, CreateStageCommand } from '@aws-sdk/client-apigatewayv2';
import { parseRouteKey } from '../activities/inventory-http.js';
import { parseAlert } from '../domain/alert.js';
import { fingerprint, incidentWorkflowId } from '../domain/fingerprint.js';
import { compareInventory, diffScans, findingAlerts, findingDedupKey, type Finding } from '../domain/posture/compare.js';
import { parseDeclaredInventory, type DeclaredInventory } from '../domain/posture/declared.js';
import { endpointKey, type Protections, type Scan, type ScannedEndpoint } from '../domain/posture/inventory.js';
import { renderInventoryHtml } from '../domain/posture/report.js';
import { startIntake, type RunningIntake } from '../intake/app.js';
import { createLogger } from '../telemetry/logger.js';
import { approveUpdate } from '../workflows/definitions.js';
import type { PostureScanResult } from '../workflows/posture.js';
import { runCli, startHarness, testConfig, uniqueId, waitForState, type Harness } from './support.js';

// ---------------------------------------------------------------------------------------------
// Pure: declared file, comparison, diff, alerts (tables)

const NONE_PROTECTIONS: Protections = {
  authorization: 'NONE',
  apiKeyRequired: false,
  throttling: { usagePlans: [] },
  usagePlans: [],
  usagePlanKeys: 0,
  waf: { status: 'none' },
  logging: { accessLogs: false, executionLogLevel: 'OFF' },
};

function ep(method: string, path: string, p: Partial<Protections> = {}, api = 'bank', stage = 'prod'): ScannedEndpoint {
  return { key: endpointKey({ apiName: api, stage, method, path }), restApiId: 'abc123', apiName: api, stage, method: method as 'GET', path, protections: { ...NONE_PROTECTIONS, ...p } };
}
const scanOf = (endpoints: ScannedEndpoint[], at = '2026-11-26T06:00:00.000Z'): Scan => ({ scannedAt: at, region: 'eu-west-1', apis: [], endpoints, skipped: [], stats: { apiCalls: 0, durationMs: 0 } });
function declaredOf(yaml: string): DeclaredInventory {
  const r = parseDeclaredInventory(yaml, 'inv.yaml');
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.inventory;
}
const AUTHED: Partial<Protections> = { authorization: 'CUSTOM', authorizer: { id: 'a1', name: 'jwt' } };
const THROTTLED: Partial<Protections> = { throttling: { stage: { rateLimit: 50, burstLimit: 100 }, usagePlans: [] } };

describe('declared inventory file', () => {
  const cases: { name: string; yaml: string; line?: number; field?: string; message?: RegExp; endpoints?: number }[] = [
    { name: 'valid with defaults', yaml: 'version: 1\ndefaults: { api: bank, stage: prod }\nendpoints:\n  - { method: get, path: /a, owner: t, classification: public }\n', endpoints: 1 },
    { name: 'unknown classification', yaml: 'version: 1\ndefaults: { api: bank, stage: prod }\nendpoints:\n  - method: GET\n    path: /a\n    owner: t\n    classification: secret\n', line: 7, field: 'endpoints[0].classification', message: /payment/ },
    { name: 'bad method', yaml: 'version: 1\ndefaults: { api: bank, stage: prod }\nendpoints:\n  - method: FETCH\n    path: /a\n    owner: t\n    classification: public\n', line: 4, field: 'endpoints[0].method' },
    { name: 'path without slash', yaml: 'version: 1\ndefaults: { api: bank, stage: prod }\nendpoints:\n  - method: GET\n    path: a\n    owner: t\n    classification: public\n', line: 5, field: 'endpoints[0].path', message: /starting with \// },
    { name: 'no api anywhere', yaml: 'version: 1\nendpoints:\n  - method: GET\n    path: /a\n    stage: prod\n    owner: t\n    classification: public\n', line: 3, field: 'endpoints[0].api', message: /defaults\.api/ },
    { name: 'duplicate endpoint', yaml: 'version: 1\ndefaults: { api: bank, stage: prod }\nendpoints:\n  - { method: GET, path: /a, owner: t, classification: public }\n  - { method: get, path: /a, owner: u, classification: public }\n', line: 5, field: 'endpoints[1]', message: /duplicate of endpoints\[0\]/ },
    { name: 'unknown field (typo)', yaml: 'version: 1\ndefaults: { api: bank, stage: prod }\nendpoints:\n  - { method: GET, path: /a, ownr: t, classification: public }\n', field: 'endpoints[0]' },
    { name: 'wrong version', yaml: 'version: 2\nendpoints: []\n', line: 1, field: 'version' },
    { name: 'YAML syntax', yaml: 'version: 1\nendpoints: [\n', field: '(yaml)' },
  ];
  it.each(cases)('$name', (c) => {
    const r = parseDeclaredInventory(c.yaml, 'inv.yaml');
    if (c.endpoints !== undefined) {
      expect(r.ok).toBe(true);
      if (r.ok) expect(r.inventory.endpoints).toHaveLength(c.endpoints);
      return;
    }
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const e = r.errors.find((x) => !c.field || x.field.startsWith(c.field));
    expect(e, JSON.stringify(r.errors)).toBeDefined();
    if (c.line) expect(e!.line).toBe(c.line);
    if (c.message) expect(e!.message).toMatch(c.message);
    expect(e!.file).toBe('inv.yaml');
  });

  it('never throws on arbitrary text (it answers ok or with located errors)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (text) => {
        const r = parseDeclaredInventory(text, 'x.yaml');
        if (!r.ok) expect(r.errors.every((e) => e.line >= 1 && e.file === 'x.yaml')).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('the shipped inventory.yaml loads and matches the dev stack seed', () => {
    const r = parseDeclaredInventory(readFileSync('inventory.yaml', 'utf8'), 'inventory.yaml');
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.inventory.endpoints.map((e) => e.key)).toEqual(['open-banking-demo/prod POST /payments']);
  });
});

describe('compareInventory', () => {
  const declared = declaredOf(`version: 1
defaults: { api: bank, stage: prod }
endpoints:
  - { method: POST, path: /payments, owner: pay, classification: payment }
  - { method: GET, path: /accounts, owner: acc, classification: account-data }
  - { method: GET, path: /status, owner: ops, classification: public }
  - { method: GET, path: /consents, owner: con, classification: account-data }
`);
  const cases: { name: string; endpoints: ScannedEndpoint[]; want: [Finding['kind'], string, Finding['severity'], string[]?][] }[] = [
    {
      name: 'all declared, protected, deployed except consents',
      endpoints: [ep('POST', '/payments', { ...AUTHED, ...THROTTLED }), ep('GET', '/accounts', { apiKeyRequired: true, ...THROTTLED }), ep('GET', '/status')],
      want: [['missing-endpoint', 'bank/prod GET /consents', 'low']],
    },
    {
      name: 'public endpoint without auth is fine; payment without either is critical',
      endpoints: [ep('POST', '/payments'), ep('GET', '/accounts', { ...AUTHED, ...THROTTLED }), ep('GET', '/status'), ep('GET', '/consents', { ...AUTHED, ...THROTTLED })],
      want: [['unprotected-endpoint', 'bank/prod POST /payments', 'critical', ['no authentication', 'no throttling']]],
    },
    {
      name: 'account data with auth but no throttling is high',
      endpoints: [ep('POST', '/payments', { ...AUTHED, ...THROTTLED }), ep('GET', '/accounts', AUTHED), ep('GET', '/status'), ep('GET', '/consents', { ...AUTHED, ...THROTTLED })],
      want: [['unprotected-endpoint', 'bank/prod GET /accounts', 'high', ['no throttling']]],
    },
    {
      name: 'usage-plan throttle counts for an API-key method',
      endpoints: [ep('POST', '/payments', { apiKeyRequired: true, throttling: { usagePlans: [{ plan: 'std', rateLimit: 5, burstLimit: 5 }] } }), ep('GET', '/accounts', { ...AUTHED, ...THROTTLED }), ep('GET', '/status'), ep('GET', '/consents', { ...AUTHED, ...THROTTLED })],
      want: [],
    },
    {
      name: 'undeclared endpoints are shadow; open ones are high',
      endpoints: [ep('POST', '/payments', { ...AUTHED, ...THROTTLED }), ep('GET', '/accounts', { ...AUTHED, ...THROTTLED }), ep('GET', '/status'), ep('GET', '/consents', { ...AUTHED, ...THROTTLED }), ep('GET', '/debug'), ep('DELETE', '/admin', AUTHED)],
      want: [
        ['shadow-endpoint', 'bank/prod DELETE /admin', 'medium'],
        ['shadow-endpoint', 'bank/prod GET /debug', 'high', ['not in the declared inventory', 'no authentication', 'no throttling']],
      ],
    },
    {
      name: 'other stages are shadow too (identity includes the stage)',
      endpoints: [ep('POST', '/payments', { ...AUTHED, ...THROTTLED }), ep('GET', '/accounts', { ...AUTHED, ...THROTTLED }), ep('GET', '/status'), ep('GET', '/consents', { ...AUTHED, ...THROTTLED }), ep('GET', '/status', {}, 'bank', 'test')],
      want: [['shadow-endpoint', 'bank/test GET /status', 'high']],
    },
  ];
  it.each(cases)('$name', (c) => {
    const got = compareInventory(scanOf(c.endpoints), declared);
    expect(got.map((f) => [f.kind, f.key, f.severity])).toEqual(c.want.map(([k, key, s]) => [k, key, s]));
    c.want.forEach(([, , , problems], i) => problems && expect(got[i]!.problems).toEqual(problems));
  });

  it('scope.apis limits shadow detection to the named APIs', () => {
    const scoped = declaredOf('version: 1\nscope: { apis: [bank] }\ndefaults: { api: bank, stage: prod }\nendpoints: []\n');
    expect(compareInventory(scanOf([ep('GET', '/x', {}, 'other'), ep('GET', '/y')]), scoped).map((f) => f.key)).toEqual(['bank/prod GET /y']);
  });

  it('without a declared inventory there are no declared-vs-deployed findings', () => {
    expect(compareInventory(scanOf([ep('GET', '/debug')]), undefined)).toEqual([]);
  });
});

describe('diffScans', () => {
  const before = scanOf([ep('GET', '/a', { ...AUTHED, ...THROTTLED, waf: { status: 'associated', webAclArn: 'arn:x' } }), ep('GET', '/b', AUTHED), ep('GET', '/gone')], '2026-11-25T06:00:00.000Z');
  const cases: { name: string; after: ScannedEndpoint[]; want: Partial<ReturnType<typeof diffScans>> }[] = [
    { name: 'no change', after: before.endpoints, want: { newEndpoints: [], removedEndpoints: [], removedProtections: [], addedProtections: [] } },
    { name: 'new and removed endpoints', after: [...before.endpoints.slice(0, 2), ep('POST', '/new')], want: { newEndpoints: ['bank/prod POST /new'], removedEndpoints: ['bank/prod GET /gone'] } },
    { name: 'auth and waf lost', after: [ep('GET', '/a', THROTTLED), ...before.endpoints.slice(1)], want: { removedProtections: [{ key: 'bank/prod GET /a', lost: ['auth', 'waf'] }] } },
    { name: 'waf unknown is not "removed"', after: [ep('GET', '/a', { ...AUTHED, ...THROTTLED, waf: { status: 'unknown', reason: 'x' } }), ...before.endpoints.slice(1)], want: { removedProtections: [] } },
    { name: 'throttling gained', after: [before.endpoints[0]!, ep('GET', '/b', { ...AUTHED, ...THROTTLED }), before.endpoints[2]!], want: { addedProtections: [{ key: 'bank/prod GET /b', gained: ['throttling'] }] } },
  ];
  it.each(cases)('$name', (c) => {
    const d = diffScans(before, scanOf(c.after));
    expect(d.previousScannedAt).toBe(before.scannedAt);
    expect(d).toMatchObject(c.want);
  });

  it('a first scan (no previous) reports nothing as new', () => {
    expect(diffScans(undefined, before)).toMatchObject({ newEndpoints: [], removedEndpoints: [], removedProtections: [] });
  });

  it('a lost protection becomes a protection-removed finding', () => {
    const after = scanOf([ep('GET', '/a', THROTTLED), ...before.endpoints.slice(1)]);
    const f = compareInventory(after, undefined, diffScans(before, after));
    expect(f.map((x) => [x.kind, x.key, x.problems])).toEqual([['protection-removed', 'bank/prod GET /a', ['lost: auth', 'lost: waf']]]);
  });
});

describe('finding alerts', () => {
  const finding: Finding = { kind: 'shadow-endpoint', severity: 'high', key: 'bank/prod GET /debug', endpoint: { apiName: 'bank', stage: 'prod', method: 'GET', path: '/debug', restApiId: 'abc123' }, problems: ['x'], message: 'm' };
  it('are valid v1 alerts with a dedupKey that ignores severity, time, problems and the diff', () => {
    const a = findingAlerts([finding], { observedAt: '2026-11-25T06:00:00Z' })[0]!;
    const b = findingAlerts([{ ...finding, severity: 'medium', problems: ['y'] }], { observedAt: '2026-11-26T06:00:00Z', diff: diffScans(undefined, scanOf([])) })[0]!;
    expect(parseAlert(a).ok && parseAlert(b).ok).toBe(true);
    expect(a.type).toBe('posture.shadow-endpoint');
    expect(a.subject.endpoint).toEqual({ restApiId: 'abc123', stage: 'prod', resourcePath: '/debug', httpMethod: 'GET' });
    expect(fingerprint(a)).toBe(fingerprint(b));
    expect(fingerprint(a)).not.toBe(fingerprint({ ...a, dedupKey: findingDedupKey({ kind: 'unprotected-endpoint', key: finding.key }) }));
  });
  it('keep over-long keys within the schema, still distinct', () => {
    const long = (s: string) => findingDedupKey({ kind: 'shadow-endpoint', key: `bank/prod GET /${'x'.repeat(300)}${s}` });
    expect(long('a').length).toBeLessThanOrEqual(256);
    expect(long('a')).not.toBe(long('b'));
  });
  it('the HTML report is self-contained and escapes values', () => {
    const html = renderInventoryHtml({ scan: scanOf([ep('GET', '/<script>')]), findings: [{ ...finding, key: 'bank/prod GET /<script>' }] });
    expect(html).not.toMatch(/<script>/);
    expect(html).not.toMatch(/(src|href)=["']?https?:/);
    expect(html).toContain('&lt;script&gt;');
  });
});

// ---------------------------------------------------------------------------------------------
// Against the sandbox: a REST API with declared+protected, shadow and unprotected endpoints

const secret = randomBytes(24).toString('hex');
let h: Harness;
let intake: RunningIntake;
let dir: string;

interface TestApi {
  name: string;
  restApiId: string;
  webAclArn: string;
  stageArn: string;
  resources: Record<string, string>;
}

/**
 * GET /accounts: Lambda authorizer + method throttle (declared, account-data); POST /payments: no
 * auth, no throttle (declared, payment); GET /debug: open (not declared). Stage with access logs,
 * a WAF web ACL and a usage plan.
 */
async function createTestApi(): Promise<TestApi> {
  const apigw = h.aws.apigw;
  const name = uniqueId('posture');
  const restApiId = (await apigw.send(new CreateRestApiCommand({ name }))).id!;
  const root = (await apigw.send(new GetResourcesCommand({ restApiId }))).items!.find((r) => r.path === '/')!;
  const authorizer = await apigw.send(new CreateAuthorizerCommand({ restApiId, name: 'jwt-authorizer', type: 'TOKEN', authorizerUri: 'arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/arn:aws:lambda:eu-west-1:123456789012:function:auth/invocations', identitySource: 'method.request.header.Authorization' }));
  const resources: Record<string, string> = {};
  for (const [part, method, auth] of [['accounts', 'GET', 'CUSTOM'], ['payments', 'POST', 'NONE'], ['debug', 'GET', 'NONE']] as const) {
    const r = await apigw.send(new CreateResourceCommand({ restApiId, parentId: root.id!, pathPart: part }));
    resources[part] = r.id!;
    await apigw.send(new PutMethodCommand({ restApiId, resourceId: r.id!, httpMethod: method, authorizationType: auth, ...(auth === 'CUSTOM' ? { authorizerId: authorizer.id } : {}) }));
    await apigw.send(new PutIntegrationCommand({ restApiId, resourceId: r.id!, httpMethod: method, type: 'MOCK' }));
  }
  await apigw.send(new CreateDeploymentCommand({ restApiId, stageName: 'prod' }));
  await apigw.send(
    new UpdateStageCommand({
      restApiId,
      stageName: 'prod',
      patchOperations: [
        { op: 'replace', path: '/~1accounts/GET/throttling/rateLimit', value: '20' },
        { op: 'replace', path: '/~1accounts/GET/throttling/burstLimit', value: '40' },
        { op: 'replace', path: '/accessLogSettings/destinationArn', value: 'arn:aws:logs:eu-west-1:123456789012:log-group:api-access' },
        { op: 'replace', path: '/accessLogSettings/format', value: '$context.requestId' },
      ],
    }),
  );
  await apigw.send(new CreateUsagePlanCommand({ name: `${name}-plan`, apiStages: [{ apiId: restApiId, stage: 'prod' }], throttle: { rateLimit: 5, burstLimit: 10 } }));
  const acl = await h.aws.waf.send(
    new CreateWebACLCommand({ Name: `${name}-acl`, Scope: 'REGIONAL', DefaultAction: { Allow: {} }, Rules: [], VisibilityConfig: { SampledRequestsEnabled: false, CloudWatchMetricsEnabled: false, MetricName: 'acl' } }),
  );
  const stageArn = `arn:aws:apigateway:${h.config.aws.region}::/restapis/${restApiId}/stages/prod`;
  await h.aws.waf.send(new AssociateWebACLCommand({ WebACLArn: acl.Summary!.ARN!, ResourceArn: stageArn }));
  return { name, restApiId, webAclArn: acl.Summary!.ARN!, stageArn, resources };
}

function declaredYaml(api: string): string {
  return `version: 1
defaults: { api: ${api}, stage: prod }
scope: { apis: [${api}] }
endpoints:
  - { method: GET, path: /accounts, owner: accounts-team, classification: account-data }
  - { method: POST, path: /payments, owner: payments-team, classification: payment }
  - { method: GET, path: /consents, owner: consents-team, classification: account-data }
`;
}

let api: TestApi;
let declaredFile: string;

beforeAll(async () => {
  const config = testConfig({ intake: { webhookSecret: secret } });
  h = await startHarness({ config });
  intake = await startIntake({ config, client: h.client, logger: createLogger('silent'), webhookSecret: secret });
  dir = mkdtempSync(join(tmpdir(), 'bulwark-inventory-'));
  api = await createTestApi();
  declaredFile = join(dir, 'inventory.yaml');
  writeFileSync(declaredFile, declaredYaml(api.name));
}, 60_000);
afterAll(async () => {
  await intake?.close();
  await h?.close();
});

describe('scan against the sandbox', () => {
  it('reports each endpoint with authorizer, throttling, usage plan, WAF and logging read from AWS', async () => {
    const { scanApiInventory } = createInventoryActivities({ apigw: h.aws.apigw, waf: h.aws.waf, region: h.config.aws.region });
    const scan = await scanApiInventory({ apis: [api.name] });
    expect(scan.apis).toEqual([{ restApiId: api.restApiId, apiType: 'rest', name: api.name, stages: ['prod'] }]);
    expect(scan.endpoints.map((e) => e.key)).toEqual([`${api.name}/prod GET /accounts`, `${api.name}/prod GET /debug`, `${api.name}/prod POST /payments`]);
    const [accounts, debug, payments] = scan.endpoints;
    expect(accounts!.protections).toMatchObject({
      authorization: 'CUSTOM',
      authorizer: { name: 'jwt-authorizer', type: 'TOKEN' },
      throttling: { method: { rateLimit: 20, burstLimit: 40 } },
      usagePlans: [`${api.name}-plan`],
      waf: { status: 'associated', webAclArn: api.webAclArn, webAclName: `${api.name}-acl` },
      logging: { accessLogs: true, accessLogDestination: 'arn:aws:logs:eu-west-1:123456789012:log-group:api-access' },
    });
    expect(accounts!.protections.throttling.stage).toBeUndefined();
    for (const open of [debug!, payments!]) {
      expect(open.protections).toMatchObject({ authorization: 'NONE', apiKeyRequired: false, throttling: { usagePlans: [{ plan: `${api.name}-plan`, rateLimit: 5, burstLimit: 10 }] } });
      expect(open.protections.throttling.method ?? open.protections.throttling.stage).toBeUndefined();
    }
    expect(scan.skipped[0]!.what).toMatch(/HTTP and WebSocket APIs/);
    expect(scan.stats.apiCalls).toBeGreaterThan(5);
  });

  it('finds the shadow, the unprotected payment endpoint and the declared-but-missing one', async () => {
    const { scanApiInventory } = createInventoryActivities({ apigw: h.aws.apigw, waf: h.aws.waf, region: h.config.aws.region });
    const declared = declaredOf(declaredYaml(api.name));
    const findings = compareInventory(await scanApiInventory({ apis: declared.scopeApis }), declared);
    expect(findings.map((f) => [f.kind, f.key, f.severity])).toEqual([
      ['shadow-endpoint', `${api.name}/prod GET /debug`, 'high'],
      ['unprotected-endpoint', `${api.name}/prod POST /payments`, 'critical'],
      ['missing-endpoint', `${api.name}/prod GET /consents`, 'low'],
    ]);
    expect(findings[1]!.problems).toEqual(['no authentication', 'no throttling']);
  });
});

/** A local HTTP server answering every request with one AWS-shaped error, as AWS would under load or without permission. */
async function errorServer(status: number, type: string): Promise<{ url: string; hits: () => number; close: () => Promise<void> }> {
  let hits = 0;
  const server: Server = createServer((req, res) => {
    hits++;
    req.resume();
    res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-errortype': type });
    res.end(JSON.stringify({ __type: type, message: `${type} from the test server` }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}`, hits: () => hits, close: () => new Promise((r) => server.close(() => r())) };
}
const sandboxCreds = { accessKeyId: 'sandbox', secretAccessKey: 'sandbox' };

describe('scan errors are classified', () => {
  it.each([
    [429, 'TooManyRequestsException', false],
    [503, 'ServiceUnavailableException', false],
    [403, 'AccessDeniedException', true],
  ])('API Gateway %i %s → nonRetryable=%s, naming the operation', async (status, type, nonRetryable) => {
    const srv = await errorServer(status, type);
    try {
      const apigw = new APIGatewayClient({ region: 'eu-west-1', endpoint: srv.url, credentials: sandboxCreds, maxAttempts: 1 });
      const { scanApiInventory } = createInventoryActivities({ apigw, waf: h.aws.waf, region: 'eu-west-1' });
      const err = await scanApiInventory().then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(ApplicationFailure);
      expect((err as ApplicationFailure).nonRetryable).toBe(nonRetryable);
      expect((err as ApplicationFailure).message).toMatch(new RegExp(`^GetAccount on API Gateway account failed: ${type}`));
      expect(srv.hits()).toBe(1);
    } finally {
      await srv.close();
    }
  });

  it('a WAF endpoint that does not know GetWebACLForResource: "unknown" with the reason, unless the stage names its web ACL', async () => {
    const srv = await errorServer(400, 'UnknownOperationException');
    try {
      const bare = uniqueId('nowaf');
      const restApiId = (await h.aws.apigw.send(new CreateRestApiCommand({ name: bare }))).id!;
      const root = (await h.aws.apigw.send(new GetResourcesCommand({ restApiId }))).items!.find((r) => r.path === '/')!;
      await h.aws.apigw.send(new PutMethodCommand({ restApiId, resourceId: root.id!, httpMethod: 'GET', authorizationType: 'NONE' }));
      await h.aws.apigw.send(new PutIntegrationCommand({ restApiId, resourceId: root.id!, httpMethod: 'GET', type: 'MOCK' }));
      await h.aws.apigw.send(new CreateDeploymentCommand({ restApiId, stageName: 'prod' }));
      const waf = new WAFV2Client({ region: 'eu-west-1', endpoint: srv.url, credentials: sandboxCreds, maxAttempts: 1 });
      const { scanApiInventory } = createInventoryActivities({ apigw: h.aws.apigw, waf, region: h.config.aws.region });
      const scan = await scanApiInventory({ apis: [api.name, bare] });
      const byApi = (name: string) => scan.endpoints.filter((e) => e.apiName === name).map((e) => e.protections.waf);
      expect(byApi(bare)).toEqual([{ status: 'unknown', reason: expect.stringMatching(/GetWebACLForResource is not supported.*UnknownOperationException/) }]);
      // The stage's own webAclArn is evidence enough when WAF cannot be asked.
      expect(byApi(api.name)).toEqual(Array(3).fill({ status: 'associated', webAclArn: api.webAclArn }));
      expect(srv.hits()).toBe(2);
    } finally {
      await srv.close();
    }
  });

  it('WAF throttling is not hidden as "unknown": the scan fails retryably', async () => {
    const srv = await errorServer(400, 'ThrottlingException');
    try {
      const waf = new WAFV2Client({ region: 'eu-west-1', endpoint: srv.url, credentials: sandboxCreds, maxAttempts: 1 });
      const { scanApiInventory } = createInventoryActivities({ apigw: h.aws.apigw, waf, region: h.config.aws.region });
      const err = (await scanApiInventory({ apis: [api.name] }).then(() => undefined, (e: unknown) => e)) as ApplicationFailure;
      expect(err).toBeInstanceOf(ApplicationFailure);
      expect(err.nonRetryable).toBe(false);
      expect(err.message).toMatch(/^GetWebACLForResource on arn:aws:apigateway:.*ThrottlingException/);
    } finally {
      await srv.close();
    }
  });
});

describe('bulwark inventory (CLI)', () => {
  it('--format json: the scan, the declared inventory and the findings', async () => {
    const r = await runCli(h, ['inventory', 'scan', '--declared', declaredFile, '--format', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { scan: Scan; findings: Finding[] };
    expect(out.scan.endpoints).toHaveLength(3);
    expect(out.findings.map((f) => f.kind)).toEqual(['shadow-endpoint', 'unprotected-endpoint', 'missing-endpoint']);
  });

  it('table by default: endpoints, owners, UNDECLARED, findings and what was skipped', async () => {
    const r = await runCli(h, ['inventory', 'scan', '--declared', declaredFile]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`${api.name}/prod GET /debug .*UNDECLARED`));
    expect(r.stdout).toMatch(/authorizer jwt-authorizer/);
    expect(r.stdout).toMatch(/3 finding\(s\)/);
    // The CLI reads HTTP APIs too: nothing is skipped for want of a client.
    expect(r.stdout).toMatch(/1 API\(s\) \(0 HTTP\), 3 endpoint\(s\)/);
    expect(r.stdout).not.toMatch(/skipped: HTTP and WebSocket APIs/);
  });

  it('--format html --out: a self-contained report file', async () => {
    const file = join(dir, 'report.html');
    const r = await runCli(h, ['inventory', 'scan', '--declared', declaredFile, '--format', 'html', '--out', file]);
    expect(r.code, r.stderr).toBe(0);
    const html = readFileSync(file, 'utf8');
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toContain(`${api.name}/prod POST /payments`);
    expect(html).toContain('3 finding(s)');
    expect(html).not.toMatch(/(src|href)=["']?https?:/);
  });

  it('--previous: what changed since an earlier JSON scan', async () => {
    const before = join(dir, 'before.json');
    expect((await runCli(h, ['inventory', 'scan', '--api', api.name, '--format', 'json', '--out', before])).code).toBe(0);
    const prior = JSON.parse(readFileSync(before, 'utf8')) as { scan: Scan };
    prior.scan.endpoints = prior.scan.endpoints.filter((e) => e.path !== '/debug');
    writeFileSync(before, JSON.stringify(prior));
    const r = await runCli(h, ['inventory', 'scan', '--api', api.name, '--previous', before, '--format', 'json']);
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { diff: { newEndpoints: string[] } }).diff.newEndpoints).toEqual([`${api.name}/prod GET /debug`]);
  });

  it('--fail-on-findings exits 1; a bad declared file exits 2 naming file:line and field', async () => {
    const r = await runCli(h, ['inventory', 'scan', '--declared', declaredFile, '--fail-on-findings']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/3 posture finding\(s\)/);
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'version: 1\ndefaults: { api: x, stage: prod }\nendpoints:\n  - method: GET\n    path: /a\n    owner: t\n    classification: top-secret\n');
    const b = await runCli(h, ['inventory', 'scan', '--declared', bad]);
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/bad\.yaml:7 endpoints\[0\]\.classification: .*payment/);
    expect((await runCli(h, ['inventory', 'scan', '--format', 'xml'])).code).toBe(2);
  });

  it('--help explains the findings and shows examples', async () => {
    const r = await runCli(h, ['inventory', 'scan', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/--declared/);
    expect(r.stdout).toMatch(/Examples:[\s\S]*--format html/);
    expect(r.stdout).toMatch(/HTTP APIs \(apigatewayv2\): routes with JWT/);
    expect(r.stdout).not.toMatch(/not scanned: that client is not installed/);
  });
});

describe('findings through intake', () => {
  it('scanning twice with --alert opens one incident per finding, the second scan counted as a repeat', async () => {
    const args = ['inventory', 'scan', '--declared', declaredFile, '--alert', '--intake-url', intake.url];
    const env = { BULWARK_WEBHOOK_SECRET: secret };
    const first = await runCli(h, args, env);
    expect(first.code, first.stderr).toBe(0);
    const second = await runCli(h, args, env);
    expect(second.code, second.stderr).toBe(0);
    const ids = (text: string) => [...text.matchAll(/→ (opened|joined) (incident-\w+)/g)].map((m) => [m[1], m[2]]);
    expect(ids(first.stderr).map((x) => x[0])).toEqual(['opened', 'opened', 'opened']);
    expect(ids(second.stderr).map((x) => x[0])).toEqual(['joined', 'joined', 'joined']);
    expect(ids(second.stderr).map((x) => x[1])).toEqual(ids(first.stderr).map((x) => x[1]));
    const shadow = ids(first.stderr)[0]![1]!;
    const state = await waitForState(h.client, shadow, (s) => s.alertCount === 2);
    expect(state.alert.type).toBe('posture.shadow-endpoint');
    expect(state.plan.playbook).toBe('posture-unprotected-endpoint');
    expect(state.deliveries).toBe(2);
    // The shadow endpoint is told about, never throttled: the throttle step's condition is false.
    const done = await waitForState(h.client, shadow, (s) => s.steps.every((x) => !['pending', 'running'].includes(x.status)));
    expect(done.steps.map((x) => [x.id, x.status])).toEqual([['tell-operators', 'succeeded'], ['default-throttle', 'skipped']]);
  });

  it('the playbook throttles the unprotected payment endpoint after approval (read back from the stage)', async () => {
    const f: Finding = { kind: 'unprotected-endpoint', severity: 'critical', key: `${api.name}/prod POST /payments`, endpoint: { apiName: api.name, stage: 'prod', method: 'POST', path: '/payments', restApiId: api.restApiId }, problems: [], message: '' };
    const workflowId = incidentWorkflowId(fingerprint({ source: 'x', type: 'posture.unprotected-endpoint', subject: {}, dedupKey: findingDedupKey(f) }));
    const waiting = await waitForState(h.client, workflowId, (s) => s.steps.find((x) => x.id === 'default-throttle')?.status === 'awaiting-approval');
    expect(waiting.alert.details).toMatchObject({ classification: 'payment', owner: 'payments-team', needsThrottling: true });
    const before = (await h.aws.apigw.send(new GetStageCommand({ restApiId: api.restApiId, stageName: 'prod' }))).methodSettings?.['~1payments/POST'];
    expect(before).toBeUndefined();
    const handle = h.client.workflow.getHandle(workflowId);
    expect(await handle.executeUpdate(approveUpdate, { args: [{ step: 'default-throttle', by: 'alice', reason: 'posture stopgap' }] })).toBe('succeeded');
    const after = (await h.aws.apigw.send(new GetStageCommand({ restApiId: api.restApiId, stageName: 'prod' }))).methodSettings?.['~1payments/POST'];
    expect(after).toMatchObject({ throttlingRateLimit: h.config.playbooks.throttleRateLimit, throttlingBurstLimit: h.config.playbooks.throttleBurstLimit });
    // The next scan sees the endpoint throttled: only "no authentication" is left.
    const { scanApiInventory } = createInventoryActivities({ apigw: h.aws.apigw, waf: h.aws.waf, region: h.config.aws.region });
    const findings = compareInventory(await scanApiInventory({ apis: [api.name] }), declaredOf(declaredYaml(api.name)));
    expect(findings.find((x) => x.kind === 'unprotected-endpoint')?.problems).toEqual(['no authentication']);
  });
});

describe('scheduled scan (postureScanWorkflow)', () => {
  it('diffs against the previous run kept in S3 and posts findings with the diff to intake', async () => {
    const own = await createTestApi();
    const bucket = `posture-${randomUUID().slice(0, 8)}`;
    await h.aws.s3.send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: 'eu-west-1' } }));
    const declared = declaredOf(declaredYaml(own.name));
    const input = { declared, store: { bucket, prefix: 'posture/test' }, alert: true, intakeUrl: intake.url };
    const run = (id: string) => h.client.workflow.execute('postureScanWorkflow', { workflowId: id, taskQueue: h.config.temporal.taskQueue, args: [input] }) as Promise<PostureScanResult>;

    const first = await run(uniqueId('posture-run'));
    expect(first.baselineRunKey).toBeUndefined();
    expect(first.diffEmpty).toBe(true);
    expect(first.findings.map((f) => f.kind)).toEqual(['shadow-endpoint', 'unprotected-endpoint', 'missing-endpoint']);
    expect(first.posted.map((p) => p.status)).toEqual([202, 202, 202]);

    // Overnight: the accounts authorizer is dropped, the WAF is detached, and a new endpoint appears.
    const apigw = h.aws.apigw;
    await apigw.send(new PutMethodCommand({ restApiId: own.restApiId, resourceId: own.resources.accounts!, httpMethod: 'GET', authorizationType: 'NONE' }));
    await h.aws.waf.send(new DisassociateWebACLCommand({ ResourceArn: own.stageArn }));
    const root = (await apigw.send(new GetResourcesCommand({ restApiId: own.restApiId }))).items!.find((r) => r.path === '/')!;
    const extra = await apigw.send(new CreateResourceCommand({ restApiId: own.restApiId, parentId: root.id!, pathPart: 'export' }));
    await apigw.send(new PutMethodCommand({ restApiId: own.restApiId, resourceId: extra.id!, httpMethod: 'GET', authorizationType: 'NONE' }));

    const secondId = uniqueId('posture-run');
    const second = await run(secondId);
    expect(second.baselineRunKey).toBeDefined();
    expect(second.diff.newEndpoints).toEqual([`${own.name}/prod GET /export`]);
    expect(second.diff.removedProtections).toEqual([
      { key: `${own.name}/prod GET /accounts`, lost: ['auth', 'waf'] },
      { key: `${own.name}/prod GET /debug`, lost: ['waf'] },
      { key: `${own.name}/prod POST /payments`, lost: ['waf'] },
    ]);
    const removed = second.posted.find((p) => p.type === 'posture.protection-removed' && p.dedupKey?.endsWith('GET /accounts'));
    expect(removed?.deduplicated).toBe(false);
    // The repeat of yesterday's shadow finding joined its incident; the diff is in the new one.
    expect(second.posted.find((p) => p.type === 'posture.shadow-endpoint' && p.dedupKey?.endsWith('GET /debug'))?.deduplicated).toBe(true);
    const incident = await waitForState(h.client, removed!.incidentId!, () => true);
    expect((incident.alert.details as { diff: { newEndpoints: string[]; removedProtections: unknown[] } }).diff.newEndpoints).toEqual([`${own.name}/prod GET /export`]);
    expect(incident.alert.details).toMatchObject({ classification: 'account-data', problems: ['lost: auth', 'lost: waf'] });

    // The scan is kept for tomorrow's diff: the pointer names this run.
    const pointer = JSON.parse(await (await h.aws.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'posture/test/latest.json' }))).Body!.transformToString()) as { runKey: string; previousRunKey: string };
    expect(pointer.runKey).toBe(secondId);
    expect(pointer.previousRunKey).toBe(second.baselineRunKey);
  });

  it('bulwark inventory schedule creates, then updates, a Schedule that runs the scan', async () => {
    const id = uniqueId('posture-scan');
    const bucket = `sched-${randomUUID().slice(0, 8)}`;
    const args = ['inventory', 'schedule', '--declared', declaredFile, '--id', id, '--state-bucket', bucket, '--intake-url', intake.url, '--json'];
    const created = await runCli(h, args);
    expect(created.code, created.stderr).toBe(0);
    expect(JSON.parse(created.stdout)).toMatchObject({ scheduleId: id, action: 'created', cron: '0 6 * * *', declaredEndpoints: 3 });
    const updated = await runCli(h, [...args, '--cron', '30 5 * * 1-5', '--trigger']);
    expect(updated.code, updated.stderr).toBe(0);
    expect(JSON.parse(updated.stdout)).toMatchObject({ action: 'updated', triggered: true });
    const handle = h.client.schedule.getHandle(id);
    try {
      const d = await handle.describe();
      expect(d.action.type === 'startWorkflow' && d.action.workflowType).toBe('postureScanWorkflow');
      expect((d.action as { args: { declared: DeclaredInventory; store: { bucket: string } }[] }).args[0]).toMatchObject({ store: { bucket }, declared: { scopeApis: [api.name] } });
      expect(d.spec.calendars?.[0]).toMatchObject({ hour: [{ start: 5, end: 5, step: 1 }], minute: [{ start: 30, end: 30, step: 1 }] });
      // The triggered run completes in the worker.
      let runId: string | undefined;
      for (let i = 0; i < 100 && !runId; i++) {
        runId = (await handle.describe()).info.recentActions[0]?.action.workflow.workflowId;
        if (!runId) await new Promise((r) => setTimeout(r, 100));
      }
      const result = (await h.client.workflow.getHandle(runId!).result()) as PostureScanResult;
      expect(result.storedAt).toMatch(new RegExp(`^s3://${bucket}/posture/${id}/runs/`));
    } finally {
      await handle.delete();
    }
    const bad = await runCli(h, ['inventory', 'schedule', '--cron', 'every day']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--cron must have 5 fields/);
  });
});

// ---------------------------------------------------------------------------------------------
// HTTP APIs (apigatewayv2): the same inventory model, findings and outputs as REST APIs

describe('HTTP APIs (apigatewayv2)', () => {
  it.each([
    ['POST /payments', { method: 'POST', path: '/payments' }],
    ['get /accounts/{id}', { method: 'GET', path: '/accounts/{id}' }],
    ['ANY /{proxy+}', { method: 'ANY', path: '/{proxy+}' }],
    ['$default', { method: 'ANY', path: '/$default' }],
    ['$connect', undefined],
    ['FETCH /x', undefined],
    ['GET payments', undefined],
  ])('route key %s', (key, want) => {
    expect(parseRouteKey(key)).toEqual(want);
  });

  /**
   * GET /accounts: JWT authorizer + per-route throttle (declared by the API's id); POST /payments:
   * no auth, no throttle (declared by name, payment); GET /debug: open, undeclared. Stage prod with
   * access logs and auto-deploy. A WebSocket API next to it is skipped with a note.
   */
  let http: { name: string; apiId: string; wsName: string; wsId: string; declaredFile: string };
  beforeAll(async () => {
    const v2 = h.aws.apigw2;
    const name = uniqueId('posture-http');
    const apiId = (await v2.send(new CreateApiCommand({ Name: name, ProtocolType: 'HTTP' }))).ApiId!;
    const jwt = await v2.send(
      new CreateHttpAuthorizerCommand({ ApiId: apiId, Name: 'jwt-authorizer', AuthorizerType: 'JWT', IdentitySource: ['$request.header.Authorization'], JwtConfiguration: { Audience: ['tpp'], Issuer: 'https://issuer.example' } }),
    );
    await v2.send(new CreateRouteCommand({ ApiId: apiId, RouteKey: 'GET /accounts', AuthorizationType: 'JWT', AuthorizerId: jwt.AuthorizerId }));
    await v2.send(new CreateRouteCommand({ ApiId: apiId, RouteKey: 'POST /payments', AuthorizationType: 'NONE' }));
    await v2.send(new CreateRouteCommand({ ApiId: apiId, RouteKey: 'GET /debug' }));
    await v2.send(
      new CreateStageCommand({
        ApiId: apiId,
        StageName: 'prod',
        AutoDeploy: true,
        RouteSettings: { 'GET /accounts': { ThrottlingRateLimit: 20, ThrottlingBurstLimit: 40 } },
        AccessLogSettings: { DestinationArn: 'arn:aws:logs:eu-west-1:123456789012:log-group:http-access', Format: '$context.requestId' },
      }),
    );
    const wsName = uniqueId('posture-ws');
    const wsId = (await v2.send(new CreateApiCommand({ Name: wsName, ProtocolType: 'WEBSOCKET', RouteSelectionExpression: '$request.body.action' }))).ApiId!;
    const declaredFile = join(dir, `${name}.yaml`);
    writeFileSync(
      declaredFile,
      `version: 1
defaults: { api: ${name}, stage: prod }
scope: { apis: [${name}] }
endpoints:
  - { api: ${apiId}, method: GET, path: /accounts, owner: accounts-team, classification: account-data }
  - { method: POST, path: /payments, owner: payments-team, classification: payment }
  - { method: GET, path: /consents, owner: consents-team, classification: account-data }
`,
    );
    http = { name, apiId, wsName, wsId, declaredFile };
  }, 30_000);

  it('reads routes, JWT authorizer, route and stage throttling and access logs; WAF is not supported; WebSocket is skipped', async () => {
    const { scanApiInventory } = createInventoryActivities({ apigw: h.aws.apigw, apigw2: h.aws.apigw2, waf: h.aws.waf, region: h.config.aws.region });
    const scan = await scanApiInventory({ apis: [http.name, http.wsId] });
    expect(scan.apis).toEqual([{ restApiId: http.apiId, apiType: 'http', name: http.name, stages: ['prod'] }]);
    expect(scan.endpoints.map((e) => [e.key, e.apiType, e.restApiId])).toEqual([
      [`${http.name}/prod GET /accounts`, 'http', http.apiId],
      [`${http.name}/prod GET /debug`, 'http', http.apiId],
      [`${http.name}/prod POST /payments`, 'http', http.apiId],
    ]);
    const [accounts, , payments] = scan.endpoints;
    expect(accounts!.protections).toMatchObject({
      authorization: 'JWT',
      authorizer: { name: 'jwt-authorizer', type: 'JWT' },
      apiKeyRequired: false,
      throttling: { method: { rateLimit: 20, burstLimit: 40 }, usagePlans: [] },
      waf: { status: 'not-supported', reason: 'not supported for HTTP APIs' },
      logging: { accessLogs: true, accessLogDestination: 'arn:aws:logs:eu-west-1:123456789012:log-group:http-access' },
    });
    expect(payments!.protections).toMatchObject({ authorization: 'NONE', throttling: { usagePlans: [] } });
    expect(payments!.protections.throttling.method ?? payments!.protections.throttling.stage).toBeUndefined();
    expect(scan.skipped).toEqual([{ what: `WEBSOCKET API ${http.wsName} (${http.wsId})`, reason: expect.stringMatching(/WebSocket routes are not method \+ path/) }]);
  });

  it('compared with the declared inventory (an entry naming the API by id): shadow, unprotected payment, missing', async () => {
    const { scanApiInventory } = createInventoryActivities({ apigw: h.aws.apigw, apigw2: h.aws.apigw2, waf: h.aws.waf, region: h.config.aws.region });
    const declared = declaredOf(readFileSync(http.declaredFile, 'utf8'));
    const findings = compareInventory(await scanApiInventory({ apis: declared.scopeApis }), declared);
    expect(findings.map((f) => [f.kind, f.key, f.severity, f.problems])).toEqual([
      ['shadow-endpoint', `${http.name}/prod GET /debug`, 'high', ['not in the declared inventory', 'no authentication', 'no throttling']],
      ['unprotected-endpoint', `${http.name}/prod POST /payments`, 'critical', ['no authentication', 'no throttling']],
      ['missing-endpoint', `${http.name}/prod GET /consents`, 'low', ['declared but not deployed']],
    ]);
    // Not handed to apigateway.throttle (which writes REST API stages): no subject, apiType in details.
    const [alert] = findingAlerts([findings[1]!], { observedAt: new Date().toISOString() });
    expect(alert!.subject).toEqual({});
    expect(alert!.details).toMatchObject({ apiType: 'http', classification: 'payment', needsThrottling: true });
    expect(parseAlert(alert).ok).toBe(true);
  });

  it('bulwark inventory scan: JSON shows apiType http and the findings; the table says WAF is not supported', async () => {
    const r = await runCli(h, ['inventory', 'scan', '--declared', http.declaredFile, '--format', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { scan: Scan; findings: Finding[] };
    expect(out.scan.apis.map((a) => [a.name, a.apiType])).toEqual([[http.name, 'http']]);
    expect(out.scan.endpoints.map((e) => e.apiType)).toEqual(['http', 'http', 'http']);
    expect(out.findings.map((f) => [f.kind, f.endpoint.apiType ?? 'none'])).toEqual([
      ['shadow-endpoint', 'http'],
      ['unprotected-endpoint', 'http'],
      ['missing-endpoint', 'none'],
    ]);
    const t = await runCli(h, ['inventory', 'scan', '--declared', http.declaredFile]);
    expect(t.code, t.stderr).toBe(0);
    expect(t.stdout).toMatch(new RegExp(`${http.name}/prod GET /accounts .*jwt jwt-authorizer.*method 20/40.*not supported for HTTP APIs`));
    expect(t.stdout).toMatch(/1 API\(s\) \(1 HTTP\), 3 endpoint\(s\)/);
    // Declared by id, still owned: only GET /debug is UNDECLARED.
    expect(t.stdout).toMatch(new RegExp(`${http.name}/prod GET /accounts .*accounts-team`));
    expect(t.stdout.match(/UNDECLARED/g)).toHaveLength(1);
  });
});
