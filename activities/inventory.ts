import {
  GetAccountCommand,
  GetApiKeysCommand,
  GetAuthorizersCommand,
  GetDeploymentsCommand,
  GetResourcesCommand,
  GetRestApisCommand,
  GetStagesCommand,
  GetUsagePlanKeysCommand,
  GetUsagePlansCommand,
  type APIGatewayClient,
  type MethodSetting,
  type Resource,
  type Stage,
  type UsagePlan,
} from '@aws-sdk/client-api-gateway';
import type { ApiGatewayV2Client } from '@aws-sdk/client-apigatewayv2';
import { GetWebACLForResourceCommand, type WAFV2Client } from '@aws-sdk/client-wafv2';
import { HTTP_METHODS, endpointKey, type HttpMethod, type Limits, type Scan, type ScannedEndpoint, type WafStatus } from '../domain/posture/inventory.js';
import { call, toFailure } from './failures.js';
import { scanHttpApis } from './inventory-http.js';

/**
 * Walks API Gateway (REST APIs: resources and methods, stages, deployments, authorizers, usage
 * plans and their keys; HTTP APIs: routes, stages, authorizers, via activities/inventory-http.ts)
 * and WAF associations into an inventory of endpoints with their
 * protections. Read-only. Every list call is paginated; throttling and 5xx from AWS surface as
 * retryable failures (activities/failures.ts), access denied and the like as non-retryable.
 */

// The AWS SDK's own page size maximum for API Gateway list calls.
const PAGE = 500;

/** Errors that mean "this API does not exist here" (moto gaps, an older endpoint), not "try again". */
function unsupported(err: unknown): string | undefined {
  const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const status = e?.$metadata?.httpStatusCode;
  if (['UnknownOperationException', 'NotImplementedError', 'NotImplemented', 'InvalidAction'].includes(e?.name ?? '') || status === 501 || status === 404) {
    return `GetWebACLForResource is not supported by this endpoint (${e?.name ?? 'error'}${status ? `, HTTP ${status}` : ''})`;
  }
  if (e?.name === 'AccessDeniedException' || e?.name === 'WAFInvalidPermissionPolicyException') return `not allowed to read WAF associations (${e.name})`;
  return undefined;
}

function limitsFrom(s: Pick<MethodSetting, 'throttlingRateLimit' | 'throttlingBurstLimit'> | undefined, account: Limits): Limits | undefined {
  if (s?.throttlingRateLimit === undefined || s.throttlingBurstLimit === undefined) return undefined;
  // AWS reports -1 for "not set"; a limit at or above the account's is no limit of this stage's own
  // (it is also what a restored throttle step writes back when nothing was set before).
  if (s.throttlingRateLimit < 0 || s.throttlingBurstLimit < 0) return undefined;
  if (s.throttlingRateLimit >= account.rateLimit && s.throttlingBurstLimit >= account.burstLimit) return undefined;
  return { rateLimit: s.throttlingRateLimit, burstLimit: s.throttlingBurstLimit };
}

