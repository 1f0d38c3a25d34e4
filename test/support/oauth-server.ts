import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LocalHttpServer } from './local-http-server.js';

/**
 * A small, real OAuth 2.0 authorization server for tests, on 127.0.0.1 and a free port:
 * - POST /revoke      RFC 7009 token revocation (form body; client auth by HTTP Basic or in the body)
 * - POST /introspect  RFC 7662 token introspection ({"active": bool})
 * - POST /clients/disable  a client-disable webhook (JSON, Idempotency-Key header, optional bearer token)
 * - GET  /clients/:id      the client's status
 * It records every request (raw body and headers) so tests can assert on what was sent, and can be
 * told to fail the next requests with a given status and body.
 */
export interface RecordedRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

interface Fault {
  remaining: number;
  status: number;
  body: unknown;
  headers: Record<string, string>;
  path?: string;
}

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

export class OAuthTestServer extends LocalHttpServer {
  readonly requests: RecordedRequest[] = [];
  private readonly clients = new Map<string, { secret: string; status: 'active' | 'disabled' }>();
  private readonly tokens = new Map<string, { clientId: string; type: string; active: boolean }>();
  private readonly faults: Fault[] = [];
  private readonly idempotency = new Map<string, { fingerprint: string; status: number; body: unknown }>();
  /** Token types this server refuses to revoke (answered with 400 unsupported_token_type). */
  unsupportedTokenTypes = new Set<string>();
  /** When set, /clients/* requires `Authorization: Bearer <webhookToken>`. */
  webhookToken?: string;
  /** When true, an unsupported_token_type answer echoes the token in error_description (a careless server). */
  echoTokenInErrors = false;
  /** When true, /revoke answers 200 but revokes nothing (a broken server; introspection must catch it). */
  ignoreRevocations = false;

  protected onRequest(req: IncomingMessage, body: string, res: ServerResponse): void {
    this.requests.push({ method: req.method ?? '', path: req.url ?? '', headers: { ...req.headers }, body });
    try {
      this.handle(req, body, res);
    } catch (err) {
      this.send(res, 500, { error: 'server_error', error_description: (err as Error).message });
    }
  }

  registerClient(clientId = `client-${randomBytes(4).toString('hex')}`): { clientId: string; clientSecret: string } {
    // Characters that must be form-encoded before Basic auth (RFC 6749 §2.3.1) make the encoding observable.
    const clientSecret = `s3cr:t+${randomBytes(18).toString('base64url')}/=`;
    this.clients.set(clientId, { secret: clientSecret, status: 'active' });
    return { clientId, clientSecret };
  }

  issueToken(clientId: string, type: 'access_token' | 'refresh_token'): string {
    const token = `${type === 'access_token' ? 'at' : 'rt'}.${randomBytes(24).toString('base64url')}`;
    this.tokens.set(token, { clientId, type, active: true });
    return token;
  }

  isActive(token: string): boolean {
    return this.tokens.get(token)?.active ?? false;
  }

  clientStatus(clientId: string): string | undefined {
    return this.clients.get(clientId)?.status;
  }

  /** The next `count` requests (to `path`, if given) are answered with this status and body. */
  failNext(count: number, status: number, body: unknown = {}, opts: { headers?: Record<string, string>; path?: string } = {}): void {
    this.faults.push({ remaining: count, status, body, headers: opts.headers ?? {}, path: opts.path });
  }

  requestsTo(path: string): RecordedRequest[] {
    return this.requests.filter((r) => r.path === path || r.path.startsWith(`${path}?`));
  }

