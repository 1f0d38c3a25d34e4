import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LocalHttpServer } from './local-http-server.js';

/**
 * A small, real consent store for tests (the contract in docs/consents.md), on 127.0.0.1 and a free
 * port:
 * - GET  /clients/:clientId/consents?status=&cursor=&limit=  keyset pages ordered by consent id
 * - POST /consents/:id/revoke   Idempotency-Key required; a repeated key gets the first answer again
 * Every request must carry `Authorization: Bearer <token>`. It counts, per consent, revoke calls,
 * actual revocations (state changes) and the distinct idempotency keys used, and can be told to fail
 * the next requests (429 with Retry-After, 500, …) or to hold revocations after a number of them
 * (never answering, as if the network died) so a worker can be killed mid-batch.
 */
export interface StoredConsent {
  id: string;
  clientId: string;
  psuId?: string;
  scope: string;
  status: 'active' | 'revoked' | 'expired';
  createdAt: string;
  revokedAt?: string;
}

export interface LoggedRequest {
  at: number;
  method: string;
  path: string;
  query: Record<string, string>;
  authorization?: string;
  idempotencyKey?: string;
  status?: number;
}

interface Fault {
  remaining: number;
  status: number;
  headers: Record<string, string>;
  on?: 'list' | 'revoke';
}

export class ConsentStoreServer extends LocalHttpServer {
  readonly token = `cs-${randomBytes(24).toString('base64url')}`;
  readonly requests: LoggedRequest[] = [];
  readonly consents = new Map<string, StoredConsent>();
  /** Per consent: revoke calls, state changes to revoked, idempotency keys seen. */
  readonly revokeCalls = new Map<string, number>();
  readonly revocations = new Map<string, number>();
  readonly keysUsed = new Map<string, Set<string>>();
  private readonly answers = new Map<string, { consentId: string; status: number; body: unknown }>();
  private readonly faults: Fault[] = [];
  private holdAfter?: number;
  /** Requests being held (their sockets open, no answer). */
  held = 0;

  protected onRequest(req: IncomingMessage, body: string, res: ServerResponse): void {
    try {
      this.handle(req, body, res);
    } catch (err) {
      this.send(res, 500, { error: (err as Error).message });
    }
  }

  /** Adds `count` consents for a client; PSU ids cycle through `psus` distinct values. Returns their ids. */
  seed(clientId: string, count: number, opts: { status?: StoredConsent['status']; psus?: number; psuPrefix?: string } = {}): string[] {
    const ids: string[] = [];
    const start = [...this.consents.values()].filter((c) => c.clientId === clientId).length;
    for (let i = 0; i < count; i++) {
      const n = start + i;
      const id = `${clientId}-consent-${String(n).padStart(6, '0')}`;
      const psuN = opts.psus ? n % opts.psus : n;
      this.consents.set(id, {
        id,
        clientId,
        psuId: `${opts.psuPrefix ?? 'psu'}-${String(psuN).padStart(6, '0')}`,
        scope: n % 2 ? 'accounts' : 'payments',
        status: opts.status ?? 'active',
        createdAt: new Date(Date.UTC(2026, 0, 1) + n * 1000).toISOString(),
        ...(opts.status === 'revoked' ? { revokedAt: '2026-02-01T00:00:00.000Z' } : {}),
      });
      ids.push(id);
    }
    return ids;
  }

  of(clientId: string): StoredConsent[] {
    return [...this.consents.values()].filter((c) => c.clientId === clientId);
  }

  /** The next `count` requests (of one kind, if given) are answered with this status and headers. */
  failNext(count: number, status: number, opts: { headers?: Record<string, string>; on?: 'list' | 'revoke' } = {}): void {
    this.faults.push({ remaining: count, status, headers: opts.headers ?? {}, on: opts.on });
  }

  /** Once `n` consents have been revoked in all, further revoke requests are held unanswered (and not applied). */
  holdRevocationsAfter(n: number | undefined): void {
    this.holdAfter = n;
  }

