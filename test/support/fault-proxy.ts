import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * A fault-injecting HTTP proxy for the chaos suite (docs/chaos.md), in front of the sandbox AWS
 * (moto) or the fake Slack. A share `rate` of requests gets a fault drawn from weighted kinds:
 *
 * - `throttle`      — answered without forwarding, shaped like the real service's throttling error
 *                     for its protocol (AWS JSON 400 ThrottlingException, REST 429
 *                     TooManyRequestsException, query-protocol XML `Throttling`, S3 503 SlowDown;
 *                     Slack 429 `ratelimited` + Retry-After).
 * - `server-error`  — 500/503 in the protocol's shape, not forwarded.
 * - `timeout`       — the socket is held without an answer for `holdMs`, then destroyed.
 * - `reset`         — the connection is destroyed before anything is forwarded.
 * - `latency`       — forwarded after an added delay (a slow dependency, not an error).
 * - `drop-response` — forwarded, the upstream answer read in full (the change is made), then the
 *                     client's connection is destroyed: "done in AWS but not recorded" — the case
 *                     idempotency exists for. Only for requests `mayDropResponse` allows.
 *
 * Deterministic: one seeded PRNG draws every decision in request-arrival order, so a seed fixes
 * the sequence of faults (which request meets which still depends on concurrent arrival order).
 */
export type FaultKind = 'throttle' | 'server-error' | 'timeout' | 'reset' | 'latency' | 'drop-response';
export const FAULT_KINDS: readonly FaultKind[] = ['throttle', 'server-error', 'timeout', 'reset', 'latency', 'drop-response'];

export interface ProxiedRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
}

export interface FaultProxyOptions {
  /** Upstream base URL, e.g. http://127.0.0.1:4566. */
  target: string;
  /** Which error shapes to answer with. */
  flavour: 'aws' | 'slack';
  /** Share of requests (0..1) that get a fault. */
  rate: number;
  seed: number;
  /** Relative weights of the fault kinds (missing kinds: the defaults below; 0 disables one). */
  weights?: Partial<Record<FaultKind, number>>;
  /** How long a `timeout` holds the socket before destroying it. */
  holdMs?: number;
  /** Added delay range for `latency`. */
  latencyMs?: [number, number];
  /** Requests that are never faulted (the sandbox's own control API). */
  exempt?: (r: ProxiedRequest) => boolean;
  /** Requests that may get `drop-response`; others draw another kind. Default: all. */
  mayDropResponse?: (r: ProxiedRequest) => boolean;
}

export const DEFAULT_WEIGHTS: Record<FaultKind, number> = { throttle: 25, 'server-error': 20, timeout: 10, reset: 15, latency: 15, 'drop-response': 15 };

export interface FaultProxyStats {
  requests: number;
  forwarded: number;
  faults: Record<FaultKind, number>;
  total: number;
}

/** mulberry32: small, fast, good enough to spread faults; the point is reproducibility. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type AwsProtocol = 'json' | 'query' | 'rest-json' | 'rest-xml';

/** Which AWS wire protocol a request speaks, so a fault answers the way that service would. */
export function awsProtocol(r: ProxiedRequest): AwsProtocol {
  if (r.headers['x-amz-target']) return 'json';
  if (String(r.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) return 'query';
  if (/^\/(restapis|apikeys|usageplans|domainnames|account|clientcertificates|vpclinks)(\/|\?|$)/.test(r.path)) return 'rest-json';
  return 'rest-xml';
}

interface ErrorAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

function awsError(protocol: AwsProtocol, kind: 'throttle' | 'server-error'): ErrorAnswer {
  const requestId = `chaos-${Math.random().toString(16).slice(2, 10)}`;
  const throttle = kind === 'throttle';
  switch (protocol) {
    case 'json': {
      const type = throttle ? 'ThrottlingException' : 'InternalFailure';
      return {
        status: throttle ? 400 : 500,
        headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': requestId },
        body: JSON.stringify({ __type: type, message: throttle ? 'Rate exceeded' : 'An internal error occurred (injected)' }),
      };
    }
    case 'rest-json': {
      const type = throttle ? 'TooManyRequestsException' : 'ServiceUnavailableException';
      return {
        status: throttle ? 429 : 503,
        headers: { 'content-type': 'application/json', 'x-amzn-errortype': type, 'x-amzn-requestid': requestId },
        body: JSON.stringify({ message: throttle ? 'Too Many Requests' : 'Service Unavailable (injected)' }),
      };
    }
    case 'query': {
      const code = throttle ? 'Throttling' : 'ServiceFailure';
      return {
        status: throttle ? 400 : 500,
        headers: { 'content-type': 'text/xml' },
        body: `<ErrorResponse><Error><Type>${throttle ? 'Sender' : 'Receiver'}</Type><Code>${code}</Code><Message>${throttle ? 'Rate exceeded' : 'injected failure'}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`,
      };
    }
    case 'rest-xml': {
      const code = throttle ? 'SlowDown' : 'InternalError';
      return {
        status: throttle ? 503 : 500,
        headers: { 'content-type': 'application/xml', 'x-amz-request-id': requestId },
        body: `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${throttle ? 'Please reduce your request rate.' : 'injected failure'}</Message><RequestId>${requestId}</RequestId></Error>`,
      };
    }
  }
}

function slackError(kind: 'throttle' | 'server-error'): ErrorAnswer {
  return kind === 'throttle'
    ? { status: 429, headers: { 'content-type': 'application/json', 'retry-after': '1' }, body: JSON.stringify({ ok: false, error: 'ratelimited' }) }
    : { status: 503, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ok: false, error: 'service_unavailable' }) };
}

