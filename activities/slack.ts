import { ApplicationFailure } from '@temporalio/common';
import { ErrorCode, WebClient, type WebClientOptions } from '@slack/web-api';
import { createLogger } from '../telemetry/logger.js';
import { slackLogger } from '../telemetry/slack-logger.js';
import { escapeMrkdwn, incidentBlocks, incidentText, type IncidentView } from '../domain/slack/view.js';

/**
 * The Slack side of an incident: one message per incident in the configured channel, posted once
 * (chat.postMessage) and then updated in place (chat.update); timeline lines go in its thread.
 *
 * Errors are classified for Temporal: a 429 becomes a retryable failure whose nextRetryDelay is
 * Slack's Retry-After; auth, channel and payload problems are non-retryable; 5xx and network
 * trouble are retryable. Failure messages name the method and Slack's error code only — never the
 * token or the request.
 *
 * Idempotency: chat.update is naturally idempotent. Slack has no idempotency key for
 * chat.postMessage, so every post carries message metadata naming what it is (the incident, or a
 * timeline chunk, or an escalation DM), and a post first looks for that metadata in the channel
 * (conversations.history / conversations.replies with include_all_metadata): a retry after a crash
 * between Slack's answer and Temporal recording it finds the first message instead of posting twice.
 * The look-up reads the newest LOOKBACK messages — a retry comes within minutes of the first try.
 */
export interface SlackActivityDeps {
  web: WebClient;
  /** Channel id or name incident messages go to. */
  channel: string;
  /** Create a channel per incident (`inc-<yyyymmdd>-<short id>`) and invite the approvers, instead of `channel`. */
  incidentChannels?: boolean;
}

export interface SlackMessageRef {
  channel: string;
  ts: string;
}

export interface PublishIncidentMessageInput {
  incidentId: string;
  view: IncidentView;
  /** The message posted earlier: absent the first time (post), present afterwards (update in place). */
  message?: SlackMessageRef;
  /** When the incident opened (ISO): names its channel when incident channels are on. */
  openedAt?: string;
  /** Slack user ids to invite to the incident channel (the approvers and escalation contacts). */
  invite?: string[];
}

export interface SendDirectMessagesInput {
  /** Slack user ids (U…). */
  users: string[];
  text: string;
  /** Names this notice (e.g. incident/step/escalation): a retried activity does not send it twice. */
  key: string;
}

export interface PostIncidentThreadInput {
  channel: string;
  threadTs: string;
  lines: string[];
  /** Names this batch of lines (incident + timeline range): a retried activity does not post it twice. */
  key?: string;
}

/** Slack errors a retry cannot fix: the step's Slack work fails at once with the reason. */
const NON_RETRYABLE = new Set([
  'invalid_auth',
  'not_authed',
  'account_inactive',
  'token_revoked',
  'token_expired',
  'no_permission',
  'missing_scope',
  'not_allowed_token_type',
  'ekm_access_denied',
  'channel_not_found',
  'not_in_channel',
  'is_archived',
  'restricted_action',
  'invalid_blocks',
  'invalid_blocks_format',
  'invalid_arguments',
  'invalid_arg_name',
  'msg_too_long',
  'no_text',
  'too_many_attachments',
  'cant_update_message',
  'edit_window_closed',
  'invalid_form_data',
]);
/** Transient on Slack's side. Anything unknown is treated as non-retryable (a logic problem). */
const RETRYABLE = new Set(['ratelimited', 'rate_limited', 'internal_error', 'fatal_error', 'service_unavailable', 'request_timeout', 'team_added_to_org']);

/** Options for a WebClient used by activities: no internal retries or rate-limit sleeps — Temporal retries. */
export function activityWebClientOptions(apiUrl?: string): WebClientOptions {
  return {
    ...(apiUrl ? { slackApiUrl: apiUrl } : {}),
    // The client's own warnings ("http request failed…") go through our scrubbed logger, not the console.
    logger: slackLogger(createLogger().child({ component: 'slack-web' }), { slackWeb: true }),
    retryConfig: { retries: 0 },
    rejectRateLimitedCalls: true,
    timeout: 10_000,
  };
}

export function createSlackWebClient(config: { botToken: string; apiUrl?: string }): WebClient {
  return new WebClient(config.botToken, activityWebClientOptions(config.apiUrl));
}

/** Removes anything that looks like a Slack token from text that leaves this module. */
export function redactSlack(text: string): string {
  return text.replace(/xox[a-z]-[A-Za-z0-9-]+/g, 'xox?-[redacted]');
}