  totalRevocations(): number {
    return [...this.revocations.values()].reduce((a, b) => a + b, 0);
  }

  private send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}, log?: LoggedRequest): void {
    if (log) log.status = status;
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(body === undefined ? '' : JSON.stringify(body));
  }

  private handle(req: IncomingMessage, body: string, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const key = req.headers['idempotency-key'];
    const log: LoggedRequest = {
      at: Date.now(),
      method: req.method ?? '',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      authorization: req.headers.authorization,
      idempotencyKey: typeof key === 'string' ? key : undefined,
    };
    this.requests.push(log);
    const list = /^\/clients\/([^/]+)\/consents$/.exec(url.pathname);
    const revoke = /^\/consents\/([^/]+)\/revoke$/.exec(url.pathname);
    const kind = list ? 'list' : revoke ? 'revoke' : undefined;

    if (req.headers.authorization !== `Bearer ${this.token}`) return this.send(res, 401, { error: 'invalid_token' }, { 'www-authenticate': 'Bearer' }, log);
    const fault = this.faults.find((f) => f.remaining > 0 && (!f.on || f.on === kind));
    if (fault) {
      fault.remaining--;
      return this.send(res, fault.status, { error: fault.status === 429 ? 'rate_limited' : 'unavailable' }, fault.headers, log);
    }

    if (req.method === 'GET' && list) {
      const clientId = decodeURIComponent(list[1]!);
      const status = url.searchParams.get('status');
      const limit = Number(url.searchParams.get('limit') ?? '100');
      if (!Number.isInteger(limit) || limit < 1 || limit > 500) return this.send(res, 400, { error: 'limit must be 1..500' }, {}, log);
      const cursor = url.searchParams.get('cursor');
      const after = cursor ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
      const matching = this.of(clientId)
        .filter((c) => (!status || c.status === status) && c.id > after)
        .sort((a, b) => (a.id < b.id ? -1 : 1));
      const page = matching.slice(0, limit);
      const more = matching.length > limit;
      return this.send(
        res,
        200,
        {
          consents: page.map((c) => ({ id: c.id, status: c.status, psuId: c.psuId, scope: c.scope, createdAt: c.createdAt })),
          nextCursor: more ? Buffer.from(page[page.length - 1]!.id).toString('base64url') : null,
        },
        {},
        log,
      );
    }

    if (req.method === 'POST' && revoke) {
      const id = decodeURIComponent(revoke[1]!);
      if (typeof key !== 'string' || !key) return this.send(res, 400, { error: 'Idempotency-Key header is required' }, {}, log);
      this.revokeCalls.set(id, (this.revokeCalls.get(id) ?? 0) + 1);
      if (this.holdAfter !== undefined && this.totalRevocations() >= this.holdAfter) {
        this.held++;
        return; // never answered: the caller's process is about to die
      }
      const seen = this.answers.get(key);
      if (seen) {
        if (seen.consentId !== id) return this.send(res, 422, { error: 'idempotency key reused for another consent' }, {}, log);
        return this.send(res, seen.status, seen.body, { 'idempotent-replayed': 'true' }, log);
      }
      const consent = this.consents.get(id);
      if (!consent) return this.send(res, 404, { error: 'unknown consent' }, {}, log);
      this.keysUsed.set(id, new Set([...(this.keysUsed.get(id) ?? []), key]));
      const alreadyRevoked = consent.status === 'revoked';
      if (!alreadyRevoked) {
        consent.status = 'revoked';
        consent.revokedAt = new Date().toISOString();
        this.revocations.set(id, (this.revocations.get(id) ?? 0) + 1);
      }
      const answer = { id, status: 'revoked', revokedAt: consent.revokedAt, alreadyRevoked };
      this.answers.set(key, { consentId: id, status: 200, body: answer });
      return this.send(res, 200, answer, {}, log);
    }
    this.send(res, 404, { error: 'not_found' }, {}, log);
  }
}
