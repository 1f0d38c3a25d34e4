import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { pino } from 'pino';
import { CreateApiKeyCommand } from '@aws-sdk/client-api-gateway';
import { CreateUserPoolClientCommand, CreateUserPoolCommand } from '@aws-sdk/client-cognito-identity-provider';
import { CreateSecretCommand, PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { createAwsClients } from '../activities/clients.js';
import { generateKeyPair } from '../domain/rotation/keypair.js';
import { createLogger } from '../telemetry/logger.js';
import { collectSandboxSecrets, describeHits, MIN_SECRET_LENGTH, scanLogs, secretValues } from './support/log-scan.js';
import { runCli, testConfig, uniqueId } from './support.js';

const password = () => `Pw${randomBytes(15).toString('base64url')}9`;

describe('secret values to search for (pure)', () => {
  const pair = generateKeyPair('ec-p256');
  const body = (pem: string) => pem.split('\n').filter((l) => l && !l.startsWith('-----')).join('');

  it.each([
    ['a plain token', 'tok_4f9a8b7c6d5e4f3a2b1c', ['s'], 0],
    ['a value too short to search', 'swap-me', [], 1],
    ['password and client secret of a JSON value; ids and names are not secrets', JSON.stringify({ clientId: 'tpp-ab12cd34ef', username: 'svc-account-1', password: 'Xk9pQ2mZ7rT4wL8a', clientSecret: 'c'.repeat(20) }), ['s', 's (password)', 's (clientSecret)'], 0],
    ['nested and array fields, by path', JSON.stringify({ oauth: { refreshToken: 'r'.repeat(16), tokenUrl: 'https://idp.example.com/token' }, keys: ['k'.repeat(14)] }), ['s', 's (oauth.refreshToken)', 's (keys[0])'], 0],
    ['a short field next to a long one', JSON.stringify({ pin: '1234', password: 'Xk9pQ2mZ7rT4wL8a' }), ['s', 's (password)'], 1],
  ])('%s', (_what, value, names, tooShort) => {
    const r = secretValues('s', value);
    expect(r.values.map((v) => v.name)).toEqual(names);
    expect(r.tooShort).toBe(tooShort);
    expect(r.values.every((v) => v.value.length >= MIN_SECRET_LENGTH)).toBe(true);
  });

  it('a key pair: a 40-character slice of the private key body is searched, the public key is not', () => {
    const r = secretValues('kp', JSON.stringify({ username: 'svc', ...pair }));
    const slices = r.values.filter((v) => v.name === 'kp (private key)');
    expect(slices).toHaveLength(1);
    expect(slices[0]!.value).toHaveLength(40);
    expect(body(pair.privateKey)).toContain(slices[0]!.value);
    expect(r.values.some((v) => body(pair.publicKey).includes(v.value))).toBe(false);
  });

  it('a one-line key body (Ed25519) is sliced past the header all such keys share', () => {
    const a = secretValues('a', generateKeyPair('ed25519').privateKey).values.find((v) => v.name === 'a (private key)')!;
    const b = secretValues('b', generateKeyPair('ed25519').privateKey).values.find((v) => v.name === 'b (private key)')!;
    expect(a.value).toHaveLength(40);
    expect(a.value).not.toBe(b.value);
    expect(a.value.slice(0, 8)).not.toBe(b.value.slice(0, 8));
  });

  it('certificate bundles: public certificates and KMS envelope fields are not secrets', () => {
    const bundle = { format: 'bulwark-certificate/1', metadata: { serial: 'ab'.repeat(10), subject: 'CN=api.example.com' }, certificatePem: pair.publicKey, chainPem: pair.publicKey, privateKey: { kmsKeyId: 'k'.repeat(36), encryptedDataKey: 'e'.repeat(40), iv: 'i'.repeat(16), tag: 't'.repeat(24), ciphertext: 'c'.repeat(64) } };
    expect(secretValues('cert', JSON.stringify(bundle)).values.map((v) => v.name)).toEqual(['cert']);
  });
});

describe('the full-run secrets-in-logs check (test/global-setup.ts teardown)', () => {
  it('collects every version of every secret (deprecated ones too), Cognito client secrets and API key values from moto', async () => {
    const aws = createAwsClients(testConfig().aws);
    const name = uniqueId('log-scan');
    const [v1, v2, v3, v4] = [password(), password(), password(), password()];
    const { ARN } = await aws.sm.send(new CreateSecretCommand({ Name: name, SecretString: JSON.stringify({ username: 'svc', password: v1 }) }));
    // Four versions: the first loses every stage label (deprecated) and must still be read.
    for (const v of [v2, v3, v4]) await aws.sm.send(new PutSecretValueCommand({ SecretId: ARN, SecretString: JSON.stringify({ username: 'svc', password: v }) }));
    const poolId = (await aws.cognito.send(new CreateUserPoolCommand({ PoolName: uniqueId('log-scan-pool') }))).UserPool!.Id!;
    const appClient = (await aws.cognito.send(new CreateUserPoolClientCommand({ UserPoolId: poolId, ClientName: 'log-scan-client', GenerateSecret: true }))).UserPoolClient!;
    const apiKey = await aws.apigw.send(new CreateApiKeyCommand({ name: uniqueId('log-scan-key'), enabled: true, value: password() }));

    const found = await collectSandboxSecrets(aws);
    const mine = found.values.filter((v) => v.name.startsWith(`secret ${name} `));
    for (const v of [v1, v2, v3, v4]) expect(mine.filter((m) => m.value === v).map((m) => m.name)).toEqual([expect.stringMatching(/ \(password\)$/)]);
    expect(found.values).toContainEqual({ name: `cognito client ${poolId}/log-scan-client secret`, value: appClient.ClientSecret });
    expect(found.values).toContainEqual({ name: `API key ${apiKey.name} (${apiKey.id})`, value: apiKey.value });
    expect(found.versions).toBeGreaterThanOrEqual(4);
  });

  it('reports a planted value — plain, JSON-escaped, or a private key re-wrapped in a JSON line — naming the file and the secret, never the value', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bulwark-log-scan-'));
    const quoted = `Qu"ote\\d${randomBytes(8).toString('hex')}`;
    const pair = generateKeyPair('rsa-2048');
    const values = [
      ...secretValues('secret db version v1', JSON.stringify({ username: 'svc', password: 'Xk9pQ2mZ7rT4wL8aB3' })).values,
      ...secretValues('secret odd version v1', quoted).values,
      ...secretValues('secret kp version v1', JSON.stringify(pair)).values,
    ];
    writeFileSync(join(dir, 'plain.log'), `2026-11-26 connecting as svc with Xk9pQ2mZ7rT4wL8aB3\n`);
    writeFileSync(join(dir, 'escaped.log'), `${JSON.stringify({ level: 30, msg: `value ${quoted}` })}\n`);
    writeFileSync(join(dir, 'pem.log'), `${JSON.stringify({ level: 50, err: { message: `bad key ${pair.privateKey}` } })}\n`);
    writeFileSync(join(dir, 'clean.log'), `${JSON.stringify({ level: 30, msg: 'rotated secret db to version v2', publicKey: pair.publicKey })}\n`);

    const scan = scanLogs(dir, values);
    expect(scan.files).toBe(4);
    expect(scan.hits).toEqual([
      { file: 'escaped.log', secret: 'secret odd version v1' },
      { file: 'pem.log', secret: 'secret kp version v1 (private key)' },
      { file: 'plain.log', secret: 'secret db version v1 (password)' },
    ]);
    const report = describeHits(dir, scan.hits);
    expect(report).toContain('pem.log: secret kp version v1 (private key)');
    for (const v of values) expect(report).not.toContain(v.value);
  });

  it('this file’s loggers write to its own log in the run’s log dir at debug, and what a CLI subprocess printed is kept next to it', async () => {
    expect(process.env.BULWARK_LOG_FILE).toBe(join(inject('logDir'), 'log-scan.log'));
    expect(process.env.BULWARK_LOG_LEVEL).toBe('debug');
    const r = await runCli({ config: testConfig() }, ['help']);
    expect(r.code).toBe(0);
    const kept = readFileSync(join(inject('logDir'), 'log-scan.cli-output.log'), 'utf8');
    expect(kept).toContain('--- bulwark help (exit 0)');
    expect(kept).toContain(r.stdout);
  });

  it('finds nothing in the same values logged through bulwark’s logger at debug (redact paths and value scrubber)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bulwark-log-scan-'));
    const file = join(dir, 'bulwark.log');
    const pw = password();
    const pair = generateKeyPair('ec-p256');
    const secretString = JSON.stringify({ username: 'svc', password: pw, ...pair });
    const logger = createLogger('debug', 'log-scan-test', pino.destination({ dest: file, sync: true }));
    logger.debug({ secretString, detail: { note: `new password ${pw}` } }, `rotated; now ${pw}`);
    logger.error(new Error(`could not parse ${secretString}`));
    logger.flush();

    const logged = readFileSync(file, 'utf8');
    expect(logged.split('\n').filter(Boolean)).toHaveLength(2);
    expect(logged).toContain('rotated; now [redacted]');
    expect(scanLogs(dir, secretValues('secret db version v1', secretString).values)).toMatchObject({ files: 1, hits: [] });
  });
});
