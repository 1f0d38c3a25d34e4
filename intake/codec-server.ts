import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { z } from 'zod';
import type { Config } from '../temporal.config.js';
import { codecFromConfig } from './codec.js';
import { assertDevUiCodecListen, isDevUiRequest } from './dev-ui-codec-access.js';
import { BodyTooLarge, readBody, header } from './http.js';

/**
 * The codec server the Temporal Web UI calls to show decrypted payloads to authorised people
 * (`temporal server start-dev --ui-codec-endpoint http://127.0.0.1:8787/codec`):
 *
 *   POST /codec/encode   { payloads: [{ metadata: { k: base64 }, data: base64 }] } → same shape
 *   POST /codec/decode   idem
 *   OPTIONS …            CORS preflight for the UI's origin (no token needed; browsers send none)
 *
 * Every POST needs `Authorization: Bearer <codec.serverToken>`; without a configured token the
 * endpoints answer 503, so decrypted payloads are never served to anonymous callers. The one
 * exception is the dev stack's own Web UI (`codec.devUiOrigins`, set only by `bulwark dev`):
 * loopback socket + loopback Host + its exact Origin, intake on loopback; see dev-ui-codec-access.ts.
 */

export const CODEC_PATHS = ['/codec/encode', '/codec/decode'] as const;

export interface CodecHandlerOptions {
  codec: PayloadCodec;
  /** Bearer token callers must present; undefined → every POST is refused with 503. */
  token: string | undefined;
  /** Origins allowed by CORS (the Temporal UI, e.g. http://localhost:8233); '*' allows any. */
  allowedOrigins: string[];
  /**
   * Dev stack only: the Web UI origins `bulwark dev` started, served without a token from loopback
   * (dev-ui-codec-access.ts). Also allowed by CORS. Never set by default.
   */
  devUiOrigins?: string[];
  maxBodyBytes?: number;
}

const b64 = z.string().regex(/^[A-Za-z0-9+/_-]*={0,2}$/, 'expected base64');
const JsonPayload = z.object({ metadata: z.record(z.string(), b64).nullish(), data: b64.nullish() });
const CodecBody = z.object({ payloads: z.array(JsonPayload).max(1000) });

/** A request handler to mount in an HTTP server: resolves true when it answered the request, false when the path is not its own. */
export type CodecRequestHandler = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;

export function createCodecHandler(opts: CodecHandlerOptions): CodecRequestHandler {
  const limit = opts.maxBodyBytes ?? 4 * 1024 * 1024;
  const tokenDigest = opts.token ? digest(opts.token) : undefined;
  const anyOrigin = opts.allowedOrigins.includes('*');
  const devUiOrigins = opts.devUiOrigins ?? [];

  return async (req, res) => {
    const path = (req.url ?? '').split('?')[0]!;
    if (!(CODEC_PATHS as readonly string[]).includes(path)) return false;
    const origin = header(req, 'origin');
    const originAllowed = origin !== undefined && (anyOrigin || opts.allowedOrigins.includes(origin) || devUiOrigins.includes(origin));
    const cors: Record<string, string> = originAllowed
      ? {
          'access-control-allow-origin': origin!,
          'access-control-allow-credentials': 'true',
          'access-control-allow-methods': 'POST, OPTIONS',
          'access-control-allow-headers': 'authorization, content-type, x-namespace',
          'access-control-max-age': '600',
          vary: 'Origin',
        }
      : { vary: 'Origin' };

    if (req.method === 'OPTIONS') {
      req.resume();
      res.writeHead(originAllowed ? 204 : 403, cors);
      res.end();
      return true;
    }
    if (origin !== undefined && !originAllowed) return reply(res, 403, { error: 'origin not allowed' }, cors, req);
    if (req.method !== 'POST') return reply(res, 405, { error: 'method not allowed: POST' }, { ...cors, allow: 'POST, OPTIONS' }, req);
    if (!isDevUiRequest(req, devUiOrigins)) {
      if (!tokenDigest) return reply(res, 503, { error: 'codec server disabled: no token configured (BULWARK_CODEC_TOKEN)' }, cors, req);
      const auth = header(req, 'authorization') ?? '';
      const presented = /^Bearer (.+)$/i.exec(auth)?.[1];
      if (!presented || !timingSafeEqual(digest(presented), tokenDigest)) {
        return reply(res, 401, { error: 'unauthorized: a bearer token is required' }, { ...cors, 'www-authenticate': 'Bearer' }, req);
      }
    }

    let body: z.infer<typeof CodecBody>;
    try {
      const raw = await readBody(req, limit);
      const parsed = CodecBody.safeParse(JSON.parse(raw.toString('utf8')));
      if (!parsed.success) return reply(res, 400, { error: `invalid body: ${parsed.error.issues[0]?.path.join('.') || '(root)'}: ${parsed.error.issues[0]?.message}` }, cors);
      body = parsed.data;
    } catch (err) {
      if (err instanceof BodyTooLarge) return reply(res, 413, { error: `body larger than ${limit} bytes` }, cors);
      return reply(res, 400, { error: 'invalid body: expected JSON { payloads: [...] }' }, cors);
    }
    const payloads: Payload[] = body.payloads.map((p) => ({
      metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
      data: Buffer.from(p.data ?? '', 'base64'),
    }));
    try {
      const out = path === '/codec/encode' ? await opts.codec.encode(payloads) : await opts.codec.decode(payloads);
      return reply(res, 200, { payloads: out.map(toJson) }, cors);
    } catch (err) {
      // The codec's messages name keys and what failed, never payload contents.
      return reply(res, 400, { error: (err as Error).message ?? 'codec failed' }, cors);
    }
  };
}

/** The handler for the configured codec and token, or undefined when the codec is off. */
export function codecHandlerFromConfig(config: Pick<Config, 'codec' | 'aws' | 'intake'>): CodecRequestHandler | undefined {
  const codec = codecFromConfig(config);
  if (!codec) return undefined;
  assertDevUiCodecListen(config.intake.host, config.codec.devUiOrigins);
  return createCodecHandler({ codec, token: config.codec.serverToken, allowedOrigins: config.codec.allowedOrigins, devUiOrigins: config.codec.devUiOrigins });
}

/** A standalone codec server (for `--ui-codec-endpoint` without the intake, and tests). */
export function createCodecServer(opts: CodecHandlerOptions): Server {
  const handle = createCodecHandler(opts);
  return createServer((req, res) => {
    handle(req, res)
      .then((handled) => {
        if (!handled) reply(res, 404, { error: `not found; routes: POST ${CODEC_PATHS.join(', POST ')}` }, {}, req);
      })
      .catch(() => {
        if (!res.headersSent) reply(res, 500, { error: 'internal error' }, {});
      });
  });
}

function toJson(p: Payload) {
  return {
    metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).filter(([, v]) => v != null).map(([k, v]) => [k, Buffer.from(v!).toString('base64')])),
    data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
  };
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}


function reply(res: ServerResponse, status: number, body: unknown, headers: Record<string, string>, drain?: IncomingMessage): true {
  drain?.resume();
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
  return true;
}