  private send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    const text = body === undefined ? '' : JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
    res.end(text);
  }

  /** RFC 6749 §2.3.1: Basic credentials are form-encoded id and secret; or client_id/client_secret in the body. */
  private authenticate(req: IncomingMessage, form: URLSearchParams): string | undefined {
    const header = req.headers.authorization;
    let id: string | null = null;
    let secret: string | null = null;
    if (header?.startsWith('Basic ')) {
      const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon < 0) return undefined;
      const dec = (s: string) => new URLSearchParams(`v=${s}`).get('v') ?? '';
      id = dec(decoded.slice(0, colon));
      secret = dec(decoded.slice(colon + 1));
    } else {
      id = form.get('client_id');
      secret = form.get('client_secret');
    }
    if (!id || !secret) return undefined;
    const client = this.clients.get(id);
    return client && client.secret === secret ? id : undefined;
  }

  private handle(req: IncomingMessage, body: string, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0]!;
    const fault = this.faults.find((f) => f.remaining > 0 && (!f.path || f.path === path));
    if (fault) {
      fault.remaining--;
      return this.send(res, fault.status, fault.body, fault.headers);
    }

    if (req.method === 'POST' && (path === '/revoke' || path === '/introspect')) {
      if (!req.headers['content-type']?.startsWith('application/x-www-form-urlencoded')) {
        return this.send(res, 400, { error: 'invalid_request', error_description: 'form body expected' });
      }
      const form = new URLSearchParams(body);
      const clientId = this.authenticate(req, form);
      if (!clientId) return this.send(res, 401, { error: 'invalid_client' }, { 'www-authenticate': 'Basic realm="test"' });
      const token = form.get('token');
      if (!token) return this.send(res, 400, { error: 'invalid_request', error_description: 'token is required' });
      const hint = form.get('token_type_hint');
      const known = this.tokens.get(token);
      if (path === '/introspect') {
        const active = Boolean(known?.active && known.clientId === clientId);
        return this.send(res, 200, active ? { active, client_id: known!.clientId, token_type: known!.type } : { active: false });
      }
      const type = known?.type ?? hint ?? '';
      if (this.unsupportedTokenTypes.has(type)) {
        return this.send(res, 400, {
          error: 'unsupported_token_type',
          error_description: this.echoTokenInErrors ? `cannot revoke ${token}` : `revocation of ${type} is not supported`,
        });
      }
      // RFC 7009 §2.2: invalid or unknown tokens also get 200; a token of another client is left alone.
      if (known && known.clientId === clientId && !this.ignoreRevocations) known.active = false;
      res.writeHead(200, { 'cache-control': 'no-store' });
      return void res.end();
    }

    if (path.startsWith('/clients')) {
      if (this.webhookToken && req.headers.authorization !== `Bearer ${this.webhookToken}`) return this.send(res, 401, { error: 'unauthorized' });
      if (req.method === 'GET') {
        const id = decodeURIComponent(path.slice('/clients/'.length));
        const client = this.clients.get(id);
        return client ? this.send(res, 200, { clientId: id, status: client.status }) : this.send(res, 404, { error: 'not_found' });
      }
      if (req.method === 'POST' && path === '/clients/disable') {
        const key = req.headers['idempotency-key'];
        if (typeof key !== 'string' || !key) return this.send(res, 400, { error: 'Idempotency-Key header is required' });
        const fingerprint = sha(body);
        const seen = this.idempotency.get(key);
        if (seen) {
          if (seen.fingerprint !== fingerprint) return this.send(res, 422, { error: 'idempotency key reused with a different payload' });
          return this.send(res, seen.status, seen.body, { 'idempotent-replayed': 'true' });
        }
        let parsed: { clientId?: string; action?: string };
        try {
          parsed = JSON.parse(body) as typeof parsed;
        } catch {
          return this.send(res, 400, { error: 'invalid JSON' });
        }
        const client = parsed.clientId ? this.clients.get(parsed.clientId) : undefined;
        if (!client || parsed.action !== 'disable') return this.send(res, 404, { error: 'unknown client' });
        client.status = 'disabled';
        const answer = { clientId: parsed.clientId, status: 'disabled' };
        this.idempotency.set(key, { fingerprint, status: 200, body: answer });
        return this.send(res, 200, answer);
      }
    }
    this.send(res, 404, { error: 'not_found' });
  }
}
