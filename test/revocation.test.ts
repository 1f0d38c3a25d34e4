import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApplicationFailure } from '@temporalio/common';
import {
  CreateAccessKeyCommand,
  CreateRoleCommand,
  CreateUserCommand,
  GetRolePolicyCommand,
  ListAccessKeysCommand,
  PutRolePolicyCommand,
} from '@aws-sdk/client-iam';
import {
  AdminCreateUserCommand,
  AdminInitiateAuthCommand,
  AdminSetUserPasswordCommand,
  CreateUserPoolClientCommand,
  CreateUserPoolCommand,
  DescribeUserPoolClientCommand,
  ListUserPoolClientsCommand,
} from '@aws-sdk/client-cognito-identity-provider';
import { CreateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { createAwsClients, type AwsClients } from '../activities/clients.js';
import { createCognitoActivities, replacementName, replacementSuffix } from '../activities/cognito.js';
import { createIamActivities, REVOKE_SESSIONS_POLICY } from '../activities/iam.js';
import { basicAuth, createOAuthActivities, formEncode, type SecretValueRef } from '../activities/oauth.js';
import { testConfig, uniqueId } from './support.js';
import { OAuthTestServer } from './support/oauth-server.js';

let aws: AwsClients;
beforeAll(() => {
  aws = createAwsClients(testConfig().aws);
});

/** The ApplicationFailure an activity threw (anything else, or success, fails the test). */
async function failureOf(p: Promise<unknown>): Promise<ApplicationFailure> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(ApplicationFailure);
    return err as ApplicationFailure;
  }
  throw new Error('expected the activity to fail, but it succeeded');
}

/** No secret value anywhere in what an activity hands back to the workflow (result or failure). */
function expectNoSecrets(value: unknown, secrets: string[]): void {
  const text = value instanceof Error ? `${value.message}\n${JSON.stringify(value)}` : JSON.stringify(value);
  for (const s of secrets) {
    expect(s.length).toBeGreaterThan(8);
    expect(text).not.toContain(s);
  }
}

async function awsError(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return (err as Error).name;
  }
  return 'no error';
}

describe('IAM access keys', () => {
  async function userWithKey() {
    const userName = uniqueId('leaky-user');
    await aws.iam.send(new CreateUserCommand({ UserName: userName }));
    const key = (await aws.iam.send(new CreateAccessKeyCommand({ UserName: userName }))).AccessKey!;
    return { userName, accessKeyId: key.AccessKeyId!, secretAccessKey: key.SecretAccessKey! };
  }
  const statusOf = async (userName: string, accessKeyId: string) =>
    (await aws.iam.send(new ListAccessKeysCommand({ UserName: userName }))).AccessKeyMetadata?.find((k) => k.AccessKeyId === accessKeyId)?.Status;

  it('deactivates a key found by id alone, reads it back, and reports a second run as unchanged', async () => {
    const iam = createIamActivities({ iam: aws.iam });
    const { userName, accessKeyId, secretAccessKey } = await userWithKey();
    expect(await statusOf(userName, accessKeyId)).toBe('Active');

    const first = await iam.deactivateAccessKey({ accessKeyId });
    expect(first).toMatchObject({ accessKeyId, userName, status: 'Inactive', changed: true });
    expect(await statusOf(userName, accessKeyId)).toBe('Inactive');

    const second = await iam.deactivateAccessKey({ accessKeyId, userName });
    expect(second).toMatchObject({ accessKeyId, userName, status: 'Inactive', changed: false });
    expect(await statusOf(userName, accessKeyId)).toBe('Inactive');
    expectNoSecrets([first, second], [secretAccessKey]);
  });

  it('reactivates a deactivated key as the compensation', async () => {
    const iam = createIamActivities({ iam: aws.iam });
    const { userName, accessKeyId } = await userWithKey();
    await iam.deactivateAccessKey({ accessKeyId, userName });
    expect(await iam.reactivateAccessKey({ accessKeyId })).toMatchObject({ status: 'Active', changed: true, userName });
    expect(await statusOf(userName, accessKeyId)).toBe('Active');
    expect((await iam.reactivateAccessKey({ accessKeyId })).changed).toBe(false);
  });

  it('refuses to delete an Active key; deletes an Inactive one once, and a rerun finds it gone', async () => {
    const iam = createIamActivities({ iam: aws.iam });
    const { userName, accessKeyId } = await userWithKey();

    const refused = await failureOf(iam.deleteAccessKey({ accessKeyId, userName }));
    expect(refused.nonRetryable).toBe(true);
    expect(refused.type).toBe('AccessKeyStillActive');
    expect(refused.message).toMatch(/is Active; only an Inactive key may be deleted/);
    expect(await statusOf(userName, accessKeyId)).toBe('Active');

    await iam.deactivateAccessKey({ accessKeyId, userName });
    expect(await iam.deleteAccessKey({ accessKeyId, userName })).toMatchObject({ accessKeyId, userName, deleted: true });
    expect(await statusOf(userName, accessKeyId)).toBeUndefined();
    expect(await iam.deleteAccessKey({ accessKeyId, userName })).toMatchObject({ deleted: false });
  });

  it('an unknown key or user fails at once, not retried', async () => {
    const iam = createIamActivities({ iam: aws.iam });
    const unknownKey = await failureOf(iam.deactivateAccessKey({ accessKeyId: 'AKIAAAAAAAAAAAAAAAAA' }));
    expect(unknownKey.nonRetryable).toBe(true);
    expect(unknownKey.message).toMatch(/GetAccessKeyLastUsed on access key AKIAAAAAAAAAAAAAAAAA failed: NoSuchEntity/);
    const unknownUser = await failureOf(iam.deleteAccessKey({ accessKeyId: 'AKIAAAAAAAAAAAAAAAAA', userName: uniqueId('nobody') }));
    expect(unknownUser.nonRetryable).toBe(true);
    expect(unknownUser.message).toMatch(/ListAccessKeys on IAM user nobody-.* failed: NoSuchEntity/);
  });
});

