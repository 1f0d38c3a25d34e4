import { createHmac, timingSafeEqual } from 'node:crypto';

/** Webhook signing for POST /v1/alerts: `v1=` + hex HMAC-SHA256(secret, `${timestamp}.${rawBody}`). */
export const SIGNATURE_HEADER = 'x-bulwark-signature';
export const TIMESTAMP_HEADER = 'x-bulwark-timestamp';
export const MAX_CLOCK_SKEW_SECONDS = 300;

export function sign(secret: string, timestamp: number | string, rawBody: string | Buffer): string {
  const mac = createHmac('sha256', secret);
  mac.update(`${timestamp}.`);
  mac.update(rawBody);
  return `v1=${mac.digest('hex')}`;
}

export type SignatureCheck = { ok: true } | { ok: false; reason: 'missing' | 'malformed' | 'stale' | 'mismatch' };

export function verifySignature(opts: {
  secret: string;
  timestampHeader: string | undefined;
  signatureHeader: string | undefined;
  rawBody: Buffer;
  nowSeconds: number;
}): SignatureCheck {
  return checkTimestampedHmac({ ...opts, version: 'v1', maxSkewSeconds: MAX_CLOCK_SKEW_SECONDS, expected: (ts) => sign(opts.secret, ts, opts.rawBody) });
}

/**
 * The check shared by every timestamped HMAC scheme we accept (bulwark's `v1`, Slack's `v0`):
 * headers present and well-formed, timestamp within the window, signature equal in constant time.
 */
export function checkTimestampedHmac(opts: {
  timestampHeader: string | undefined;
  signatureHeader: string | undefined;
  nowSeconds: number;
  version: string;
  maxSkewSeconds: number;
  /** The signature we would have produced for this timestamp. */
  expected: (timestamp: string) => string;
}): SignatureCheck {
  const { timestampHeader, signatureHeader } = opts;
  if (!timestampHeader || !signatureHeader) return { ok: false, reason: 'missing' };
  if (!/^\d{1,12}$/.test(timestampHeader) || !new RegExp(`^${opts.version}=[0-9a-f]{64}$`).test(signatureHeader)) {
    return { ok: false, reason: 'malformed' };
  }
  if (Math.abs(opts.nowSeconds - Number(timestampHeader)) > opts.maxSkewSeconds) return { ok: false, reason: 'stale' };
  const expected = Buffer.from(opts.expected(timestampHeader));
  const given = Buffer.from(signatureHeader);
  return expected.length === given.length && timingSafeEqual(expected, given) ? { ok: true } : { ok: false, reason: 'mismatch' };
}
