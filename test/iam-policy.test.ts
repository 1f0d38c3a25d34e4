import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { FinalizeRequestMiddleware, HttpRequest, MiddlewareStack } from '@smithy/types';
import { CreateUserPoolClientCommand, CreateUserPoolCommand } from '@aws-sdk/client-cognito-identity-provider';
import { CreateAccessKeyCommand, CreateRoleCommand, CreateUserCommand } from '@aws-sdk/client-iam';
import { CreateApiKeyCommand, GetApiKeyCommand } from '@aws-sdk/client-api-gateway';
import { CreateKeyCommand, DescribeKeyCommand, ListAliasesCommand, ListResourceTagsCommand } from '@aws-sdk/client-kms';
import { CreateSecretCommand, DescribeSecretCommand } from '@aws-sdk/client-secrets-manager';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { createAwsClients, type AwsClients } from '../activities/clients.js';
import { parseAlert } from '../domain/alert.js';
import { certificateNameOf, certificateWorkflowId } from '../domain/certificates/model.js';
import { ACTION_PERMISSIONS, allows, policyFor, wildcardMatch, type PolicyDocument } from '../domain/iam-policy.js';
import { authorize, evaluateCondition, type RequestContext } from '../domain/iam-conditions.js';
import { ACTION_NAMES } from '../domain/playbooks/actions.js';
import { AlertDeliverer } from '../intake/deliver.js';
import { configuredIntel } from '../intake/intel.js';
import { playbookFiles, SHIPPED_PLAYBOOKS_DIR } from '../intake/playbook-catalog.js';
import { playbookActions } from '../cli/commands/iam.js';
import { playbookDefaults } from '../temporal.config.js';
import { approveUpdate } from '../workflows/definitions.js';
import type { CertificateWorkflowInput, CertificateWorkflowResult } from '../workflows/certificate.js';
import { alertFor, createStage, createTppClient, runCli, startHarness, testConfig, uniqueId, waitForState, type Harness } from './support.js';
import { stixBundle, stixIndicator } from './support/stix.js';

/** The built-in playbooks this test runs: every shipped one (checked below against playbooks/). */
const RAN_PLAYBOOKS = [
  'credential-compromise.yaml',
  'endpoint-abuse.yaml',
  'key-exposure.yaml',
  'aws-credential-compromise.yaml',
  'tpp-offboarding.yaml',
  'certificate-compromise.yaml',
  'intel-block.yaml',
  'posture-unprotected-endpoint.yaml',
];

/** moto's account. */
const ACCOUNT = '123456789012';

describe('IAM permission map (pure)', () => {
  it('has an entry for every playbook action (add one in domain/iam-policy.ts when you add an action)', () => {
    const missing = ACTION_NAMES.filter((a) => !Object.hasOwn(ACTION_PERMISSIONS, a));
    expect(missing).toEqual([]);
  });

  it('includes entries for the actions being built now (WAF blocking, consents, certificates, regulators)', () => {
    for (const a of ['waf.blockIps', 'consents.list', 'consents.revoke', 'certificates.rotate', 'regulators.assess']) expect(Object.hasOwn(ACTION_PERMISSIONS, a), a).toBe(true);
  });

  it('refuses to build a policy for an action it does not know', () => {
    expect(policyFor(['secrets.rotate', 'apigateway.nuke'], { region: 'eu-west-1', account: ACCOUNT, clientTag: 'bulwark:client-id' })).toEqual({ ok: false, unknown: ['apigateway.nuke'] });
  });

  it('scopes resources to region and account, adds tag conditions on request, and config-driven keys', () => {
    const r = policyFor(['secrets.rotate', 'apigateway.disableApiKey'], {
      region: 'eu-central-1',
      account: ACCOUNT,
      clientTag: 'bulwark:client-id',
      requireClientTag: true,
      codecKeyId: 'alias/bulwark-codec',
      auditSigningKeyId: `arn:aws:kms:eu-central-1:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`,
    });
    if (!r.ok) throw new Error(r.unknown.join());
    const s = r.policy.Statement;
    const secretWrites = s.find((x) => x.Action.includes('secretsmanager:PutSecretValue'))!;
    expect(secretWrites.Resource).toEqual([`arn:aws:secretsmanager:eu-central-1:${ACCOUNT}:secret:*`]);
    expect(secretWrites.Condition).toEqual({ Null: { 'aws:ResourceTag/bulwark:client-id': 'false' } });
    expect(s.find((x) => x.Action.includes('apigateway:PATCH'))!.Condition).toBeDefined();
    // Listing cannot be tag-scoped in IAM: no condition, resource '*'.
    expect(s.find((x) => x.Action.includes('secretsmanager:ListSecrets'))).toMatchObject({ Resource: ['*'] });
    expect(s.find((x) => x.Action.includes('secretsmanager:ListSecrets'))!.Condition).toBeUndefined();
    expect(s.find((x) => x.Action.includes('kms:GenerateDataKey'))).toMatchObject({ Condition: { 'ForAnyValue:StringEquals': { 'kms:ResourceAliases': 'alias/bulwark-codec' } } });
    expect(s.find((x) => x.Action.includes('kms:Sign'))!.Resource).toEqual([`arn:aws:kms:eu-central-1:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`]);
    expect(new Set(s.map((x) => x.Sid)).size).toBe(s.length);
    expect(JSON.stringify(r.policy)).not.toMatch(/"\*:\*"|"(kms|secretsmanager|iam|apigateway):\*"/);
  });

  it("confines certificates.rotate to bulwark's own CA keys and certificate secrets, by name and by the tag bulwark sets, with or without --require-client-tag", () => {
    for (const requireClientTag of [false, true]) {
      const r = policyFor(['certificates.rotate'], { region: 'eu-central-1', account: ACCOUNT, clientTag: 'bulwark:client-id', requireClientTag });
      if (!r.ok) throw new Error(r.unknown.join());
      const s = r.policy.Statement;
      const secrets = s.find((x) => x.Action.includes('secretsmanager:PutSecretValue'))!;
      expect(secrets.Resource).toEqual([`arn:aws:secretsmanager:eu-central-1:${ACCOUNT}:secret:bulwark/ca/*`, `arn:aws:secretsmanager:eu-central-1:${ACCOUNT}:secret:bulwark/certificates/*`]);
      expect(secrets.Condition).toEqual({ Null: { 'aws:ResourceTag/bulwark:ca': 'false' } });
      expect(s.find((x) => x.Action.includes('kms:Sign'))).toMatchObject({ Resource: [`arn:aws:kms:eu-central-1:${ACCOUNT}:key/*`], Condition: { Null: { 'aws:ResourceTag/bulwark:ca': 'false' } } });
      // Every statement but ListSecrets (no resource-level permissions in IAM) and the CRL upload carries the condition.
      expect(s.filter((x) => !x.Condition).map((x) => x.Action.join()).sort()).toEqual(['s3:GetObject,s3:PutObject', 'secretsmanager:ListSecrets']);
      expect(s.find((x) => x.Action.includes('s3:PutObject'))!.Resource).toEqual(['arn:aws:s3:::*/*']);
    }
    // With the configured CRL bucket (`--config`), the upload is confined to it.
    const withBucket = policyFor(['certificates.rotate'], { region: 'eu-central-1', account: ACCOUNT, clientTag: 'bulwark:client-id', crlBucket: 'acme-crl' });
    if (!withBucket.ok) throw new Error(withBucket.unknown.join());
    expect(withBucket.policy.Statement.find((x) => x.Action.includes('s3:PutObject'))!.Resource).toEqual(['arn:aws:s3:::acme-crl/*']);
  });

  it.each([
    ['kms:Describe*', 'kms:DescribeKey', true, true],
    ['kms:describekey', 'kms:DescribeKey', true, true],
    ['kms:Describe?ey', 'kms:DescribeKey', true, true],
    ['kms:Describe', 'kms:DescribeKey', true, false],
    ['arn:aws:iam::1:user/*', 'arn:aws:iam::1:user/bob', false, true],
    ['arn:aws:iam::1:user/*', 'arn:aws:iam::1:role/bob', false, false],
    ['arn:aws:s3:::b.x/*', 'arn:aws:s3:::bqx/k', false, false],
  ])('wildcard %s vs %s', (pattern, value, ci, expected) => expect(wildcardMatch(pattern, value, ci)).toBe(expected));
});

