import { z } from 'zod';
import { DurationText as duration } from '../schemas.js';
import { Endpoint } from '../alert.js';
import { BLOCK_IPS_SHAPE } from '../intel/action.js';
import { RevocationReasonName } from '../certificates/model.js';

/**
 * The registry of actions a playbook step may name. Each action declares its parameters (zod, on
 * resolved values), whether it can be undone, and whether it is available in this release: a
 * playbook naming an unavailable action is refused at load time with the reason.
 *
 * effect:
 *   reversible   — undone in reverse order on compensation (throttle → restore previous limits)
 *   containment  — never auto-undone (disabling a leaked credential must not be rolled back by a
 *                  later failure); shown as irreversible in plans
 *   destructive  — irreversible and always needs an `approval`
 *   informational/control — no change to any system
 */
export type Effect = 'reversible' | 'containment' | 'destructive' | 'informational' | 'control';

const id = z.string().min(1).max(256).regex(/^[A-Za-z0-9._:/@+=,-]+$/, 'expected an identifier');

export interface ActionSpec {
  summary: string;
  effect: Effect;
  /** What compensation does, for plans; only for reversible actions. */
  undo?: string;
  shape: z.ZodRawShape;
  /** Cross-field rules checked once templates are resolved. */
  check?: (params: Record<string, unknown>) => string | undefined;
  /** Set when the action exists in the language but not yet in this release. */
  unavailable?: string;
}

const oneOf = (...fields: string[]) => (p: Record<string, unknown>) =>
  fields.some((f) => p[f] !== undefined) ? undefined : `needs ${fields.join(' or ')}`;

export const ACTIONS = {
  'apigateway.disableApiKey': {
    summary: 'Disable API Gateway API keys (one key, or every key tagged with the client id)',
    effect: 'containment',
    shape: { apiKeyId: id.optional(), clientId: id.optional() },
    check: oneOf('apiKeyId', 'clientId'),
  },
  'apigateway.throttle': {
    summary: 'Lower stage or method throttling on an endpoint for a while',
    effect: 'reversible',
    undo: 'restore the previous limits (also when the ttl ends or the incident is resolved)',
    shape: {
      endpoint: Endpoint,
      rateLimit: z.number().positive().max(10_000),
      burstLimit: z.number().int().min(0).max(5_000),
      ttl: duration,
    },
  },
  'secrets.rotate': {
    summary: 'Rotate Secrets Manager secrets (createSecret → setSecret → testSecret → finishSecret)',
    effect: 'containment',
    shape: { secretId: id.optional(), clientId: id.optional() },
    check: oneOf('secretId', 'clientId'),
  },
  'kms.rotate': {
    summary: 'Rotate a symmetric KMS key now (RotateKeyOnDemand); aliases and old ciphertexts keep working',
    effect: 'containment',
    shape: { keyId: id },
  },
  'secrets.reencrypt': {
    summary: 'Re-encrypt every secret under a compromised KMS key: a new AWSCURRENT version (same value) under fresh key material or a replacement key',
    effect: 'containment',
    shape: { keyId: id, newKeyId: id.optional() },
  },
  'kms.disableKey': {
    summary: 'Disable a KMS key so nothing can sign or decrypt with it',
    effect: 'reversible',
    undo: 're-enable the key',
    shape: { keyId: id },
  },
  'iam.deactivateAccessKey': {
    summary: 'Deactivate an IAM access key',
    effect: 'reversible',
    undo: 'reactivate the access key',
    shape: { accessKeyId: id, userName: id.optional() },
  },
  'iam.deleteAccessKey': {
    summary: 'Delete an (already inactive) IAM access key',
    effect: 'destructive',
    shape: { accessKeyId: id, userName: id.optional() },
  },
  'iam.revokeRoleSessions': {
    summary: 'Deny every session of a role issued before now (inline AWSRevokeOlderSessions policy)',
    effect: 'containment',
    shape: { roleName: id },
  },
  'oauth.revokeClient': {
    summary: 'Revoke an OAuth client: replace a Cognito app client, or call a client-disable webhook',
    effect: 'containment',
    shape: {
      provider: z.enum(['cognito', 'webhook']),
      userPoolId: id.optional(),
      appClientId: id.optional(),
      url: z.url({ protocol: /^https?$/ }).optional(),
      clientId: id.optional(),
    },
    check: (p) =>
      p.provider === 'cognito'
        ? p.userPoolId && p.appClientId ? undefined : 'provider cognito needs userPoolId and appClientId'
        : p.url && p.clientId ? undefined : 'provider webhook needs url and clientId',
  },
  // consents (issue 9): the consent store configured on the worker (docs/consents.md)
  'consents.list': {
    summary: 'Count the active consents a third-party provider holds in the consent store, and the PSUs they belong to',
    effect: 'informational',
    shape: { clientId: id },
  },
  'consents.revoke': {
    summary: 'Revoke every active consent a third-party provider holds, in batches, and verify none is left active',
    effect: 'containment',
    shape: { clientId: id, batchSize: z.number().int().min(1).max(500).optional() },
  },
  // end consents
  // threat intel (issue 9 part 2): WAF IP sets, removed by the IP set's ledger when the ttl ends (docs/threat-intel.md)
  'waf.blockIps': {
    summary: 'Block IP addresses/CIDRs in the WAF IP sets (IPv4 and IPv6) until the ttl ends',
    effect: 'reversible',
    undo: 'remove the entries this step added (entries another live block holds stay)',
    shape: BLOCK_IPS_SHAPE,
  },
  'notify.operators': {
    summary: 'Tell the operators (worker log and incident timeline; Slack once the Slack integration lands)',
    effect: 'informational',
    shape: { message: z.string().min(1).max(2000) },
  },
  wait: {
    summary: 'Wait (a durable timer) before the next step',
    effect: 'control',
    shape: { duration },
  },
  'slack.notify': {
    summary: 'Post to Slack',
    effect: 'informational',
    shape: { message: z.string().min(1).max(2000), channel: z.string().optional() },
    unavailable: 'slack.notify is not yet available: it lands with the Slack approval issue; use notify.operators',
  },
  'regulators.assess': {
    summary: 'Classify the incident per regulatory regime; start a notification workflow (deadlines, reminders, approval, submission) per applicable regime',
    effect: 'informational',
    shape: {
      // Checked against IncidentFacts by the classify activity (that schema stays out of workflow code).
      facts: z.record(z.string(), z.unknown()).optional(),
      regimes: z.array(z.string().regex(/^[a-z][a-z0-9-]*$/, 'expected a regime id like "dora"')).min(1).optional(),
      summary: z.string().min(1).max(2000).optional(),
      openedBy: z.string().min(1).max(256).optional(),
      aware: z.iso.datetime({ offset: true, error: 'expected an ISO instant like 2026-03-10T09:30:00Z' }).optional(),
    },
  },
  'certificates.rotate': {
    summary: 'Emergency re-issue of a certificate from the private CA: a new key and certificate, the old serial revoked, a new CRL published',
    effect: 'containment',
    // A certificate name, or its secret's name or ARN (what alerts carry as subject.certificateArn).
    shape: { certificate: id, reason: RevocationReasonName.optional() },
  },
} satisfies Record<string, ActionSpec>;

