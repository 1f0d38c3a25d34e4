import { randomBytes } from 'node:crypto';
import {
  CreateApiKeyCommand,
  CreateDeploymentCommand,
  CreateResourceCommand,
  CreateRestApiCommand,
  CreateUsagePlanCommand,
  CreateUsagePlanKeyCommand,
  GetApiKeysCommand,
  GetResourcesCommand,
  GetRestApisCommand,
  GetStagesCommand,
  GetUsagePlanKeysCommand,
  GetUsagePlansCommand,
  PutIntegrationCommand,
  PutMethodCommand,
  UpdateStageCommand,
} from '@aws-sdk/client-api-gateway';
import { CreateAliasCommand, CreateKeyCommand, ListAliasesCommand } from '@aws-sdk/client-kms';
import { CreateSecretCommand, DescribeSecretCommand, ResourceNotFoundException } from '@aws-sdk/client-secrets-manager';
import type { AwsClients } from '../activities/clients.js';

/** The demo account's ids (never secret values): what `bulwark demo` aims at. */
export interface DemoAccount {
  region: string;
  restApiId: string;
  stage: 'prod';
  usagePlanId: string;
  kmsKeyId: string;
  clients: { clientId: string; apiKeyIds: string[]; secretArn: string }[];
}

export const DEMO_CLIENTS = ['acme-pay', 'birch-fintech', 'cobalt-data'] as const;
const API_NAME = 'open-banking-demo';
const PLAN_NAME = 'tpp-standard';
const KEY_ALIAS = 'alias/bulwark-demo-signing';

/**
 * Seeds a sandbox account with a small open-banking setup. Idempotent: everything is looked up by
 * name first, so a second `npm start` against the same moto finds the same resources.
 */
export async function seedDemo(aws: AwsClients, opts: { clientTag: string; region: string }): Promise<DemoAccount> {
  const restApiId = await ensureApi(aws);
  const usagePlanId = await ensurePlan(aws, restApiId);
  const clients = [];
  for (const clientId of DEMO_CLIENTS) {
    clients.push({ clientId, apiKeyIds: await ensureKeys(aws, clientId, usagePlanId, opts.clientTag), secretArn: await ensureSecret(aws, clientId, opts.clientTag) });
  }
  return { region: opts.region, restApiId, stage: 'prod', usagePlanId, kmsKeyId: await ensureKmsKey(aws), clients };
}

async function ensureApi({ apigw }: AwsClients): Promise<string> {
  const existing = (await apigw.send(new GetRestApisCommand({ limit: 500 }))).items?.find((a) => a.name === API_NAME);
  if (existing) {
    const stages = await apigw.send(new GetStagesCommand({ restApiId: existing.id! }));
    if (stages.item?.some((s) => s.stageName === 'prod')) return existing.id!;
  }
  const restApiId = existing?.id ?? (await apigw.send(new CreateRestApiCommand({ name: API_NAME, description: 'bulwark demo: an open-banking API' }))).id!;
  const root = (await apigw.send(new GetResourcesCommand({ restApiId }))).items!.find((r) => r.path === '/')!;
  for (const [part, method] of [['accounts', 'GET'], ['payments', 'POST']] as const) {
    const resource = await apigw.send(new CreateResourceCommand({ restApiId, parentId: root.id!, pathPart: part }));
    await apigw.send(new PutMethodCommand({ restApiId, resourceId: resource.id!, httpMethod: method, authorizationType: 'NONE', apiKeyRequired: true }));
    await apigw.send(new PutIntegrationCommand({ restApiId, resourceId: resource.id!, httpMethod: method, type: 'MOCK' }));
  }
  await apigw.send(new CreateDeploymentCommand({ restApiId, stageName: 'prod' }));
  await apigw.send(
    new UpdateStageCommand({
      restApiId,
      stageName: 'prod',
      patchOperations: [
        { op: 'replace', path: '/*/*/throttling/rateLimit', value: '500' },
        { op: 'replace', path: '/*/*/throttling/burstLimit', value: '1000' },
      ],
    }),
  );
  return restApiId;
}

async function ensurePlan({ apigw }: AwsClients, restApiId: string): Promise<string> {
  const existing = (await apigw.send(new GetUsagePlansCommand({ limit: 500 }))).items?.find((p) => p.name === PLAN_NAME);
  if (existing) return existing.id!;
  const plan = await apigw.send(
    new CreateUsagePlanCommand({ name: PLAN_NAME, apiStages: [{ apiId: restApiId, stage: 'prod' }], throttle: { rateLimit: 100, burstLimit: 200 } }),
  );
  return plan.id!;
}

async function ensureKeys({ apigw }: AwsClients, clientId: string, usagePlanId: string, clientTag: string): Promise<string[]> {
  const all = (await apigw.send(new GetApiKeysCommand({ limit: 500, includeValues: false }))).items ?? [];
  const planKeys = new Set(((await apigw.send(new GetUsagePlanKeysCommand({ usagePlanId, limit: 500 }))).items ?? []).map((k) => k.id));
  const ids: string[] = [];
  for (const n of [1, 2]) {
    const name = `tpp-${clientId}-${n}`;
    const id = all.find((k) => k.name === name)?.id ?? (await apigw.send(new CreateApiKeyCommand({ name, enabled: true, tags: { [clientTag]: clientId } }))).id!;
    if (!planKeys.has(id)) await apigw.send(new CreateUsagePlanKeyCommand({ usagePlanId, keyId: id, keyType: 'API_KEY' }));
    ids.push(id);
  }
  return ids;
}

async function ensureSecret({ sm }: AwsClients, clientId: string, clientTag: string): Promise<string> {
  const name = `bulwark-demo/tpp/${clientId}/oauth-client`;
  try {
    return (await sm.send(new DescribeSecretCommand({ SecretId: name }))).ARN!;
  } catch (err) {
    if (!(err instanceof ResourceNotFoundException)) throw err;
  }
  const created = await sm.send(
    new CreateSecretCommand({
      Name: name,
      Description: `OAuth client credentials of third-party provider ${clientId} (bulwark demo)`,
      SecretString: JSON.stringify({ clientId, clientSecret: randomBytes(32).toString('base64url') }),
      Tags: [{ Key: clientTag, Value: clientId }],
    }),
  );
  return created.ARN!;
}

async function ensureKmsKey({ kms }: AwsClients): Promise<string> {
  const alias = (await kms.send(new ListAliasesCommand({ Limit: 100 }))).Aliases?.find((a) => a.AliasName === KEY_ALIAS);
  if (alias?.TargetKeyId) return alias.TargetKeyId;
  const key = await kms.send(new CreateKeyCommand({ Description: 'bulwark demo key' }));
  await kms.send(new CreateAliasCommand({ AliasName: KEY_ALIAS, TargetKeyId: key.KeyMetadata!.KeyId! }));
  return key.KeyMetadata!.KeyId!;
}
