import { createHmac, randomInt } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AddUserPoolClientSecretCommand,
  AdminCreateUserCommand,
  CreateUserPoolClientCommand,
  CreateUserPoolCommand,
  DeleteUserPoolClientSecretCommand,
  DescribeUserPoolClientCommand,
  InitiateAuthCommand,
  ListUserPoolClientSecretsCommand,
} from '@aws-sdk/client-cognito-identity-provider';
import { CreateSecretCommand, DescribeSecretCommand, GetSecretValueCommand, PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { ApplicationFailure } from '@temporalio/common';
import { createRotationTargetActivities } from '../activities/rotation-targets.js';
import { locateMoto, MOTO_SANDBOX } from '../devstack/tools.js';
import { rotationToken } from '../activities/secrets.js';
import { startSecretRotation } from '../cli/commands/rotate.js';
import { policyFor } from '../domain/iam-policy.js';
import { checkCognitoSecret, COGNITO_SECRET_GENERATOR, cognitoGeneratorProblem } from '../domain/rotation/cognito-secret.js';
import { generateValue, GeneratorPolicy, type GeneratorPolicyInput } from '../domain/rotation/generator.js';
import { parseRotationFile } from '../domain/rotation/policy.js';
import { RotationTarget } from '../domain/rotation/target.js';
import { secretRotationProgressQuery } from '../workflows/rotation.js';
import { failureOf, historyText, runCli, startHarness, uniqueId, waitFor, type Harness } from './support.js';

/**
 * The Cognito app-client setSecret target, against moto with the sandbox extension for the
 * client-secret APIs (devstack/moto_sandbox.py). What is observable and honest: Cognito lists
 * secret ids, never values, so "the client holds the value in AWSCURRENT" is proven the way Cognito
 * itself checks a secret — InitiateAuth with a SECRET_HASH computed from that value is accepted (the
 * USER_SRP_AUTH first step checks the hash before any password) — and ids are read back with
 * ListUserPoolClientSecrets.
 */
let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h?.close());

const USER = 'svc-user';

interface Client {
  userPoolId: string;
  clientId: string;
  original: string;
}

async function appClient(opts: { secret?: boolean } = {}): Promise<Client> {
  const pool = await h.aws.cognito.send(new CreateUserPoolCommand({ PoolName: uniqueId('pool') }));
  const userPoolId = pool.UserPool!.Id!;
  const c = await h.aws.cognito.send(
    new CreateUserPoolClientCommand({ UserPoolId: userPoolId, ClientName: uniqueId('tpp'), GenerateSecret: opts.secret ?? true, ExplicitAuthFlows: ['ALLOW_USER_SRP_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH'] }),
  );
  await h.aws.cognito.send(new AdminCreateUserCommand({ UserPoolId: userPoolId, Username: USER, MessageAction: 'SUPPRESS' }));
  return { userPoolId, clientId: c.UserPoolClient!.ClientId!, original: c.UserPoolClient!.ClientSecret ?? '' };
}

/** A client, and a secret holding its client secret the way an application reads it. */
async function rotatable() {
  const client = await appClient();
  const name = `test/${uniqueId('cognito')}`;
  const created = await h.aws.sm.send(new CreateSecretCommand({ Name: name, SecretString: JSON.stringify({ clientId: client.clientId, clientSecret: client.original }) }));
  const [originalId] = await secretIds(client);
  const target = { kind: 'cognito-app-client' as const, userPoolId: client.userPoolId, clientId: client.clientId };
  return { ...client, name, arn: created.ARN!, versionId: created.VersionId!, originalId: originalId!, target };
}

async function secretIds(c: Pick<Client, 'userPoolId' | 'clientId'>): Promise<string[]> {
  const r = await h.aws.cognito.send(new ListUserPoolClientSecretsCommand({ UserPoolId: c.userPoolId, ClientId: c.clientId }));
  // Never a value in a listing.
  expect((r.ClientSecrets ?? []).every((s) => s.ClientSecretValue === undefined)).toBe(true);
  return (r.ClientSecrets ?? []).map((s) => s.ClientSecretId!);
}