describe('IAM condition evaluator (pure, domain/iam-conditions.ts)', () => {
  const T = 'aws:ResourceTag/bulwark:client-id';
  const A = 'kms:ResourceAliases';
  type Cond = NonNullable<PolicyDocument['Statement'][number]['Condition']>;
  // [case, condition, request context, allowed, reason (when denied)]
  it.each<[string, Cond, RequestContext, boolean, RegExp?]>([
    ['StringEquals: tag matches', { StringEquals: { [T]: 'acme' } }, { [T]: 'acme' }, true],
    ['StringEquals: tag has another value', { StringEquals: { [T]: 'acme' } }, { [T]: 'globex' }, false, /StringEquals aws:ResourceTag\/bulwark:client-id: "globex" matches none of \["acme"\]/],
    ['StringEquals: tag missing', { StringEquals: { [T]: 'acme' } }, {}, false, /the request has no value for this key/],
    ['StringEquals: several values are ORed', { StringEquals: { [T]: ['globex', 'acme'] } }, { [T]: 'acme' }, true],
    ['StringEquals: several values, none matches', { StringEquals: { [T]: ['globex', 'initech'] } }, { [T]: 'acme' }, false, /matches none of \["globex","initech"\]/],
    ['key names compare case-insensitively', { StringEquals: { 'AWS:ResourceTag/Bulwark:Client-Id': 'acme' } }, { [T]: 'acme' }, true],
    ['values compare case-sensitively', { StringEquals: { [T]: 'ACME' } }, { [T]: 'acme' }, false, /matches none of/],
    ['StringEqualsIgnoreCase', { StringEqualsIgnoreCase: { [T]: 'ACME' } }, { [T]: 'acme' }, true],
    ['StringLike with a wildcard', { StringLike: { [T]: 'ac*' } }, { [T]: 'acme' }, true],
    ['StringLike without a match', { StringLike: { [T]: 'gl?bex' } }, { [T]: 'acme' }, false, /matches none of/],
    ['StringNotEquals: another value holds', { StringNotEquals: { [T]: 'acme' } }, { [T]: 'globex' }, true],
    ['StringNotEquals: a listed value fails', { StringNotEquals: { [T]: ['x', 'acme'] } }, { [T]: 'acme' }, false, /"acme" matches one of/],
    ['StringNotEquals: missing key holds', { StringNotEquals: { [T]: 'acme' } }, {}, true],
    ['StringEqualsIfExists: missing key holds', { StringEqualsIfExists: { [T]: 'acme' } }, {}, true],
    ['StringEqualsIfExists: present key must match', { StringEqualsIfExists: { [T]: 'acme' } }, { [T]: 'globex' }, false, /matches none of/],
    ['Null false: tag present (any value)', { Null: { [T]: 'false' } }, { [T]: 'anything' }, true],
    ['Null false: tag missing', { Null: { [T]: 'false' } }, {}, false, /Null aws:ResourceTag\/bulwark:client-id: must be present, is absent/],
    ['Null true: tag missing', { Null: { [T]: 'true' } }, {}, true],
    ['Null true: tag present', { Null: { [T]: 'true' } }, { [T]: 'acme' }, false, /must be absent, is "acme"/],
    ['ForAnyValue: one alias of the key matches', { 'ForAnyValue:StringEquals': { [A]: 'alias/audit' } }, { [A]: ['alias/other', 'alias/audit'] }, true],
    ['ForAnyValue: no alias matches', { 'ForAnyValue:StringEquals': { [A]: 'alias/audit' } }, { [A]: ['alias/other'] }, false, /no value of \["alias\/other"\] matches \["alias\/audit"\]/],
    ['ForAnyValue: a key without aliases', { 'ForAnyValue:StringEquals': { [A]: 'alias/audit' } }, { [A]: [] }, false, /no value of \[\]/],
    ['ForAnyValue: key absent', { 'ForAnyValue:StringEquals': { [A]: 'alias/audit' } }, {}, false, /no value for this key/],
    ['ForAnyValue: several policy values ORed', { 'ForAnyValue:StringEquals': { [A]: ['alias/a', 'alias/b'] } }, { [A]: ['alias/b'] }, true],
    ['ForAllValues: every value listed', { 'ForAllValues:StringEquals': { [A]: ['alias/a', 'alias/b'] } }, { [A]: ['alias/a', 'alias/b'] }, true],
    ['ForAllValues: one value not listed', { 'ForAllValues:StringEquals': { [A]: ['alias/a'] } }, { [A]: ['alias/a', 'alias/c'] }, false, /not every value/],
    ['ForAllValues: key absent holds (vacuous)', { 'ForAllValues:StringEquals': { [A]: ['alias/a'] } }, {}, true],
    ['multi-valued key without a set qualifier is refused', { StringEquals: { [A]: 'alias/a' } }, { [A]: ['alias/a'] }, false, /multi-valued .* ForAnyValue\/ForAllValues qualifier is needed/],
    ['two keys in one block are ANDed (both hold)', { StringEquals: { [T]: 'acme', 'aws:ResourceTag/env': 'prod' } }, { [T]: 'acme', 'aws:ResourceTag/env': 'prod' }, true],
    ['two keys in one block are ANDed (one fails)', { StringEquals: { [T]: 'acme', 'aws:ResourceTag/env': 'prod' } }, { [T]: 'acme', 'aws:ResourceTag/env': 'dev' }, false, /aws:ResourceTag\/env: "dev" matches none of \["prod"\]/],
    ['two operator blocks are ANDed', { Null: { [T]: 'false' }, 'ForAnyValue:StringEquals': { [A]: 'alias/a' } }, { [T]: 'acme', [A]: ['alias/b'] }, false, /ForAnyValue:StringEquals kms:ResourceAliases/],
    ['unsupported operators are refused, not guessed', { NumericLessThan: { 'aws:MultiFactorAuthAge': '3600' } }, { 'aws:MultiFactorAuthAge': '10' }, false, /NumericLessThan aws:MultiFactorAuthAge: unsupported operator/],
    ['unsupported set qualifiers are refused', { 'ForEachValue:StringEquals': { [A]: 'alias/a' } }, { [A]: ['alias/a'] }, false, /unsupported set qualifier/],
    ['policy variables are refused', { StringEquals: { [T]: '${aws:PrincipalTag/bulwark:client-id}' } }, { [T]: 'acme' }, false, /policy variables are not evaluated/],
    ['no condition at all holds', {}, {}, true],
  ])('%s', (_name, condition, context, allowed, reason) => {
    const v = evaluateCondition(condition, context);
    expect(v.ok).toBe(allowed);
    if (!v.ok) expect(v.reason).toMatch(reason!);
  });

  const policy: PolicyDocument = {
    Version: '2012-10-17',
    Statement: [
      { Sid: 'Tagged01', Effect: 'Allow', Action: ['secretsmanager:PutSecretValue', 'secretsmanager:UpdateSecretVersionStage'], Resource: ['arn:aws:secretsmanager:eu-west-1:1:secret:*'], Condition: { Null: { [T]: 'false' } } },
      { Sid: 'Open02', Effect: 'Allow', Action: ['secretsmanager:PutSecretValue'], Resource: ['arn:aws:secretsmanager:eu-west-1:1:secret:tls/*'] },
    ],
  };
  const secret = (name: string) => `arn:aws:secretsmanager:eu-west-1:1:secret:${name}`;
  it.each<[string, string, string, RequestContext, boolean, RegExp | string]>([
    ['a tagged secret, through the conditioned statement', 'secretsmanager:UpdateSecretVersionStage', secret('tpp/a'), { [T]: 'acme' }, true, 'Tagged01'],
    ['an untagged secret is denied, naming the statement and the key', 'secretsmanager:UpdateSecretVersionStage', secret('tpp/a'), {}, false, /condition not met \(Tagged01: Null aws:ResourceTag\/bulwark:client-id: must be present, is absent\)/],
    ['any statement whose conditions hold allows (an unconditioned one here)', 'secretsmanager:PutSecretValue', secret('tls/a'), {}, true, 'Open02'],
    ['no statement for the action', 'secretsmanager:DeleteSecret', secret('tpp/a'), { [T]: 'acme' }, false, /no statement allows secretsmanager:DeleteSecret/],
    ['no statement for the resource', 'secretsmanager:PutSecretValue', 'arn:aws:secretsmanager:us-east-1:1:secret:x', { [T]: 'acme' }, false, /no statement allows/],
    ['actions compare case-insensitively', 'SecretsManager:putsecretvalue', secret('tpp/a'), { [T]: 'acme' }, true, 'Tagged01'],
  ])('authorize: %s', (_name, action, resource, context, allowed, detail) => {
    const v = authorize(policy, { action, resource, context });
    expect(v.allowed).toBe(allowed);
    if (v.allowed) expect(v.statement).toBe(detail);
    else expect(v.reason).toMatch(detail);
  });
});

