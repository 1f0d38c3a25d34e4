import { createHmac } from 'node:crypto';
import { checkTimestampedHmac, type SignatureCheck } from '../signature.js';

/**
 * Slack request signing (https://api.slack.com/authentication/verifying-requests-from-slack):
 * `X-Slack-Signature: v0=` + hex HMAC-SHA256(signing secret, `v0:{timestamp}:{raw body}`), with
 * `X-Slack-Request-Timestamp` in unix seconds. Requests more than 5 minutes away from our clock are
 * refused, and so is a second request carrying a signature already seen within that window.
 */
export const SLACK_SIGNATURE_HEADER = 'x-slack-signature';
export const SLACK_TIMESTAMP_HEADER = 'x-slack-request-timestamp';
export const SLACK_RETRY_NUM_HEADER = 'x-slack-retry-num';
export const SLACK_RETRY_REASON_HEADER = 'x-slack-retry-reason';
export const SLACK_MAX_AGE_SECONDS = 300;

export function signSlackRequest(signingSecret: string, timestamp: number | string, rawBody: string | Buffer): string {
  const mac = createHmac('sha256', signingSecret);
  mac.update(`v0:${timestamp}:`);
  mac.update(rawBody);
  return `v0=${mac.digest('hex')}`;
}

export type SlackSignatureCheck = SignatureCheck;

export function verifySlackSignature(opts: {
  signingSecret: string;
  timestampHeader: string | undefined;
  signatureHeader: string | undefined;
  rawBody: Buffer;
  nowSeconds: number;
}): SlackSignatureCheck {
  return checkTimestampedHmac({ ...opts, version: 'v0', maxSkewSeconds: SLACK_MAX_AGE_SECONDS, expected: (ts) => signSlackRequest(opts.signingSecret, ts, opts.rawBody) });
}

export const SIGNATURE_PROBLEMS: Record<Exclude<SlackSignatureCheck, { ok: true }>['reason'] | 'replayed', string> = {
  missing: `missing ${SLACK_TIMESTAMP_HEADER} or ${SLACK_SIGNATURE_HEADER} header`,
  malformed: `${SLACK_TIMESTAMP_HEADER} must be unix seconds and ${SLACK_SIGNATURE_HEADER} must be v0=<64 hex digits>`,
  stale: 'timestamp is more than 5 minutes away from the server clock',
  mismatch: 'signature does not match the body',
  replayed: 'this exact signed request was already received',
};

/**
 * Remembers the signatures of verified requests for the freshness window, so an identical request
 * (same timestamp, same body, hence same signature) is recognised as a replay. Entries older than
 * the window are dropped: the timestamp check refuses those requests anyway. Bounded in size; when
 * full, the oldest entries go first (a replay older than those is still caught by its timestamp once
 * it leaves the window).
 */
export class ReplayGuard {
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly windowSeconds = SLACK_MAX_AGE_SECONDS,
    private readonly maxEntries = 100_000,
  ) {}

  /** Records the signature; true when it was already recorded within the window (a replay). */
  check(signature: string, timestampSeconds: number, nowSeconds: number): boolean {
    this.prune(nowSeconds);
    if (this.seen.has(signature)) return true;
    this.seen.set(signature, timestampSeconds);
    while (this.seen.size > this.maxEntries) this.seen.delete(this.seen.keys().next().value!);
    return false;
  }

  get size(): number {
    return this.seen.size;
  }

  private prune(nowSeconds: number): void {
    // Insertion order is roughly timestamp order; stop at the first entry still inside the window.
    for (const [sig, ts] of this.seen) {
      if (nowSeconds - ts <= this.windowSeconds) break;
      this.seen.delete(sig);
    }
  }
}
