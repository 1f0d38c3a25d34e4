import {
  CreateApiKeyCommand,
  CreateUsagePlanKeyCommand,
  GetApiKeyCommand,
  GetApiKeysCommand,
  GetUsagePlansCommand,
  UpdateApiKeyCommand,
  type APIGatewayClient,
  type ApiKey,
} from '@aws-sdk/client-api-gateway';
import { DescribeSecretCommand, GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { CognitoIdentityProviderClient } from '@aws-sdk/client-cognito-identity-provider';
import { ApplicationFailure } from '@temporalio/common';
import { readProbe, type Consumer, type RotationTarget } from '../domain/rotation/target.js';
import { credentialParts, type RotationStrategy } from '../domain/rotation/strategy.js';
import { call, notVerified, toFailure } from './failures.js';
import { rotationToken } from './secrets.js';
import { createCognitoTarget } from './rotation-cognito.js';

/**
 * setSecret targets, consumer probes and retirement of the previous credential (see
 * domain/rotation/target.ts). Credential values are read from Secrets Manager in here and handed
 * only to the target; what goes back to the workflow is key ids, version ids and HTTP statuses.
 */

export interface TargetEvidence {
  kind: RotationTarget['kind'];
  /** apigateway-key: the key holding the new (set) or previous (retire) value. */
  apiKeyId?: string;
  usagePlanIds?: string[];
  httpStatus?: number;
  /** cognito-app-client (activities/rotation-cognito.ts): the client, the secret holding the new value, the secrets held before, those deleted. */
  clientId?: string;
  clientSecretId?: string;
  priorClientSecretIds?: string[];
  deletedClientSecretIds?: string[];
  versionId?: string;
  changed: boolean;
}

export interface ConsumerCheck {
  name: string;
  confirmed: boolean;
  reported?: string;
  why?: string;
  at: string;
}

const KEY_NAME_PREFIX = 'bulwark-rotation-';

async function post(url: string, body: unknown, idempotencyKey: string, what: string): Promise<number> {
  let status: number;
  try {
    status = (await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': idempotencyKey }, body: JSON.stringify(body), signal: AbortSignal.timeout(10_000) })).status;
  } catch (err) {
    throw ApplicationFailure.retryable(`${what}: ${url} unreachable: ${(err as Error).message}`, 'TargetUnavailable');
  }
  if (status >= 500 || status === 429) throw ApplicationFailure.retryable(`${what}: ${url} answered HTTP ${status}`, 'TargetUnavailable');
  // 409: the endpoint already has this version (a retry after a lost response).
  if ((status < 200 || status >= 300) && status !== 409) throw ApplicationFailure.nonRetryable(`${what}: ${url} refused (HTTP ${status})`, 'TargetRefused');
  return status;
}

export function createRotationTargetActivities({ sm, apigw, cognito }: { sm: SecretsManagerClient; apigw: APIGatewayClient; cognito: CognitoIdentityProviderClient }) {
  const cognitoTarget = createCognitoTarget({ cognito });
  async function credentialOf(secretArn: string, versionId: string, strategy: RotationStrategy) {
    const v = await call('GetSecretValue', `secret ${secretArn}`, () => sm.send(new GetSecretValueCommand({ SecretId: secretArn, VersionId: versionId })));
    const parts = credentialParts(v.SecretString ?? '', strategy);
    // A key pair: only its public half is ever handed out.
    const publicKey = parts.fields?.split(',').includes('publicKey') ? (JSON.parse(v.SecretString!) as { publicKey?: unknown }).publicKey : undefined;
    if (typeof publicKey === 'string') return { credential: publicKey, username: parts.username, isPublicKey: true };
    const credential = parts.credentials[0];
    if (!credential) throw ApplicationFailure.nonRetryable(`secret ${secretArn}: version ${versionId} holds no credential field`, 'SecretShapeError');
    return { credential, username: parts.username, isPublicKey: false };
  }
  async function allKeys(includeValues: boolean): Promise<ApiKey[]> {
    const keys: ApiKey[] = [];
    let position: string | undefined;
    do {
      const page = await call('GetApiKeys', 'API keys', () => apigw.send(new GetApiKeysCommand({ includeValues, position, limit: 500 })));
      keys.push(...(page.items ?? []));
      position = page.position;
    } while (position);
    return keys;
  }
  async function plansOf(keyId: string): Promise<string[]> {
    const ids: string[] = [];
    let position: string | undefined;
    do {
      const page = await call('GetUsagePlans', `API key ${keyId}`, () => apigw.send(new GetUsagePlansCommand({ keyId, position, limit: 500 })));
      ids.push(...(page.items ?? []).map((p) => p.id!).filter(Boolean));
      position = page.position;
    } while (position);
    return ids;
  }
  async function joinPlans(keyId: string, planIds: string[]) {
    const have = new Set(await plansOf(keyId));
    for (const usagePlanId of planIds.filter((p) => !have.has(p))) {
      try {
        await apigw.send(new CreateUsagePlanKeyCommand({ usagePlanId, keyId, keyType: 'API_KEY' }));
      } catch (err) {
        if ((err as { name?: string }).name !== 'ConflictException') throw toFailure(err, 'CreateUsagePlanKey', `usage plan ${usagePlanId}`);
      }
    }
    const after = new Set(await plansOf(keyId));
    const missing = planIds.filter((p) => !after.has(p));
    if (missing.length) throw notVerified(`API key ${keyId} is not in usage plan(s) ${missing.join(', ')} after joining them`);
  }

  return {
    /**
     * setSecret: the pending credential becomes valid at the target while the current one stays
     * valid. Idempotent: the API key is named after the version, the HTTPS call carries the version
     * id as its Idempotency-Key.
     */
    async rotationSetSecret(input: { secretArn: string; idempotencyKey: string; strategy: RotationStrategy; target: RotationTarget; priorClientSecretIds?: string[] }): Promise<TargetEvidence> {
      const versionId = rotationToken(input.idempotencyKey);
      const d = await call('DescribeSecret', `secret ${input.secretArn}`, () => sm.send(new DescribeSecretCommand({ SecretId: input.secretArn })));
      const current = Object.entries(d.VersionIdsToStages ?? {}).find(([, l]) => l.includes('AWSCURRENT'))?.[0];
      const pending = await credentialOf(input.secretArn, versionId, input.strategy);
      if (input.target.kind === 'cognito-app-client') {
        if (pending.isPublicKey) throw ApplicationFailure.nonRetryable(`secret ${d.Name} holds a key pair; a Cognito app client target needs a client secret`, 'InvalidParameters');
        return cognitoTarget.set({ target: input.target, secretName: d.Name ?? input.secretArn, versionId, credential: pending.credential, priorClientSecretIds: input.priorClientSecretIds });
      }
      if (input.target.kind === 'https') {
        const body = { secret: d.Name, versionId, username: pending.username, ...(pending.isPublicKey ? { publicKey: pending.credential } : { credential: pending.credential }) };
        const httpStatus = await post(input.target.url, body, versionId, 'setSecret');
        return { kind: 'https', httpStatus, changed: httpStatus !== 409 };
      }
      if (pending.isPublicKey) throw ApplicationFailure.nonRetryable(`secret ${d.Name} holds a key pair; an API Gateway key target needs a token secret`, 'InvalidParameters');
      const name = `${KEY_NAME_PREFIX}${versionId}`;
      const keys = await allKeys(true);
      let key = keys.find((k) => k.name === name);
      const changed = !key;
      if (!key) {
        key = await call('CreateApiKey', `secret ${d.Name}`, () =>
          apigw.send(new CreateApiKeyCommand({ name, value: pending.credential, enabled: true, description: `bulwark rotation of ${d.Name}, version ${versionId}`, tags: { 'bulwark:secret': d.Name ?? '', 'bulwark:version': versionId } })),
        );
      }
      // The plans of whichever key holds the current value, so callers keep their quotas.
      let plans = [...(input.target.usagePlanIds ?? [])];
      if (current && current !== versionId) {
        const old = await credentialOf(input.secretArn, current, input.strategy);
        const oldKey = keys.find((k) => k.value === old.credential && k.id !== key!.id);
        if (oldKey?.id) plans = [...new Set([...plans, ...(await plansOf(oldKey.id))])];
      }
      await joinPlans(key.id!, plans);
      const readBack = await call('GetApiKey', `API key ${key.id}`, () => apigw.send(new GetApiKeyCommand({ apiKey: key!.id!, includeValue: true })));
      if (!readBack.enabled || readBack.value !== pending.credential) throw notVerified(`API key ${key.id} does not hold the pending credential enabled`);
      return { kind: 'apigateway-key', apiKeyId: key.id!, usagePlanIds: plans, changed };
    },

    /** cognito-app-client: the client's secret ids before setSecret, recorded so setSecret and revoke can tell the new one apart (activities/rotation-cognito.ts). */
    async rotationCognitoClientSecrets(input: { target: RotationTarget }): Promise<{ clientSecretIds: string[] }> {
      if (input.target.kind !== 'cognito-app-client') throw ApplicationFailure.nonRetryable(`rotationCognitoClientSecrets needs a cognito-app-client target, got ${input.target.kind}`, 'InvalidParameters');
      return { clientSecretIds: await cognitoTarget.list(input.target) };
    },

    /** One round of consumer probes: which consumers report the new version. */
    async rotationProbeConsumers(input: { consumers: Consumer[]; versionId: string }): Promise<ConsumerCheck[]> {
      return Promise.all(
        input.consumers.map(async (c): Promise<ConsumerCheck> => {
          const at = new Date().toISOString();
          try {
            const res = await fetch(c.url, { signal: AbortSignal.timeout(5000) });
            return { name: c.name, at, ...readProbe(res.status, await res.text(), input.versionId) };
          } catch (err) {
            return { name: c.name, at, confirmed: false, why: `unreachable: ${(err as Error).message}` };
          }
        }),
      );
    },

    /**
     * Revokes one version's credential at the target: the previous one when it is retired (the
     * secret keeps it as AWSPREVIOUS for the record), or the pending one when testSecret failed.
     */
    async rotationRevokeAtTarget(input: { secretArn: string; versionId: string; strategy: RotationStrategy; target: RotationTarget; set?: TargetEvidence }): Promise<TargetEvidence> {
      // Cognito: by the ids setSecret recorded, never by value (Cognito does not list values).
      if (input.target.kind === 'cognito-app-client') return cognitoTarget.revoke({ target: input.target, versionId: input.versionId, set: input.set });
      if (input.target.kind === 'https') {
        if (!input.target.revokeUrl) return { kind: 'https', changed: false };
        const httpStatus = await post(input.target.revokeUrl, { versionId: input.versionId }, `revoke-${input.versionId}`, 'revoke');
        return { kind: 'https', httpStatus, changed: httpStatus !== 409 };
      }
      const old = await credentialOf(input.secretArn, input.versionId, input.strategy);
      const key = (await allKeys(true)).find((k) => k.value === old.credential);
      if (!key?.id) return { kind: 'apigateway-key', changed: false };
      const changed = key.enabled !== false;
      if (changed) {
        await call('UpdateApiKey', `API key ${key.id}`, () => apigw.send(new UpdateApiKeyCommand({ apiKey: key.id!, patchOperations: [{ op: 'replace', path: '/enabled', value: 'false' }] })));
      }
      const after = await call('GetApiKey', `API key ${key.id}`, () => apigw.send(new GetApiKeyCommand({ apiKey: key.id! })));
      if (after.enabled) throw notVerified(`API key ${key.id} is still enabled after revoking it`);
      return { kind: 'apigateway-key', apiKeyId: key.id, changed };
    },
  };
}

export type RotationTargetActivities = ReturnType<typeof createRotationTargetActivities>;
