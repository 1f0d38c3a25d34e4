/**
 * Least privilege (issue 8 §3): the IAM permissions each playbook action needs, and the minimal
 * policy for a set of actions. Pure data and logic: `bulwark iam policy` feeds it the actions of the
 * playbooks in use and the region/account from config.
 *
 * Every action in domain/playbooks/actions.ts must have an entry here (an empty list when it calls
 * no AWS API); test/iam-policy.test.ts fails otherwise, and proves the entries are enough by
 * checking every AWS call the worker makes while running the built-in playbooks against the policy.
 *
 * Resource templates use {partition}, {region}, {account} and {crlBucket} (any bucket unless given). API Gateway's IAM actions are the
 * HTTP verbs on resource paths (apigateway:GET on arn:aws:apigateway:region::/apikeys/…).
 */

export interface PermissionGrant {
  actions: readonly string[];
  resources: readonly string[];
  /**
   * The resources are selected by the client tag (API keys and secrets of a client), so a
   * `aws:ResourceTag/<clientTag>` condition can confine the grant to tagged resources.
   */
  clientTagged?: boolean;
  /** A condition that always applies: the resources are bulwark's own and carry a tag it sets. */
  condition?: PolicyStatement['Condition'];
}

const KEY = 'arn:{partition}:kms:{region}:{account}:key/*';
const SECRET = 'arn:{partition}:secretsmanager:{region}:{account}:secret:*';
const USER = 'arn:{partition}:iam::{account}:user/*';
const ROLE = 'arn:{partition}:iam::{account}:role/*';
const USER_POOL = 'arn:{partition}:cognito-idp:{region}:{account}:userpool/*';
const APIGW = 'arn:{partition}:apigateway:{region}::';
const IP_SET = 'arn:{partition}:wafv2:{region}:{account}:regional/ipset/*/*';
const SES_IDENTITY = 'arn:{partition}:ses:{region}:{account}:identity/*';
// A CA's secret and its certificates' secrets live under these names (domain/certificates/model.ts),
// and they and the CA's two KMS keys carry this tag from creation (activities/certificates.ts).
const CA_SECRETS = ['arn:{partition}:secretsmanager:{region}:{account}:secret:bulwark/ca/*', 'arn:{partition}:secretsmanager:{region}:{account}:secret:bulwark/certificates/*'];
const CA_TAGGED = { Null: { 'aws:ResourceTag/bulwark:ca': 'false' } };

const secretRotation: PermissionGrant[] = [
  // ListSecrets has no resource-level permissions: finding a client's secrets by tag needs '*'.
  { actions: ['secretsmanager:ListSecrets'], resources: ['*'] },
  {
    actions: ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue', 'secretsmanager:UpdateSecretVersionStage'],
    resources: [SECRET],
    clientTagged: true,
  },
];