/** Classifies what the Slack Web API client threw. */
export function slackFailure(err: unknown, method: string): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  const e = err as { code?: string; retryAfter?: number; data?: { error?: string }; statusCode?: number; original?: { message?: string }; message?: string };
  switch (e?.code) {
    case ErrorCode.RateLimitedError: {
      const seconds = Math.max(1, Number(e.retryAfter) || 1);
      return ApplicationFailure.create({
        message: `Slack ${method} rate limited: retry after ${seconds}s`,
        type: 'SlackRateLimited',
        nonRetryable: false,
        nextRetryDelay: `${seconds}s`,
        details: [{ method, retryAfterSeconds: seconds }],
      });
    }
    case ErrorCode.PlatformError: {
      const code = String(e.data?.error ?? 'unknown_error').slice(0, 64);
      const message = `Slack ${method} failed: ${code}`;
      if (RETRYABLE.has(code)) return ApplicationFailure.retryable(message, 'SlackApiError');
      return ApplicationFailure.nonRetryable(`${message}${NON_RETRYABLE.has(code) ? '' : ' (not known to be transient)'}`, `Slack:${code}`);
    }
    case ErrorCode.HTTPError: {
      const status = Number(e.statusCode);
      const message = `Slack ${method} failed: HTTP ${status}`;
      return status >= 500 || status === 408 ? ApplicationFailure.retryable(message, 'SlackHttpError') : ApplicationFailure.nonRetryable(message, 'SlackHttpError');
    }
    case ErrorCode.RequestError:
      return ApplicationFailure.retryable(redactSlack(`Slack ${method} request failed: ${e.original?.message ?? e.message ?? 'network error'}`), 'SlackRequestError');
    default:
      return ApplicationFailure.retryable(redactSlack(`Slack ${method} failed: ${(err as Error)?.message ?? String(err)}`), 'SlackError');
  }
}

async function slack<T>(method: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw slackFailure(err, method);
  }
}

/** Slack's limit per message text is 40,000 characters; threads get chunks well below it. */
const MAX_THREAD_CHARS = 3500;

/** How many recent messages a post looks through for its own earlier attempt. */
const LOOKBACK = 200;
const INCIDENT_EVENT = 'bulwark_incident';
const TIMELINE_EVENT = 'bulwark_timeline';
const NOTICE_EVENT = 'bulwark_notice';

type Metadata = { event_type: string; event_payload: Record<string, string | number> };
type Found = { ts?: string; metadata?: { event_type?: string; event_payload?: Record<string, unknown> } };

const matches = (m: Found, meta: Metadata) =>
  m.metadata?.event_type === meta.event_type && Object.entries(meta.event_payload).every(([k, v]) => m.metadata?.event_payload?.[k] === v);

/** `inc-<yyyymmdd>-<short id>`: Slack channel names are lower case, at most 80 characters. */
export function incidentChannelName(incidentId: string, openedAt: string): string {
  const short = incidentId.replace(/^incident-/, '').toLowerCase().replace(/[^a-z0-9]/g, '').slice(0, 8);
  return `inc-${openedAt.slice(0, 10).replace(/-/g, '')}-${short}`;
}