describe('IAM role sessions', () => {
  const trust = JSON.stringify({
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }],
  });
  async function role(): Promise<string> {
    const roleName = uniqueId('tpp-role');
    await aws.iam.send(new CreateRoleCommand({ RoleName: roleName, AssumeRolePolicyDocument: trust }));
    return roleName;
  }
  const policyOf = async (roleName: string) => {
    const p = await aws.iam.send(new GetRolePolicyCommand({ RoleName: roleName, PolicyName: REVOKE_SESSIONS_POLICY }));
    return JSON.parse(decodeURIComponent(p.PolicyDocument!)) as Record<string, unknown>;
  };

  it('puts the console’s AWSRevokeOlderSessions policy: Deny * on * for tokens issued before the cut-off', async () => {
    const iam = createIamActivities({ iam: aws.iam });
    const roleName = await role();
    const cutoff = '2026-11-26T09:30:00.000Z';
    const evidence = await iam.revokeRoleSessions({ roleName, issuedBefore: cutoff });
    expect(evidence).toMatchObject({ roleName, policyName: 'AWSRevokeOlderSessions', issuedBefore: cutoff, changed: true });
    expect(evidence.previousIssuedBefore).toBeUndefined();
    expect(await policyOf(roleName)).toEqual({
      Version: '2012-10-17',
      Statement: {
        Effect: 'Deny',
        Action: '*',
        Resource: '*',
        Condition: { DateLessThan: { 'aws:TokenIssueTime': cutoff } },
      },
    });
  });

  it('is idempotent, and the cut-off only moves forward', async () => {
    const iam = createIamActivities({ iam: aws.iam });
    const roleName = await role();
    const t1 = '2026-11-26T10:00:00.000Z';
    await iam.revokeRoleSessions({ roleName, issuedBefore: t1 });

    // The same instant in another notation is the same cut-off.
    expect(await iam.revokeRoleSessions({ roleName, issuedBefore: '2026-11-26T11:00:00+01:00' })).toMatchObject({ issuedBefore: t1, changed: false });

    const earlier = await iam.revokeRoleSessions({ roleName, issuedBefore: '2026-11-26T09:00:00.000Z' });
    expect(earlier).toMatchObject({ issuedBefore: t1, changed: false });
    expect((await policyOf(roleName)).Statement).toMatchObject({ Condition: { DateLessThan: { 'aws:TokenIssueTime': t1 } } });

    const t2 = '2026-11-26T12:00:00.000Z';
    expect(await iam.revokeRoleSessions({ roleName, issuedBefore: t2 })).toMatchObject({ issuedBefore: t2, previousIssuedBefore: t1, changed: true });
    expect((await policyOf(roleName)).Statement).toMatchObject({ Condition: { DateLessThan: { 'aws:TokenIssueTime': t2 } } });
  });

  it('replaces a policy of that name in another shape, and fails at once for a missing role or a bad instant', async () => {
    const iam = createIamActivities({ iam: aws.iam });
    const roleName = await role();
    await aws.iam.send(
      new PutRolePolicyCommand({
        RoleName: roleName,
        PolicyName: REVOKE_SESSIONS_POLICY,
        PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:GetObject', Resource: '*' }] }),
      }),
    );
    const t = '2026-11-26T13:00:00.000Z';
    expect(await iam.revokeRoleSessions({ roleName, issuedBefore: t })).toMatchObject({ changed: true, issuedBefore: t });
    expect((await policyOf(roleName)).Statement).toMatchObject({ Effect: 'Deny', Condition: { DateLessThan: { 'aws:TokenIssueTime': t } } });

    const missing = await failureOf(iam.revokeRoleSessions({ roleName: uniqueId('no-role'), issuedBefore: t }));
    expect(missing.nonRetryable).toBe(true);
    expect(missing.message).toMatch(/PutRolePolicy on role no-role-.* failed: NoSuchEntity/);
    const bad = await failureOf(iam.revokeRoleSessions({ roleName, issuedBefore: 'yesterday' }));
    expect(bad).toMatchObject({ nonRetryable: true, type: 'InvalidInput' });
  });
});