/** Whether Cognito accepts a SECRET_HASH made with `value` for this client (any of its secrets). */
async function accepts(c: Pick<Client, 'clientId'>, value: string): Promise<boolean> {
  const hash = createHmac('sha256', value).update(USER + c.clientId).digest('base64');
  try {
    const r = await h.aws.cognito.send(new InitiateAuthCommand({ ClientId: c.clientId, AuthFlow: 'USER_SRP_AUTH', AuthParameters: { USERNAME: USER, SRP_A: '1234', SECRET_HASH: hash } }));
    return r.ChallengeName === 'PASSWORD_VERIFIER';
  } catch (err) {
    if ((err as { name?: string }).name === 'NotAuthorizedException') return false;
    throw err;
  }
}

const rotate = (input: Parameters<typeof startSecretRotation>[2]) => startSecretRotation(h.client, h.config.temporal.taskQueue, input);
const stages = async (id: string) => (await h.aws.sm.send(new DescribeSecretCommand({ SecretId: id }))).VersionIdsToStages ?? {};
const holder = async (id: string, label: string) => Object.entries(await stages(id)).find(([, l]) => l.includes(label))?.[0];
const clientSecretIn = async (id: string, stage: string) => (JSON.parse((await h.aws.sm.send(new GetSecretValueCommand({ SecretId: id, VersionStage: stage }))).SecretString!) as { clientSecret: string }).clientSecret;

describe('rotation through the Cognito app-client target', () => {
  it('adds the new value as a second client secret before AWSCURRENT moves, both work during the grace period, then the old one is deleted', async () => {
    const s = await rotatable();
    expect(await accepts(s, s.original)).toBe(true);
    const started = await rotate({ secretId: s.name, strategy: 'single-user', target: s.target, grace: '5s' });

    await waitFor(async () => (await started.handle.query(secretRotationProgressQuery)).phase === 'grace', 'the grace period', 30_000);
    const during = await secretIds(s);
    const newValue = await clientSecretIn(s.name, 'AWSCURRENT');
    expect(during).toHaveLength(2);
    expect(during[0]).toBe(s.originalId);
    expect(await accepts(s, newValue)).toBe(true);
    expect(await accepts(s, s.original)).toBe(true);

    const r = await started.result();
    // The target's default generator: 48 letters and digits, which Cognito accepts.
    expect(newValue).toMatch(/^[A-Za-z0-9]{48}$/);
    expect(await holder(s.name, 'AWSCURRENT')).toBe(r.versionId);
    expect(await holder(s.name, 'AWSPREVIOUS')).toBe(s.versionId);
    expect(r.setSecret).toEqual({ kind: 'cognito-app-client', clientId: s.clientId, clientSecretId: during[1], priorClientSecretIds: [s.originalId], versionId: r.versionId, changed: true });
    expect(r.retirement).toMatchObject({ retired: true, evidence: { kind: 'cognito-app-client', deletedClientSecretIds: [s.originalId], versionId: s.versionId, changed: true } });

    expect(await secretIds(s)).toEqual([during[1]]);
    expect(await accepts(s, newValue)).toBe(true);
    expect(await accepts(s, s.original)).toBe(false);
    // The sandbox reports the remaining secret, as moto reported the only one before.
    expect((await h.aws.cognito.send(new DescribeUserPoolClientCommand({ UserPoolId: s.userPoolId, ClientId: s.clientId }))).UserPoolClient?.ClientSecret).toBe(newValue);

    const text = await historyText(started.handle);
    expect(text).toContain(during[1]);
    for (const v of [s.original, newValue]) expect(text).not.toContain(v);
    expect(JSON.stringify(r)).not.toContain(newValue);
  });

  it('a failed testSecret deletes the new client secret again; AWSCURRENT and the old secret are untouched', async () => {
    const s = await rotatable();
    const verifier: Server = createServer((_req, res) => res.writeHead(403).end());
    await new Promise<void>((r) => verifier.listen(0, '127.0.0.1', r));
    try {
      const started = await rotate({ secretId: s.name, strategy: 'single-user', target: s.target, verifyUrl: `http://127.0.0.1:${(verifier.address() as { port: number }).port}/verify` });
      const failure = await failureOf(started.result());
      expect(failure.message).toMatch(/refused the new credential \(HTTP 403\)[\s\S]*AWSCURRENT is unchanged/);
      expect(await holder(s.name, 'AWSCURRENT')).toBe(s.versionId);
      expect(await holder(s.name, 'AWSPENDING')).toBeUndefined();
      expect(await secretIds(s)).toEqual([s.originalId]);
      expect(await accepts(s, s.original)).toBe(true);
      const progress = (await started.handle.query(secretRotationProgressQuery)).progress.map((p) => p.message).join('\n');
      expect(progress).toMatch(/setSecret: app client \S+ holds the new value as client secret/);
    } finally {
      verifier.close();
    }
  });

  it('a generator that can make values Cognito refuses is refused before anything is written', async () => {
    const s = await rotatable();
    const failure = await failureOf((await rotate({ secretId: s.name, strategy: 'single-user', target: s.target, generator: { kind: 'token', length: 40 } })).result());
    expect(failure.message).toMatch(/^generator: the token alphabet has 1 character\(s\) Cognito refuses \(-\).*exclude "-"/);
    expect(Object.keys(await stages(s.name))).toEqual([s.versionId]);
    expect(await secretIds(s)).toEqual([s.originalId]);
  });
});