/** Method-settings keys as API Gateway writes them: "/" in the path becomes "~1". */
const settingsKeys = (path: string, method: string) => {
  const p = path.replace(/\//g, '~1');
  return method === 'ANY' ? [`${p}/*`] : [`${p}/${method}`, `${p}/*`];
};

export interface ScanOptions {
  /** Only APIs with these names (HTTP APIs: or ids) (default: every REST and HTTP API in the region). */
  apis?: string[];
}

export function createInventoryActivities({ apigw, apigw2, waf, region }: { apigw: APIGatewayClient; apigw2?: ApiGatewayV2Client; waf: WAFV2Client; region: string }) {
  return {
    /** The REST and HTTP API inventory with every endpoint's protections. Changes nothing. */
    async scanApiInventory(opts: ScanOptions = {}): Promise<Scan> {
      const started = performance.now();
      let apiCalls = 0;
      const send = <T>(op: string, resource: string, fn: () => Promise<T>) => {
        apiCalls++;
        return call(op, resource, fn);
      };
      async function all<T>(op: string, resource: string, page: (position?: string) => Promise<{ items?: T[]; position?: string }>): Promise<T[]> {
        const out: T[] = [];
        let position: string | undefined;
        do {
          const r = await send(op, resource, () => page(position));
          out.push(...(r.items ?? []));
          // A server that echoes the same position would loop forever; stop instead.
          position = r.position && r.position !== position ? r.position : undefined;
        } while (position);
        return out;
      }

      const accountSettings = await send('GetAccount', 'API Gateway account', () => apigw.send(new GetAccountCommand({})));
      // AWS's documented account defaults when the account has no lower setting.
      const account: Limits = { rateLimit: accountSettings.throttleSettings?.rateLimit ?? 10000, burstLimit: accountSettings.throttleSettings?.burstLimit ?? 5000 };

      const apis = (await all('GetRestApis', 'REST APIs', (position) => apigw.send(new GetRestApisCommand({ position, limit: PAGE })))).filter(
        (a) => !opts.apis || opts.apis.includes(a.name ?? ''),
      );
      const plans = await all<UsagePlan>('GetUsagePlans', 'usage plans', (position) => apigw.send(new GetUsagePlansCommand({ position, limit: PAGE })));
      const enabledKeys = new Set(
        (await all('GetApiKeys', 'API keys', (position) => apigw.send(new GetApiKeysCommand({ position, limit: PAGE, includeValues: false }))))
          .filter((k) => k.enabled)
          .map((k) => k.id!),
      );
      const scanned = new Set(apis.map((a) => a.id));
      const planKeys = new Map<string, number>();
      // Keys are counted only for plans that cover a scanned API: one call per relevant plan.
      for (const plan of plans.filter((p) => p.apiStages?.some((s) => scanned.has(s.apiId)))) {
        const keys = await all('GetUsagePlanKeys', `usage plan ${plan.id}`, (position) => apigw.send(new GetUsagePlanKeysCommand({ usagePlanId: plan.id!, position, limit: PAGE })));
        planKeys.set(plan.id!, keys.filter((k) => enabledKeys.has(k.id!)).length);
      }

      const endpoints: ScannedEndpoint[] = [];
      const apiRows: Scan['apis'] = [];
      for (const api of apis) {
        const restApiId = api.id!;
        const apiName = api.name ?? restApiId;
        const [resources, stagesOut, deployments, authorizers] = [
          await all<Resource>('GetResources', `REST API ${restApiId}`, (position) => apigw.send(new GetResourcesCommand({ restApiId, position, limit: PAGE, embed: ['methods'] }))),
          await send('GetStages', `REST API ${restApiId}`, () => apigw.send(new GetStagesCommand({ restApiId }))),
          await all('GetDeployments', `REST API ${restApiId}`, (position) => apigw.send(new GetDeploymentsCommand({ restApiId, position, limit: PAGE }))),
          await all('GetAuthorizers', `REST API ${restApiId}`, (position) => apigw.send(new GetAuthorizersCommand({ restApiId, position, limit: PAGE }))),
        ];
        const deploymentIds = new Set(deployments.map((d) => d.id));
        // Only stages pointing at an existing deployment serve traffic.
        const stages = (stagesOut.item ?? []).filter((s: Stage) => s.deploymentId && deploymentIds.has(s.deploymentId));
        apiRows.push({ restApiId, apiType: 'rest', name: apiName, stages: stages.map((s) => s.stageName!) });
        const authById = new Map(authorizers.map((a) => [a.id!, a]));
        for (const stage of stages) {
          const stageName = stage.stageName!;
          const stageArn = `arn:aws:apigateway:${region}::/restapis/${restApiId}/stages/${stageName}`;
          const wafStatus = await readWaf(stageArn, stage);
          const covering = plans.filter((p) => p.apiStages?.some((s) => s.apiId === restApiId && s.stage === stageName));
          const settings = stage.methodSettings ?? {};
          const stageLimits = limitsFrom(settings['*/*'], account);
          const stageLogLevel = settings['*/*']?.loggingLevel ?? 'OFF';
          for (const resource of resources) {
            for (const [verb, method] of Object.entries(resource.resourceMethods ?? {})) {
              const m = verb.toUpperCase();
              if (!(HTTP_METHODS as readonly string[]).includes(m)) continue;
              const path = resource.path!;
              const keys = settingsKeys(path, m);
              const methodSetting = keys.map((k) => settings[k]).find(Boolean);
              const authorizer = method.authorizerId ? authById.get(method.authorizerId) : undefined;
              const planThrottles = covering.flatMap((p) => {
                const perMethod = p.apiStages?.find((s) => s.apiId === restApiId && s.stage === stageName)?.throttle?.[`${path}/${m}`];
                const t = perMethod ?? p.throttle;
                return t?.rateLimit !== undefined && t.burstLimit !== undefined ? [{ plan: p.name ?? p.id!, rateLimit: t.rateLimit, burstLimit: t.burstLimit }] : [];
              });
              const e: ScannedEndpoint = {
                key: endpointKey({ apiName, stage: stageName, method: m, path }),
                restApiId,
                apiType: 'rest',
                apiName,
                stage: stageName,
                method: m as HttpMethod,
                path,
                ...(stage.deploymentId ? { deploymentId: stage.deploymentId } : {}),
                protections: {
                  authorization: method.authorizationType ?? 'NONE',
                  ...(method.authorizerId ? { authorizer: { id: method.authorizerId, ...(authorizer?.name ? { name: authorizer.name } : {}), ...(authorizer?.type ? { type: authorizer.type } : {}) } } : {}),
                  apiKeyRequired: Boolean(method.apiKeyRequired),
                  throttling: {
                    ...(limitsFrom(methodSetting, account) ? { method: limitsFrom(methodSetting, account)! } : {}),
                    ...(stageLimits ? { stage: stageLimits } : {}),
                    usagePlans: planThrottles,
                  },
                  usagePlans: covering.map((p) => p.name ?? p.id!),
                  usagePlanKeys: covering.reduce((n, p) => n + (planKeys.get(p.id!) ?? 0), 0),
                  waf: wafStatus,
                  logging: {
                    accessLogs: Boolean(stage.accessLogSettings?.destinationArn),
                    ...(stage.accessLogSettings?.destinationArn ? { accessLogDestination: stage.accessLogSettings.destinationArn } : {}),
                    executionLogLevel: methodSetting?.loggingLevel ?? stageLogLevel,
                  },
                },
              };
              endpoints.push(e);
            }
          }
        }
      }
      // Without an apigatewayv2 client (older callers) HTTP APIs are not read, and the scan says so.
      const http = apigw2
        ? await scanHttpApis({ apigw2, send, account, limitsFrom, ...(opts.apis ? { apis: opts.apis } : {}) })
        : { apis: [], endpoints: [], skipped: [{ what: 'HTTP and WebSocket APIs (apigatewayv2)', reason: 'not scanned: no apigatewayv2 client was given to the scan' }] };
      endpoints.push(...http.endpoints);
      apiRows.push(...http.apis);
      endpoints.sort((a, b) => a.key.localeCompare(b.key));
      return {
        scannedAt: new Date().toISOString(),
        region,
        apis: apiRows.sort((a, b) => a.name.localeCompare(b.name) || a.restApiId.localeCompare(b.restApiId)),
        endpoints,
        skipped: http.skipped,
        stats: { apiCalls, durationMs: Math.round(performance.now() - started) },
      };

      async function readWaf(stageArn: string, stage: Stage): Promise<WafStatus> {
        try {
          apiCalls++;
          const r = await waf.send(new GetWebACLForResourceCommand({ ResourceArn: stageArn }));
          if (r.WebACL?.ARN) return { status: 'associated', webAclArn: r.WebACL.ARN, ...(r.WebACL.Name ? { webAclName: r.WebACL.Name } : {}) };
          return { status: 'none' };
        } catch (err) {
          const reason = unsupported(err);
          if (!reason) throw toFailure(err, 'GetWebACLForResource', stageArn);
          // The stage itself names its web ACL (webAclArn): good evidence when WAF cannot be asked.
          if (stage.webAclArn) return { status: 'associated', webAclArn: stage.webAclArn };
          return { status: 'unknown', reason };
        }
      }
    },
  };
}

export type InventoryActivities = ReturnType<typeof createInventoryActivities>;
