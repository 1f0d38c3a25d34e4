import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local stand-in for the Slack Web API (`@slack/web-api` uses fetch, so only a real HTTP server
 * can sit in for slack.com). Point a WebClient at it with `slackApiUrl: fake.apiUrl`. It records
 * every call (method, arguments with JSON-valued fields parsed, whether the bot token was right)
 * and answers auth.test, chat.postMessage, chat.update, chat.postEphemeral and views.open the way
 * Slack does. `failNext` makes the next N calls answer 429 + Retry-After or a Slack error, and
 * `responseUrl()` gives a URL that records what is posted to it (Slack's response_url).
 */
export interface FakeSlackCall {
  method: string;
  args: Record<string, unknown>;
  /** The Authorization bearer token matched the expected bot token. */
  authorized: boolean;
  at: number;
  /** What the fake answered: HTTP status and Slack's `ok`/`error`. */
  status: number;
  error?: string;
}

/** 429 with Retry-After (seconds), or a Slack error (`ok: false, error`) with that HTTP status. */
export type Failure = { status: number; retryAfter?: number; error?: string };

export interface FakeSlack {
  apiUrl: string;
  url: string;
  calls: FakeSlackCall[];
  /** Calls of one method (answered ok or not). */
  callsOf(method: string): FakeSlackCall[];
  /** The next `count` calls (optionally only of `method`) fail this way. */
  failNext(count: number, failure: Failure, method?: string): void;
  /** A response_url on this fake; posts to it are recorded as method `response_url:<id>`. */
  responseUrl(id: string): string;
  /** Waits until a recorded call matches. */
  waitFor(method: string, predicate?: (c: FakeSlackCall) => boolean, timeoutMs?: number): Promise<FakeSlackCall>;
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Web API arguments: form-encoded with JSON-encoded nested values (what WebClient sends), or JSON. */
function parseArgs(contentType: string, text: string): Record<string, unknown> {
  if (contentType.startsWith('application/json')) return text ? (JSON.parse(text) as Record<string, unknown>) : {};
  const out: Record<string, unknown> = {};
  for (const [k, v] of new URLSearchParams(text)) {
    if (/^[[{]/.test(v)) {
      try {
        out[k] = JSON.parse(v);
        continue;
      } catch {
        // plain string that happens to start with a bracket
      }
    }
    out[k] = v;
  }
  return out;
}

export async function startFakeSlack(opts: { botToken: string; channelId?: string }): Promise<FakeSlack> {
  const calls: FakeSlackCall[] = [];
  const failures: { method?: string; failure: Failure }[] = [];
  const channelId = opts.channelId ?? 'C0FAKE0001';
  let seq = 0;
  const nextTs = () => `${Math.floor(Date.now() / 1000)}.${String(++seq).padStart(6, "0")}`;
  const resolveChannel = (c: unknown) => (typeof c === 'string' && /^[CDG][A-Z0-9]+$/.test(c) ? c : channelId);

  const server: Server = createServer(async (req, res) => {
    const text = await readBody(req);
    const path = (req.url ?? '/').split('?')[0]!;
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };
    let args: Record<string, unknown>;
    try {
      args = parseArgs(req.headers['content-type'] ?? '', text);
    } catch {
      return send(400, { ok: false, error: 'invalid_json' });
    }
    if (path.startsWith('/respond/')) {
      calls.push({ method: `response_url:${path.slice('/respond/'.length)}`, args, authorized: true, at: Date.now(), status: 200 });
      return send(200, { ok: true });
    }
    const method = path.startsWith('/api/') ? path.slice('/api/'.length) : path.slice(1);
    const authorized = req.headers.authorization === `Bearer ${opts.botToken}`;
    const record = (status: number, error?: string) => calls.push({ method, args, authorized, at: Date.now(), status, ...(error ? { error } : {}) });

    const i = failures.findIndex((f) => !f.method || f.method === method);
    if (i >= 0) {
      const { failure } = failures.splice(i, 1)[0]!;
      if (failure.status === 429 && failure.retryAfter !== undefined) {
        record(429, 'ratelimited');
        return send(429, { ok: false, error: 'ratelimited' }, { 'retry-after': String(failure.retryAfter) });
      }
      record(failure.status, failure.error);
      return send(failure.status, { ok: false, error: failure.error ?? 'internal_error' });
    }
    if (!authorized) {
      record(200, 'invalid_auth');
      return send(200, { ok: false, error: 'invalid_auth' });
    }
    switch (method) {
      case 'auth.test':
        record(200);
        return send(200, { ok: true, url: 'https://fake.slack.test/', team: 'bulwark-test', user: 'bulwark', team_id: 'T0FAKE', user_id: 'U0BULWARK', bot_id: 'B0BULWARK' });
      case 'chat.postMessage': {
        if (!args.channel) {
          record(200, 'channel_not_found');
          return send(200, { ok: false, error: 'channel_not_found' });
        }
        const ts = nextTs();
        record(200);
        return send(200, { ok: true, channel: resolveChannel(args.channel), ts, message: { text: args.text, ts, ...(args.thread_ts ? { thread_ts: args.thread_ts } : {}) } });
      }
      case 'chat.update': {
        const known = calls.some((c) => c.method === 'chat.postMessage' && c.status === 200 && !c.error);
        if (!args.ts || !known) {
          record(200, 'message_not_found');
          return send(200, { ok: false, error: 'message_not_found' });
        }
        record(200);
        return send(200, { ok: true, channel: args.channel, ts: args.ts, text: args.text });
      }
      case 'chat.postEphemeral':
        record(200);
        return send(200, { ok: true, message_ts: nextTs() });
      case 'views.open':
        if (!args.trigger_id) {
          record(200, 'invalid_trigger_id');
          return send(200, { ok: false, error: 'invalid_trigger_id' });
        }
        record(200);
        return send(200, { ok: true, view: { id: `V${++seq}`, ...(args.view as object) } });
      default:
        record(200, 'unknown_method');
        return send(200, { ok: false, error: 'unknown_method' });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    apiUrl: `${url}/api/`,
    calls,
    callsOf: (method) => calls.filter((c) => c.method === method),
    failNext(count, failure, method) {
      for (let i = 0; i < count; i++) failures.push({ method, failure });
    },
    responseUrl: (id) => `${url}/respond/${encodeURIComponent(id)}`,
    async waitFor(method, predicate = () => true, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const hit = calls.find((c) => c.method === method && predicate(c));
        if (hit) return hit;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`fake Slack: no ${method} call matched within ${timeoutMs} ms; calls: ${calls.map((c) => c.method).join(', ') || 'none'}`);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