interface Call {
  action: string;
  resource: string;
  /** KMS key or secret as the call named it; resolved to its ARN after the runs. */
  unresolved?: { kind: 'kms' | 'secret'; id: string };
}

const SERVICE: Record<string, string> = {
  KMSClient: 'kms',
  SecretsManagerClient: 'secretsmanager',
  IAMClient: 'iam',
  CognitoIdentityProviderClient: 'cognito-idp',
  SESv2Client: 'ses',
  WAFV2Client: 'wafv2',
  S3Client: 's3',
  APIGatewayClient: 'apigateway',
};

/** What IAM evaluates for one SDK call: the action and the resource ARN (from the request, as AWS documents it per operation). */
function describeCall(clientName: string, commandName: string, input: Record<string, unknown>, output: Record<string, unknown> | undefined, request: HttpRequest, region: string): Call {
  const service = SERVICE[clientName] ?? clientName;
  const op = commandName.replace(/Command$/, '');
  const s = (k: string) => input[k] as string | undefined;
  switch (service) {
    case 'apigateway':
      // API Gateway's IAM actions are the HTTP verbs on the resource path.
      return { action: `apigateway:${request.method}`, resource: `arn:aws:apigateway:${region}::${decodeURIComponent(request.path)}` };
    case 'kms':
      return s('KeyId') ? { action: `kms:${op}`, resource: '', unresolved: { kind: 'kms', id: s('KeyId')! } } : { action: `kms:${op}`, resource: '*' };
    case 'secretsmanager':
      return s('SecretId') ? { action: `secretsmanager:${op}`, resource: '', unresolved: { kind: 'secret', id: s('SecretId')! } } : { action: `secretsmanager:${op}`, resource: '*' };
    case 'iam': {
      const user = s('UserName') ?? (output?.UserName as string | undefined);
      if (s('RoleName')) return { action: `iam:${op}`, resource: `arn:aws:iam::${ACCOUNT}:role/${s('RoleName')}` };
      return { action: `iam:${op}`, resource: user ? `arn:aws:iam::${ACCOUNT}:user/${user}` : '*' };
    }
    case 'cognito-idp':
      return { action: `cognito-idp:${op}`, resource: s('UserPoolId') ? `arn:aws:cognito-idp:${region}:${ACCOUNT}:userpool/${s('UserPoolId')}` : '*' };
    case 'wafv2': {
      // List actions have no resource-level permissions; the others act on the IP set / web ACL ARN
      // (a create's id is known from its answer).
      if (op.startsWith('List')) return { action: `wafv2:${op}`, resource: '*' };
      const kind = /IPSet$/.test(op) ? 'ipset' : /WebACL$/.test(op) ? 'webacl' : op.toLowerCase();
      const id = s('Id') ?? ((output?.Summary as { Id?: string } | undefined)?.Id ?? '*');
      return { action: `wafv2:${op}`, resource: `arn:aws:wafv2:${region}:${ACCOUNT}:${s('Scope') === 'CLOUDFRONT' ? 'global' : 'regional'}/${kind}/${s('Name')}/${id}` };
    }
    case 's3':
      return { action: `s3:${op}`, resource: s('Key') ? `arn:aws:s3:::${s('Bucket')}/${s('Key')}` : `arn:aws:s3:::${s('Bucket')}` };
    default:
      return { action: `${service}:${op}`, resource: '*' };
  }
}

