import { describe, expect, it } from 'vitest';
import { GetApiKeyCommand, GetStageCommand } from '@aws-sdk/client-api-gateway';
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { createAwsClients } from '../activities/clients.js';
import { DEMO_CLIENTS, seedDemo } from '../devstack/seed.js';
import { startMoto } from '../devstack/servers.js';
import { locateMoto, locateTemporal } from '../devstack/tools.js';
import { testConfig } from './support.js';

describe('embedded dev stack', () => {
  it('finds both pinned tools (installed by the project, not by hand)', () => {
    expect(locateTemporal()).toBeTruthy();
    expect(locateMoto()).toBeTruthy();
  });

  it('seeds the demo account once: a second seed finds the same resources', async () => {
    const config = testConfig();
    const aws = createAwsClients(config.aws);
    const first = await seedDemo(aws, { clientTag: config.aws.clientTag, region: config.aws.region });
    const second = await seedDemo(aws, { clientTag: config.aws.clientTag, region: config.aws.region });
    expect(second).toEqual(first);
    expect(first.clients.map((c) => c.clientId)).toEqual([...DEMO_CLIENTS]);
    const stage = await aws.apigw.send(new GetStageCommand({ restApiId: first.restApiId, stageName: 'prod' }));
    expect(stage.methodSettings?.['*/*']).toMatchObject({ throttlingRateLimit: 500, throttlingBurstLimit: 1000 });
    for (const c of first.clients) {
      expect(c.apiKeyIds).toHaveLength(2);
      const key = await aws.apigw.send(new GetApiKeyCommand({ apiKey: c.apiKeyIds[0]! }));
      expect(key.tags?.[config.aws.clientTag]).toBe(c.clientId);
      const secret = JSON.parse((await aws.sm.send(new GetSecretValueCommand({ SecretId: c.secretArn, VersionStage: 'AWSCURRENT' }))).SecretString!);
      expect(secret.clientId).toBe(c.clientId);
    }
    // Ids only: the returned account description carries no secret value.
    expect(JSON.stringify(first)).not.toContain('clientSecret');
  });

  it('reuses a healthy server already on the port instead of starting another', async () => {
    const port = Number(new URL(testConfig().aws.endpoint!).port);
    const again = await startMoto({ port });
    expect(again.reused).toBe(true);
  });

  it('refuses a port held by something else, naming the flag to change', async () => {
    const { createServer } = await import('node:http');
    const squatter = createServer((_q, r) => r.writeHead(418).end()).listen(0, '127.0.0.1');
    await new Promise((r) => squatter.once('listening', r));
    const port = (squatter.address() as { port: number }).port;
    try {
      await expect(startMoto({ port })).rejects.toThrow(new RegExp(`port ${port} is taken .*--aws-port`));
    } finally {
      squatter.close();
    }
  });
});
