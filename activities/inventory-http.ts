import {
  GetApisCommand,
  GetAuthorizerCommand,
  GetRoutesCommand,
  GetStagesCommand,
  type ApiGatewayV2Client,
  type Route,
  type RouteSettings,
  type Stage,
} from '@aws-sdk/client-apigatewayv2';
import { HTTP_METHODS, endpointKey, type HttpMethod, type Limits, type Scan, type ScannedEndpoint } from '../domain/posture/inventory.js';

/**
 * The HTTP API half of the inventory scan (apigatewayv2, protocol HTTP): routes with their
 * authorization, stages with default and per-route throttling and access logs. WebSocket APIs are
 * listed under "skipped": their routes are message selectors, not method + path.
 */

// apigatewayv2 takes MaxResults as a string; 500 is its documented maximum.
const PAGE = '500';

/** WAF web ACLs cannot be associated with HTTP API stages (only REST APIs, ALB, AppSync, Cognito…). */
export const HTTP_API_WAF_REASON = 'not supported for HTTP APIs';

/** A `$default` route catches whatever no other route matches: any method, any path. */
export const DEFAULT_ROUTE_PATH = '/$default';

type Send = <T>(op: string, resource: string, fn: () => Promise<T>) => Promise<T>;
type LimitsFrom = (s: { throttlingRateLimit?: number; throttlingBurstLimit?: number } | undefined, account: Limits) => Limits | undefined;

/** "POST /payments" → POST, /payments; "$default" → ANY, /$default; WebSocket-style keys → undefined. */
export function parseRouteKey(routeKey: string): { method: HttpMethod; path: string } | undefined {
  if (routeKey === '$default') return { method: 'ANY', path: DEFAULT_ROUTE_PATH };
  const m = /^([A-Za-z]+) (\/\S*)$/.exec(routeKey);
  if (!m) return undefined;
  const method = m[1]!.toUpperCase();
  return (HTTP_METHODS as readonly string[]).includes(method) ? { method: method as HttpMethod, path: m[2]! } : undefined;
}

const settingsOf = (s: RouteSettings | undefined) => (s ? { throttlingRateLimit: s.ThrottlingRateLimit, throttlingBurstLimit: s.ThrottlingBurstLimit } : undefined);

export async function scanHttpApis({
  apigw2,
  send,
  account,
  limitsFrom,
  apis: only,
}: {
  apigw2: ApiGatewayV2Client;
  send: Send;
  account: Limits;
  limitsFrom: LimitsFrom;
  /** Only APIs with these names or ids. */
  apis?: string[];
}): Promise<{ apis: Scan['apis']; endpoints: ScannedEndpoint[]; skipped: Scan['skipped'] }> {
  async function all<T>(op: string, resource: string, page: (token?: string) => Promise<{ Items?: T[]; NextToken?: string }>): Promise<T[]> {
    const out: T[] = [];
    let token: string | undefined;
    do {
      const r = await send(op, resource, () => page(token));
      out.push(...(r.Items ?? []));
      token = r.NextToken && r.NextToken !== token ? r.NextToken : undefined;
    } while (token);
    return out;
  }

  const listed = (await all('GetApis', 'HTTP APIs', (NextToken) => apigw2.send(new GetApisCommand({ NextToken, MaxResults: PAGE })))).filter(
    (a) => !only || only.includes(a.Name ?? '') || only.includes(a.ApiId ?? ''),
  );
  const skipped: Scan['skipped'] = [];
  const apis: Scan['apis'] = [];
  const endpoints: ScannedEndpoint[] = [];
  for (const api of listed) {
    const apiId = api.ApiId!;
    const apiName = api.Name ?? apiId;
    if (api.ProtocolType !== 'HTTP') {
      skipped.push({ what: `${api.ProtocolType ?? 'unknown'} API ${apiName} (${apiId})`, reason: 'not scanned: only REST and HTTP APIs are (WebSocket routes are not method + path)' });
      continue;
    }
    const resource = `HTTP API ${apiId}`;
    const routes = await all<Route>('GetRoutes', resource, (NextToken) => apigw2.send(new GetRoutesCommand({ ApiId: apiId, NextToken, MaxResults: PAGE })));
    const allStages = await all<Stage>('GetStages', resource, (NextToken) => apigw2.send(new GetStagesCommand({ ApiId: apiId, NextToken, MaxResults: PAGE })));
    // One GetAuthorizer per authorizer in use rather than listing them: an API has few, and the
    // sandbox (moto 5.2) does not implement GetAuthorizers.
    const authorizers = [];
    for (const id of new Set(routes.flatMap((r) => (r.AuthorizerId ? [r.AuthorizerId] : [])))) {
      authorizers.push(await send('GetAuthorizer', `${resource} authorizer ${id}`, () => apigw2.send(new GetAuthorizerCommand({ ApiId: apiId, AuthorizerId: id }))));
    }
    // A stage serves traffic once something was deployed to it, by hand or by auto-deploy.
    const stages = allStages.filter((s) => s.DeploymentId || s.AutoDeploy);
    apis.push({ restApiId: apiId, apiType: 'http', name: apiName, stages: stages.map((s) => s.StageName!) });
    const authById = new Map(authorizers.map((a) => [a.AuthorizerId!, a]));
    for (const stage of stages) {
      const stageName = stage.StageName!;
      const stageLimits = limitsFrom(settingsOf(stage.DefaultRouteSettings), account);
      const destination = stage.AccessLogSettings?.DestinationArn;
      for (const route of routes) {
        const parsed = parseRouteKey(route.RouteKey ?? '');
        if (!parsed) {
          skipped.push({ what: `route "${route.RouteKey}" of HTTP API ${apiName} (${apiId})`, reason: 'not scanned: not a "METHOD /path" or $default route key' });
          continue;
        }
        const routeLimits = limitsFrom(settingsOf(stage.RouteSettings?.[route.RouteKey!]), account);
        const authorizer = route.AuthorizerId ? authById.get(route.AuthorizerId) : undefined;
        endpoints.push({
          key: endpointKey({ apiName, stage: stageName, method: parsed.method, path: parsed.path }),
          restApiId: apiId,
          apiType: 'http',
          apiName,
          stage: stageName,
          method: parsed.method,
          path: parsed.path,
          ...(stage.DeploymentId ? { deploymentId: stage.DeploymentId } : {}),
          protections: {
            authorization: route.AuthorizationType ?? 'NONE',
            ...(route.AuthorizerId
              ? { authorizer: { id: route.AuthorizerId, ...(authorizer?.Name ? { name: authorizer.Name } : {}), ...(authorizer?.AuthorizerType ? { type: authorizer.AuthorizerType } : {}) } }
              : {}),
            // API keys and usage plans exist only for REST APIs (and WebSocket APIs).
            apiKeyRequired: Boolean(route.ApiKeyRequired),
            throttling: { ...(routeLimits ? { method: routeLimits } : {}), ...(stageLimits ? { stage: stageLimits } : {}), usagePlans: [] },
            usagePlans: [],
            usagePlanKeys: 0,
            waf: { status: 'not-supported', reason: HTTP_API_WAF_REASON },
            // HTTP APIs have access logs only; execution logging is a REST/WebSocket feature.
            logging: { accessLogs: Boolean(destination), ...(destination ? { accessLogDestination: destination } : {}), executionLogLevel: 'OFF' },
          },
        });
      }
    }
  }
  return { apis, endpoints, skipped };
}