export class FaultProxy {
  readonly stats: FaultProxyStats = { requests: 0, forwarded: 0, faults: Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>, total: 0 };
  private readonly random: () => number;
  private readonly weights: Record<FaultKind, number>;
  private server?: Server;
  private readonly held = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  rate: number;

  constructor(private readonly opts: FaultProxyOptions) {
    this.random = seededRandom(opts.seed);
    this.weights = { ...DEFAULT_WEIGHTS, ...opts.weights };
    this.rate = opts.rate;
  }

  /** The fault for the next request (or none); consumes the seeded sequence. */
  private draw(r: ProxiedRequest): FaultKind | undefined {
    if (this.opts.exempt?.(r)) return undefined;
    // Two draws per request whatever the outcome, so the sequence does not shift with the rate.
    const hit = this.random() < this.rate;
    const pick = this.random();
    if (!hit) return undefined;
    const allowed = FAULT_KINDS.filter((k) => this.weights[k] > 0 && (k !== 'drop-response' || (this.opts.mayDropResponse?.(r) ?? true)));
    const sum = allowed.reduce((s, k) => s + this.weights[k], 0);
    let x = pick * sum;
    for (const k of allowed) {
      x -= this.weights[k];
      if (x < 0) return k;
    }
    return allowed[allowed.length - 1];
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  private count(kind: FaultKind): void {
    this.stats.faults[kind]++;
    this.stats.total++;
  }

  private forward(req: IncomingMessage, res: ServerResponse, dropResponse: boolean): void {
    const target = new URL(this.opts.target);
    this.stats.forwarded++;
    const upstream = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: { ...req.headers, host: target.host } }, (up) => {
      if (dropResponse) {
        // Read the whole answer so the upstream has finished the change, then cut the client off.
        up.resume();
        up.once('end', () => req.socket.destroy());
        return;
      }
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ message: 'proxy: upstream unreachable' }));
    });
    req.pipe(upstream);
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      this.stats.requests++;
      const info: ProxiedRequest = { method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers };
      const fault = this.draw(info);
      if (fault) this.count(fault);
      switch (fault) {
        case undefined:
          return this.forward(req, res, false);
        case 'drop-response':
          return this.forward(req, res, true);
        case 'latency': {
          const [min, max] = this.opts.latencyMs ?? [50, 400];
          req.pause();
          return this.later(min + Math.floor(this.random() * (max - min)), () => {
            req.resume();
            this.forward(req, res, false);
          });
        }
        case 'reset':
          req.socket.destroy();
          return;
        case 'timeout':
          req.resume();
          this.held.add(req.socket);
          return this.later(this.opts.holdMs ?? 2000, () => {
            this.held.delete(req.socket);
            req.socket.destroy();
          });
        case 'throttle':
        case 'server-error': {
          req.resume();
          const answer = this.opts.flavour === 'slack' ? slackError(fault) : awsError(awsProtocol(info), fault);
          req.once('end', () => {
            res.writeHead(answer.status, answer.headers);
            res.end(answer.body);
          });
          return;
        }
      }
    });
    this.server.keepAliveTimeout = 5000;
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const s of this.held) s.destroy();
    return new Promise((r) => {
      if (!this.server) return r();
      this.server.close(() => r());
      this.server.closeAllConnections();
    });
  }
}

/** The sandbox's own control API (reset, data dump) is never faulted. */
export const motoControlApi = (r: ProxiedRequest) => r.path.startsWith('/moto-api');

/**
 * Slack has no idempotency key for chat.postMessage (activities/slack.ts), so a dropped answer to
 * it would legitimately post twice: only idempotent methods (chat.update, …) may lose their answer.
 */
export const slackMayDropResponse = (r: ProxiedRequest) => !/\/chat\.postMessage$/.test(r.path.split('?')[0]!);
