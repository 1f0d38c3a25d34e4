import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import { retryAfterMs, scrubQuoted, sendRequest, type HttpAnswer } from './http-answer.js';

/**
 * The consent store (docs/consents.md): the system of record for the consents PSUs gave to
 * third-party providers. Two calls matter here — list a client's consents by status, and revoke one
 * consent with an Idempotency-Key — so a compromised provider's consents can be revoked in bulk.
 *
 * The bearer token lives in the worker's config only: it is sent in the Authorization header and
 * nowhere else (not in inputs, results, heartbeats or error messages; server text quoted in an
 * error is scrubbed of it first).
 */

export interface ConsentStoreOptions {
  /** Base URL; absent when no consent store is configured (every activity then fails with that reason). */
  url?: string;
  token?: string;
  batchSize?: number;
  concurrency?: number;
  fetch?: typeof fetch;
  /** Per HTTP request; default 10 s. */
  timeoutMs?: number;
  /** Plain http is refused except to loopback addresses (the token must not cross a network in clear). */
  allowInsecureHttp?: boolean;
  /** 429/5xx answers are retried in place this many times (honouring Retry-After) before the attempt fails. */
  requestRetries?: number;
  /** Longest Retry-After waited out inside the activity; longer ones fail the attempt with that delay. */
  maxInlineWaitMs?: number;
}

export interface ConsentCounts {
  revoked: number;
  alreadyRevoked: number;
  failed: number;
}

export interface ConsentInventory {
  clientId: string;
  consentStore: string;
  /** Consents of the client with status active. */
  active: number;
  /** Distinct PSUs among them, plus one per consent that names no PSU (never under-counted). */
  clientsAffected: number;
  consentsWithoutPsu: number;
  pages: number;
  listedAt: string;
}

export interface RevokeConsentsInput {
  clientId: string;
  /** Stable per incident step (workflow id + first run id + step); each consent's key is `<prefix>/<consentId>`. */
  idempotencyKeyPrefix: string;
  /** Where to start listing (a cursor returned by an earlier call); absent: the beginning. */
  cursor?: string;
  batchSize?: number;
  /** Batches this call processes before returning, so the workflow can record progress between calls. */
  maxBatches?: number;
}

export interface ConsentFailure {
  consentId: string;
  reason: string;
}

export interface RevokeConsentsResult {
  clientId: string;
  batches: number;
  counts: ConsentCounts;
  /** The first few consents that could not be revoked, with the store's answer. */
  failures: ConsentFailure[];
  nextCursor?: string;
  done: boolean;
  /** This call picked up from a heartbeat of a previous attempt instead of starting over. */
  resumedFromBatch?: number;
}

/** Heartbeat details: enough to resume a retried attempt where the last one got to. */
interface RevokeProgress {
  cursor?: string;
  batches: number;
  counts: ConsentCounts;
  failures: ConsentFailure[];
  done: boolean;
  /** The batch being revoked: a retry re-sends exactly these (same keys) before listing on. */
  inFlight?: { ids: string[]; next?: string };
}

const MAX_FAILURES_KEPT = 20;

const ConsentDoc = z.object({
  id: z.string().min(1).max(256),
  status: z.string().min(1).max(64),
  psuId: z.string().min(1).max(256).nullish(),
  scope: z.unknown().optional(),
  createdAt: z.string().optional(),
});
const ConsentPage = z.object({ consents: z.array(ConsentDoc), nextCursor: z.string().min(1).nullish() });
type ConsentPage = z.infer<typeof ConsentPage>;


const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

