import { createPrivateKey, createPublicKey, randomBytes, sign, verify } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateApiKeyCommand, CreateUsagePlanCommand, CreateUsagePlanKeyCommand, GetApiKeyCommand, GetApiKeysCommand, GetUsagePlanKeysCommand } from '@aws-sdk/client-api-gateway';
import { CreateSecretCommand, DescribeSecretCommand, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { WorkflowFailedError } from '@temporalio/client';
import { startSecretRotation } from '../cli/commands/rotate.js';
import { stateQuery } from '../workflows/definitions.js';
import { secretRotationProgressQuery } from '../workflows/rotation.js';
import { historyText, runCli, startHarness, uniqueId, type Harness } from './support.js';

/**
 * setSecret targets and retirement of the previous credential, against moto (API Gateway keys and
 * usage plans) and local HTTP servers standing in for a credential endpoint and its consumers.
 */
let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h?.close());

const rotate = (input: Parameters<typeof startSecretRotation>[2]) => startSecretRotation(h.client, h.config.temporal.taskQueue, input);
const holder = async (id: string, label: string) =>
  Object.entries((await h.aws.sm.send(new DescribeSecretCommand({ SecretId: id }))).VersionIdsToStages ?? {}).find(([, l]) => l.includes(label))?.[0];
const valueOf = async (id: string, stage = 'AWSCURRENT') => (await h.aws.sm.send(new GetSecretValueCommand({ SecretId: id, VersionStage: stage }))).SecretString!;

