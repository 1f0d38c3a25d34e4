import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Client } from '@temporalio/client';
import { parseAlert } from '../domain/alert.js';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, verifySignature } from '../domain/signature.js';
import type { Logger } from '../telemetry/logger.js';
import { alertsReceived, alertsRejected, intakeSeconds, registry } from '../telemetry/metrics.js';
import type { AlertDeliverer } from './deliver.js';

export interface IntakeOptions {
  client: Client;
  deliverer: AlertDeliverer;
  webhookSecret: string;
  maxBodyBytes: number;
  logger: Logger;
  /** Injectable clock (unix seconds) so tests can check the freshness window. */
  nowSeconds?: () => number;
}

class BodyTooLarge extends Error {}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) return reject(new BodyTooLarge());
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume();
        reject(new BodyTooLarge());
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/plain; version=0.0.4' : 'application/json', ...headers });
  res.end(text);
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The intake HTTP surface: POST /v1/alerts (signed), GET /healthz, GET /metrics. */
export function createIntakeServer(opts: IntakeOptions): Server {
  const now = opts.nowSeconds ?? (() => Math.floor(Date.now() / 1000));
  const reject = (res: ServerResponse, status: number, reason: string, body: Record<string, unknown>) => {
    alertsRejected.inc({ reason });
    send(res, status, { error: reason, ...body });
  };

  async function postAlert(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let raw: Buffer;
    try {
      raw = await readBody(req, opts.maxBodyBytes);
    } catch (err) {
      if (err instanceof BodyTooLarge) {
        res.setHeader('connection', 'close');
        return reject(res, 413, 'too-large', { message: `body exceeds ${opts.maxBodyBytes} bytes` });
      }
      throw err;
    }
    const check = verifySignature({
      secret: opts.webhookSecret,
      timestampHeader: header(req, TIMESTAMP_HEADER),
      signatureHeader: header(req, SIGNATURE_HEADER),
      rawBody: raw,
      nowSeconds: now(),
    });
    if (!check.ok) {
      const messages = {
        missing: `missing ${TIMESTAMP_HEADER} or ${SIGNATURE_HEADER} header`,
        malformed: `${TIMESTAMP_HEADER} must be unix seconds and ${SIGNATURE_HEADER} must be v1=<64 hex digits>`,
        stale: 'timestamp is more than 5 minutes away from the server clock',
        mismatch: 'signature does not match the body',
      };
      opts.logger.warn({ reason: check.reason, remote: req.socket.remoteAddress }, 'alert refused: bad signature');
      return reject(res, 401, check.reason === 'stale' ? 'stale' : 'unauthorized', { message: messages[check.reason] });
    }
    let json: unknown;
    try {
      json = JSON.parse(raw.toString('utf8'));
    } catch (err) {
      return reject(res, 400, 'invalid-json', { message: `body is not JSON: ${(err as Error).message}` });
    }
    const parsed = parseAlert(json);
    if (!parsed.ok) return reject(res, 400, 'invalid-alert', { errors: parsed.errors });
    try {
      const delivered = await opts.deliverer.deliver(parsed.value);
      alertsReceived.inc({ deduplicated: String(delivered.deduplicated) });
      opts.logger.info({ workflowId: delivered.workflowId, deduplicated: delivered.deduplicated, type: parsed.value.type }, 'alert accepted');
      send(res, 202, delivered);
    } catch (err) {
      opts.logger.error({ err: (err as Error).message }, 'alert not delivered to Temporal');
      alertsRejected.inc({ reason: 'unavailable' });
      send(res, 503, { error: 'unavailable', message: 'could not reach Temporal; retry later' }, { 'retry-after': '5' });
    }
  }

  async function healthz(res: ServerResponse): Promise<void> {
    try {
      await opts.client.workflowService.getSystemInfo({});
      send(res, 200, { status: 'ok', temporal: 'reachable' });
    } catch (err) {
      send(res, 503, { status: 'unavailable', temporal: (err as Error).message });
    }
  }

  return createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const route = `${req.method} ${path}`;
    const done = (p: Promise<void>) =>
      p.catch((err) => {
        opts.logger.error({ err: (err as Error).message, route }, 'intake request failed');
        if (!res.headersSent) send(res, 500, { error: 'internal', message: 'internal error' });
      });
    switch (route) {
      case 'POST /v1/alerts': {
        const end = intakeSeconds.startTimer();
        return done(postAlert(req, res).finally(() => end()));
      }
      case 'GET /healthz':
        return done(healthz(res));
      case 'GET /metrics':
        return done(registry.metrics().then((m) => send(res, 200, m)));
      default:
        if (['/v1/alerts', '/healthz', '/metrics'].includes(path ?? '')) return send(res, 405, { error: 'method-not-allowed' });
        return send(res, 404, { error: 'not-found', message: 'routes: POST /v1/alerts, GET /healthz, GET /metrics' });
    }
  });
}

export function listen(server: Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server.address() as AddressInfo));
  });
}