describe('Cognito app clients', () => {
  const settings = {
    AllowedOAuthFlowsUserPoolClient: true,
    AllowedOAuthFlows: ['code' as const],
    AllowedOAuthScopes: ['openid', 'email'],
    CallbackURLs: ['https://tpp.example/callback'],
    SupportedIdentityProviders: ['COGNITO'],
    ExplicitAuthFlows: ['ALLOW_ADMIN_USER_PASSWORD_AUTH' as const, 'ALLOW_REFRESH_TOKEN_AUTH' as const],
    RefreshTokenValidity: 7,
  };
  async function poolWithClient() {
    const userPoolId = (await aws.cognito.send(new CreateUserPoolCommand({ PoolName: uniqueId('pool') }))).UserPool!.Id!;
    const c = (await aws.cognito.send(new CreateUserPoolClientCommand({ UserPoolId: userPoolId, ClientName: 'tpp-acme', GenerateSecret: true, ...settings })))
      .UserPoolClient!;
    return { userPoolId, clientId: c.ClientId!, clientSecret: c.ClientSecret! };
  }
  const describeClient = (userPoolId: string, clientId: string) =>
    aws.cognito.send(new DescribeUserPoolClientCommand({ UserPoolId: userPoolId, ClientId: clientId })).then((r) => r.UserPoolClient!);
  const clientIds = async (userPoolId: string) =>
    ((await aws.cognito.send(new ListUserPoolClientsCommand({ UserPoolId: userPoolId, MaxResults: 60 }))).UserPoolClients ?? []).map((c) => c.ClientId!);

  it('replaces the client with one with the same settings and a new secret, deletes the old one, and a rerun creates nothing', async () => {
    const cognito = createCognitoActivities({ cognito: aws.cognito });
    const { userPoolId, clientId, clientSecret } = await poolWithClient();
    const idempotencyKey = `incident-${uniqueId('x')}/rotate-client`;

    const first = await cognito.rotateAppClientSecret({ userPoolId, clientId, idempotencyKey });
    expect(first).toMatchObject({ userPoolId, oldClientId: clientId, created: true, newClientHasSecret: true, oldClient: 'deleted', oldClientChanged: true });
    expect(first.newClientId).not.toBe(clientId);
    expect(first.newClientName).toMatch(/^tpp-acme-rotated-[0-9a-f]{12}$/);

    const fresh = await describeClient(userPoolId, first.newClientId);
    expect(fresh.ClientSecret).toBeTruthy();
    expect(fresh.ClientSecret).not.toBe(clientSecret);
    expect(fresh).toMatchObject(settings);
    expect(await awsError(describeClient(userPoolId, clientId))).toBe('ResourceNotFoundException');
    // The compromised client can no longer be used to sign in.
    expect(
      await awsError(
        aws.cognito.send(new AdminInitiateAuthCommand({ UserPoolId: userPoolId, ClientId: clientId, AuthFlow: 'ADMIN_USER_PASSWORD_AUTH', AuthParameters: { USERNAME: 'u', PASSWORD: 'p' } })),
      ),
    ).toBe('ResourceNotFoundException');

    const again = await cognito.rotateAppClientSecret({ userPoolId, clientId, idempotencyKey });
    expect(again).toMatchObject({ newClientId: first.newClientId, created: false, oldClientChanged: false, oldClient: 'deleted' });
    expect(await clientIds(userPoolId)).toEqual([first.newClientId]);
    expectNoSecrets([first, again], [clientSecret, fresh.ClientSecret!]);

    // Another key for a client that is already gone cannot be satisfied: not retried.
    const gone = await failureOf(cognito.rotateAppClientSecret({ userPoolId, clientId, idempotencyKey: `${idempotencyKey}-other` }));
    expect(gone).toMatchObject({ nonRetryable: true, type: 'NotFound' });
  });

  it('resumes after a crash between creating the replacement and retiring the old client', async () => {
    const cognito = createCognitoActivities({ cognito: aws.cognito });
    const { userPoolId, clientId } = await poolWithClient();
    const idempotencyKey = uniqueId('crash');
    // What an attempt that died right after CreateUserPoolClient leaves behind.
    const orphan = (
      await aws.cognito.send(
        new CreateUserPoolClientCommand({
          UserPoolId: userPoolId,
          ClientName: replacementName('tpp-acme', replacementSuffix(clientId, idempotencyKey)),
          GenerateSecret: true,
          ...settings,
        }),
      )
    ).UserPoolClient!.ClientId!;

    const resumed = await cognito.rotateAppClientSecret({ userPoolId, clientId, idempotencyKey });
    expect(resumed).toMatchObject({ newClientId: orphan, created: false, oldClientChanged: true });
    expect(await clientIds(userPoolId)).toEqual([orphan]);
  });

  it('with retire=disable keeps the old client but turns off its OAuth flows', async () => {
    const cognito = createCognitoActivities({ cognito: aws.cognito });
    const { userPoolId, clientId, clientSecret } = await poolWithClient();
    const idempotencyKey = uniqueId('disable');

    const first = await cognito.rotateAppClientSecret({ userPoolId, clientId, idempotencyKey, retire: 'disable' });
    expect(first).toMatchObject({ created: true, oldClient: 'disabled', oldClientChanged: true });
    const old = await describeClient(userPoolId, clientId);
    expect(old.AllowedOAuthFlowsUserPoolClient).toBe(false);
    expect(old.AllowedOAuthFlows ?? []).toEqual([]);
    expect(old.AllowedOAuthScopes ?? []).toEqual([]);
    expect(old.CallbackURLs ?? []).toEqual([]);
    expect(old.ExplicitAuthFlows).toEqual(['ALLOW_REFRESH_TOKEN_AUTH']);
    expect(old.ClientName).toBe('tpp-acme');
    expect(await describeClient(userPoolId, first.newClientId)).toMatchObject(settings);

    const again = await cognito.rotateAppClientSecret({ userPoolId, clientId, idempotencyKey, retire: 'disable' });
    expect(again).toMatchObject({ newClientId: first.newClientId, created: false, oldClientChanged: false });
    expect((await clientIds(userPoolId)).sort()).toEqual([clientId, first.newClientId].sort());
    expectNoSecrets([first, again], [clientSecret]);
  });

  it('refuses a public client (nothing to rotate) and a missing pool, without retrying', async () => {
    const cognito = createCognitoActivities({ cognito: aws.cognito });
    const { userPoolId } = await poolWithClient();
    const pub = (await aws.cognito.send(new CreateUserPoolClientCommand({ UserPoolId: userPoolId, ClientName: 'spa' }))).UserPoolClient!.ClientId!;
    expect(await failureOf(cognito.rotateAppClientSecret({ userPoolId, clientId: pub, idempotencyKey: 'k' }))).toMatchObject({ nonRetryable: true, type: 'NoClientSecret' });
    expect(await clientIds(userPoolId)).toHaveLength(2);
    const noPool = await failureOf(cognito.rotateAppClientSecret({ userPoolId: 'eu-west-1_nopool00', clientId: pub, idempotencyKey: 'k' }));
    expect(noPool.nonRetryable).toBe(true);
    expect(noPool.message).toMatch(/ListUserPoolClients on user pool eu-west-1_nopool00 failed: ResourceNotFoundException/);
  });

  it('global sign-out invalidates the users’ refresh tokens; unknown users are reported', async () => {
    const cognito = createCognitoActivities({ cognito: aws.cognito });
    const userPoolId = (await aws.cognito.send(new CreateUserPoolCommand({ PoolName: uniqueId('pool') }))).UserPool!.Id!;
    const clientId = (
      await aws.cognito.send(
        new CreateUserPoolClientCommand({ UserPoolId: userPoolId, ClientName: 'app', ExplicitAuthFlows: ['ALLOW_ADMIN_USER_PASSWORD_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH'] }),
      )
    ).UserPoolClient!.ClientId!;
    const username = uniqueId('alice');
    const password = 'Corr3ct-Horse-Battery!';
    await aws.cognito.send(new AdminCreateUserCommand({ UserPoolId: userPoolId, Username: username }));
    await aws.cognito.send(new AdminSetUserPasswordCommand({ UserPoolId: userPoolId, Username: username, Password: password, Permanent: true }));
    const login = await aws.cognito.send(
      new AdminInitiateAuthCommand({ UserPoolId: userPoolId, ClientId: clientId, AuthFlow: 'ADMIN_USER_PASSWORD_AUTH', AuthParameters: { USERNAME: username, PASSWORD: password } }),
    );
    const refreshToken = login.AuthenticationResult!.RefreshToken!;
    const refresh = () =>
      aws.cognito.send(new AdminInitiateAuthCommand({ UserPoolId: userPoolId, ClientId: clientId, AuthFlow: 'REFRESH_TOKEN_AUTH', AuthParameters: { REFRESH_TOKEN: refreshToken } }));
    expect((await refresh()).AuthenticationResult?.AccessToken).toBeTruthy();

    const ghost = uniqueId('ghost');
    const evidence = await cognito.globalSignOutUsers({ userPoolId, usernames: [username, ghost] });
    expect(evidence.signedOut.map((s) => s.username)).toEqual([username]);
    expect(evidence.notFound).toEqual([ghost]);
    expect(await awsError(refresh())).toBe('NotAuthorizedException');
    expect((await cognito.globalSignOutUsers({ userPoolId, usernames: [username] })).signedOut).toHaveLength(1);
    expectNoSecrets(evidence, [refreshToken, password]);
  });
});