describe('the Cognito target activities', () => {
  const act = () => createRotationTargetActivities({ sm: h.aws.sm, apigw: h.aws.apigw, cognito: h.aws.cognito });
  const alnum = (n: number) => Array.from({ length: n }, () => 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'[randomInt(62)]).join('');
  async function pending(s: Awaited<ReturnType<typeof rotatable>>, value: string) {
    const idempotencyKey = `test/${uniqueId('rotation')}`;
    await h.aws.sm.send(
      new PutSecretValueCommand({ SecretId: s.arn, ClientRequestToken: rotationToken(idempotencyKey), SecretString: JSON.stringify({ clientId: s.clientId, clientSecret: value }), VersionStages: ['AWSPENDING'] }),
    );
    return { secretArn: s.arn, idempotencyKey, strategy: 'single-user' as const, target: s.target };
  }
  const rejection = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e as ApplicationFailure);

  it('a retried setSecret finds its secret and adds no third; a full client is refused naming its secrets; revoking the pending one deletes exactly it', async () => {
    const s = await rotatable();
    const a = act();
    const value = alnum(40);
    const step = await pending(s, value);
    const { clientSecretIds: prior } = await a.rotationCognitoClientSecrets({ target: s.target });
    expect(prior).toEqual([s.originalId]);
    const first = await a.rotationSetSecret({ ...step, priorClientSecretIds: prior });
    const retried = await a.rotationSetSecret({ ...step, priorClientSecretIds: prior });
    expect(first.changed).toBe(true);
    expect(retried).toEqual({ ...first, changed: false });
    expect(await secretIds(s)).toEqual([s.originalId, first.clientSecretId]);
    expect(await accepts(s, value)).toBe(true);

    // Another rotation finds two secrets, neither its own: refused, nothing added.
    const other = await pending(s, alnum(40));
    const full = (await a.rotationCognitoClientSecrets({ target: s.target })).clientSecretIds;
    const err = await rejection(a.rotationSetSecret({ ...other, priorClientSecretIds: full }));
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err!.type).toBe('TargetFull');
    expect(err!.nonRetryable).toBe(true);
    expect(err!.message).toContain(`already holds 2 client secrets (${s.originalId} created `);
    expect(err!.message).toContain(first.clientSecretId);
    expect(err!.message).toMatch(/Cognito allows 2 per client/);
    expect(await secretIds(s)).toEqual([s.originalId, first.clientSecretId]);

    // testSecret failed for the first: its secret goes, the original stays; a retry finds nothing to do.
    const version = rotationToken(step.idempotencyKey);
    const revoked = await a.rotationRevokeAtTarget({ ...step, versionId: version, set: first });
    expect(revoked).toMatchObject({ deletedClientSecretIds: [first.clientSecretId], changed: true });
    expect(await secretIds(s)).toEqual([s.originalId]);
    expect(await a.rotationRevokeAtTarget({ ...step, versionId: version, set: first })).toMatchObject({ deletedClientSecretIds: [], changed: false });
    expect(await accepts(s, value)).toBe(false);
  });

  it('a pending value Cognito would refuse is refused without calling Cognito and without quoting it', async () => {
    const s = await rotatable();
    const a = act();
    const bad = `${alnum(20)}-${alnum(20)}`;
    const step = await pending(s, bad);
    const err = await rejection(a.rotationSetSecret({ ...step, priorClientSecretIds: [s.originalId] }));
    expect(err?.type).toBe('InvalidParameters');
    expect(err?.message).toMatch(/cannot be a Cognito client secret \(1 character\(s\) other than letters, digits, _ and \+\)/);
    expect(err?.message).not.toContain(bad);
    expect(await secretIds(s)).toEqual([s.originalId]);
    // Retiring without setSecret's evidence is refused rather than guessed.
    const noEvidence = await rejection(a.rotationRevokeAtTarget({ ...step, versionId: s.versionId }));
    expect(noEvidence?.message).toMatch(/known only from this rotation's setSecret evidence/);
  });
});

