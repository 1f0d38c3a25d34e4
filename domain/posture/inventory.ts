import { z } from 'zod';

/**
 * The deployed API inventory as a scan sees it: one row per (REST API, stage, resource path,
 * method) with the protections in force on it. Pure data; built by activities/inventory.ts and
 * compared by domain/posture/compare.ts.
 */

export const HTTP_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'ANY'] as const;
export const HttpMethod = z.enum(HTTP_METHODS);
export type HttpMethod = z.infer<typeof HttpMethod>;

export const Limits = z.strictObject({ rateLimit: z.number(), burstLimit: z.number() });
export type Limits = z.infer<typeof Limits>;

export const WafStatus = z.discriminatedUnion('status', [
  z.strictObject({ status: z.literal('associated'), webAclArn: z.string(), webAclName: z.string().optional() }),
  z.strictObject({ status: z.literal('none') }),
  /** The WAF API could not answer (not supported by the sandbox, access denied…): never guessed. */
  z.strictObject({ status: z.literal('unknown'), reason: z.string() }),
  /** WAF cannot be attached to this kind of API at all (HTTP APIs): a fact, not a gap in the scan. */
  z.strictObject({ status: z.literal('not-supported'), reason: z.string() }),
]);
export type WafStatus = z.infer<typeof WafStatus>;

/** REST APIs (API Gateway v1) or HTTP APIs (apigatewayv2, protocol HTTP). Absent means REST (scans from before HTTP APIs were read). */
export const ApiType = z.enum(['rest', 'http']);
export type ApiType = z.infer<typeof ApiType>;

export const Protections = z.strictObject({
  /** API Gateway's authorizationType: NONE, AWS_IAM, CUSTOM (Lambda authorizer), COGNITO_USER_POOLS; JWT on HTTP APIs. */
  authorization: z.string(),
  authorizer: z.strictObject({ id: z.string(), name: z.string().optional(), type: z.string().optional() }).optional(),
  apiKeyRequired: z.boolean(),
  throttling: z.strictObject({
    /** The method's own override in the stage's methodSettings. */
    method: Limits.optional(),
    /** The stage-wide default (`*\/*`). */
    stage: Limits.optional(),
    /** Usage plans covering this stage that set a throttle (they apply to requests with an API key). */
    usagePlans: z.array(z.strictObject({ plan: z.string(), rateLimit: z.number(), burstLimit: z.number() })),
  }),
  /** Names of the usage plans whose apiStages include this API's stage. */
  usagePlans: z.array(z.string()),
  /** Enabled API keys across those usage plans. */
  usagePlanKeys: z.number().int().min(0),
  waf: WafStatus,
  logging: z.strictObject({
    accessLogs: z.boolean(),
    accessLogDestination: z.string().optional(),
    /** Execution logging level in force (method override, else stage default); OFF when unset. */
    executionLogLevel: z.string(),
  }),
});
export type Protections = z.infer<typeof Protections>;

export const ScannedEndpoint = z.strictObject({
  /** Stable identity: `<api name>/<stage> <METHOD> <path>`. */
  key: z.string(),
  /** The API's id (REST or HTTP API). */
  restApiId: z.string(),
  apiType: ApiType.optional(),
  apiName: z.string(),
  stage: z.string(),
  method: HttpMethod,
  path: z.string(),
  deploymentId: z.string().optional(),
  protections: Protections,
});
export type ScannedEndpoint = z.infer<typeof ScannedEndpoint>;

export const Scan = z.strictObject({
  scannedAt: z.string(),
  region: z.string(),
  apis: z.array(z.strictObject({ restApiId: z.string(), apiType: ApiType.optional(), name: z.string(), stages: z.array(z.string()) })),
  endpoints: z.array(ScannedEndpoint),
  /** What the scan could not look at, and why (e.g. WebSocket APIs). */
  skipped: z.array(z.strictObject({ what: z.string(), reason: z.string() })),
  /** Figures for the report and the benchmark. */
  stats: z.strictObject({ apiCalls: z.number().int(), durationMs: z.number() }),
});
export type Scan = z.infer<typeof Scan>;

export function endpointKey(e: { apiName: string; stage: string; method: string; path: string }): string {
  return `${e.apiName}/${e.stage} ${e.method} ${e.path}`;
}

/** The throttle in force for a request without an API key: the method override, else the stage's. */
export function effectiveLimits(p: Protections): Limits | undefined {
  return p.throttling.method ?? p.throttling.stage;
}

/** Throttled if the method or stage sets a limit, or (for API-key-only methods) a usage plan does. */
export function isThrottled(p: Protections): boolean {
  if (effectiveLimits(p)) return true;
  return p.apiKeyRequired && p.throttling.usagePlans.length > 0;
}

/** Authenticated by an authorizer, IAM or Cognito; or at least gated by an API key. */
export function isAuthenticated(p: Protections): boolean {
  return p.authorization !== 'NONE' || p.apiKeyRequired;
}

export function authSummary(p: Protections): string {
  const parts: string[] = [];
  if (p.authorization === 'AWS_IAM') parts.push('IAM');
  else if (p.authorization === 'CUSTOM') parts.push(`authorizer${p.authorizer?.name ? ` ${p.authorizer.name}` : ''}`);
  else if (p.authorization === 'JWT') parts.push(`jwt${p.authorizer?.name ? ` ${p.authorizer.name}` : ''}`);
  else if (p.authorization === 'COGNITO_USER_POOLS') parts.push(`cognito${p.authorizer?.name ? ` ${p.authorizer.name}` : ''}`);
  else if (p.authorization !== 'NONE') parts.push(p.authorization);
  if (p.apiKeyRequired) parts.push('api-key');
  return parts.length ? parts.join('+') : 'none';
}

export function throttleSummary(p: Protections): string {
  const t = p.throttling;
  if (t.method) return `method ${t.method.rateLimit}/${t.method.burstLimit}`;
  if (t.stage) return `stage ${t.stage.rateLimit}/${t.stage.burstLimit}`;
  if (p.apiKeyRequired && t.usagePlans.length) return `plan ${t.usagePlans[0]!.plan} ${t.usagePlans[0]!.rateLimit}/${t.usagePlans[0]!.burstLimit}`;
  return 'none';
}

export function wafSummary(w: WafStatus): string {
  if (w.status === 'associated') return w.webAclName ?? w.webAclArn;
  return w.status === 'not-supported' ? w.reason : w.status;
}