interface Recorded {
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** A local HTTP server; `answer` decides each response; every request is recorded. */
async function server(answer: (path: string, body: string) => [number, unknown?] | Promise<[number, unknown?]>): Promise<{ url: string; seen: Recorded[]; close(): void }> {
  const seen: Recorded[] = [];
  const s: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ path: req.url ?? '', headers: req.headers, body });
      void Promise.resolve(answer(req.url ?? '', body)).then(([status, json]) =>
        res.writeHead(status, { 'content-type': 'application/json' }).end(json === undefined ? '' : JSON.stringify(json)),
      );
    });
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(s.address() as { port: number }).port}`, seen, close: () => s.close() };
}


describe('setSecret target: API Gateway API key', () => {
  it('new key joins the old key’s usage plan; consumers confirm; after the grace the old key is disabled', async () => {
    const oldValue = randomBytes(24).toString('base64url');
    const oldKey = await h.aws.apigw.send(new CreateApiKeyCommand({ name: uniqueId('partner'), value: oldValue, enabled: true }));
    const plan = await h.aws.apigw.send(new CreateUsagePlanCommand({ name: uniqueId('plan') }));
    await h.aws.apigw.send(new CreateUsagePlanKeyCommand({ usagePlanId: plan.id!, keyId: oldKey.id!, keyType: 'API_KEY' }));
    const name = `test/${uniqueId('apikey')}`;
    const secret = await h.aws.sm.send(new CreateSecretCommand({ Name: name, SecretString: oldValue }));

    // Consumers that reload AWSCURRENT: "fast" at once, "slow" only after its first two probes.
    let slowProbes = 0;
    const consumers = await server(async (path) => {
      if (path === '/slow' && ++slowProbes <= 2) return [200, { versionId: secret.VersionId }];
      return [200, { versionId: await holder(name, 'AWSCURRENT') }];
    });
    try {
      const started = await rotate({
        secretId: name,
        strategy: 'single-user',
        generator: { kind: 'token', length: 40 },
        target: { kind: 'apigateway-key' },
        consumers: [{ name: 'fast', url: `${consumers.url}/fast` }, { name: 'slow', url: `${consumers.url}/slow` }],
        grace: '5s',
        probeEverySeconds: 1,
      });
      const r = await started.result();
      const newVersion = r.versionId;
      expect(await holder(name, 'AWSCURRENT')).toBe(newVersion);
      const newValue = await valueOf(name);
      expect(newValue).not.toBe(oldValue);

      // The new key holds the new value, is enabled and in the old key's plan; the old key is disabled.
      expect(r.setSecret?.apiKeyId).toBeTruthy();
      const newKey = await h.aws.apigw.send(new GetApiKeyCommand({ apiKey: r.setSecret!.apiKeyId!, includeValue: true }));
      expect(newKey.value).toBe(newValue);
      expect(newKey.enabled).toBe(true);
      const planKeys = (await h.aws.apigw.send(new GetUsagePlanKeysCommand({ usagePlanId: plan.id! }))).items?.map((k) => k.id);
      expect(planKeys).toEqual(expect.arrayContaining([oldKey.id, newKey.id]));
      expect((await h.aws.apigw.send(new GetApiKeyCommand({ apiKey: oldKey.id! }))).enabled).toBe(false);

      expect(r.consumers?.map((c) => [c.name, c.confirmed])).toEqual([['fast', true], ['slow', true]]);
      expect(slowProbes).toBeGreaterThanOrEqual(3);
      expect(r.retirement).toMatchObject({ retired: true, evidence: { apiKeyId: oldKey.id, changed: true } });
      expect(r.progress.map((p) => p.message).join('\n')).toMatch(/consumer slow confirmed[\s\S]*grace[\s\S]*retired previous version/);

      const text = await historyText(h.client.workflow.getHandle(started.workflowId));
      expect(text).toContain(newVersion);
      for (const v of [oldValue, newValue]) expect(text).not.toContain(v);
    } finally {
      consumers.close();
    }
  });
});

describe('setSecret target: HTTPS endpoint', () => {
  it('receives the pending credential before AWSCURRENT moves; an unconfirmed consumer keeps the old credential valid', async () => {
    const name = `test/${uniqueId('https')}`;
    await h.aws.sm.send(new CreateSecretCommand({ Name: name, SecretString: JSON.stringify({ username: 'svc', password: 'initial-password-123' }) }));
    let currentAtSet: string | undefined;
    const target = await server(async (path) => {
      if (path === '/set') currentAtSet = await holder(name, 'AWSCURRENT');
      return [200, { ok: true }];
    });
    const consumers = await server(() => [200, { versionId: 'some-older-version' }]);
    try {
      const before = await holder(name, 'AWSCURRENT');
      const r = await (
        await rotate({
          secretId: name,
          strategy: 'single-user',
          target: { kind: 'https', url: `${target.url}/set`, revokeUrl: `${target.url}/revoke` },
          consumers: [{ name: 'billing', url: consumers.url }],
          confirmWithin: '3s',
          probeEverySeconds: 1,
          grace: '1s',
        })
      ).result();
      const set = target.seen.filter((s) => s.path === '/set');
      expect(set).toHaveLength(1);
      const body = JSON.parse(set[0]!.body) as { versionId: string; credential: string; username: string };
      expect(body.versionId).toBe(r.versionId);
      expect(set[0]!.headers['idempotency-key']).toBe(r.versionId);
      expect(body.username).toBe('svc');
      expect(body.credential).toBe(JSON.parse(await valueOf(name)).password);
      expect(currentAtSet).toBe(before); // set happened while the old version was still current

      expect(r.consumers).toEqual([expect.objectContaining({ name: 'billing', confirmed: false, reported: 'some-older-version' })]);
      expect(r.retirement?.retired).toBe(false);
      expect(r.retirement?.reason).toMatch(/not confirmed by billing \(still uses version some-older-version\): the previous credential stays valid/);
      expect(target.seen.filter((s) => s.path === '/revoke')).toHaveLength(0);
    } finally {
      target.close();
      consumers.close();
    }
  });

  it('a failed testSecret revokes the pending credential at the target and leaves AWSCURRENT alone', async () => {
    const name = `test/${uniqueId('https')}`;
    const created = await h.aws.sm.send(new CreateSecretCommand({ Name: name, SecretString: 'initial-token-value-1234567890' }));
    const target = await server((path) => (path === '/verify' ? [403] : [200]));
    try {
      const started = await rotate({
        secretId: name,
        strategy: 'single-user',
        generator: { kind: 'token', length: 32 },
        verifyUrl: `${target.url}/verify`,
        target: { kind: 'https', url: `${target.url}/set`, revokeUrl: `${target.url}/revoke` },
      });
      const err = await started.result().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(WorkflowFailedError);
      const setVersion = (JSON.parse(target.seen.find((s) => s.path === '/set')!.body) as { versionId: string }).versionId;
      const revoked = target.seen.filter((s) => s.path === '/revoke').map((s) => (JSON.parse(s.body) as { versionId: string }).versionId);
      expect(revoked).toEqual([setVersion]);
      // The failure became an incident (triage playbook: rotation.failed has no playbook of its own).
      const progress = (await h.client.workflow.getHandle(started.workflowId).query(secretRotationProgressQuery)).progress.map((p) => p.message);
      const incidentId = /incident (\S+) opened/.exec(progress.join('\n'))?.[1];
      expect(incidentId).toBeTruthy();
      const incident = await h.client.workflow.getHandle(incidentId!).query(stateQuery);
      expect(incident.alert).toMatchObject({ type: 'rotation.failed', source: 'bulwark-rotation', subject: { secretId: created.ARN } });
      expect(JSON.stringify(incident)).not.toContain('initial-token-value');
      expect(await holder(name, 'AWSCURRENT')).toBe(created.VersionId);
      expect(await holder(name, 'AWSPENDING')).toBeUndefined();
    } finally {
      target.close();
    }
  });

  it('an invalid target is refused before anything is written', async () => {
    const name = `test/${uniqueId('bad')}`;
    const created = await h.aws.sm.send(new CreateSecretCommand({ Name: name, SecretString: 'initial-token-value-1234567890' }));
    const err = (await (await rotate({ secretId: name, strategy: 'single-user', target: { kind: 'https', url: 'ftp://example.test/x' } as never })).result().catch((e: unknown) => e)) as WorkflowFailedError;
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect(String((err.cause as Error).message)).toMatch(/target\.url: expected an http\(s\) URL/);
    expect(await holder(name, 'AWSCURRENT')).toBe(created.VersionId);
    const keys = (await h.aws.apigw.send(new GetApiKeysCommand({ includeValues: false }))).items ?? [];
    expect(keys.some((k) => k.name?.includes(created.VersionId!))).toBe(false);
  });
});

describe('bulwark rotate secret with a target', () => {
  it('rotates through an HTTPS target from the CLI; inconsistent flags are refused before anything starts', async () => {
    const name = `test/${uniqueId('cli')}`;
    const created = await h.aws.sm.send(new CreateSecretCommand({ Name: name, SecretString: 'initial-token-value-1234567890' }));
    const target = await server(() => [200]);
    try {
      const bad = await runCli(h, ['rotate', 'secret', name, '--revoke-url', `${target.url}/revoke`]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/--revoke-url needs --set-url/);
      const badConsumer = await runCli(h, ['rotate', 'secret', name, '--consumer', 'gw']);
      expect(badConsumer.stderr).toMatch(/--consumer: expected name=url, got "gw"/);
      expect(await holder(name, 'AWSCURRENT')).toBe(created.VersionId);

      const ok = await runCli(h, ['rotate', 'secret', name, '--token', '--set-url', `${target.url}/set`, '--revoke-url', `${target.url}/revoke`, '--grace', '1s', '--wait', '--json']);
      expect(ok.code).toBe(0);
      const r = JSON.parse(ok.stdout) as { versionId: string; previousVersionId: string; retirement: { retired: boolean } };
      expect(r.retirement.retired).toBe(true);
      expect(target.seen.map((s) => [s.path, (JSON.parse(s.body) as { versionId: string }).versionId])).toEqual([
        ['/set', r.versionId],
        ['/revoke', created.VersionId],
      ]);
    } finally {
      target.close();
    }
  });
});

describe('key-pair secrets', () => {
  it('rotate to a new ed25519 pair; the HTTPS target receives only the public key; history holds no key material', async () => {
    const name = `test/${uniqueId('pair')}`;
    const created = await h.aws.sm.send(new CreateSecretCommand({ Name: name, SecretString: JSON.stringify({ kid: 'partner-1' }) }));
    const target = await server(() => [200]);
    try {
      const started = await rotate({ secretId: name, strategy: 'single-user', generator: { kind: 'keypair', algorithm: 'ed25519' }, target: { kind: 'https', url: `${target.url}/keys` } });
      const r = await started.result();
      expect(r.checks).toContain('a matching ed25519 key pair');
      const stored = JSON.parse(await valueOf(name)) as { kid: string; privateKey: string; publicKey: string };
      expect(stored.kid).toBe('partner-1');
      // The stored pair works: a signature by the private key verifies with the public key.
      const message = Buffer.from('bulwark');
      expect(verify(null, message, createPublicKey(stored.publicKey), sign(null, message, createPrivateKey(stored.privateKey)))).toBe(true);

      const body = JSON.parse(target.seen[0]!.body) as Record<string, unknown>;
      expect(body).toEqual({ secret: name, versionId: r.versionId, publicKey: stored.publicKey });
      expect(target.seen[0]!.body).not.toContain('PRIVATE KEY');

      const text = await historyText(h.client.workflow.getHandle(started.workflowId));
      expect(text).not.toContain('PRIVATE KEY');
      expect(text).not.toContain(stored.publicKey.split('\n')[1]);
      expect(await holder(name, 'AWSPREVIOUS')).toBe(created.VersionId);
    } finally {
      target.close();
    }
  });
});