describe('sandbox extension (devstack/moto_sandbox.py) through the raw SDK', () => {
  const name = (e: unknown) => (e as { name?: string }).name;

  it('is part of how the project launches moto', () => {
    expect(locateMoto()?.args).toContain(MOTO_SANDBOX);
  });

  it('two secrets at most, custom values checked, never a value listed, the last one cannot be deleted', async () => {
    const c = await appClient();
    const { cognito } = h.aws;
    const ref = { UserPoolId: c.userPoolId, ClientId: c.clientId };
    const [originalId] = await secretIds(c);
    expect(originalId).toMatch(new RegExp(`^${c.clientId}--\\d+$`));

    const custom = `abc_DEF+${'x'.repeat(22)}`;
    const added = await cognito.send(new AddUserPoolClientSecretCommand({ ...ref, ClientSecret: custom }));
    expect(added.ClientSecretDescriptor?.ClientSecretId).toMatch(new RegExp(`^${c.clientId}--\\d+$`));
    expect(added.ClientSecretDescriptor?.ClientSecretCreateDate).toBeInstanceOf(Date);
    expect(added.ClientSecretDescriptor?.ClientSecretValue).toBeUndefined();

    await expect(cognito.send(new AddUserPoolClientSecretCommand(ref))).rejects.toSatisfy((e) => name(e) === 'LimitExceededException');
    expect(await secretIds(c)).toEqual([originalId, added.ClientSecretDescriptor!.ClientSecretId]);
    expect(await accepts(c, c.original)).toBe(true);
    expect(await accepts(c, custom)).toBe(true);
    expect(await accepts(c, `${custom}x`)).toBe(false);
    expect((await cognito.send(new DescribeUserPoolClientCommand(ref))).UserPoolClient?.ClientSecret).toBe(c.original);

    await expect(cognito.send(new DeleteUserPoolClientSecretCommand({ ...ref, ClientSecretId: `${c.clientId}--1` }))).rejects.toSatisfy((e) => name(e) === 'ResourceNotFoundException');
    await cognito.send(new DeleteUserPoolClientSecretCommand({ ...ref, ClientSecretId: originalId }));
    expect((await cognito.send(new DescribeUserPoolClientCommand(ref))).UserPoolClient?.ClientSecret).toBe(custom);
    expect(await accepts(c, c.original)).toBe(false);
    await expect(cognito.send(new DeleteUserPoolClientSecretCommand({ ...ref, ClientSecretId: added.ClientSecretDescriptor!.ClientSecretId }))).rejects.toSatisfy(
      (e) => name(e) === 'InvalidParameterException',
    );

    for (const bad of ['x'.repeat(23), 'x'.repeat(65), `${'x'.repeat(30)}-`]) {
      await expect(cognito.send(new AddUserPoolClientSecretCommand({ ...ref, ClientSecret: bad }))).rejects.toSatisfy((e) => name(e) === 'InvalidParameterException');
    }
    // Without a value Cognito makes one, and returns it this once.
    const generated = await cognito.send(new AddUserPoolClientSecretCommand(ref));
    expect(checkCognitoSecret(generated.ClientSecretDescriptor!.ClientSecretValue!)).toEqual([]);
    expect(await accepts(c, generated.ClientSecretDescriptor!.ClientSecretValue!)).toBe(true);

    const unknownClient = cognito.send(new ListUserPoolClientSecretsCommand({ UserPoolId: c.userPoolId, ClientId: 'nosuchclient' }));
    await expect(unknownClient).rejects.toSatisfy((e) => name(e) === 'ResourceNotFoundException');
  });

  it('a client without a secret (public client) cannot be given one', async () => {
    const c = await appClient({ secret: false });
    await expect(h.aws.cognito.send(new AddUserPoolClientSecretCommand({ UserPoolId: c.userPoolId, ClientId: c.clientId, ClientSecret: 'y'.repeat(30) }))).rejects.toSatisfy(
      (e) => (e as { name?: string }).name === 'InvalidParameterException',
    );
    expect(await secretIds(c)).toEqual([]);
  });
});

