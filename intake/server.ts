import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Client } from '@temporalio/client';
import { parseAlert, type FieldError } from '../domain/alert.js';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, verifySignature } from '../domain/signature.js';
import { normaliseAlertmanager, normaliseGuardDuty, normaliseMapped, normaliseSecurityHub, unwrapSns, type NormaliseResult } from '../domain/sources/index.js';
import type { Logger } from '../telemetry/logger.js';
import { alertsReceived, alertsRejected, intakeSeconds, registry } from '../telemetry/metrics.js';
import type { AlertDeliverer } from './deliver.js';
import { checkAlertmanagerAuth, deliverAlerts, type SourceSettings } from './sources.js';
import { BodyTooLarge, readBody, header } from './http.js';

export interface IntakeOptions {
  client: Client;
  deliverer: AlertDeliverer;
  webhookSecret: string;
  maxBodyBytes: number;
  logger: Logger;
  /** Injectable clock (unix seconds) so tests can check the freshness window. */
  nowSeconds?: () => number;
  /** Alertmanager auth and generic mappings; without them those endpoints answer 503 / 404. */
  sources?: SourceSettings;
  /** The Slack app (intake/slack-app.ts) for POST /slack/events; without it that route answers 404. */
  slack?: (req: IncomingMessage, res: ServerResponse) => Promise<void>;
  /** The payload codec endpoints for the Temporal UI (intake/codec-server.ts); resolves false for other paths. */
  codec?: (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;
  /** GET /crl/<ca>.crl, the certificate revocation lists (intake/crl.ts); resolves false for other paths. */
  crl?: (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;
}

/** Every route, for 404 answers and 405 checks. */
export const INTAKE_ROUTES = [
  'POST /v1/alerts',
  'POST /v1/alerts/guardduty',
  'POST /v1/alerts/securityhub',
  'POST /v1/alerts/alertmanager',
  'POST /v1/alerts/mapped/<name>',
  'GET /healthz',
  'GET /metrics',
  'POST /slack/events',
  'POST /codec/encode',
  'POST /codec/decode',
  'GET /crl/<ca>.crl',
] as const;
const KNOWN_PATHS = ['/v1/alerts', '/v1/alerts/guardduty', '/v1/alerts/securityhub', '/v1/alerts/alertmanager', '/healthz', '/metrics'];
const MAPPED_PREFIX = '/v1/alerts/mapped/';


function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/plain; version=0.0.4' : 'application/json', ...headers });
  res.end(text);
}


/**
 * The intake HTTP surface: POST /v1/alerts (signed), the native sources — /v1/alerts/guardduty and
 * /v1/alerts/securityhub (signed), /v1/alerts/alertmanager (bearer/basic auth), /v1/alerts/mapped/<name>
 * (signed) — GET /healthz, GET /metrics.
 */
export function createIntakeServer(opts: IntakeOptions): Server {
  const now = opts.nowSeconds ?? (() => Math.floor(Date.now() / 1000));
  const reject = (res: ServerResponse, status: number, reason: string, body: Record<string, unknown>) => {
    alertsRejected.inc({ reason });
    send(res, status, { error: reason, ...body });
  };

  /** Reads the body within the size limit; answers 413 itself and returns undefined. */
  async function body(req: IncomingMessage, res: ServerResponse): Promise<Buffer | undefined> {
    try {
      return await readBody(req, opts.maxBodyBytes);
    } catch (err) {
      if (err instanceof BodyTooLarge) {
        res.setHeader('connection', 'close');
        reject(res, 413, 'too-large', { message: `body exceeds ${opts.maxBodyBytes} bytes` });
        return undefined;
      }
      throw err;
    }
  }

  /** The signed-webhook check shared by /v1/alerts, the AWS sources and mapped payloads; answers 401 itself. */
  function signatureOk(req: IncomingMessage, res: ServerResponse, raw: Buffer): boolean {
    const check = verifySignature({
      secret: opts.webhookSecret,
      timestampHeader: header(req, TIMESTAMP_HEADER),
      signatureHeader: header(req, SIGNATURE_HEADER),
      rawBody: raw,
      nowSeconds: now(),
    });
    if (check.ok) return true;
    const messages = {
      missing: `missing ${TIMESTAMP_HEADER} or ${SIGNATURE_HEADER} header`,
      malformed: `${TIMESTAMP_HEADER} must be unix seconds and ${SIGNATURE_HEADER} must be v1=<64 hex digits>`,
      stale: 'timestamp is more than 5 minutes away from the server clock',
      mismatch: 'signature does not match the body',
    };
    opts.logger.warn({ reason: check.reason, remote: req.socket.remoteAddress, route: req.url }, 'alert refused: bad signature');
    reject(res, 401, check.reason === 'stale' ? 'stale' : 'unauthorized', { message: messages[check.reason] });
    return false;
  }

  function json(res: ServerResponse, raw: Buffer): { ok: true; value: unknown } | { ok: false } {
    try {
      return { ok: true, value: JSON.parse(raw.toString('utf8')) };
    } catch (err) {
      reject(res, 400, 'invalid-json', { message: `body is not JSON: ${(err as Error).message}` });
      return { ok: false };
    }
  }

  function unavailable(res: ServerResponse, err: unknown): void {
    opts.logger.error({ err: (err as Error).message }, 'alert not delivered to Temporal');
    alertsRejected.inc({ reason: 'unavailable' });
    send(res, 503, { error: 'unavailable', message: 'could not reach Temporal; retry later' }, { 'retry-after': '5' });
  }

  async function postAlert(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await body(req, res);
    if (!raw || !signatureOk(req, res, raw)) return;
    const parsedJson = json(res, raw);
    if (!parsedJson.ok) return;
    const parsed = parseAlert(parsedJson.value);
    if (!parsed.ok) return reject(res, 400, 'invalid-alert', { errors: parsed.errors });
    try {
      // A resolved alert only attaches to an open incident; it never opens one.
      const delivered = await opts.deliverer.deliverAlert(parsed.value);
      if ('deduplicated' in delivered) alertsReceived.inc({ deduplicated: String(delivered.deduplicated) });
      opts.logger.info({ workflowId: delivered.workflowId, type: parsed.value.type, status: parsed.value.status ?? 'firing' }, 'alert accepted');
      send(res, 202, delivered);
    } catch (err) {
      unavailable(res, err);
    }
  }

  /** Normalise → deliver every alert → 202 with one result per alert, or 400 with field errors. */
  async function deliverNormalised(res: ServerResponse, source: string, result: NormaliseResult, errorBody: Record<string, unknown> = {}): Promise<void> {
    if (!result.ok) return reject(res, 400, 'invalid-alert', { source, errors: result.errors, ...errorBody });
    try {
      const results = await deliverAlerts(opts.deliverer, result.alerts);
      for (const r of results) if ('deduplicated' in r) alertsReceived.inc({ deduplicated: String(r.deduplicated) });
      opts.logger.info({ source, alerts: results.length, workflowIds: results.map((r) => r.workflowId) }, 'native alerts accepted');
      send(res, 202, { source, accepted: results.length, results });
    } catch (err) {
      unavailable(res, err);
    }
  }

  /** GuardDuty and Security Hub: signed like /v1/alerts; an SNS notification wrapping the event is unwrapped. */
  async function postSigned(req: IncomingMessage, res: ServerResponse, source: string, normalise: (input: unknown) => NormaliseResult): Promise<void> {
    const raw = await body(req, res);
    if (!raw || !signatureOk(req, res, raw)) return;
    const parsedJson = json(res, raw);
    if (!parsedJson.ok) return;
    const sns = unwrapSns(parsedJson.value);
    if (sns && !sns.ok) return reject(res, 400, 'invalid-alert', { source, errors: [{ field: sns.field, message: sns.message }] satisfies FieldError[] });
    return deliverNormalised(res, source, normalise(sns?.ok ? sns.message : parsedJson.value));
  }

  async function postAlertmanager(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const auth = checkAlertmanagerAuth(header(req, 'authorization'), opts.sources?.alertmanager);
    if (auth === 'not-configured') {
      return reject(res, 503, 'not-configured', {
        message: 'alertmanager intake not configured: set BULWARK_ALERTMANAGER_TOKEN or BULWARK_ALERTMANAGER_BASIC_USER/_PASSWORD',
      });
    }
    if (auth === 'unauthorized') {
      opts.logger.warn({ remote: req.socket.remoteAddress }, 'alertmanager notification refused: bad credentials');
      res.setHeader('www-authenticate', 'Bearer realm="bulwark", Basic realm="bulwark"');
      res.setHeader('connection', 'close');
      return reject(res, 401, 'unauthorized', { message: 'expected Authorization: Bearer <token> or Basic credentials configured for Alertmanager' });
    }
    const raw = await body(req, res);
    if (!raw) return;
    const parsedJson = json(res, raw);
    if (!parsedJson.ok) return;
    return deliverNormalised(res, 'alertmanager', normaliseAlertmanager(parsedJson.value));
  }

  async function postMapped(req: IncomingMessage, res: ServerResponse, name: string): Promise<void> {
    const raw = await body(req, res);
    if (!raw || !signatureOk(req, res, raw)) return;
    const mapping = opts.sources?.mappings?.find((m) => m.name === name);
    if (!mapping) {
      const known = opts.sources?.mappings?.map((m) => m.name) ?? [];
      return reject(res, 404, 'unknown-mapping', { message: `no mapping named "${name.slice(0, 64)}"; configured: ${known.join(', ') || 'none (set BULWARK_SOURCE_MAPPINGS)'}` });
    }
    const parsedJson = json(res, raw);
    if (!parsedJson.ok) return;
    return deliverNormalised(res, `mapped:${name}`, normaliseMapped(mapping, parsedJson.value, { receivedAt: new Date().toISOString() }));
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
    const timed = (p: () => Promise<void>) => {
      const end = intakeSeconds.startTimer();
      return done(p().finally(() => end()));
    };
    if (opts.codec && path?.startsWith('/codec/')) {
      const codec = opts.codec;
      return done(codec(req, res).then((handled) => void (handled || send(res, 404, { error: 'not-found' }))));
    }
    if (opts.crl && path?.startsWith('/crl/')) {
      const crl = opts.crl;
      return done(crl(req, res).then((handled) => void (handled || send(res, 404, { error: 'not-found' }))));
    }
    if (req.method === 'POST' && path?.startsWith(MAPPED_PREFIX)) return timed(() => postMapped(req, res, path.slice(MAPPED_PREFIX.length)));
    switch (route) {
      case 'POST /v1/alerts':
        return timed(() => postAlert(req, res));
      case 'POST /v1/alerts/guardduty':
        return timed(() => postSigned(req, res, 'guardduty', normaliseGuardDuty));
      case 'POST /v1/alerts/securityhub':
        return timed(() => postSigned(req, res, 'securityhub', normaliseSecurityHub));
      case 'POST /v1/alerts/alertmanager':
        return timed(() => postAlertmanager(req, res));
      case 'GET /healthz':
        return done(healthz(res));
      case 'GET /metrics':
        return done(registry.metrics().then((m) => send(res, 200, m)));
      case 'POST /slack/events':
        if (opts.slack) return done(opts.slack(req, res));
        return send(res, 404, { error: 'not-found', message: 'Slack is not configured (BULWARK_SLACK_BOT_TOKEN, BULWARK_SLACK_SIGNING_SECRET, BULWARK_SLACK_CHANNEL)' });
      default:
        if (KNOWN_PATHS.includes(path ?? '') || path?.startsWith(MAPPED_PREFIX) || (opts.slack && path === '/slack/events')) return send(res, 405, { error: 'method-not-allowed' });
        return send(res, 404, { error: 'not-found', message: `routes: ${INTAKE_ROUTES.join(', ')}` });
    }
  });
}

export function listen(server: Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server.address() as AddressInfo));
  });
}
