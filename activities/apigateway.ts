import {
  GetAccountCommand,
  GetApiKeyCommand,
  GetApiKeysCommand,
  GetStageCommand,
  UpdateApiKeyCommand,
  UpdateStageCommand,
  type APIGatewayClient,
  type ApiKey,
  type PatchOperation,
} from '@aws-sdk/client-api-gateway';
import type { Endpoint } from '../domain/alert.js';
import type { ThrottleLimits } from '../domain/playbook.js';
import { call, notFound, notVerified } from './failures.js';

export interface DisabledKey {
  apiKeyId: string;
  name?: string;
  /** false when the key was already disabled (a retry, or someone got there first). */
  changed: boolean;
}

export interface ThrottleSnapshot {
  /** The method-settings key the step changes: `*\/*` for the whole stage, `~1path/GET` for one method. */
  settingsKey: string;
  /** The limits in force before the step: the override, or else the stage-wide one, or else the account's. */
  previous: ThrottleLimits;
  previousSource: 'method' | 'stage' | 'account';
}

export interface ThrottleEvidence {
  settingsKey: string;
  limits: ThrottleLimits;
  stageArn: string;
}

/** API Gateway escapes "/" in resource paths as "~1" inside method-settings keys and patch paths. */
export function methodSettingsKey(endpoint: Endpoint): string {
  if (!endpoint.resourcePath) return '*/*';
  const method = !endpoint.httpMethod || endpoint.httpMethod === 'ANY' ? '*' : endpoint.httpMethod;
  return `${endpoint.resourcePath.replace(/\//g, '~1')}/${method}`;
}

function describe(endpoint: Endpoint): string {
  return `stage ${endpoint.restApiId}/${endpoint.stage}${endpoint.resourcePath ? ` ${endpoint.httpMethod ?? 'ANY'} ${endpoint.resourcePath}` : ''}`;
}

