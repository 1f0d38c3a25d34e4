import type { IncomingMessage, ServerResponse } from 'node:http';
import { App, type Receiver, type ReceiverEvent } from '@slack/bolt';
import type { WebClient } from '@slack/web-api';
import { WorkflowUpdateFailedError, WorkflowUpdateStage, type Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/common';
import {
  ABORT_MODAL_CALLBACK,
  BlockActionsPayload,
  ButtonValue,
  CHANGES_MODAL_CALLBACK,
  ChangesModalMetadata,
  inputValue,
  SKIP_MODAL_CALLBACK,
  parseJson,
  parseSlashText,
  REASON_ACTION,
  REASON_BLOCK,
  REJECT_MODAL_CALLBACK,
  RejectModalMetadata,
  rejectReason,
  SLASH_HELP,
  SlashCommandPayload,
  ViewSubmissionPayload,
} from '../domain/slack/payloads.js';
import {
  ReplayGuard,
  SIGNATURE_PROBLEMS,
  SLACK_RETRY_NUM_HEADER,
  SLACK_RETRY_REASON_HEADER,
  SLACK_SIGNATURE_HEADER,
  SLACK_TIMESTAMP_HEADER,
  verifySlackSignature,
} from '../domain/slack/signature.js';
import {
  ABORT_ACTION,
  APPROVE_ACTION,
  CHANGE_ACTION,
  changesModal,
  escapeMrkdwn,
  incidentBlocks,
  incidentText,
  incidentView,
  PARAM_ACTION,
  paramBlock,
  reasonModal,
  REJECT_ACTION,
  rejectModal,
  RETRY_ACTION,
  SKIP_ACTION,
} from '../domain/slack/view.js';
import { coerceLike, tunableParams, type ParamChanges } from '../domain/approval-changes.js';
import type { Config } from '../temporal.config.js';
import type { Logger } from '../telemetry/logger.js';
import { abortUpdate, approveUpdate, rejectUpdate, retryUpdate, skipUpdate, stateQuery } from '../workflows/definitions.js';
import { operatorAlert } from '../domain/operator-alert.js';
import type { AlertDeliverer } from './deliver.js';
import { slackLogger } from '../telemetry/slack-logger.js';
import { listIncidents } from './incident-list.js';
import { BodyTooLarge, readBody, header } from './http.js';

/**
 * The Slack app on the intake server: POST /slack/events receives interactivity (Approve/Reject
 * buttons, the reject modal) and the /bulwark slash command.
 *
 * Every request is verified here, before Bolt sees it: `v0` HMAC signature over the raw body,
 * timestamp within 5 minutes, and an identical signed request seen before within that window is
 * refused as a replay (401). Bolt (HTTP mode, custom receiver, no Express) then routes the payload;
 * listeners ack at once and do the Temporal work afterwards, so Slack always gets its answer within
 * 3 seconds. Approvals are Temporal Updates sent with waitForStage ACCEPTED: the workflow's
 * validator decides (four-eyes, already decided, unknown step) and a refusal is shown to the clicker
 * ephemerally. The Update id is derived from the click, so a Slack retry of the same click is
 * deduplicated by Temporal; a second click is refused by the validator as already decided.
 */
export interface SlackHandlerOptions {
  config: Pick<Config, 'slack' | 'intake'>;
  client: Client;
  deliverer: AlertDeliverer;
  logger: Logger;
  /** Injectable clock (unix seconds) for the freshness window. */
  nowSeconds?: () => number;
}

export type SlackHandler = ((req: IncomingMessage, res: ServerResponse) => Promise<void>) & {
  /** Resolves when work started by earlier requests (Updates, ephemeral answers) has finished. */
  drain(): Promise<void>;
};

/** Slack wants an answer within 3 s; the fallback answers a little before that if no listener acked. */
const ACK_DEADLINE_MS = 2500;
/** How long a slash command may take to answer inline; slower answers go to response_url. */
const INLINE_ANSWER_MS = 2000;
/** A validator refusal is known as soon as the Update is; see decide(). */
const OUTCOME_WAIT_MS = 1000;

type AckBody = string | Record<string, unknown> | undefined;
/** A view_submission ack: empty, or `response_action: errors` naming the input to show a message under. */
type ViewAck = (response?: Record<string, unknown>) => Promise<void>;

export function createSlackHandler(opts: SlackHandlerOptions): SlackHandler {
  const slack = opts.config.slack;
  if (!slack.botToken || !slack.signingSecret) throw new Error('Slack is not configured: set BULWARK_SLACK_BOT_TOKEN and BULWARK_SLACK_SIGNING_SECRET');
  const signingSecret = slack.signingSecret;
  const now = opts.nowSeconds ?? (() => Math.floor(Date.now() / 1000));
  const log = opts.logger.child({ component: 'slack' });
  const replays = new ReplayGuard();
  const pending = new Set<Promise<unknown>>();
  const maxBody = opts.config.intake.maxBodyBytes;
  const track = (p: Promise<unknown>) => {
    const t: Promise<unknown> = p.catch(() => undefined).finally(() => pending.delete(t));
    pending.add(t);
  };

  const receiver: Receiver = { init: () => {}, start: async () => {}, stop: async () => {} };
  const app = new App({
    token: slack.botToken,
    receiver,
    logger: slackLogger(log),
    clientOptions: { ...(slack.apiUrl ? { slackApiUrl: slack.apiUrl } : {}), retryConfig: { retries: 2, maxTimeout: 2000 } },
  });
  app.error(async (err) => {
    log.error({ err: err.message }, 'slack listener failed');
  });

  /** Answers the person who acted, visible only to them: chat.postEphemeral in the channel, else response_url. */
  async function tell(web: WebClient, where: { channel?: string; user: string; responseUrl?: string }, text: string): Promise<void> {
    try {
      if (where.channel) {
        await web.chat.postEphemeral({ channel: where.channel, user: where.user, text });
        return;
      }
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'chat.postEphemeral failed; trying response_url');
    }
    if (where.responseUrl) {
      const r = await fetch(where.responseUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ response_type: 'ephemeral', replace_original: false, text }) });
      if (!r.ok) log.warn({ status: r.status }, 'response_url answer refused');
    } else if (!where.channel) {
      log.warn('no channel or response_url to answer the user in');
    }
  }

  type Kind = 'approve' | 'reject' | 'retry' | 'skip' | 'abort';
  type Decision = { kind: Kind; incidentId: string; step: string; digest?: string; user: string; reason?: string; changes?: ParamChanges; updateId: string };
  type DecisionOutcome = { accepted: true; status?: string } | { accepted: false; message: string };

  /**
   * Sends the approve/reject Update (waitForStage ACCEPTED) and tells accepted from refused. The SDK's
   * startUpdate does not throw when the validator refuses: the refusal is the Update's outcome, which
   * the handle already holds, so `result()` settles at once for a refusal; an accepted Update's result
   * waits for the step to run. Whatever has not settled within OUTCOME_WAIT_MS was accepted.
   */
  async function decide(d: Decision): Promise<DecisionOutcome> {
    const handle = opts.client.workflow.getHandle(d.incidentId);
    const by = `slack:${d.user}`;
    const refused = (reason: string): DecisionOutcome => {
      log.info({ incidentId: d.incidentId, step: d.step, by, kind: d.kind, reason }, 'slack decision refused by the workflow');
      return { accepted: false, message: /not waiting for approval/.test(reason) ? `already decided — ${reason}` : reason };
    };
    try {
      const o = { updateId: d.updateId, waitForStage: WorkflowUpdateStage.ACCEPTED } as const;
      const step = { step: d.step, by, ...(d.digest ? { digest: d.digest } : {}) };
      // The same Updates (and so the same validators) as `bulwark incident approve|reject|retry|skip|abort`.
      const update: { result(): Promise<string> } =
        d.kind === 'approve'
          ? await handle.startUpdate(approveUpdate, { args: [{ ...step, ...(d.reason ? { reason: d.reason } : {}), ...(d.changes ? { changes: d.changes } : {}) }], ...o })
          : d.kind === 'reject'
            ? await handle.startUpdate(rejectUpdate, { args: [{ ...step, reason: d.reason }], ...o })
            : d.kind === 'retry'
              ? await handle.startUpdate(retryUpdate, { args: [{ step: d.step, by }], ...o })
              : d.kind === 'skip'
                ? await handle.startUpdate(skipUpdate, { args: [{ step: d.step, by, reason: d.reason }], ...o })
                : await handle.startUpdate(abortUpdate, { args: [{ by, reason: d.reason }], ...o });
      const result = update.result().then(
        (status) => ({ ok: true as const, status }),
        (err: unknown) => ({ ok: false as const, err }),
      );
      const early = await within(result, OUTCOME_WAIT_MS);
      if (early && !early.ok) {
        if (early.err instanceof WorkflowUpdateFailedError) return refused(early.err.cause?.message ?? early.err.message);
        throw early.err;
      }
      log.info({ incidentId: d.incidentId, step: d.step, by, kind: d.kind }, 'slack decision accepted');
      if (!early) track(result.then((r) => (r.ok ? undefined : log.warn({ err: (r.err as Error).message, incidentId: d.incidentId }, 'accepted slack decision ended in an error'))));
      return { accepted: true, status: early?.status };
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError) return refused(err.cause?.message ?? err.message);
      if (err instanceof WorkflowNotFoundError) return { accepted: false, message: `no open incident ${d.incidentId}` };
      log.error({ err: (err as Error).message, incidentId: d.incidentId }, 'slack decision not delivered to Temporal');
      return { accepted: false, message: 'could not reach Temporal; try again in a moment or use `bulwark incident approve|reject`' };
    }
  }

  const NOUN: Record<Kind, string> = { approve: 'Approval', reject: 'Rejection', retry: 'Retry', skip: 'Skip', abort: 'Abort' };
  const AFTER: Record<Kind, (status?: string) => string> = {
    approve: (status) => (status === 'awaiting-approval' ? ': more approvals are needed before it runs.' : status ? `: the step is ${status}.` : ': the step runs now.'),
    reject: () => '.',
    retry: (status) => (status ? `: the step is ${status}.` : ': the step runs again now.'),
    skip: () => ': the playbook goes on.',
    abort: () => ': reversible steps are undone and the incident closes as aborted.',
  };
  const what = (d: Decision) => (d.kind === 'abort' ? escapeMrkdwn(d.incidentId) : `\`${escapeMrkdwn(d.step)}\` on ${escapeMrkdwn(d.incidentId)}`);
  const outcomeText = (d: Decision, o: DecisionOutcome) =>
    o.accepted
      ? `:white_check_mark: ${NOUN[d.kind]}${d.changes ? ' with changes' : ''} of ${what(d)} accepted${AFTER[d.kind](o.status)}`
      : `:no_entry: Could not ${d.kind} ${what(d)}: ${escapeMrkdwn(o.message)}`;

  /** A click's payload and button value, or undefined after telling the clicker what was wrong. */
  async function clicked(body: unknown, client: WebClient, actionId: string) {
    const parsed = BlockActionsPayload.safeParse(body);
    if (!parsed.success) {
      log.warn({ issues: parsed.error.issues.length }, 'block_actions payload refused');
      return undefined;
    }
    const p = parsed.data;
    const action = p.actions.find((a) => a.action_id === actionId)!;
    const where = { channel: p.channel?.id ?? p.container?.channel_id, user: p.user.id, responseUrl: p.response_url };
    const value = parseJson(ButtonValue, action.value);
    if (!value.ok) {
      await tell(client, where, `:warning: This button carries no valid incident step (${escapeMrkdwn(value.message)}).`);
      return undefined;
    }
    return { p, action, where, value: value.value };
  }

  // --- Approve / Retry now: ack, then the Update; the outcome goes to the clicker only. ---
  for (const [actionId, kind] of [[APPROVE_ACTION, 'approve'], [RETRY_ACTION, 'retry']] as const) {
    app.action(actionId, async ({ ack, body, client, context }) => {
      await ack();
      const c = await clicked(body, client, actionId);
      if (!c) return;
      const d: Decision = { kind, ...c.value, ...(kind === 'retry' ? { digest: undefined } : {}), user: c.p.user.id, updateId: clickId(kind, c.value, c.p.user.id, c.action) };
      const outcome = await decide(d);
      // A Slack retry of a click already handled says nothing twice.
      if (context.retryNum && (outcome.accepted || /already decided/.test(outcome.message))) return;
      await tell(client, c.where, outcomeText(d, outcome));
    });
  }

  // --- Reject / Skip / Abort: a modal collects the reason (trigger_id is valid for 3 s, so open it first). ---
  const REASON_MODALS = [
    { actionId: REJECT_ACTION, callbackId: REJECT_MODAL_CALLBACK, kind: 'reject' },
    { actionId: SKIP_ACTION, callbackId: SKIP_MODAL_CALLBACK, kind: 'skip' },
    { actionId: ABORT_ACTION, callbackId: ABORT_MODAL_CALLBACK, kind: 'abort' },
  ] as const;
  for (const m of REASON_MODALS) {
    app.action(m.actionId, async ({ ack, body, client }) => {
      await ack();
      const c = await clicked(body, client, m.actionId);
      if (!c) return;
      if (!c.p.trigger_id) return tell(client, c.where, `:warning: Slack sent no trigger to open the reason dialog; use \`bulwark incident ${m.kind} … --reason\`.`);
      const meta: RejectModalMetadata = { ...c.value, ...(c.where.channel ? { channel: c.where.channel } : {}) };
      const common = { callbackId: m.callbackId, reasonBlock: REASON_BLOCK, reasonAction: REASON_ACTION, privateMetadata: JSON.stringify(meta) };
      const { incidentId, step } = c.value;
      const view =
        m.kind === 'reject'
          ? rejectModal({ ...common, incidentId, step })
          : m.kind === 'skip'
            ? reasonModal({ ...common, title: 'Skip step', submit: 'Skip', intro: `Skip \`${escapeMrkdwn(step)}\` of ${escapeMrkdwn(incidentId)}? It will not run again; the playbook goes on with the next steps.` })
            : reasonModal({ ...common, title: 'Abort incident', submit: 'Abort', intro: `Abort ${escapeMrkdwn(incidentId)}? The playbook stops, reversible steps are undone (last first) and the incident closes as aborted.` });
      await client.views.open({ trigger_id: c.p.trigger_id, view: view as never });
    });

    // Submitted: try the Update within the ack budget so a refusal shows in the modal.
    app.view(m.callbackId, async ({ ack, body, client }) => {
      const parsed = ViewSubmissionPayload.safeParse(body);
      if (!parsed.success) {
        await ack({ response_action: 'errors', errors: { [REASON_BLOCK]: 'invalid submission' } });
        return;
      }
      const p = parsed.data;
      const meta = parseJson(RejectModalMetadata, p.view.private_metadata);
      if (!meta.ok) {
        await ack({ response_action: 'errors', errors: { [REASON_BLOCK]: 'this dialog no longer names a valid step' } });
        return;
      }
      const reason = rejectReason(p);
      if (!reason) {
        await ack({ response_action: 'errors', errors: { [REASON_BLOCK]: `${m.kind === 'reject' ? 'a rejection' : m.kind === 'skip' ? 'skipping a step' : 'aborting'} needs a reason` } });
        return;
      }
      const viewId = (body as { view?: { id?: string } }).view?.id ?? String(Date.now());
      const d: Decision = {
        kind: m.kind,
        incidentId: meta.value.incidentId,
        step: meta.value.step,
        digest: m.kind === 'reject' ? meta.value.digest : undefined,
        user: p.user.id,
        reason,
        updateId: `slack-${m.kind}-${meta.value.step}-${p.user.id}-${viewId}`.slice(0, 256),
      };
      await submitDecision(d, ack as ViewAck, client, meta.value.channel, REASON_BLOCK);
    });
  }

  /** Sends a modal's decision; a refusal known within the ack budget is shown in the modal, at `errorBlock`. */
  async function submitDecision(d: Decision, ack: ViewAck, client: WebClient, channel: string | undefined, errorBlock: string | ((message: string) => string)) {
    const running = decide(d);
    const early = await within(running, INLINE_ANSWER_MS);
    if (early && !early.accepted) {
      const block = typeof errorBlock === 'string' ? errorBlock : errorBlock(early.message);
      await ack({ response_action: 'errors', errors: { [block]: early.message.slice(0, 2000) } });
      return;
    }
    await ack();
    await tell(client, { channel, user: d.user }, outcomeText(d, early ?? (await running)));
  }

  // --- Approve with changes: a modal with the step's tuning parameters, prefilled from the workflow. ---
  app.action(CHANGE_ACTION, async ({ ack, body, client }) => {
    await ack();
    const c = await clicked(body, client, CHANGE_ACTION);
    if (!c) return;
    if (!c.p.trigger_id) return tell(client, c.where, ':warning: Slack sent no trigger to open the dialog; use `bulwark incident approve … --set name=value`.');
    let state;
    try {
      state = await opts.client.workflow.getHandle(c.value.incidentId).query(stateQuery);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return tell(client, c.where, `no incident ${escapeMrkdwn(c.value.incidentId)}`);
      throw err;
    }
    const step = state.plan.steps.find((x) => x.id === c.value.step);
    const shown: Record<string, string | number | boolean> = {};
    for (const k of tunableParams(step?.action ?? '')) {
      const v = step?.with[k];
      if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') shown[k] = v;
    }
    if (!step || Object.keys(shown).length === 0) return tell(client, c.where, `:warning: \`${escapeMrkdwn(c.value.step)}\` has no parameters that can be changed on approval.`);
    const meta: ChangesModalMetadata = { ...c.value, ...(c.where.channel ? { channel: c.where.channel } : {}), shown };
    await client.views.open({
      trigger_id: c.p.trigger_id,
      view: changesModal({ callbackId: CHANGES_MODAL_CALLBACK, privateMetadata: JSON.stringify(meta), incidentId: c.value.incidentId, step: step.id, title: step.title, params: shown }) as never,
    });
  });

  app.view(CHANGES_MODAL_CALLBACK, async ({ ack, body, client }) => {
    const parsed = ViewSubmissionPayload.safeParse(body);
    const meta = parsed.success ? parseJson(ChangesModalMetadata, parsed.data.view.private_metadata) : undefined;
    if (!parsed.success || !meta?.ok) {
      await ack({ response_action: 'errors', errors: { comment: 'this dialog no longer names a valid step' } });
      return;
    }
    const p = parsed.data;
    const changes: ParamChanges = {};
    const errors: Record<string, string> = {};
    for (const [param, before] of Object.entries(meta.value.shown)) {
      const typed = inputValue(p, paramBlock(param), PARAM_ACTION);
      if (typed === undefined) errors[paramBlock(param)] = `${param} needs a value`;
      else if (String(before) !== typed) changes[param] = coerceLike(before, typed);
    }
    if (Object.keys(errors).length) {
      await ack({ response_action: 'errors', errors });
      return;
    }
    const viewId = (body as { view?: { id?: string } }).view?.id ?? String(Date.now());
    const d: Decision = {
      kind: 'approve',
      incidentId: meta.value.incidentId,
      step: meta.value.step,
      digest: meta.value.digest,
      user: p.user.id,
      reason: inputValue(p, 'comment', 'comment'),
      ...(Object.keys(changes).length ? { changes } : {}),
      updateId: `slack-approve-changes-${meta.value.step}-${p.user.id}-${viewId}`.slice(0, 256),
    };
    // The validator names the field it refuses ("rateLimit: …"): show the message under that input.
    const first = Object.keys(meta.value.shown)[0]!;
    await submitDecision(d, ack as ViewAck, client, meta.value.channel, (message) => {
      const named = Object.keys(meta.value.shown).find((k) => new RegExp(`\\b${k}\\b`).test(message));
      return paramBlock(named ?? first);
    });
  });

  // --- /bulwark (whatever the command is called in the workspace) ---
  app.command(/.*/, async ({ ack, body, respond }) => {
    const parsed = SlashCommandPayload.safeParse(body);
    if (!parsed.success) {
      await ack({ response_type: 'ephemeral', text: 'invalid slash command payload' });
      return;
    }
    const p = parsed.data;
    const cmd = parseSlashText(p.text);
    const answer = async (): Promise<Record<string, unknown>> => {
      switch (cmd.kind) {
        case 'help':
          return { response_type: 'ephemeral', text: SLASH_HELP };
        case 'invalid':
          return { response_type: 'ephemeral', text: `${escapeMrkdwn(cmd.message)}\n\n${SLASH_HELP}` };
        case 'status':
          return status(cmd.incidentId);
        case 'list':
          return list();
        case 'open':
          return open(cmd.type, cmd.client, p.user_id);
      }
    };
    const running = answer().catch((err): Record<string, unknown> => {
      log.error({ err: (err as Error).message, command: cmd.kind }, 'slash command failed');
      return { response_type: 'ephemeral', text: 'could not reach Temporal; try again in a moment' };
    });
    const early = await within(running, INLINE_ANSWER_MS);
    if (early) {
      await ack(early);
      return;
    }
    await ack({ response_type: 'ephemeral', text: 'working on it…' });
    const late = await running;
    if (p.response_url) await respond(late as never);
  });

  async function status(incidentId: string): Promise<Record<string, unknown>> {
    try {
      const state = await opts.client.workflow.getHandle(incidentId).query(stateQuery);
      const view = incidentView(state);
      return { response_type: 'ephemeral', text: incidentText(view), blocks: incidentBlocks(view) };
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return { response_type: 'ephemeral', text: `no incident ${escapeMrkdwn(incidentId)}` };
      throw err;
    }
  }

  async function list(): Promise<Record<string, unknown>> {
    const limit = 20;
    const { rows, unreadable, more } = await listIncidents(opts.client, { limit });
    const lines = rows.map((r) => `• \`${escapeMrkdwn(r.id)}\` *${escapeMrkdwn(r.status)}* ${escapeMrkdwn(r.severity)} ${escapeMrkdwn(r.type)} ${escapeMrkdwn(r.subject)}`);
    const unread = unreadable ? `\n(${unreadable} shown without details: their memo cannot be decoded here)` : '';
    const text = lines.length ? `Open incidents${more ? ` (first ${limit})` : ''}:\n${lines.join('\n')}${unread}` : 'no open incidents';
    return { response_type: 'ephemeral', text };
  }

  async function open(type: string, clientId: string, user: string): Promise<Record<string, unknown>> {
    const as = `slack:${user}`;
    let alert;
    try {
      // The CLI's validation: the same Alert an alert source would send, so the same playbooks run.
      alert = operatorAlert({ type, severity: 'high', client: clientId, by: as });
    } catch (err) {
      return { response_type: 'ephemeral', text: escapeMrkdwn((err as Error).message) };
    }
    const delivered = await opts.deliverer.deliver(alert, undefined, `operator:${as}`);
    log.info({ incidentId: delivered.incidentId, by: as, type: alert.type }, 'incident opened from Slack');
    return {
      response_type: 'in_channel',
      text: `${delivered.deduplicated ? 'Attached to open incident' : 'Opened'} ${escapeMrkdwn(delivered.incidentId)} (${escapeMrkdwn(alert.type)}, client ${escapeMrkdwn(clientId)}) for <@${user}>. Its risky steps need someone else’s approval.`,
    };
  }

  const handler = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    let raw: Buffer;
    try {
      raw = await readBody(req, maxBody);
    } catch (err) {
      if (err instanceof BodyTooLarge) {
        res.setHeader('connection', 'close');
        return reply(res, 413, { error: 'too-large', message: `body exceeds ${maxBody} bytes` });
      }
      throw err;
    }
    const timestamp = header(req, SLACK_TIMESTAMP_HEADER);
    const signature = header(req, SLACK_SIGNATURE_HEADER);
    const nowSeconds = now();
    const check = verifySlackSignature({ signingSecret, timestampHeader: timestamp, signatureHeader: signature, rawBody: raw, nowSeconds });
    const retryNum = Number(header(req, SLACK_RETRY_NUM_HEADER) ?? 0) || undefined;
    if (!check.ok) {
      log.warn({ reason: check.reason, remote: req.socket.remoteAddress }, 'slack request refused: bad signature');
      return reply(res, 401, { error: check.reason === 'stale' ? 'stale' : 'unauthorized', message: SIGNATURE_PROBLEMS[check.reason] });
    }
    if (replays.check(signature!, Number(timestamp), nowSeconds)) {
      // Identical signed bytes again. A Slack retry of a request we already took is answered 200 and
      // dropped (the first one did the work); anything else is a replay.
      if (retryNum) return reply(res, 200, '');
      log.warn({ remote: req.socket.remoteAddress }, 'slack request refused: replayed');
      return reply(res, 401, { error: 'replayed', message: SIGNATURE_PROBLEMS.replayed });
    }
    const body = parseBody(req, raw);
    if (!body) return reply(res, 400, { error: 'invalid-body', message: 'expected a form-encoded Slack payload or JSON' });
    if (body.ssl_check) return reply(res, 200, '');
    if (body.type === 'url_verification' && typeof body.challenge === 'string') return reply(res, 200, { challenge: body.challenge });

    let answered = false;
    let acked!: () => void;
    const ackedOnce = new Promise<void>((r) => (acked = r));
    const answer = (status: number, content: AckBody) => {
      if (answered) return false;
      answered = true;
      reply(res, status, content ?? '');
      acked();
      return true;
    };
    const event: ReceiverEvent = {
      body,
      retryNum,
      retryReason: header(req, SLACK_RETRY_REASON_HEADER),
      ack: async (response?: AckBody) => {
        if (!answer(200, response)) log.warn('slack listener acked twice; ignored');
      },
    };
    const processing = app.processEvent(event).catch((err) => log.error({ err: (err as Error).message }, 'slack event processing failed'));
    track(processing);
    const timer = setTimeout(() => {
      if (answer(200, '')) log.warn({ type: body.type ?? body.command }, 'no listener acked within the deadline: answered 200 empty');
    }, ACK_DEADLINE_MS);
    // Nothing acked (no listener matched, or authorization failed): answer when processing ends.
    void processing.then(() => answer(200, ''));
    await ackedOnce;
    clearTimeout(timer);
  };

  return Object.assign(handler, {
    async drain() {
      while (pending.size) await Promise.allSettled([...pending]);
    },
  });
}

/** A stable id for one click, so Slack's retry of the same click is the same Temporal Update. */
function clickId(kind: string, value: ButtonValue, user: string, action: Record<string, unknown>): string {
  const ts = typeof action.action_ts === 'string' ? action.action_ts : String(Date.now());
  return `slack-${kind}-${value.step}-${user}-${ts}`.slice(0, 256);
}

/** The promise's value if it settles within ms; undefined otherwise (it keeps running). */
async function within<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), ms)));
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function parseBody(req: IncomingMessage, raw: Buffer): Record<string, unknown> | undefined {
  const type = header(req, 'content-type') ?? '';
  const text = raw.toString('utf8');
  try {
    if (type.startsWith('application/json')) {
      const v = JSON.parse(text) as unknown;
      return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
    }
    const form = new URLSearchParams(text);
    const payload = form.get('payload');
    if (payload !== null) {
      const v = JSON.parse(payload) as unknown;
      return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
    }
    return Object.fromEntries(form);
  } catch {
    return undefined;
  }
}



function reply(res: ServerResponse, status: number, body: AckBody | ''): void {
  if (res.headersSent) return;
  if (typeof body === 'string') {
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(body);
    return;
  }
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