describe('Cognito secret rules (pure)', () => {
  it.each<[string, GeneratorPolicyInput, RegExp | undefined]>([
    ['the target default', COGNITO_SECRET_GENERATOR, undefined],
    ['the global default (symbols)', {}, /symbols: false/],
    ['a token (has -)', { kind: 'token', length: 40 }, /exclude "-"/],
    ['a token without -', { kind: 'token', length: 40, exclude: '-' }, undefined],
    ['too short', { length: 20, symbols: false }, /length 20: .*24–64/],
    ['too long', { length: 65, symbols: false }, /length 65/],
    ['a key pair', { kind: 'keypair' }, /keypair generator cannot/],
    ['symbols narrowed to _ and +', { symbols: true, exclude: '!#$%&()*,-.:;<=>?@[]^{}~' }, undefined],
  ])('generator: %s', (_what, input, expected) => {
    const problem = cognitoGeneratorProblem(GeneratorPolicy.parse(input));
    if (expected) expect(problem).toMatch(expected);
    else expect(problem).toBeUndefined();
  });

  it.each<[string, string[]]>([
    ['a'.repeat(24), []],
    ['A_b+9'.repeat(12) + 'abcd', []],
    ['a'.repeat(23), ['length 23, Cognito accepts 24–64']],
    ['a'.repeat(65), ['length 65, Cognito accepts 24–64']],
    [`${'a'.repeat(30)}-/é`, ['3 character(s) other than letters, digits, _ and +']],
  ])('value of %#', (value, problems) => {
    expect(checkCognitoSecret(value)).toEqual(problems);
  });

  it('every value the target default generates is a valid Cognito secret', () => {
    const policy = GeneratorPolicy.parse(COGNITO_SECRET_GENERATOR);
    fc.assert(
      fc.property(fc.array(fc.nat(), { minLength: 200, maxLength: 200 }), (draws) => {
        let i = 0;
        const value = generateValue(policy, (max) => draws[i++ % draws.length]! % max);
        return checkCognitoSecret(value).length === 0;
      }),
    );
  });

  it('targets, rotation.yaml and the IAM policy', () => {
    const bad = RotationTarget.safeParse({ kind: 'cognito-app-client', userPoolId: 'nounderscore', clientId: 'abc' });
    expect(bad.success).toBe(false);
    expect(bad.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`)).toEqual(['userPoolId: expected a user pool id like eu-west-1_AbCdEf123']);
    expect(RotationTarget.parse({ kind: 'cognito-app-client', userPoolId: 'eu-west-1_AbC123', clientId: '1example23456789' }).kind).toBe('cognito-app-client');

    const file = (generator: string) =>
      `policies:\n  - name: tpp\n    cadence: { every: 30d }\n    target:\n      secret: prod/tpp\n      ${generator}\n      setSecret: { kind: cognito-app-client, userPoolId: eu-west-1_AbC123, clientId: abc123 }\n`;
    const refused = parseRotationFile(file('generator: { kind: token, length: 40 }'));
    expect(refused.ok).toBe(false);
    expect(!refused.ok && refused.errors).toEqual([{ field: 'policies[0].target.generator', message: expect.stringMatching(/exclude "-"/) }]);
    expect(parseRotationFile(file('strategy: single-user')).ok).toBe(true);

    const ctx = { region: 'eu-west-1', account: '123456789012', clientTag: 'bulwark:client-id' };
    const plain = policyFor(['secrets.rotate'], ctx);
    const withCognito = policyFor(['secrets.rotate'], { ...ctx, rotationTargets: ['cognito-app-client'] });
    if (!plain.ok || !withCognito.ok) throw new Error('unknown action');
    expect(JSON.stringify(plain.policy)).not.toContain('UserPoolClientSecret');
    const grant = withCognito.policy.Statement.find((st) => st.Action.includes('cognito-idp:AddUserPoolClientSecret'));
    expect(grant).toMatchObject({
      Action: ['cognito-idp:AddUserPoolClientSecret', 'cognito-idp:DeleteUserPoolClientSecret', 'cognito-idp:ListUserPoolClientSecrets'],
      Resource: ['arn:aws:cognito-idp:eu-west-1:123456789012:userpool/*'],
    });
  });
});

describe('bulwark rotate secret --cognito-client', () => {
  it('rotates from the CLI; a malformed client or an incompatible generator is refused before anything starts', async () => {
    const s = await rotatable();
    const bad = await runCli(h, ['rotate', 'secret', s.name, '--cognito-client', 'nope']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--cognito-client: expected <userPoolId>\/<clientId>/);
    const token = await runCli(h, ['rotate', 'secret', s.name, '--token', '--cognito-client', `${s.userPoolId}/${s.clientId}`]);
    expect(token.code).toBe(2);
    expect(token.stderr).toMatch(/--cognito-client: the token alphabet has 1 character\(s\) Cognito refuses/);
    expect(await holder(s.name, 'AWSCURRENT')).toBe(s.versionId);

    const ok = await runCli(h, ['rotate', 'secret', s.name, '--cognito-client', `${s.userPoolId}/${s.clientId}`, '--grace', '1s', '--wait', '--json']);
    expect(ok.code, ok.stderr).toBe(0);
    const r = JSON.parse(ok.stdout) as { versionId: string; setSecret: { clientSecretId: string }; retirement: { retired: boolean } };
    expect(r.retirement.retired).toBe(true);
    expect(await secretIds(s)).toEqual([r.setSecret.clientSecretId]);
    expect(await accepts(s, await clientSecretIn(s.name, 'AWSCURRENT'))).toBe(true);
    expect(await accepts(s, s.original)).toBe(false);
  });
});