export function createSlackActivities(deps: SlackActivityDeps) {
  const { web } = deps;

  /** Our earlier message with this metadata among the channel's (or thread's) newest messages. */
  async function findPosted(channel: string, meta: Metadata, threadTs?: string): Promise<Found | undefined> {
    try {
      const page = threadTs
        ? await web.conversations.replies({ channel, ts: threadTs, limit: LOOKBACK, include_all_metadata: true })
        : await web.conversations.history({ channel, limit: LOOKBACK, include_all_metadata: true });
      return ((page.messages ?? []) as Found[]).find((m) => matches(m, meta));
    } catch (err) {
      // Without the history scope the look-up is impossible; posting (maybe twice) beats not posting.
      if ((err as { data?: { error?: string } }).data?.error === 'missing_scope') return undefined;
      throw slackFailure(err, threadTs ? 'conversations.replies' : 'conversations.history');
    }
  }

  /** Posts once: a retry finds the message its earlier attempt posted. */
  async function postOnce(args: { channel: string; text: string; blocks?: unknown[]; thread_ts?: string }, meta: Metadata): Promise<SlackMessageRef & { existed: boolean }> {
    const found = await findPosted(args.channel, meta, args.thread_ts);
    if (found?.ts) return { channel: args.channel, ts: found.ts, existed: true };
    const posted = await slack('chat.postMessage', () =>
      web.chat.postMessage({ ...args, unfurl_links: false, unfurl_media: false, metadata: meta } as Parameters<WebClient['chat']['postMessage']>[0]),
    );
    if (!posted.ts || !posted.channel) throw ApplicationFailure.nonRetryable('Slack chat.postMessage answered without channel/ts', 'SlackApiError');
    return { channel: posted.channel, ts: posted.ts, existed: false };
  }

  /** The incident's own channel: created once (a retry finds it by name), approvers invited. */
  async function incidentChannel(input: PublishIncidentMessageInput): Promise<string> {
    const name = incidentChannelName(input.incidentId, input.openedAt ?? new Date().toISOString());
    let id: string | undefined;
    try {
      id = (await web.conversations.create({ name, is_private: false })).channel?.id;
    } catch (err) {
      if ((err as { data?: { error?: string } }).data?.error !== 'name_taken') throw slackFailure(err, 'conversations.create');
      let cursor: string | undefined;
      do {
        const page = await slack('conversations.list', () => web.conversations.list({ types: 'public_channel', exclude_archived: true, limit: 1000, ...(cursor ? { cursor } : {}) }));
        id = page.channels?.find((c) => c.name === name)?.id;
        cursor = page.response_metadata?.next_cursor || undefined;
      } while (!id && cursor);
    }
    if (!id) throw ApplicationFailure.nonRetryable(`Slack channel ${name} exists but could not be found`, 'SlackApiError');
    for (const user of new Set(input.invite ?? [])) {
      try {
        await web.conversations.invite({ channel: id, users: user });
      } catch (err) {
        // One approver who cannot be invited (deactivated, already there) must not keep the incident out of Slack.
        const failure = slackFailure(err, 'conversations.invite');
        if (!failure.nonRetryable) throw failure;
      }
    }
    return id;
  }

  return {
    /** Posts the incident message the first time, updates it in place afterwards. Returns where it is. */
    async publishIncidentMessage(input: PublishIncidentMessageInput): Promise<SlackMessageRef> {
      const text = incidentText(input.view);
      const blocks = incidentBlocks(input.view);
      if (input.message) {
        const { channel, ts } = input.message;
        try {
          await web.chat.update({ channel, ts, text, blocks });
          return { channel, ts };
        } catch (err) {
          // Someone deleted the message: post a fresh one rather than failing forever.
          if ((err as { data?: { error?: string } }).data?.error !== 'message_not_found') throw slackFailure(err, 'chat.update');
        }
      }
      const channel = deps.incidentChannels && !input.message ? await incidentChannel(input) : (input.message?.channel ?? deps.channel);
      const ref = await postOnce({ channel, text, blocks }, { event_type: INCIDENT_EVENT, event_payload: { incidentId: input.incidentId } });
      // Found rather than posted: it shows what the first attempt saw; bring it up to date.
      if (ref.existed) await slack('chat.update', () => web.chat.update({ channel: ref.channel, ts: ref.ts, text, blocks }));
      return { channel: ref.channel, ts: ref.ts };
    },

    /** Posts timeline lines as replies in the incident message's thread (chunked). Returns how many messages were posted. */
    async postIncidentThread(input: PostIncidentThreadInput): Promise<{ posted: number }> {
      const chunks: string[] = [];
      let current = '';
      for (const entry of input.lines) {
        // Timeline text can quote alert content: escape it so it cannot mention @channel or link.
        const raw = escapeMrkdwn(entry);
        const line = raw.length > MAX_THREAD_CHARS ? `${raw.slice(0, MAX_THREAD_CHARS - 1)}…` : raw;
        if (current && current.length + line.length + 1 > MAX_THREAD_CHARS) {
          chunks.push(current);
          current = '';
        }
        current = current ? `${current}\n${line}` : line;
      }
      if (current) chunks.push(current);
      let posted = 0;
      for (const [i, text] of chunks.entries()) {
        if (input.key) {
          const ref = await postOnce({ channel: input.channel, thread_ts: input.threadTs, text }, { event_type: TIMELINE_EVENT, event_payload: { key: input.key, chunk: i } });
          if (!ref.existed) posted++;
          continue;
        }
        await slack('chat.postMessage', () => web.chat.postMessage({ channel: input.channel, thread_ts: input.threadTs, text, unfurl_links: false, unfurl_media: false }));
        posted++;
      }
      return { posted };
    },

    /** A direct message to each user (conversations.open + chat.postMessage), once per key and user. */
    async sendDirectMessages(input: SendDirectMessagesInput): Promise<{ sent: number; already: number }> {
      let sent = 0;
      let already = 0;
      for (const user of new Set(input.users)) {
        const opened = await slack('conversations.open', () => web.conversations.open({ users: user }));
        const channel = opened.channel?.id;
        if (!channel) throw ApplicationFailure.nonRetryable('Slack conversations.open answered without a channel', 'SlackApiError');
        const ref = await postOnce({ channel, text: escapeMrkdwn(input.text) }, { event_type: NOTICE_EVENT, event_payload: { key: input.key } });
        if (ref.existed) already++;
        else sent++;
      }
      return { sent, already };
    },
  };
}

export type SlackActivities = ReturnType<typeof createSlackActivities>;

/** Same names and types when Slack is not configured; every call fails at once, without retries. */
export function unconfiguredSlackActivities(): SlackActivities {
  const fail = (): never => {
    throw ApplicationFailure.nonRetryable('Slack is not configured (set BULWARK_SLACK_BOT_TOKEN, BULWARK_SLACK_SIGNING_SECRET and BULWARK_SLACK_CHANNEL)', 'SlackNotConfigured');
  };
  return {
    async publishIncidentMessage() {
      return fail();
    },
    async postIncidentThread() {
      return fail();
    },
    async sendDirectMessages() {
      return fail();
    },
  };
}
