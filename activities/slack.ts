import { ApplicationFailure } from '@temporalio/common';
import { ErrorCode, WebClient, type WebClientOptions } from '@slack/web-api';
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
 * chat.postMessage, so a crash between Slack's answer and Temporal recording it can post a second
 * message (the workflow then keeps updating the one it recorded).
 */
export interface SlackActivityDeps {
  web: WebClient;
  /** Channel id or name incident messages go to. */
  channel: string;
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
}

export interface PostIncidentThreadInput {
  channel: string;
  threadTs: string;
  lines: string[];
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

export function createSlackActivities(deps: SlackActivityDeps) {
  const { web } = deps;
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
      const posted = await slack('chat.postMessage', () =>
        web.chat.postMessage({ channel: deps.channel, text, blocks, unfurl_links: false, unfurl_media: false, metadata: { event_type: 'bulwark_incident', event_payload: { incidentId: input.incidentId } } }),
      );
      if (!posted.ts || !posted.channel) throw ApplicationFailure.nonRetryable('Slack chat.postMessage answered without channel/ts', 'SlackApiError');
      return { channel: posted.channel, ts: posted.ts };
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
      for (const text of chunks) {
        await slack('chat.postMessage', () => web.chat.postMessage({ channel: input.channel, thread_ts: input.threadTs, text, unfurl_links: false, unfurl_media: false }));
      }
      return { posted: chunks.length };
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
  };
}