/** Playbook action → what it calls in AWS. Entries for actions still being built are kept here so the policy is ready when they land. */
export const ACTION_PERMISSIONS: Readonly<Record<string, readonly PermissionGrant[]>> = {
  'apigateway.disableApiKey': [
    { actions: ['apigateway:GET'], resources: [`${APIGW}/apikeys`, `${APIGW}/apikeys/*`] },
    { actions: ['apigateway:PATCH'], resources: [`${APIGW}/apikeys/*`], clientTagged: true },
  ],
  'apigateway.throttle': [
    // GetAccount: the account-level default limits, for the snapshot taken before throttling.
    { actions: ['apigateway:GET'], resources: [`${APIGW}/account`, `${APIGW}/restapis/*/stages/*`] },
    { actions: ['apigateway:PATCH'], resources: [`${APIGW}/restapis/*/stages/*`] },
  ],
  'secrets.rotate': secretRotation,
  // Secrets Manager decrypts and re-encrypts on the caller's behalf: the caller needs Decrypt on the
  // old key and GenerateDataKey on the new one (activities/reencrypt.ts).
  'secrets.reencrypt': [
    { actions: ['kms:ListAliases', 'secretsmanager:ListSecrets'], resources: ['*'] },
    { actions: ['kms:DescribeKey', 'kms:Decrypt', 'kms:GenerateDataKey'], resources: [KEY] },
    // Any secret can sit under a compromised key; with --require-client-tag only the client-tagged
    // ones can be re-encrypted (an untagged one fails its step, named, instead of being touched).
    { actions: ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue', 'secretsmanager:UpdateSecret'], resources: [SECRET], clientTagged: true },
  ],
  'kms.rotate': [{ actions: ['kms:DescribeKey', 'kms:ListKeyRotations', 'kms:RotateKeyOnDemand'], resources: [KEY] }],
  // EnableKey is the compensation.
  'kms.disableKey': [{ actions: ['kms:DescribeKey', 'kms:DisableKey', 'kms:EnableKey'], resources: [KEY] }],
  // GetAccessKeyLastUsed finds the owner of a key given without its user; UpdateAccessKey back to Active is the compensation.
  'iam.deactivateAccessKey': [{ actions: ['iam:GetAccessKeyLastUsed', 'iam:ListAccessKeys', 'iam:UpdateAccessKey'], resources: [USER] }],
  'iam.deleteAccessKey': [{ actions: ['iam:GetAccessKeyLastUsed', 'iam:ListAccessKeys', 'iam:DeleteAccessKey'], resources: [USER] }],
  'iam.revokeRoleSessions': [{ actions: ['iam:GetRolePolicy', 'iam:PutRolePolicy'], resources: [ROLE] }],
  'oauth.revokeClient': [
    {
      actions: ['cognito-idp:DescribeUserPoolClient', 'cognito-idp:ListUserPoolClients', 'cognito-idp:CreateUserPoolClient', 'cognito-idp:UpdateUserPoolClient', 'cognito-idp:DeleteUserPoolClient'],
      resources: [USER_POOL],
    },
    // The webhook provider needs no AWS permission: a playbook step sends no bearer token (the
    // activity's optional `authorizationRef` is not reachable from a playbook).
  ],
  'notify.operators': [],
  wait: [],
  'slack.notify': [],
  // Classification is pure; the notifications it starts are e-mailed through SES.
  'regulators.assess': [{ actions: ['ses:SendEmail'], resources: [SES_IDENTITY] }],
  // The existing CA's KMS key signs the replacement; the bundle (key sealed with a data key) is a
  // new version of its secret; the CRL is published to S3 (with certificates.crlBucket) and read
  // back. Re-issue only: creating a CA or a certificate's first secret (kms:ListKeys,
  // ListResourceTags, CreateKey; secretsmanager:CreateSecret) is `bulwark cert`, not a playbook, and
  // the expiry scanner's ListSecretVersionIds is not a playbook path either. Only bulwark's own CA
  // keys and certificate secrets: by name and by the tag bulwark sets on them.
  'certificates.rotate': [
    { actions: ['kms:DescribeKey', 'kms:GetPublicKey', 'kms:Sign', 'kms:GenerateDataKey'], resources: [KEY], condition: CA_TAGGED },
    { actions: ['secretsmanager:ListSecrets'], resources: ['*'] },
    {
      actions: ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue', 'secretsmanager:TagResource', 'secretsmanager:UpdateSecret'],
      resources: CA_SECRETS,
      condition: CA_TAGGED,
    },
    { actions: ['s3:GetObject', 's3:PutObject'], resources: ['arn:{partition}:s3:::{crlBucket}/*'] },
  ],
  // IP sets (v4 and v6) and the web ACL rule that references them (activities/waf.ts). The List
  // actions have no resource-level permissions: '*'.
  'waf.blockIps': [
    { actions: ['wafv2:ListIPSets', 'wafv2:ListWebACLs'], resources: ['*'] },
    { actions: ['wafv2:CreateIPSet', 'wafv2:GetIPSet', 'wafv2:UpdateIPSet'], resources: [IP_SET] },
    { actions: ['wafv2:CreateWebACL', 'wafv2:GetWebACL', 'wafv2:UpdateWebACL'], resources: ['arn:{partition}:wafv2:{region}:{account}:regional/webacl/*/*', IP_SET] },
  ],
  // The consent store is an HTTPS API of its own: no AWS permission.
  'consents.list': [],
  'consents.revoke': [],
};

/**
 * What the rotation engine's setSecret targets call (domain/rotation/target.ts), on top of the
 * secret rotation itself: `bulwark iam policy --rotation-target <kind>` adds them for the targets in
 * use, so a deployment that uses none gets none of these.
 */
export const ROTATION_TARGET_PERMISSIONS: Readonly<Record<'apigateway-key' | 'https' | 'cognito-app-client', readonly PermissionGrant[]>> = {
  'apigateway-key': [
    { actions: ['apigateway:GET'], resources: [`${APIGW}/apikeys`, `${APIGW}/apikeys/*`, `${APIGW}/usageplans`] },
    { actions: ['apigateway:POST'], resources: [`${APIGW}/apikeys`, `${APIGW}/usageplans/*/keys`] },
    { actions: ['apigateway:PATCH'], resources: [`${APIGW}/apikeys/*`] },
  ],
  https: [],
  // Add on setSecret; List before it and to verify; Delete on retirement or a failed test (activities/rotation-cognito.ts).
  'cognito-app-client': [
    { actions: ['cognito-idp:AddUserPoolClientSecret', 'cognito-idp:DeleteUserPoolClientSecret', 'cognito-idp:ListUserPoolClientSecrets'], resources: [USER_POOL] },
  ],
};

export interface PolicyContext {
  region: string;
  /** 12-digit account id, or '*' for any. */
  account: string;
  partition?: string;
  clientTag: string;
  /** Add `aws:ResourceTag/<clientTag>` conditions to grants on client-tagged resources. */
  requireClientTag?: boolean;
  /** Config-driven needs outside playbooks (payload codec, audit signing, audit object-lock bucket). */
  codecKeyId?: string;
  auditSigningKeyId?: string;
  auditBucket?: string;
  /** The bucket certificates.rotate publishes the CRL to (certificates.crlBucket); omitted: any bucket. */
  crlBucket?: string;
  /** setSecret targets the rotation engine uses (ROTATION_TARGET_PERMISSIONS), with the secret rotation they belong to. */
  rotationTargets?: readonly (keyof typeof ROTATION_TARGET_PERMISSIONS)[];
}

export interface PolicyStatement {
  Sid: string;
  Effect: 'Allow';
  Action: string[];
  Resource: string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

export interface PolicyDocument {
  Version: '2012-10-17';
  Statement: PolicyStatement[];
}

export type PolicyResult = { ok: true; policy: PolicyDocument } | { ok: false; unknown: string[] };

const fill = (template: string, ctx: PolicyContext) =>
  template.replaceAll('{partition}', ctx.partition ?? 'aws').replaceAll('{region}', ctx.region).replaceAll('{account}', ctx.account).replaceAll('{crlBucket}', ctx.crlBucket ?? '*');

/** A KMS key named in config: ARN as is, a bare key id as its ARN, an alias via kms:ResourceAliases. */
function keyGrant(keyId: string, actions: string[], ctx: PolicyContext): { grant: PermissionGrant; condition?: PolicyStatement['Condition'] } {
  if (keyId.startsWith('arn:') && keyId.includes(':key/')) return { grant: { actions, resources: [keyId] } };
  if (keyId.startsWith('arn:') && keyId.includes(':alias/')) keyId = keyId.slice(keyId.indexOf('alias/'));
  if (keyId.startsWith('alias/')) return { grant: { actions, resources: [KEY] }, condition: { 'ForAnyValue:StringEquals': { 'kms:ResourceAliases': keyId } } };
  return { grant: { actions, resources: [`arn:{partition}:kms:{region}:{account}:key/${keyId}`] } };
}

/**
 * The minimal policy for these playbook actions: one statement per distinct resource set (and
 * condition), actions sorted, so the output is stable and reviewable. Unknown actions are refused.
 */
export function policyFor(actions: Iterable<string>, ctx: PolicyContext): PolicyResult {
  const names = [...new Set(actions)].sort();
  const unknown = names.filter((a) => !Object.hasOwn(ACTION_PERMISSIONS, a));
  if (unknown.length) return { ok: false, unknown };
  const grants: { grant: PermissionGrant; purpose: string; condition?: PolicyStatement['Condition'] }[] = [];
  for (const name of names) for (const grant of ACTION_PERMISSIONS[name]!) grants.push({ grant, purpose: name });
  for (const kind of new Set(ctx.rotationTargets ?? [])) for (const grant of [...secretRotation, ...ROTATION_TARGET_PERMISSIONS[kind]]) grants.push({ grant, purpose: `rotation-target:${kind}` });
  if (ctx.codecKeyId) grants.push({ ...keyGrant(ctx.codecKeyId, ['kms:GenerateDataKey', 'kms:Decrypt'], ctx), purpose: 'codec' });
  if (ctx.auditSigningKeyId) grants.push({ ...keyGrant(ctx.auditSigningKeyId, ['kms:DescribeKey', 'kms:Sign', 'kms:Verify'], ctx), purpose: 'audit-signing' });
  if (ctx.auditBucket) {
    grants.push({ grant: { actions: ['s3:ListBucket', 's3:GetBucketObjectLockConfiguration'], resources: [`arn:{partition}:s3:::${ctx.auditBucket}`] }, purpose: 'audit-store' });
    grants.push({ grant: { actions: ['s3:PutObject', 's3:GetObject', 's3:GetObjectRetention', 's3:PutObjectRetention'], resources: [`arn:{partition}:s3:::${ctx.auditBucket}/*`] }, purpose: 'audit-store' });
  }

  const byScope = new Map<string, { actions: Set<string>; resources: string[]; condition?: PolicyStatement['Condition']; purposes: Set<string> }>();
  for (const { grant, purpose, condition: given } of grants) {
    const resources = grant.resources.map((r) => fill(r, ctx)).sort();
    const condition = given ?? grant.condition ?? (ctx.requireClientTag && grant.clientTagged ? { Null: { [`aws:ResourceTag/${ctx.clientTag}`]: 'false' } } : undefined);
    const key = JSON.stringify([resources, condition ?? null]);
    const entry = byScope.get(key) ?? { actions: new Set<string>(), resources, condition, purposes: new Set<string>() };
    grant.actions.forEach((a) => entry.actions.add(a));
    entry.purposes.add(purpose);
    byScope.set(key, entry);
  }
  const statements = [...byScope.values()].map((s, i) => ({
    Sid: sid(s.actions, i),
    Effect: 'Allow' as const,
    Action: [...s.actions].sort(),
    Resource: s.resources,
    ...(s.condition ? { Condition: s.condition } : {}),
  }));
  statements.sort((a, b) => a.Sid.localeCompare(b.Sid));
  return { ok: true, policy: { Version: '2012-10-17', Statement: statements } };
}

/** A readable statement id: the services it covers plus its position (Sids must be unique and alphanumeric). */
function sid(actions: Set<string>, i: number): string {
  const services = [...new Set([...actions].map((a) => a.split(':')[0]!))].sort();
  return `${services.map((s) => s.replace(/[^A-Za-z0-9]/g, '').replace(/^./, (c) => c.toUpperCase())).join('')}${String(i + 1).padStart(2, '0')}`;
}

/** IAM-style wildcard match: `*` any run of characters, `?` one; actions compare case-insensitively. */
export function wildcardMatch(pattern: string, value: string, caseInsensitive = false): boolean {
  const re = new RegExp(`^${pattern.split('').map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&'))).join('')}$`, caseInsensitive ? 'i' : '');
  return re.test(value);
}

/**
 * Whether an Allow statement of the policy covers this call (action and resource). Conditions are
 * not evaluated here (they need request context); `authorize` in domain/iam-conditions.ts judges a
 * call with its context, conditions included.
 */
export function allows(policy: PolicyDocument, action: string, resource: string): boolean {
  return policy.Statement.some(
    (s) => s.Effect === 'Allow' && s.Action.some((a) => wildcardMatch(a, action, true)) && s.Resource.some((r) => wildcardMatch(r, resource)),
  );
}