export function createApiGatewayActivities({ apigw, clientTag, region }: { apigw: APIGatewayClient; clientTag: string; region: string }) {
  async function findClientKeys(clientId: string): Promise<ApiKey[]> {
    const keys: ApiKey[] = [];
    let position: string | undefined;
    do {
      const page = await call('GetApiKeys', `client ${clientId}`, () =>
        apigw.send(new GetApiKeysCommand({ includeValues: false, position, limit: 500 })),
      );
      for (const key of page.items ?? []) {
        const tagged = key.tags?.[clientTag] === clientId;
        const named = key.name === clientId || key.name?.startsWith(`${clientId}-`) || key.name?.startsWith(`tpp-${clientId}-`);
        if (tagged || named) keys.push(key);
      }
      position = page.position;
    } while (position);
    return keys;
  }

  async function readLimits(endpoint: Endpoint): Promise<Record<string, { throttlingRateLimit?: number; throttlingBurstLimit?: number }>> {
    const stage = await call('GetStage', describe(endpoint), () =>
      apigw.send(new GetStageCommand({ restApiId: endpoint.restApiId, stageName: endpoint.stage })),
    );
    return stage.methodSettings ?? {};
  }

  async function writeLimits(endpoint: Endpoint, settingsKey: string, limits: ThrottleLimits): Promise<ThrottleEvidence> {
    const patchOperations: PatchOperation[] = [
      { op: 'replace', path: `/${settingsKey}/throttling/rateLimit`, value: String(limits.rateLimit) },
      { op: 'replace', path: `/${settingsKey}/throttling/burstLimit`, value: String(limits.burstLimit) },
    ];
    await call('UpdateStage', describe(endpoint), () =>
      apigw.send(new UpdateStageCommand({ restApiId: endpoint.restApiId, stageName: endpoint.stage, patchOperations })),
    );
    const after = (await readLimits(endpoint))[settingsKey];
    if (after?.throttlingRateLimit !== limits.rateLimit || after?.throttlingBurstLimit !== limits.burstLimit) {
      throw notVerified(`${describe(endpoint)}: read back ${JSON.stringify(after ?? null)} after setting ${JSON.stringify(limits)}`);
    }
    return {
      settingsKey,
      limits,
      stageArn: `arn:aws:apigateway:${region}::/restapis/${endpoint.restApiId}/stages/${endpoint.stage}`,
    };
  }

  async function targetKeys(input: { apiKeyId?: string; clientId?: string }): Promise<ApiKey[]> {
    if (input.apiKeyId) {
      const id = input.apiKeyId;
      return [await call('GetApiKey', `API key ${id}`, () => apigw.send(new GetApiKeyCommand({ apiKey: id, includeValue: false })))];
    }
    if (!input.clientId) throw notFound('neither an apiKeyId nor a clientId was given');
    const targets = await findClientKeys(input.clientId);
    if (targets.length === 0) throw notFound(`no API Gateway API key is tagged ${clientTag}=${input.clientId} or named after client ${input.clientId}`);
    return targets;
  }

  return {
    /** The keys a disable step would act on, with their current state. Changes nothing. */
    async describeApiKeys(input: { apiKeyId?: string; clientId?: string }): Promise<{ keys: { apiKeyId: string; name?: string; enabled: boolean }[] }> {
      const targets = await targetKeys(input);
      return { keys: targets.map((k) => ({ apiKeyId: k.id!, name: k.name, enabled: Boolean(k.enabled) })) };
    },

    /**
     * Disables one API key, or every key of a client (tagged `clientTag=<clientId>` or named after it).
     * Safe to repeat: keys already disabled are reported with changed=false. Each key is read back.
     */

    async disableApiKeys(input: { apiKeyId?: string; clientId?: string }): Promise<{ keys: DisabledKey[] }> {
      const targets = await targetKeys(input);
      const keys: DisabledKey[] = [];
      for (const key of targets) {
        const id = key.id!;
        if (key.enabled) {
          await call('UpdateApiKey', `API key ${id}`, () =>
            apigw.send(new UpdateApiKeyCommand({ apiKey: id, patchOperations: [{ op: 'replace', path: '/enabled', value: 'false' }] })),
          );
        }
        const after = await call('GetApiKey', `API key ${id}`, () => apigw.send(new GetApiKeyCommand({ apiKey: id, includeValue: false })));
        if (after.enabled !== false) throw notVerified(`API key ${id} still reads as enabled after disabling it`);
        keys.push({ apiKeyId: id, name: key.name, changed: Boolean(key.enabled) });
      }
      return { keys };
    },

    /** Reads the limits in force before throttling, so the step can be undone exactly. Changes nothing. */
    async snapshotThrottle(input: { endpoint: Endpoint }): Promise<ThrottleSnapshot> {
      const settingsKey = methodSettingsKey(input.endpoint);
      const settings = await readLimits(input.endpoint);
      const fromSetting = (s?: { throttlingRateLimit?: number; throttlingBurstLimit?: number }) =>
        s?.throttlingRateLimit !== undefined && s.throttlingBurstLimit !== undefined
          ? { rateLimit: s.throttlingRateLimit, burstLimit: s.throttlingBurstLimit }
          : undefined;
      const method = fromSetting(settings[settingsKey]);
      if (method) return { settingsKey, previous: method, previousSource: 'method' };
      const stage = fromSetting(settings['*/*']);
      if (stage) return { settingsKey, previous: stage, previousSource: 'stage' };
      const account = await call('GetAccount', 'API Gateway account', () => apigw.send(new GetAccountCommand({})));
      return {
        settingsKey,
        // 10,000 rps / 5,000 burst are AWS's documented account defaults when nothing lower is set.
        previous: {
          rateLimit: account.throttleSettings?.rateLimit ?? 10000,
          burstLimit: account.throttleSettings?.burstLimit ?? 5000,
        },
        previousSource: 'account',
      };
    },

    /** Sets the limits (idempotent: the same values twice leave the same state) and reads them back. */
    async applyThrottle(input: { endpoint: Endpoint; settingsKey: string; limits: ThrottleLimits }): Promise<ThrottleEvidence> {
      return writeLimits(input.endpoint, input.settingsKey, input.limits);
    },

    /** The compensation of applyThrottle: puts back the limits recorded by snapshotThrottle. */
    async restoreThrottle(input: { endpoint: Endpoint; settingsKey: string; previous: ThrottleLimits }): Promise<ThrottleEvidence> {
      return writeLimits(input.endpoint, input.settingsKey, input.previous);
    },
  };
}

export type ApiGatewayActivities = ReturnType<typeof createApiGatewayActivities>;