function baseUrl(raw: string, allowInsecureHttp: boolean): URL {
  let url: URL;
  try {
    url = new URL(raw.endsWith('/') ? raw : `${raw}/`);
  } catch {
    throw ApplicationFailure.nonRetryable('the consent store URL is not a URL', 'InvalidEndpoint');
  }
  if (url.username || url.password) throw ApplicationFailure.nonRetryable('the consent store URL must not carry credentials', 'InvalidEndpoint');
  if (url.protocol === 'http:' && !allowInsecureHttp && !LOOPBACK.has(url.hostname)) {
    throw ApplicationFailure.nonRetryable(`the consent store ${url.origin} is plain http; the bearer token is only sent over https`, 'InvalidEndpoint');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw ApplicationFailure.nonRetryable('the consent store URL must be http(s)', 'InvalidEndpoint');
  return url;
}

export { retryAfterMs };

const retryableStatus = (s: number) => s === 429 || s === 409 || s >= 500;

/** Runs fn over items with at most `limit` in flight; stops picking new items after the first error, which it rethrows. */
async function inPool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { err: unknown } | undefined;
  const lane = async () => {
    while (!failure && next < items.length) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  if (failure) throw failure.err;
}

function heartbeatProgress(details: unknown): RevokeProgress | undefined {
  const d = details as Partial<RevokeProgress> | undefined;
  if (!d || typeof d !== 'object' || typeof d.batches !== 'number' || !d.counts) return undefined;
  return { cursor: d.cursor, batches: d.batches, counts: { ...d.counts }, failures: [...(d.failures ?? [])], done: Boolean(d.done), inFlight: d.inFlight };
}

export function createConsentActivities(options: ConsentStoreOptions = {}) {
  const doFetch = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const defaultBatch = options.batchSize ?? 100;
  const concurrency = options.concurrency ?? 8;
  const requestRetries = options.requestRetries ?? 4;
  const maxInlineWaitMs = options.maxInlineWaitMs ?? 30_000;

  function store(): { base: URL; token: string } {
    if (!options.url || !options.token) {
      throw ApplicationFailure.nonRetryable('no consent store is configured: set BULWARK_CONSENT_STORE_URL and BULWARK_CONSENT_STORE_TOKEN on the worker', 'ConsentStoreNotConfigured');
    }
    return { base: baseUrl(options.url, options.allowInsecureHttp ?? false), token: options.token };
  }

  /** One request with the bearer token; see sendRequest for what is retryable. */
  const send = (what: string, url: URL, init: RequestInit, token: string) =>
    sendRequest(doFetch, what, url, { ...init, headers: { accept: 'application/json', ...(init.headers as Record<string, string>), authorization: `Bearer ${token}` } }, [token], timeoutMs);

  /**
   * A request with 429/409/5xx retried in place (Retry-After honoured, heartbeating while waiting),
   * so one throttled call does not cost the attempt; what is still failing is classified.
   */
  async function request(what: string, url: URL, init: RequestInit, token: string, beat: () => void): Promise<HttpAnswer> {
    for (let retry = 0; ; retry++) {
      const a = await send(what, url, init, token);
      if (!retryableStatus(a.status) || retry >= requestRetries) return a;
      const wait = retryAfterMs(a.headers.get('retry-after')) ?? Math.min(500 * 2 ** retry, 8_000);
      if (wait > maxInlineWaitMs) return a;
      beat();
      await Context.current().sleep(wait);
    }
  }

  /** The failure for an answer the caller cannot use: 429/409/5xx retryable (with Retry-After), others not. */
  function failure(what: string, a: HttpAnswer, token: string): ApplicationFailure {
    const code = typeof a.json?.error === 'string' ? scrubQuoted(a.json.error, [token]) : undefined;
    const message = `${what}: HTTP ${a.status}${code ? ` ${code}` : ''}`;
    if (retryableStatus(a.status)) {
      const delay = retryAfterMs(a.headers.get('retry-after'));
      return ApplicationFailure.create({
        message: `${message}${delay ? `; retry after ${Math.round(delay / 1000)} s` : ''}`,
        type: a.status === 429 ? 'TooManyRequests' : a.status === 409 ? 'IdempotencyConflict' : `HTTP${a.status}`,
        nonRetryable: false,
        nextRetryDelay: delay || undefined,
      });
    }
    if (a.status === 401 || a.status === 403) {
      return ApplicationFailure.nonRetryable(`${message}: the consent store refused the bearer token (check BULWARK_CONSENT_STORE_TOKEN and its permissions)`, a.status === 401 ? 'Unauthorized' : 'Forbidden');
    }
    if (a.status >= 300 && a.status < 400) return ApplicationFailure.nonRetryable(`${message}: redirects are not followed`, 'UnexpectedRedirect');
    return ApplicationFailure.nonRetryable(message, `HTTP${a.status}`);
  }

  async function listPage(base: URL, token: string, clientId: string, cursor: string | undefined, limit: number, beat: () => void): Promise<ConsentPage> {
    const url = new URL(`clients/${encodeURIComponent(clientId)}/consents`, base);
    url.searchParams.set('status', 'active');
    url.searchParams.set('limit', String(limit));
    if (cursor) url.searchParams.set('cursor', cursor);
    const what = `consent store ${base.origin}: GET /clients/${clientId}/consents`;
    const a = await request(what, url, { method: 'GET' }, token, beat);
    if (a.status !== 200) throw failure(what, a, token);
    const page = ConsentPage.safeParse(a.json);
    if (!page.success) {
      const issue = page.error.issues[0]!;
      throw ApplicationFailure.nonRetryable(`${what}: the answer does not follow the contract (docs/consents.md): ${issue.path.join('.') || '(body)'}: ${issue.message}`, 'ConsentStoreContract');
    }
    if (page.data.consents.some((c) => c.status !== 'active')) {
      throw ApplicationFailure.nonRetryable(`${what}: asked for active consents, got other statuses (the store ignores ?status=active)`, 'ConsentStoreContract');
    }
    return page.data;
  }

  return {
    /**
     * Lists the client's active consents, page by page, and counts them and the distinct PSUs they
     * belong to (the "clients affected" a regulator asks about). Read-only: a retry starts over.
     */
    async listConsents(input: { clientId: string; pageSize?: number }): Promise<ConsentInventory> {
      const { base, token } = store();
      const ctx = Context.current();
      const psus = new Set<string>();
      let active = 0;
      let withoutPsu = 0;
      let pages = 0;
      let cursor: string | undefined;
      const beat = () => ctx.heartbeat({ pages, active });
      do {
        const page = await listPage(base, token, input.clientId, cursor, input.pageSize ?? 500, beat);
        pages++;
        for (const c of page.consents) {
          active++;
          if (c.psuId) psus.add(c.psuId);
          else withoutPsu++;
        }
        cursor = page.nextCursor ?? undefined;
        beat();
      } while (cursor);
      return { clientId: input.clientId, consentStore: base.origin, active, clientsAffected: psus.size + withoutPsu, consentsWithoutPsu: withoutPsu, pages, listedAt: new Date().toISOString() };
    },

    /**
     * Revokes the client's active consents in batches: list a page of active consents, revoke each
     * (at most `concurrency` at a time, Idempotency-Key `<prefix>/<consentId>`), heartbeat, next page.
     * A retried attempt resumes from its last heartbeat: the batch that was in flight is re-sent with
     * the same keys (the store answers a repeat from its record, so nothing is revoked twice and the
     * count is not lost) and listing goes on from there. An already revoked consent is counted, not an
     * error; an unknown one (404) is a per-consent failure; 401/403/400 fail the step at once.
     */
    async revokeConsents(input: RevokeConsentsInput): Promise<RevokeConsentsResult> {
      const { base, token } = store();
      const ctx = Context.current();
      const batchSize = input.batchSize ?? defaultBatch;
      const maxBatches = input.maxBatches ?? Number.MAX_SAFE_INTEGER;
      const resumed = ctx.info.attempt > 1 ? heartbeatProgress(ctx.info.heartbeatDetails) : undefined;
      const p: RevokeProgress = resumed ?? { cursor: input.cursor, batches: 0, counts: { revoked: 0, alreadyRevoked: 0, failed: 0 }, failures: [], done: false };
      // A copy: the details must be the state at this moment, whenever the SDK encodes them.
      const beat = () => ctx.heartbeat(structuredClone(p));

      // Counts of the batch in flight are kept apart until it completes: a retry re-sends the whole
      // batch, so anything counted from it before a heartbeat would be counted twice.
      let batch: { counts: ConsentCounts; failures: ConsentFailure[] } = { counts: { revoked: 0, alreadyRevoked: 0, failed: 0 }, failures: [] };
      const failOne = (consentId: string, reason: string) => {
        batch.counts.failed++;
        batch.failures.push({ consentId, reason });
      };
      const revokeOne = async (consentId: string) => {
        const url = new URL(`consents/${encodeURIComponent(consentId)}/revoke`, base);
        const what = `consent store ${base.origin}: POST /consents/${consentId}/revoke`;
        const a = await request(
          what,
          url,
          { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': `${input.idempotencyKeyPrefix}/${consentId}` }, body: JSON.stringify({ reason: 'provider compromised' }) },
          token,
          beat,
        );
        if (a.status === 404) return failOne(consentId, 'HTTP 404: unknown to the consent store');
        if (a.status !== 200) throw failure(what, a, token);
        if (a.json?.status !== 'revoked') return failOne(consentId, `answered status ${typeof a.json?.status === 'string' ? scrubQuoted(a.json.status, [token]) : '(none)'}`);
        if (a.json.alreadyRevoked === true) batch.counts.alreadyRevoked++;
        else batch.counts.revoked++;
      };
      const revokeBatch = async (ids: string[], next: string | undefined) => {
        batch = { counts: { revoked: 0, alreadyRevoked: 0, failed: 0 }, failures: [] };
        p.inFlight = { ids, next };
        beat();
        await inPool(ids, concurrency, revokeOne);
        p.counts.revoked += batch.counts.revoked;
        p.counts.alreadyRevoked += batch.counts.alreadyRevoked;
        p.counts.failed += batch.counts.failed;
        p.failures = [...p.failures, ...batch.failures].slice(0, MAX_FAILURES_KEPT);
        p.inFlight = undefined;
        p.cursor = next;
        p.batches++;
        p.done = next === undefined;
        beat();
      };

      const resumedFromBatch = resumed ? resumed.batches : undefined;
      if (p.inFlight) {
        const { ids, next } = p.inFlight;
        await revokeBatch(ids, next);
      }
      while (!p.done && p.batches < maxBatches) {
        const page = await listPage(base, token, input.clientId, p.cursor, batchSize, beat);
        if (page.consents.length === 0) {
          p.done = true;
          break;
        }
        await revokeBatch(
          page.consents.map((c) => c.id),
          page.nextCursor ?? undefined,
        );
      }
      return { clientId: input.clientId, batches: p.batches, counts: p.counts, failures: p.failures, nextCursor: p.cursor, done: p.done, resumedFromBatch };
    },
  };
}

export type ConsentActivities = ReturnType<typeof createConsentActivities>;