describe('OAuth 2.0 revocation (RFC 7009) and client-disable webhook', () => {
  const server = new OAuthTestServer();
  let base: string;
  beforeAll(async () => {
    base = await server.start();
  });
  afterAll(async () => {
    await server.stop();
  });

  /** A TPP's credentials stored in (moto's) Secrets Manager, as the workflow only ever sees them: by reference. */
  async function storedClient() {
    const { clientId, clientSecret } = server.registerClient();
    const accessToken = server.issueToken(clientId, 'access_token');
    const refreshToken = server.issueToken(clientId, 'refresh_token');
    const secret = await aws.sm.send(
      new CreateSecretCommand({ Name: `test/${uniqueId('oauth')}/tpp`, SecretString: JSON.stringify({ clientId, clientSecret, accessToken, refreshToken }) }),
    );
    const ref = (jsonField: string): SecretValueRef => ({ secretId: secret.ARN!, jsonField });
    return { clientId, clientSecret, accessToken, refreshToken, ref, secrets: [clientSecret, accessToken, refreshToken] };
  }
  const activities = () => createOAuthActivities({ sm: aws.sm });

  it('revokes each token with a form body and HTTP Basic client auth, verified by introspection', async () => {
    const c = await storedClient();
    const input = {
      endpoint: `${base}/revoke`,
      introspectionEndpoint: `${base}/introspect`,
      clientAuth: { clientIdRef: c.ref('clientId'), clientSecretRef: c.ref('clientSecret') },
      tokens: [
        { tokenRef: c.ref('refreshToken'), hint: 'refresh_token' },
        { tokenRef: c.ref('accessToken'), hint: 'access_token' },
      ],
    };
    const before = server.requestsTo('/revoke').length;
    const evidence = await activities().revokeTokens(input);
    expect(evidence.revoked).toMatchObject([
      { tokenRef: c.ref('refreshToken'), hint: 'refresh_token', httpStatus: 200, verified: 'introspection' },
      { tokenRef: c.ref('accessToken'), hint: 'access_token', httpStatus: 200, verified: 'introspection' },
    ]);
    expect(server.isActive(c.refreshToken)).toBe(false);
    expect(server.isActive(c.accessToken)).toBe(false);

    const sent = server.requestsTo('/revoke').slice(before);
    expect(sent).toHaveLength(2);
    expect(sent[0]!.method).toBe('POST');
    expect(sent[0]!.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(sent[0]!.body).toBe(`token=${formEncode(c.refreshToken)}&token_type_hint=refresh_token`);
    expect(sent[1]!.body).toBe(`token=${formEncode(c.accessToken)}&token_type_hint=access_token`);
    // RFC 6749 §2.3.1: id and secret form-encoded, then base64 — the test secret contains ":", "+", "/" and "=".
    const expectedAuth = `Basic ${Buffer.from(`${encodeURIComponent(c.clientId)}:${encodeURIComponent(c.clientSecret)}`).toString('base64')}`;
    expect(sent[0]!.headers.authorization).toBe(expectedAuth);
    expect(basicAuth(c.clientId, c.clientSecret)).toBe(expectedAuth);
    expect(sent[0]!.body).not.toContain('client_secret');
    expectNoSecrets(evidence, c.secrets);

    // Safe to repeat: RFC 7009 answers 200 for an already revoked token.
    expect((await activities().revokeTokens(input)).revoked.map((r) => r.httpStatus)).toEqual([200, 200]);
  });

  it('a 200 that did not revoke is caught by introspection and retried, not recorded as done', async () => {
    const c = await storedClient();
    server.ignoreRevocations = true;
    try {
      const f = await failureOf(
        activities().revokeTokens({
          endpoint: `${base}/revoke`,
          introspectionEndpoint: `${base}/introspect`,
          clientAuth: { clientIdRef: c.ref('clientId'), clientSecretRef: c.ref('clientSecret') },
          tokens: [{ tokenRef: c.ref('accessToken'), hint: 'access_token' }],
        }),
      );
      expect(f).toMatchObject({ nonRetryable: false, type: 'NotVerified' });
      expect(f.message).toMatch(/still reads as active after revocation/);
      expectNoSecrets(f, c.secrets);
    } finally {
      server.ignoreRevocations = false;
    }
    expect(server.isActive(c.accessToken)).toBe(true);
  });

  it('can send client credentials in the body (client_secret_post) and resolve refs with an injected resolver', async () => {
    const { clientId, clientSecret } = server.registerClient();
    const token = server.issueToken(clientId, 'access_token');
    const vault: Record<string, string> = { 'vault:secret': clientSecret, 'vault:token': token };
    const oauth = createOAuthActivities({ resolveSecretRef: async (ref) => vault[ref.secretId]! });
    const before = server.requestsTo('/revoke').length;
    await oauth.revokeTokens({
      endpoint: `${base}/revoke`,
      clientAuth: { clientId, clientSecretRef: { secretId: 'vault:secret' }, method: 'client_secret_post' },
      tokens: [{ tokenRef: { secretId: 'vault:token' } }],
    });
    const [sent] = server.requestsTo('/revoke').slice(before);
    expect(sent!.headers.authorization).toBeUndefined();
    expect(Object.fromEntries(new URLSearchParams(sent!.body))).toEqual({ token, client_id: clientId, client_secret: clientSecret });
    expect(server.isActive(token)).toBe(false);
  });

  it('503 is retryable (honouring Retry-After) and a later attempt succeeds', async () => {
    const c = await storedClient();
    const input = {
      endpoint: `${base}/revoke`,
      clientAuth: { clientIdRef: c.ref('clientId'), clientSecretRef: c.ref('clientSecret') },
      tokens: [{ tokenRef: c.ref('accessToken'), hint: 'access_token' }],
    };
    server.failNext(1, 503, { error: 'temporarily_unavailable' }, { path: '/revoke', headers: { 'retry-after': '3' } });
    const f = await failureOf(activities().revokeTokens(input));
    expect(f.nonRetryable).toBe(false);
    expect(f.type).toBe('ServiceUnavailable');
    expect(f.message).toMatch(/HTTP 503 temporarily_unavailable; retry after 3 s/);
    expect(f.nextRetryDelay).toBe(3000);
    expect(server.isActive(c.accessToken)).toBe(true);
    expectNoSecrets(f, c.secrets);

    await activities().revokeTokens(input);
    expect(server.isActive(c.accessToken)).toBe(false);
  });

  it('400 unsupported_token_type is not retryable, names the reason, and never echoes the token', async () => {
    const c = await storedClient();
    server.unsupportedTokenTypes.add('access_token');
    server.echoTokenInErrors = true;
    try {
      const f = await failureOf(
        activities().revokeTokens({
          endpoint: `${base}/revoke`,
          clientAuth: { clientIdRef: c.ref('clientId'), clientSecretRef: c.ref('clientSecret') },
          tokens: [
            { tokenRef: c.ref('refreshToken'), hint: 'refresh_token' },
            { tokenRef: c.ref('accessToken'), hint: 'access_token' },
          ],
        }),
      );
      expect(f.nonRetryable).toBe(true);
      expect(f.type).toBe('unsupported_token_type');
      expect(f.message).toMatch(/token 2\/2 .*#accessToken.*HTTP 400 unsupported_token_type \(cannot revoke \[redacted\]\); 1 earlier token\(s\) were revoked/);
      // The server really did put the token in its answer; our message must not carry it on.
      expect(server.requestsTo('/revoke').at(-1)!.body).toContain(formEncode(c.accessToken));
      expectNoSecrets(f, c.secrets);
      expect(server.isActive(c.refreshToken)).toBe(false);
      expect(server.isActive(c.accessToken)).toBe(true);
    } finally {
      server.unsupportedTokenTypes.clear();
      server.echoTokenInErrors = false;
    }
  });

  it('401 invalid_client is not retryable and does not reveal the wrong secret', async () => {
    const c = await storedClient();
    const wrong = await aws.sm.send(new CreateSecretCommand({ Name: `test/${uniqueId('oauth')}/wrong`, SecretString: JSON.stringify({ clientSecret: 'definitely-not-the-secret-123' }) }));
    const f = await failureOf(
      activities().revokeTokens({
        endpoint: `${base}/revoke`,
        clientAuth: { clientId: c.clientId, clientSecretRef: { secretId: wrong.ARN!, jsonField: 'clientSecret' } },
        tokens: [{ tokenRef: c.ref('accessToken') }],
      }),
    );
    expect(f).toMatchObject({ nonRetryable: true, type: 'invalid_client' });
    expect(f.message).toMatch(/HTTP 401 invalid_client/);
    expectNoSecrets(f, [...c.secrets, 'definitely-not-the-secret-123']);
    expect(server.isActive(c.accessToken)).toBe(true);
  });

  it('a missing secret field, plain http off loopback, and an unreachable server are classified correctly', async () => {
    const c = await storedClient();
    const badRef = await failureOf(activities().revokeTokens({ endpoint: `${base}/revoke`, tokens: [{ tokenRef: c.ref('idToken') }] }));
    expect(badRef).toMatchObject({ nonRetryable: true, type: 'SecretRefInvalid' });
    expect(badRef.message).toContain('has no non-empty string field idToken');

    const before = server.requests.length;
    const insecure = await failureOf(activities().revokeTokens({ endpoint: 'http://auth.tpp.example/revoke', tokens: [{ tokenRef: c.ref('accessToken') }] }));
    expect(insecure).toMatchObject({ nonRetryable: true, type: 'InvalidEndpoint' });
    expect(server.requests.length).toBe(before);

    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const down = await failureOf(activities().revokeTokens({ endpoint: `http://127.0.0.1:${port}/revoke`, tokens: [{ tokenRef: c.ref('accessToken') }] }));
    expect(down).toMatchObject({ nonRetryable: false, type: 'NetworkError' });
    expect(down.message).toContain('ECONNREFUSED');
    expectNoSecrets(down, c.secrets);
  });

  it('disables a client through the webhook with an Idempotency-Key, reads the status back, and a retry does not act twice', async () => {
    const { clientId } = server.registerClient();
    const webhookToken = `whk_${uniqueId('t')}${uniqueId('u')}`;
    server.webhookToken = webhookToken;
    try {
      const stored = await aws.sm.send(new CreateSecretCommand({ Name: `test/${uniqueId('oauth')}/webhook`, SecretString: webhookToken }));
      const oauth = activities();
      const input = {
        url: `${base}/clients/disable`,
        statusUrl: `${base}/clients/{clientId}`,
        clientId,
        idempotencyKey: `incident-1/${uniqueId('step')}`,
        reason: 'credential compromise',
        authorizationRef: { secretId: stored.ARN! },
      };
      const before = server.requestsTo('/clients/disable').length;
      const first = await oauth.disableOAuthClient(input);
      expect(first).toMatchObject({ clientId, httpStatus: 200, status: 'disabled', verified: 'status-endpoint' });
      expect(server.clientStatus(clientId)).toBe('disabled');
      const [sent] = server.requestsTo('/clients/disable').slice(before);
      expect(sent!.headers['idempotency-key']).toBe(input.idempotencyKey);
      expect(sent!.headers['content-type']).toBe('application/json');
      expect(sent!.headers.authorization).toBe(`Bearer ${webhookToken}`);
      expect(JSON.parse(sent!.body)).toEqual({ clientId, action: 'disable', reason: 'credential compromise' });
      expectNoSecrets(first, [webhookToken]);

      expect(await oauth.disableOAuthClient(input)).toMatchObject({ status: 'disabled', verified: 'status-endpoint' });
      const both = server.requestsTo('/clients/disable').slice(before);
      expect(both.map((r) => r.headers['idempotency-key'])).toEqual([input.idempotencyKey, input.idempotencyKey]);
      expect(both[1]!.body).toBe(both[0]!.body);

      const reused = await failureOf(oauth.disableOAuthClient({ ...input, reason: 'something else' }));
      expect(reused).toMatchObject({ nonRetryable: true, type: 'IdempotencyKeyReused' });

      server.failNext(1, 503, { error: 'down for maintenance' }, { path: '/clients/disable' });
      const unavailable = await failureOf(oauth.disableOAuthClient({ ...input, idempotencyKey: uniqueId('k') }));
      expect(unavailable).toMatchObject({ nonRetryable: false, type: 'ServiceUnavailable' });

      const unknown = await failureOf(oauth.disableOAuthClient({ ...input, clientId: 'no-such-client', idempotencyKey: uniqueId('k') }));
      expect(unknown).toMatchObject({ nonRetryable: true, type: 'HTTP404' });

      const unauthorised = await failureOf(createOAuthActivities({ resolveSecretRef: async () => 'wrong-token-value-xyz' }).disableOAuthClient({ ...input, idempotencyKey: uniqueId('k') }));
      expect(unauthorised).toMatchObject({ nonRetryable: true, type: 'HTTP401' });
      expectNoSecrets([reused, unavailable, unknown, unauthorised], [webhookToken, 'wrong-token-value-xyz']);
    } finally {
      server.webhookToken = undefined;
    }
  });
});
