import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { CreateSecretCommand, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { createAwsClients } from '../activities/clients.js';
import { startSecretRotation } from '../cli/commands/rotate.js';
import { parseAlert } from '../domain/alert.js';
import { AlertDeliverer } from '../intake/deliver.js';
import { createLogger } from '../telemetry/logger.js';
import { REDACTED, scrubSecrets } from '../telemetry/scrub.js';
import { playbookDefaults } from '../temporal.config.js';
import { alertFor, createTppClient, startHarness, uniqueId, waitForState, type Harness } from './support.js';

const PEM = `-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\nabcDEF123\n-----END PRIVATE KEY-----`;

describe('value scrubber (pure)', () => {
  it.each([
    ['AWS secret access key', 'creds wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY in env', 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'],
    ['Slack bot token', 'token xoxb-1234567890-0987654321-AbCdEfGhIjKl used', 'xoxb-1234567890-0987654321-AbCdEfGhIjKl'],
    ['Slack app token', 'xapp-1-A0123-4567-abcdef0123', 'xapp-1-A0123-4567-abcdef0123'],
    ['bearer token', 'Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig', 'eyJhbGciOiJIUzI1NiJ9'],
    ['basic auth', 'authorization: Basic YWxpY2U6c2VjcmV0cGFzcw==', 'YWxpY2U6c2VjcmV0cGFzcw=='],
    ['PEM private key', `key ${PEM} end`, 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7'],
    ['JSON-escaped PEM', JSON.stringify({ m: `k ${PEM.replace('PRIVATE KEY', 'RSA PRIVATE KEY').replace('END PRIVATE KEY', 'END RSA PRIVATE KEY')}` }), 'abcDEF123'],
    ['EC PEM', '-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIB\n-----END EC PRIVATE KEY-----', 'MHcCAQEEIB'],
    ['generated password (all classes)', 'new value is Xk9#pQ2$mZ7!rT4&wL8@ ok', 'Xk9#pQ2$mZ7!rT4&wL8@'],
    ['generated token (base64url)', '{"msg":"rotated to q3Zx_9KpLm2Nv8Rt4Wy7Bc1D"}', 'q3Zx_9KpLm2Nv8Rt4Wy7Bc1D'],
    ['password= assignment', 'connect user=svc password=hunter22 host=db', 'hunter22'],
    ['"clientSecret": in JSON text', '{"msg":"{\\"clientSecret\\":\\"short1\\"}"}', 'short1'],
    ['api_key: assignment', 'api_key: abcd-efgh', 'abcd-efgh'],
  ])('redacts %s', (_name, input, secret) => {
    const out = scrubSecrets(input);
    expect(out).not.toContain(secret);
    expect(out).toContain(REDACTED);
  });

  it.each([
    ['a secret ARN', 'rotated arn:aws:secretsmanager:eu-west-1:123456789012:secret:test/tpp-ab12cd34/oauth-client-AbC12d'],
    ['a version id (UUID)', 'version 3f2a9c1e-8b7d-4e6f-a5b4-c3d2e1f0a9b8 is AWSCURRENT'],
    ['a workflow id', 'incident incident-8a084328a9d12fd7ebc9d282 contained'],
    ['an access key id', 'access key AKIARZPUZDIKEZDJQOWD of svc-e4bb6265 is Inactive'],
    ['a file path', 'at rotationRotateKeyOnDemand (/work/main/activities/rotation.ts:289:20)'],
    ['a SHA-256 hex digest', 'chain head 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'],
    ['an IBAN', 'payment to GB33BUKB20201555555555'],
    ['a URL', 'webhook https://consents.example.com/v1/clients/AbcDef123456789012/revoke'],
    ['plain prose', 'disabled 2 API key(s); rotated 1 secret(s): AWSCURRENT moved'],
  ])('keeps %s', (_name, input) => expect(scrubSecrets(input)).toBe(input));
});

describe('no rotated secret value reaches any log (debug logging, full runs)', () => {
  // In the run's log dir, so the teardown's full-run grep (test/support/log-scan.ts) reads it too.
  const logFile = join(inject('logDir'), 'redaction-debug-run.log');
  const before = { file: process.env.BULWARK_LOG_FILE, level: process.env.BULWARK_LOG_LEVEL };
  const stdio: string[] = [];
  const restore: (() => void)[] = [];
  let h: Harness;
  const secrets: string[] = [];

  beforeAll(async () => {
    // Every logger made from here on (the worker's activities included) writes debug lines to the file.
    process.env.BULWARK_LOG_LEVEL = 'debug';
    process.env.BULWARK_LOG_FILE = logFile;
    for (const stream of [process.stdout, process.stderr]) {
      const original = stream.write.bind(stream);
      stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
        stdio.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
        return (original as (...a: unknown[]) => boolean)(chunk, ...rest);
      }) as typeof stream.write;
      restore.push(() => (stream.write = original as typeof stream.write));
    }
    h = await startHarness();
    const admin = createAwsClients(h.config.aws);
    const read = async (arn: string, stage: string) => (await admin.sm.send(new GetSecretValueCommand({ SecretId: arn, VersionStage: stage }))).SecretString!;

    // A scheduled-style rotation of a database credential (generated password)…
    const db = await admin.sm.send(new CreateSecretCommand({ Name: uniqueId('db'), SecretString: JSON.stringify({ username: 'svc', password: randomBytes(18).toString('base64url') }) }));
    const rotation = await startSecretRotation(h.client, h.config.temporal.taskQueue, { secretId: db.ARN!, strategy: 'single-user', requestedBy: 'alice', reason: 'redaction test', force: true });
    await rotation.result();
    // …and a credential incident that rotates a client's OAuth secret.
    const tpp = await createTppClient(admin);
    const parsed = parseAlert(alertFor({ clientId: tpp.clientId }));
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
    const { workflowId } = await new AlertDeliverer(h.client, h.config.temporal.taskQueue, playbookDefaults(h.config)).deliver(parsed.value);
    await waitForState(h.client, workflowId, (s) => s.status === 'contained');

    for (const arn of [db.ARN!, tpp.secretArn]) {
      for (const stage of ['AWSCURRENT', 'AWSPREVIOUS']) {
        const value = await read(arn, stage);
        secrets.push(value);
        for (const [k, v] of Object.entries(JSON.parse(value) as Record<string, string>)) if (/secret|password/i.test(k)) secrets.push(v);
      }
    }
    // A careless log line holding the new values, as text and as fields: the logger must still not write them.
    const logger = createLogger();
    const current = JSON.parse(await read(tpp.secretArn, 'AWSCURRENT')) as { clientSecret: string };
    const dbNow = JSON.parse(await read(db.ARN!, 'AWSCURRENT')) as { password: string };
    logger.debug({ secretString: await read(db.ARN!, 'AWSCURRENT'), detail: { note: `new password ${dbNow.password}` } }, `rotated; client secret now ${current.clientSecret}`);
    logger.error(new Error(`test failed with value ${dbNow.password}`));
    logger.flush();
  }, 120_000);

  afterAll(async () => {
    restore.forEach((r) => r());
    process.env.BULWARK_LOG_FILE = before.file;
    process.env.BULWARK_LOG_LEVEL = before.level;
    if (before.file === undefined) delete process.env.BULWARK_LOG_FILE;
    if (before.level === undefined) delete process.env.BULWARK_LOG_LEVEL;
    await h?.close();
  });

  it('rotated: the values read back from moto changed', () => {
    expect(secrets.length).toBeGreaterThanOrEqual(8);
    expect(new Set(secrets).size).toBe(secrets.length);
  });

  it('greps the log file and everything the process printed: none of the secret values, old or new', () => {
    const logs = readFileSync(logFile, 'utf8') + stdio.join('');
    expect(logs.split('\n').filter((l) => l.includes('"level":20')).length).toBeGreaterThan(0); // debug lines were written
    expect(logs).toContain('rotated; client secret now [redacted]');
    const found = secrets.filter((s) => logs.includes(s));
    expect(found.map((s) => `${s.slice(0, 3)}… (${s.length} chars)`)).toEqual([]);
  });
});