/** Records every call the worker's clients make (the same client objects the activities use). */
function recordCalls(clients: AwsClients, region: string): Call[] {
  const calls: Call[] = [];
  for (const client of Object.values(clients)) {
    (client.middlewareStack as unknown as MiddlewareStack<object, object>).add(
      ((next, context) => async (args) => {
        const ctx = context as { clientName?: string; commandName?: string };
        const input = args.input as Record<string, unknown>;
        let output: Record<string, unknown> | undefined;
        try {
          const result = await next(args);
          output = result.output as Record<string, unknown>;
          return result;
        } finally {
          // Failed calls count too: AWS checked permission before answering.
          calls.push(describeCall(ctx.clientName ?? '?', ctx.commandName ?? '?', input, output, args.request as HttpRequest, region));
        }
      }) as FinalizeRequestMiddleware<object, object>,
      { step: 'finalizeRequest', name: 'iamCallRecorder' },
    );
  }
  return calls;
}

/**
 * What IAM would see of each resource when judging conditions: `aws:ResourceTag/<key>` for the tags
 * of secrets, API keys and KMS keys, and `kms:ResourceAliases` for KMS keys — read from the sandbox
 * (the playbooks run here change no tag that a condition reads).
 */
async function requestContexts(admin: AwsClients, resources: string[]): Promise<Map<string, RequestContext>> {
  const contexts = new Map<string, RequestContext>();
  const tags = (list: { key?: string; value?: string }[]) => Object.fromEntries(list.map((t) => [`aws:ResourceTag/${t.key}`, t.value ?? '']));
  let aliases: Map<string, string[]> | undefined;
  for (const resource of resources) {
    if (/^arn:aws:secretsmanager:[^:]+:\d+:secret:/.test(resource)) {
      const d = await admin.sm.send(new DescribeSecretCommand({ SecretId: resource }));
      contexts.set(resource, tags((d.Tags ?? []).map((t) => ({ key: t.Key, value: t.Value }))));
    } else if (/^arn:aws:apigateway:[^:]+::\/apikeys\/[^/]+$/.test(resource)) {
      const k = await admin.apigw.send(new GetApiKeyCommand({ apiKey: resource.split('/').pop()!, includeValue: false }));
      contexts.set(resource, tags(Object.entries(k.tags ?? {}).map(([key, value]) => ({ key, value }))));
    } else if (/^arn:aws:kms:[^:]+:\d+:key\//.test(resource)) {
      if (!aliases) {
        aliases = new Map();
        let Marker: string | undefined;
        do {
          const page = await admin.kms.send(new ListAliasesCommand({ Marker }));
          for (const a of page.Aliases ?? []) if (a.TargetKeyId) aliases.set(a.TargetKeyId, [...(aliases.get(a.TargetKeyId) ?? []), a.AliasName!]);
          Marker = page.Truncated ? page.NextMarker : undefined;
        } while (Marker);
      }
      const t = await admin.kms.send(new ListResourceTagsCommand({ KeyId: resource }));
      contexts.set(resource, { ...tags((t.Tags ?? []).map((x) => ({ key: x.TagKey, value: x.TagValue }))), 'kms:ResourceAliases': aliases.get(resource.split('/').pop()!) ?? [] });
    }
  }
  return contexts;
}