export type ActionName = keyof typeof ACTIONS;
export const ACTION_NAMES = Object.keys(ACTIONS) as ActionName[];

export function actionSpec(name: string): ActionSpec | undefined {
  return Object.hasOwn(ACTIONS, name) ? (ACTIONS as Record<string, ActionSpec>)[name] : undefined;
}

export const isIrreversible = (spec: ActionSpec) => spec.effect === 'containment' || spec.effect === 'destructive';

/** Load-time schema: every parameter may also be a `${…}` reference, checked again once resolved. */
export function lenientParams(spec: ActionSpec): z.ZodType {
  return z.strictObject(Object.fromEntries(Object.entries(spec.shape).map(([k, v]) => [k, lenient(v as z.ZodType)])));
}

/** The same schema, except that a `${…}` reference is accepted in place of any value. */
function lenient(schema: z.ZodType): z.ZodType {
  if (schema instanceof z.ZodOptional) return lenient(schema.unwrap() as z.ZodType).optional();
  const inner = schema instanceof z.ZodObject ? z.strictObject(Object.fromEntries(Object.entries(schema.shape).map(([k, v]) => [k, lenient(v as z.ZodType)]))) : schema;
  // A custom check rather than a union, so a wrong value gets the field's own message
  // ("expected number, received string"), not the union's "invalid input".
  return z.unknown().superRefine((value, ctx) => {
    if (typeof value === 'string' && /^\$\{[^}]+\}$/.test(value.trim())) return;
    const r = inner.safeParse(value);
    if (!r.success) for (const issue of r.error.issues) ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path as PropertyKey[] });
  });
}

/** Run-time schema on resolved values, with the action's cross-field rule. */
export function resolvedParams(spec: ActionSpec): z.ZodType<Record<string, unknown>> {
  return z.strictObject(spec.shape).superRefine((p, ctx) => {
    const problem = spec.check?.(p);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  }) as unknown as z.ZodType<Record<string, unknown>>;
}
