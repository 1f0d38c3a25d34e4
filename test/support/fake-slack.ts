import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local stand-in for the Slack Web API (`@slack/web-api` uses fetch, so only a real HTTP server
 * can sit in for slack.com). Point a WebClient at it with `slackApiUrl: fake.apiUrl`. It records
 * every call (method, arguments with JSON-valued fields parsed, whether the bot token was right)
 * and answers auth.test, chat.postMessage, chat.update, chat.postEphemeral, views.open,
 * conversations.history/replies (with message metadata when include_all_metadata is set),
 * conversations.create/list/invite/open the way Slack does, keeping the messages and channels it
 * was sent. `failNext` makes the next N calls answer 429 + Retry-After or a Slack error — with
 * `committed`, after doing the work (Slack posted, the answer was lost) — and `responseUrl()` gives
 * a URL that records what is posted to it (Slack's response_url).
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
export type Failure = { status: number; retryAfter?: number; error?: string; committed?: boolean };

export interface FakeMessage {
  channel: string;
  ts: string;
  text?: string;
  blocks?: unknown;
  thread_ts?: string;
  metadata?: { event_type: string; event_payload: Record<string, unknown> };
}

export interface FakeSlack {
  apiUrl: string;
  url: string;
  calls: FakeSlackCall[];
  /** Calls of one method (answered ok or not). */
  callsOf(method: string): FakeSlackCall[];
  /** The next `count` calls (optionally only of `method`, only those whose arguments `match`) fail this way. */
  failNext(count: number, failure: Failure, method?: string, match?: (args: Record<string, unknown>) => boolean): void;
  /** A response_url on this fake; posts to it are recorded as method `response_url:<id>`. */
  responseUrl(id: string): string;
  /** Messages as Slack holds them now (posted, then updated in place). */
  messages: FakeMessage[];
  /** Channels created with conversations.create, and who was invited to them. */
  channels: { id: string; name: string; members: string[] }[];
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
  const failures: { method?: string; failure: Failure; match?: (args: Record<string, unknown>) => boolean }[] = [];
  const messages: FakeMessage[] = [];
  const channels: { id: string; name: string; members: string[] }[] = [];
  const channelId = opts.channelId ?? 'C0FAKE0001';
  let seq = 0;
  const nextTs = () => `${Math.floor(Date.now() / 1000)}.${String(++seq).padStart(6, "0")}`;
  const resolveChannel = (c: unknown) => (typeof c === 'string' && /^[CDG][A-Z0-9]+$/.test(c) ? c : channelId);
  const flag = (v: unknown) => v === true || v === 'true' || v === '1' || v === 1;
  const withMeta = (m: FakeMessage, include: boolean) => ({ type: 'message', ts: m.ts, text: m.text, ...(m.thread_ts ? { thread_ts: m.thread_ts } : {}), ...(include && m.metadata ? { metadata: m.metadata } : {}) });

  /** What Slack would do and answer for a call with the right token. */
  function perform(method: string, args: Record<string, unknown>): { error?: string; body: Record<string, unknown> } {
    switch (method) {
      case 'auth.test':
        return { body: { url: 'https://fake.slack.test/', team: 'bulwark-test', user: 'bulwark', team_id: 'T0FAKE', user_id: 'U0BULWARK', bot_id: 'B0BULWARK' } };
      case 'chat.postMessage': {
        if (!args.channel) return { error: 'channel_not_found', body: {} };
        const ts = nextTs();
        const channel = resolveChannel(args.channel);
        const meta = args.metadata as FakeMessage['metadata'];
        messages.push({ channel, ts, text: args.text as string, blocks: args.blocks, ...(args.thread_ts ? { thread_ts: String(args.thread_ts) } : {}), ...(meta?.event_type ? { metadata: meta } : {}) });
        return { body: { channel, ts, message: { text: args.text, ts, ...(args.thread_ts ? { thread_ts: args.thread_ts } : {}) } } };
      }
      case 'chat.update': {
        const m = messages.find((x) => x.ts === args.ts && x.channel === resolveChannel(args.channel));
        if (!args.ts || !m) return { error: 'message_not_found', body: {} };
        m.text = args.text as string;
        m.blocks = args.blocks;
        return { body: { channel: args.channel, ts: args.ts, text: args.text } };
      }
      case 'chat.postEphemeral':
        return { body: { message_ts: nextTs() } };
      case 'views.open':
        if (!args.trigger_id) return { error: 'invalid_trigger_id', body: {} };
        return { body: { view: { id: `V${++seq}`, ...(args.view as object) } } };
      case 'conversations.history': {
        const channel = resolveChannel(args.channel);
        const limit = Number(args.limit ?? 100);
        const top = messages.filter((m) => m.channel === channel && !m.thread_ts).reverse().slice(0, limit);
        return { body: { messages: top.map((m) => withMeta(m, flag(args.include_all_metadata))), has_more: false } };
      }
      case 'conversations.replies': {
        const channel = resolveChannel(args.channel);
        const parent = messages.find((m) => m.channel === channel && m.ts === args.ts);
        if (!parent) return { error: 'thread_not_found', body: {} };
        const replies = messages.filter((m) => m.channel === channel && m.thread_ts === args.ts);
        return { body: { messages: [parent, ...replies].map((m) => withMeta(m, flag(args.include_all_metadata))), has_more: false } };
      }
      case 'conversations.create': {
        const name = String(args.name ?? '');
        if (!/^[a-z0-9_-]{1,80}$/.test(name)) return { error: 'invalid_name_specials', body: {} };
        if (channels.some((c) => c.name === name)) return { error: 'name_taken', body: {} };
        const channel = { id: `C${String(++seq).padStart(8, '0')}`, name, members: ['U0BULWARK'] };
        channels.push(channel);
        return { body: { channel: { id: channel.id, name, is_channel: true } } };
      }
      case 'conversations.list':
        return { body: { channels: channels.map((c) => ({ id: c.id, name: c.name, is_channel: true })), response_metadata: { next_cursor: '' } } };
      case 'conversations.invite': {
        const channel = channels.find((c) => c.id === args.channel);
        if (!channel) return { error: 'channel_not_found', body: {} };
        const users = String(args.users ?? '').split(',').filter(Boolean);
        if (users.every((u) => channel.members.includes(u))) return { error: 'already_in_channel', body: {} };
        channel.members.push(...users.filter((u) => !channel.members.includes(u)));
        return { body: { channel: { id: channel.id, name: channel.name } } };
      }
      case 'conversations.open': {
        const users = String(args.users ?? '').split(',').filter(Boolean).sort();
        if (users.length === 0) return { error: 'users_list_not_supplied', body: {} };
        // A stable DM id per set of users, like Slack's.
        return { body: { channel: { id: `D${users.join('').replace(/[^A-Z0-9]/g, '').slice(0, 20)}` } } };
      }
      default:
        return { error: 'unknown_method', body: {} };
    }
  }

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

    const i = failures.findIndex((f) => (!f.method || f.method === method) && (!f.match || f.match(args)));
    if (i >= 0) {
      const { failure } = failures.splice(i, 1)[0]!;
      // Slack did the work, but its answer never arrived (a crash or timeout on our side looks the same).
      if (failure.committed && authorized) perform(method, args);
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
    const out = perform(method, args);
    record(200, out.error);
    return send(200, out.error ? { ok: false, error: out.error } : { ok: true, ...out.body });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    apiUrl: `${url}/api/`,
    calls,
    messages,
    channels,
    callsOf: (method) => calls.filter((c) => c.method === method),
    failNext(count, failure, method, match) {
      for (let i = 0; i < count; i++) failures.push({ method, failure, match });
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