describe('the generated policy is enough for every built-in playbook (calls recorded in the sandbox)', () => {
  let h: Harness;
  let admin: AwsClients;
  let calls: Call[];
  let deliverer: AlertDeliverer;
  let policy: PolicyDocument;
  /** The request context IAM would evaluate for each resource touched: its tags and (KMS) aliases, read from the sandbox after the runs. */
  let contexts: Map<string, RequestContext>;
  let tpp: Awaited<ReturnType<typeof createTppClient>>;
  let signingSecretArn: string;
  /** The secret stored under key-exposure's KMS key (no client tag), re-encrypted by its run. */
  let underKeySecretArn: string;
  /** An API key and a secret of a client that nobody tagged: a deployment with --require-client-tag must not be able to touch them. */
  let untagged: { apiKeyId: string; secretArn: string };
  const contextOf = (c: Call): RequestContext => contexts.get(c.resource) ?? {};

  const open = async (alert: Record<string, unknown>, openedBy?: string) => {
    const parsed = parseAlert(alert);
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
    return (await deliverer.deliver(parsed.value, undefined, openedBy)).workflowId;
  };

  beforeAll(async () => {
    // The CRL goes to a bucket (the S3 path of certificates.rotate); the intel feed names the
    // address the intel-block alert comes from, so intake enrichment routes it there.
    const scratch = mkdtempSync(join(inject('scratchDir'), 'iam-policy-'));
    const feed = join(scratch, 'tor.json');
    writeFileSync(feed, stixBundle([stixIndicator(1, "[ipv4-addr:value = '185.220.101.0/24']", { confidence: 90, name: 'tor exits' })]));
    const crlBucket = uniqueId('iam-crl');
    const ipSetName = uniqueId('iam-bl');
    const webAclName = uniqueId('iam-acl');
    h = await startHarness({
      config: testConfig({
        playbooks: { throttleTtlSeconds: 2 },
        certificates: { crlDir: join(scratch, 'crl'), crlBucket },
        intel: { feeds: [{ name: 'tor', source: feed }], refreshSeconds: 0 },
        waf: { ipSetName, webAclName },
      }),
    });
    // Set-up and read-back go through clients of their own, so only the worker's calls are recorded.
    admin = createAwsClients(h.config.aws);
    await admin.s3.send(new CreateBucketCommand({ Bucket: crlBucket, CreateBucketConfiguration: { LocationConstraint: h.config.aws.region as 'eu-west-1' } }));
    // The certificate to compromise is issued (CA created) before recording starts: issuance is not a playbook action.
    const certName = uniqueId('iam-mtls');
    const issueInput: CertificateWorkflowInput = {
      action: 'issue',
      certificate: certName,
      request: { name: certName, ca: uniqueId('iam-ca'), subject: `CN=${certName}.internal.test`, dnsNames: [`${certName}.internal.test`], validitySeconds: 30 * 86_400 } as CertificateWorkflowInput['request'],
      requestedBy: 'alice',
    };
    const issued = (await h.client.workflow.execute('certificateWorkflow', { taskQueue: h.config.temporal.taskQueue, workflowId: certificateWorkflowId(certificateNameOf(certName)!), args: [issueInput] })) as CertificateWorkflowResult;
    calls = recordCalls(h.aws, h.config.aws.region);
    deliverer = new AlertDeliverer(h.client, h.config.temporal.taskQueue, playbookDefaults(h.config), { intel: configuredIntel(h.config) });

    const generated = policyFor(playbookActions(playbookFiles(SHIPPED_PLAYBOOKS_DIR)), { region: h.config.aws.region, account: ACCOUNT, clientTag: h.config.aws.clientTag });
    if (!generated.ok) throw new Error(`unknown actions ${generated.unknown.join()}`);
    policy = generated.policy;

    const done = (id: string) => waitForState(h.client, id, (s) => s.status === 'contained' && s.steps.every((x) => ['succeeded', 'skipped'].includes(x.status)), 60_000);
    const runs: Promise<unknown>[] = [];

    // credential-compromise: tagged keys and secret of a client.
    tpp = await createTppClient(admin);
    runs.push(open(alertFor({ clientId: tpp.clientId })).then(done));

    // credential-compromise again, on an API key and a secret named directly that carry no client tag.
    const bare = uniqueId('untagged');
    untagged = {
      apiKeyId: (await admin.apigw.send(new CreateApiKeyCommand({ name: `key-${bare}`, enabled: true }))).id!,
      secretArn: (await admin.sm.send(new CreateSecretCommand({ Name: `test/${bare}/oauth-client`, SecretString: JSON.stringify({ clientId: bare, clientSecret: 's'.repeat(32) }) }))).ARN!,
    };
    runs.push(open(alertFor({ apiKeyId: untagged.apiKeyId, secretId: untagged.secretArn })).then(done));

    // endpoint-abuse: throttle, then the ttl restores the previous limits (the compensation's calls count too).
    const restApiId = await createStage(admin, { rate: 100, burst: 200 });
    runs.push(
      open(alertFor({ endpoint: { restApiId, stage: 'prod' } }, { type: 'endpoint.abuse' })).then((id) =>
        waitForState(h.client, id, (s) => s.steps[0]?.status === 'compensated', 60_000),
      ),
    );

    // key-exposure: KMS key rotated on demand, a signing secret rotated, and a secret stored under the key re-encrypted.
    const keyId = (await admin.kms.send(new CreateKeyCommand({ Description: 'iam policy test' }))).KeyMetadata!.KeyId!;
    const signing = await admin.sm.send(new CreateSecretCommand({ Name: uniqueId('signing'), SecretString: JSON.stringify({ key: 'k'.repeat(32) }) }));
    underKeySecretArn = (await admin.sm.send(new CreateSecretCommand({ Name: uniqueId('under-key'), KmsKeyId: keyId, SecretString: JSON.stringify({ password: 'p'.repeat(24) }) }))).ARN!;
    signingSecretArn = signing.ARN!;
    runs.push(open(alertFor({ kmsKeyId: keyId, secretId: signing.ARN! }, { type: 'key.exposed' })).then(done));

    // aws-credential-compromise: access key deactivated, role sessions revoked, key deleted after approval.
    const userName = uniqueId('svc');
    await admin.iam.send(new CreateUserCommand({ UserName: userName }));
    const accessKeyId = (await admin.iam.send(new CreateAccessKeyCommand({ UserName: userName }))).AccessKey!.AccessKeyId!;
    const roleName = uniqueId('role');
    await admin.iam.send(new CreateRoleCommand({ RoleName: roleName, AssumeRolePolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [] }) }));
    runs.push(
      open(alertFor({ awsAccessKeyId: accessKeyId, iamUserName: userName, iamRoleName: roleName }, { type: 'aws-credential.compromised' }), 'operator:bob').then(async (id) => {
        await waitForState(h.client, id, (s) => s.status === 'awaiting-approval');
        await h.client.workflow.getHandle(id).executeUpdate(approveUpdate, { args: [{ step: 'delete-access-key', by: 'alice' }] });
        return done(id);
      }),
    );

    // tpp-offboarding: keys, secrets and the Cognito app client (two approvals).
    const leaving = await createTppClient(admin);
    const userPoolId = (await admin.cognito.send(new CreateUserPoolCommand({ PoolName: uniqueId('pool') }))).UserPool!.Id!;
    const appClientId = (await admin.cognito.send(new CreateUserPoolClientCommand({ UserPoolId: userPoolId, ClientName: leaving.clientId, GenerateSecret: true }))).UserPoolClient!.ClientId!;
    runs.push(
      open(alertFor({ clientId: leaving.clientId, userPoolId, appClientId }, { type: 'client.offboard' }), 'operator:bob').then(async (id) => {
        await waitForState(h.client, id, (s) => s.status === 'awaiting-approval');
        const handle = h.client.workflow.getHandle(id);
        await handle.executeUpdate(approveUpdate, { args: [{ step: 'revoke-oauth-client', by: 'erin' }] });
        await handle.executeUpdate(approveUpdate, { args: [{ step: 'revoke-oauth-client', by: 'alice' }] });
        return done(id);
      }),
    );

    // certificate-compromise: re-issued from the KMS-backed CA, old serial revoked, CRL published to S3.
    runs.push(open(alertFor({ certificateArn: issued.certificate!.secretArn }, { type: 'certificate.compromised', severity: 'critical' })).then(done));

    // intel-block: the source address (on the feed) blocked in the WAF IP set, the endpoint throttled until the ttl.
    const abused = await createStage(admin, { rate: 100, burst: 200 });
    runs.push(
      open(alertFor({ endpoint: { restApiId: abused, stage: 'prod' }, sourceIp: '185.220.101.44' }, { type: 'endpoint.abuse', source: 'waf-logs' })).then(async (id) => {
        const s = await waitForState(h.client, id, (st) => st.steps.find((x) => x.id === 'throttle-endpoint')?.status === 'compensated', 60_000);
        if (s.plan?.playbook !== 'intel-block') throw new Error(`intel alert routed to ${s.plan?.playbook}`);
      }),
    );

    // posture-unprotected-endpoint: the default throttle on a payment endpoint after an approval.
    const unprotected = await createStage(admin);
    runs.push(
      open(
        alertFor({ endpoint: { restApiId: unprotected, stage: 'prod' } }, { type: 'posture.unprotected-endpoint', source: 'bulwark-inventory', details: { message: 'no throttling', classification: 'payment', needsThrottling: true } }),
      ).then(async (id) => {
        await waitForState(h.client, id, (s) => s.steps.find((x) => x.id === 'default-throttle')?.status === 'awaiting-approval');
        await h.client.workflow.getHandle(id).executeUpdate(approveUpdate, { args: [{ step: 'default-throttle', by: 'alice' }] });
        return done(id);
      }),
    );

    // No playbook matches: triage only notifies.
    runs.push(open(alertFor({ clientId: uniqueId('x') }, { type: 'anomaly.detected' })).then(done));

    await Promise.all(runs);

    // KMS keys and secrets named by id, alias or name are judged by IAM on their ARN.
    for (const c of calls) {
      if (!c.unresolved) continue;
      const { kind, id } = c.unresolved;
      c.resource =
        kind === 'kms'
          ? id.startsWith('arn:') && id.includes(':key/') ? id : (await admin.kms.send(new DescribeKeyCommand({ KeyId: id }))).KeyMetadata!.Arn!
          : id.startsWith('arn:') ? id : (await admin.sm.send(new DescribeSecretCommand({ SecretId: id }))).ARN!;
    }
    contexts = await requestContexts(admin, [...new Set(calls.map((c) => c.resource))]);
  }, 240_000);
  afterAll(() => h?.close());

  it('ran every built-in playbook, calling each AWS service they use', () => {
    expect([...RAN_PLAYBOOKS].sort()).toEqual(playbookFiles(SHIPPED_PLAYBOOKS_DIR).map((f) => f.split('/').pop()!).sort());
    const services = new Set(calls.map((c) => c.action.split(':')[0]));
    expect([...services].sort()).toEqual(['apigateway', 'cognito-idp', 'iam', 'kms', 's3', 'secretsmanager', 'wafv2']);
    expect(calls.length).toBeGreaterThan(40);
    // The re-encryption and the CRL in S3 did real work (not just a lookup that found nothing).
    expect(calls.map((c) => c.action)).toEqual(expect.arrayContaining(['secretsmanager:PutSecretValue', 'kms:Sign', 's3:PutObject', 's3:GetObject', 'secretsmanager:UpdateSecret', 'wafv2:UpdateIPSet']));
  });

  it('`bulwark iam policy` prints exactly that policy', async () => {
    const r = await runCli(h, ['iam', 'policy', '--account', ACCOUNT]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(policy);
    const bad = await runCli(h, ['iam', 'policy', '--account', '12ab']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--account must be a 12-digit AWS account id/);
  });

  it('every recorded call (action + resource, conditions judged on the resource) is allowed by the generated policy', () => {
    const denied = calls.map((c) => authorize(policy, { ...c, context: contextOf(c) })).filter((v) => !v.allowed).map((v) => (v.allowed ? '' : v.reason));
    expect([...new Set(denied)]).toEqual([]);
    // The contexts are real: the tagged client's secret carries its tag, the untagged one none, KMS keys list their aliases.
    expect(contexts.get(tpp.secretArn)).toMatchObject({ [`aws:ResourceTag/${h.config.aws.clientTag}`]: tpp.clientId });
    expect(contexts.get(untagged.secretArn)).toEqual({});
    expect([...contexts.values()].some((c) => Array.isArray(c['kms:ResourceAliases']) && c['kms:ResourceAliases'].length > 0)).toBe(true);
  });

  describe('with --require-client-tag, the aws:ResourceTag conditions are evaluated per call', () => {
    const tag = () => `aws:ResourceTag/${h.config.aws.clientTag}`;
    const tagged = (c: Call) => contextOf(c)[tag()] !== undefined;
    const onUntagged = (c: Call) => c.resource === untagged.secretArn || c.resource.endsWith(`/apikeys/${untagged.apiKeyId}`);
    const onClient = (c: Call) => c.resource === tpp.secretArn || tpp.apiKeyIds.some((id) => c.resource.endsWith(`/apikeys/${id}`));
    const tagPolicy = (files: string[]) => {
      const r = policyFor(playbookActions(files), { region: h.config.aws.region, account: ACCOUNT, clientTag: h.config.aws.clientTag, requireClientTag: true });
      if (!r.ok) throw new Error(r.unknown.join());
      return r.policy;
    };

    it('a playbook run on resources without the client tag is caught: every call through a tag-confined grant is denied, naming the tag', () => {
      const p = tagPolicy([join(SHIPPED_PLAYBOOKS_DIR, 'credential-compromise.yaml')]);
      const untaggedCalls = calls.filter(onUntagged);
      // The run really changed the untagged key and secret (the sandbox enforces no IAM).
      expect(untaggedCalls.map((c) => c.action)).toEqual(expect.arrayContaining(['apigateway:PATCH', 'secretsmanager:PutSecretValue', 'secretsmanager:UpdateSecretVersionStage']));
      const confined = untaggedCalls.filter((c) => c.action === 'apigateway:PATCH' || c.action.startsWith('secretsmanager:'));
      for (const c of confined) {
        // Action and resource alone would pass: only the condition catches it.
        expect(allows(p, c.action, c.resource), `${c.action} on ${c.resource}`).toBe(true);
        const v = authorize(p, { ...c, context: contextOf(c) });
        expect(v.allowed, `${c.action} on ${c.resource}`).toBe(false);
        if (!v.allowed) expect(v.reason).toContain(`Null ${tag()}: must be present, is absent`);
      }
      // The same playbook on the tagged client's key and secret passes the same policy.
      const clientCalls = calls.filter(onClient);
      expect(clientCalls.map((c) => c.action)).toEqual(expect.arrayContaining(['apigateway:PATCH', 'secretsmanager:UpdateSecretVersionStage']));
      expect(clientCalls.filter((c) => !authorize(p, { ...c, context: contextOf(c) }).allowed)).toEqual([]);
    });

    it('for the whole shipped set: exactly the calls on untagged resources that only a tag-confined grant covers are denied', () => {
      const p = tagPolicy(playbookFiles(SHIPPED_PLAYBOOKS_DIR));
      const denied = calls.filter((c) => !authorize(p, { ...c, context: contextOf(c) }).allowed);
      expect(denied.every((c) => !tagged(c)), denied.map((c) => `${c.action} on ${c.resource}`).join('\n')).toBe(true);
      const deniedOn = new Set(denied.map((c) => `${c.action} ${c.resource}`));
      expect(deniedOn).toContain(`apigateway:PATCH arn:aws:apigateway:${h.config.aws.region}::/apikeys/${untagged.apiKeyId}`);
      expect(deniedOn).toContain(`secretsmanager:UpdateSecretVersionStage ${untagged.secretArn}`);
      // key-exposure rotates a signing secret that is not a client's: under --require-client-tag its
      // rotation cannot finish (AWSCURRENT cannot move) unless the secret is tagged.
      expect(deniedOn).toContain(`secretsmanager:UpdateSecretVersionStage ${signingSecretArn}`);
      // No grant reads or writes an untagged secret: secrets.reencrypt is tag-confined too, so the
      // secret key-exposure re-encrypts (untagged here) is denied as well, and certificates.rotate
      // covers only the CA's own secrets.
      for (const action of ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue', 'secretsmanager:UpdateSecret', 'secretsmanager:UpdateSecretVersionStage']) {
        expect(authorize(p, { action, resource: untagged.secretArn, context: {} }).allowed, action).toBe(false);
      }
      expect(deniedOn).toContain(`secretsmanager:PutSecretValue ${underKeySecretArn}`);
    });
  });

  it("certificates.rotate's policy covers exactly bulwark's CA keys and certificate secrets: the re-issue passes, other secrets and untagged look-alikes do not", async () => {
    const r = policyFor(['certificates.rotate'], { region: h.config.aws.region, account: ACCOUNT, clientTag: h.config.aws.clientTag });
    if (!r.ok) throw new Error(r.unknown.join());
    const p = r.policy;
    // The calls of the certificate-compromise run: on resources carrying the CA tag (read from moto).
    const caCalls = calls.filter((c) => contextOf(c)['aws:ResourceTag/bulwark:ca'] !== undefined);
    expect(new Set(caCalls.map((c) => c.action))).toEqual(new Set(['kms:GetPublicKey', 'kms:Sign', 'kms:GenerateDataKey', 'secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue', 'secretsmanager:TagResource', 'secretsmanager:UpdateSecret']));
    expect(caCalls.filter((c) => !authorize(p, { ...c, context: contextOf(c) }).allowed)).toEqual([]);
    // A client's secret, an untagged secret and a key-exposure KMS key: not by this policy.
    for (const resource of [tpp.secretArn, untagged.secretArn, signingSecretArn]) {
      for (const action of ['secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue']) expect(authorize(p, { action, resource, context: contexts.get(resource) ?? {} }).allowed, `${action} on ${resource}`).toBe(false);
    }
    const otherKey = calls.find((c) => c.action === 'kms:RotateKeyOnDemand')!.resource;
    expect(authorize(p, { action: 'kms:DescribeKey', resource: otherKey, context: contexts.get(otherKey) ?? {} }).allowed).toBe(false);
    // A secret under the certificates' name that bulwark did not create (no CA tag): the name alone does not let it through.
    const impostor = (await admin.sm.send(new CreateSecretCommand({ Name: `bulwark/certificates/${uniqueId('impostor')}`, SecretString: JSON.stringify({ note: 'not a bundle' }) }))).ARN!;
    const context = (await requestContexts(admin, [impostor])).get(impostor)!;
    expect(allows(p, 'secretsmanager:PutSecretValue', impostor)).toBe(true);
    const v = authorize(p, { action: 'secretsmanager:PutSecretValue', resource: impostor, context });
    expect(v.allowed).toBe(false);
    if (!v.allowed) expect(v.reason).toContain('Null aws:ResourceTag/bulwark:ca: must be present, is absent');
  });

  it('kms:ResourceAliases conditions are judged on the aliases KMS reports for the key', () => {
    // The certificate run signs with its CA's KMS key, which has an alias.
    const signs = calls.filter((c) => c.action === 'kms:Sign');
    expect(signs.length).toBeGreaterThan(0);
    const aliases = contextOf(signs[0]!)['kms:ResourceAliases'] as string[];
    expect(aliases.length).toBeGreaterThan(0);
    const withAlias = (alias: string) => {
      const r = policyFor(['notify.operators'], { region: h.config.aws.region, account: ACCOUNT, clientTag: h.config.aws.clientTag, auditSigningKeyId: alias });
      if (!r.ok) throw new Error(r.unknown.join());
      return r.policy;
    };
    for (const c of signs) {
      expect(authorize(withAlias(aliases[0]!), { ...c, context: contextOf(c) }).allowed).toBe(true);
      const other = authorize(withAlias('alias/not-this-key'), { ...c, context: contextOf(c) });
      expect(other.allowed).toBe(false);
      if (!other.allowed) expect(other.reason).toMatch(/ForAnyValue:StringEquals kms:ResourceAliases: no value of \[.*\] matches \["alias\/not-this-key"\]/);
    }
  });

  it('for the playbooks run here, the policy has no permission the runs did not need, beyond conditional code paths', () => {
    const used = new Set(calls.map((c) => c.action.toLowerCase()));
    const ran = policyFor(playbookActions(RAN_PLAYBOOKS.map((f) => join(SHIPPED_PLAYBOOKS_DIR, f))), { region: h.config.aws.region, account: ACCOUNT, clientTag: h.config.aws.clientTag });
    if (!ran.ok) throw new Error(ran.unknown.join());
    const granted = ran.policy.Statement.flatMap((s) => s.Action);
    // Paths the happy runs do not take: compensations (EnableKey, reactivation), lookup of an owner,
    // and the webhook OAuth provider; anything else granted but unused would be excess.
    // kms:Decrypt / kms:GenerateDataKey are used by Secrets Manager on the caller's behalf when it
    // re-encrypts secrets (no SDK call of ours to record).
    // UpdateWebACL only when the configured web ACL exists without the blocking rule.
    const conditional = new Set([
      'kms:disablekey',
      'kms:enablekey',
      'iam:getaccesskeylastused',
      'cognito-idp:updateuserpoolclient',
      'cognito-idp:deleteuserpoolclient',
      'kms:decrypt',
      'kms:generatedatakey',
      'wafv2:updatewebacl',
    ]);
    const unused = granted.filter((a) => !used.has(a.toLowerCase()) && !conditional.has(a.toLowerCase()));
    expect(unused).toEqual([]);
  });

  it('a permission removed from the policy is detected: the calls that needed it are denied', () => {
    const without = (action: string): PolicyDocument => ({ ...policy, Statement: policy.Statement.map((s) => ({ ...s, Action: s.Action.filter((a) => a !== action) })) });
    for (const removed of ['secretsmanager:PutSecretValue', 'apigateway:PATCH', 'iam:PutRolePolicy', 'kms:RotateKeyOnDemand', 'cognito-idp:CreateUserPoolClient', 'kms:Sign', 's3:PutObject', 'wafv2:UpdateIPSet', 'secretsmanager:UpdateSecret']) {
      const p = without(removed);
      const denied = calls.filter((c) => !allows(p, c.action, c.resource));
      expect(denied.length, removed).toBeGreaterThan(0);
      expect(new Set(denied.map((c) => c.action))).toEqual(new Set([removed]));
    }
    // A resource narrowed to another account is detected too.
    const otherAccount: PolicyDocument = { ...policy, Statement: policy.Statement.map((s) => ({ ...s, Resource: s.Resource.map((r) => r.replace(ACCOUNT, '999999999999')) })) };
    expect(calls.filter((c) => !allows(otherAccount, c.action, c.resource)).map((c) => c.action)).toContain('secretsmanager:PutSecretValue');
  });
});
