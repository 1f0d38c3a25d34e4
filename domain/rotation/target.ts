import { z } from 'zod';
import { DurationText } from '../schemas.js';

/**
 * Where a rotated secret is used, and how its old value is retired.
 *
 * setSecret hands the pending credential to the system that checks it *before* AWSCURRENT moves,
 * so consumers reading AWSCURRENT never hold a credential that system does not accept yet:
 *   - `apigateway-key`: the secret's credential is an API Gateway API key value. A new API key with
 *     the pending value joins the usage plans of the key that holds the current value (and any
 *     listed), so both work until the old one is retired.
 *   - `https`: POST the pending credential to an endpoint of the system (JSON, Idempotency-Key =
 *     the version id) — for a key-pair secret only its public key; `revokeUrl` is called with the
 *     previous version id when it is retired.
 *   - `cognito-app-client`: the secret's credential is an Amazon Cognito app client secret. The
 *     pending value is added to the client as its second client secret (AddUserPoolClientSecret;
 *     a client holds at most two), and the secrets it held before are deleted when retired. Which
 *     secret is whose is told apart by ids only (Cognito never lists values): see
 *     activities/rotation-cognito.ts.
 *
 * Retiring the previous credential is its own phase after finishSecret: consumers (HTTPS probes
 * answering `{"versionId": …}` with the version they use) must all report the new version, then the
 * grace period runs out, then the old credential is revoked at the target. A consumer that never
 * confirms keeps the old credential valid: the rotation reports it instead of breaking the consumer.
 */
const url = z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' });

export const ApiGatewayKeyTarget = z.strictObject({
  kind: z.literal('apigateway-key'),
  /** Usage plans the new key joins besides those of the current key. */
  usagePlanIds: z.array(z.string().min(1)).max(50).optional(),
});

export const HttpsTarget = z.strictObject({
  kind: z.literal('https'),
  url,
  revokeUrl: url.optional(),
});

export const CognitoAppClientTarget = z.strictObject({
  kind: z.literal('cognito-app-client'),
  userPoolId: z.string().max(55).regex(/^[\w-]+_[0-9a-zA-Z]+$/, 'expected a user pool id like eu-west-1_AbCdEf123'),
  clientId: z.string().max(128).regex(/^[\w+]+$/, 'expected an app client id (letters, digits, _ and +)'),
});

export const RotationTarget = z.discriminatedUnion('kind', [ApiGatewayKeyTarget, HttpsTarget, CognitoAppClientTarget], {
  error: 'expected { kind: apigateway-key }, { kind: https, url } or { kind: cognito-app-client, userPoolId, clientId }',
});
export type RotationTarget = z.infer<typeof RotationTarget>;

export const Consumer = z.strictObject({
  name: z.string().regex(/^[\w.@:+/-]{1,128}$/, 'expected a short name (letters, digits, . _ @ : + / -)'),
  url,
});
export type Consumer = z.infer<typeof Consumer>;

export const RetireOptions = z.strictObject({
  target: RotationTarget.optional(),
  consumers: z.array(Consumer).max(100).optional(),
  /** How long the previous credential stays valid after AWSCURRENT moved (default 1h with a target). */
  grace: DurationText.optional(),
  /** How long to wait for every consumer to confirm before giving up on retiring (default 1h). */
  confirmWithin: DurationText.optional(),
});
export type RetireOptions = z.infer<typeof RetireOptions>;

export { DEFAULT_CONFIRM_WITHIN, DEFAULT_GRACE } from './retire-defaults.js';

/** The probe answer: which version the consumer uses. Anything else is "not confirmed", with why. */
export function readProbe(status: number, body: string, expectedVersionId: string): { confirmed: boolean; reported?: string; why?: string } {
  if (status < 200 || status >= 300) return { confirmed: false, why: `answered HTTP ${status}` };
  let reported: unknown;
  try {
    reported = (JSON.parse(body) as { versionId?: unknown }).versionId;
  } catch {
    return { confirmed: false, why: 'answered something other than JSON {"versionId": …}' };
  }
  if (typeof reported !== 'string') return { confirmed: false, why: 'answered without a versionId' };
  return reported === expectedVersionId ? { confirmed: true, reported } : { confirmed: false, reported, why: `still uses version ${reported}` };
}

/** Parses `name=url` pairs given on the command line. */
export function parseConsumerArg(text: string): Consumer {
  const i = text.indexOf('=');
  if (i <= 0) throw new Error(`expected name=url, got "${text}"`);
  const r = Consumer.safeParse({ name: text.slice(0, i), url: text.slice(i + 1) });
  if (!r.success) throw new Error(`consumer "${text}": ${r.error.issues.map((x) => `${x.path.join('.')}: ${x.message}`).join('; ')}`);
  return r.data;
}
