import type { Severity } from '../alert.js';
import { incidentMemo, type IncidentState, type IncidentStatus, type StepStatus } from '../incident.js';
import { tunableParams } from '../approval-changes.js';

/**
 * What the Slack incident message shows: a small, JSON-serialisable summary of an incident's state
 * (it is an activity input, so it goes into workflow history). Ids only — never secret values.
 */
export interface IncidentView {
  incidentId: string;
  severity: Severity;
  /** Alert type, e.g. aws-credential.compromised. */
  type: string;
  /** The client or resource the incident is about (client id, API key, endpoint, …). */
  subject: string;
  /** Alert source (detector or operator:<name>). */
  source: string;
  openedBy: string;
  /** Playbook id with its pinned version, e.g. aws-credential-compromise@v1. */
  playbook: string;
  status: IncidentStatus;
  /** Why the incident needs an operator, when it does. */
  attention?: string;
  alertCount: number;
  steps: IncidentStepView[];
}

export interface IncidentStepView {
  id: string;
  title: string;
  status: StepStatus;
  /** Approval policy the step names, when it needs approval. */
  approval?: string;
  /** True while the step waits for an approve/reject: the message shows buttons for it. */
  awaitingApproval: boolean;
  /** Digest of the step as shown (set while awaiting approval); the buttons send it back so a changed step is refused. */
  digest?: string;
  /** Who approved so far, and how many distinct approvals the policy needs. */
  approvals?: string[];
  required?: number;
  /** When the approval window closes (ISO). */
  expiresAt?: string;
  /** Parameters an approver may change while approving (shows "Approve with changes…"). */
  tunable?: string[];
  approvedBy?: string;
  /** Error or skip reason, shortened. */
  note?: string;
}

/** Steps listed in one message; Slack allows 50 blocks and 3,000 characters per text field. */
export const MAX_VIEW_STEPS = 30;
const MAX_NOTE = 200;
const MAX_TEXT = 2900;

const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

/** Builds the view from the workflow's state. Pure and deterministic (callable from workflow code). */
export function incidentView(state: IncidentState): IncidentView {
  const memo = incidentMemo(state);
  const steps: IncidentStepView[] = state.plan.steps.slice(0, MAX_VIEW_STEPS).map((p) => {
    const st = state.steps.find((s) => s.id === p.id);
    const status = st?.status ?? 'pending';
    const note = st?.error ?? st?.skippedBecause;
    const awaiting = status === 'awaiting-approval';
    const approvals = st?.approvals?.map((a) => a.by) ?? [];
    return {
      id: p.id,
      title: clip(p.title, 150),
      status,
      ...(p.approval ? { approval: p.approval } : {}),
      awaitingApproval: awaiting,
      ...(awaiting && st?.digest ? { digest: st.digest } : {}),
      ...(approvals.length ? { approvals } : {}),
      ...(p.approval && p.approvalPolicy ? { required: p.approvalPolicy.required } : {}),
      ...(awaiting && st?.approvalExpiresAt ? { expiresAt: st.approvalExpiresAt } : {}),
      ...(awaiting && tunableParams(p.action).some((k) => p.with[k] !== undefined) ? { tunable: tunableParams(p.action).filter((k) => p.with[k] !== undefined) } : {}),
      ...(st?.approvedBy ? { approvedBy: st.approvedBy } : {}),
      ...(note ? { note: clip(note, MAX_NOTE) } : {}),
    };
  });
  return {
    incidentId: state.incidentId,
    severity: state.severity,
    type: state.alert.type,
    subject: memo.subject || describeSubject(state.alert.subject as Record<string, unknown>),
    source: state.alert.source,
    openedBy: state.openedBy,
    playbook: memo.playbook ?? state.plan.playbook,
    status: state.status,
    ...(state.attention ? { attention: clip(state.attention, 500) } : {}),
    alertCount: state.alertCount,
    steps,
  };
}

function describeSubject(subject: Record<string, unknown>): string {
  const parts = Object.entries(subject)
    .filter(([, v]) => v !== undefined && typeof v !== 'object')
    .map(([k, v]) => `${k}=${String(v)}`);
  return clip(parts.join(' '), 200);
}

/** Escapes text for Slack mrkdwn so alert content cannot inject mentions (<!channel>) or links. */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

const SEVERITY_ICON: Record<Severity, string> = { low: ':large_blue_circle:', medium: ':large_yellow_circle:', high: ':large_orange_circle:', critical: ':red_circle:' };
const STEP_ICON: Record<StepStatus, string> = {
  pending: ':white_circle:',
  'awaiting-approval': ':raised_hand:',
  running: ':arrows_counterclockwise:',
  succeeded: ':white_check_mark:',
  skipped: ':fast_forward:',
  rejected: ':no_entry:',
  failed: ':x:',
  compensated: ':leftwards_arrow_with_hook:',
};

/** The button values: which incident and step a click decides. Parsed back with ButtonValue. */
export function buttonValue(incidentId: string, step: string, digest?: string): string {
  return JSON.stringify(digest ? { incidentId, step, digest } : { incidentId, step });
}

export const APPROVE_ACTION = 'approve';
export const REJECT_ACTION = 'reject';
/** Approve with changes: opens a modal with the step's tuning parameters. */
export const CHANGE_ACTION = 'approve-with-changes';
/** For a step that stopped the playbook: run it again, skip it (reason modal), or abort the incident (reason modal). */
export const RETRY_ACTION = 'retry-step';
export const SKIP_ACTION = 'skip-step';
export const ABORT_ACTION = 'abort-incident';

/** One-line text for notifications and the fallback `text` of messages. */
export function incidentText(view: IncidentView): string {
  const waiting = view.steps.filter((s) => s.awaitingApproval).map((s) => s.id);
  return clip(
    `${view.severity.toUpperCase()} ${view.type} — ${view.subject || 'no subject'} — ${view.status}${waiting.length ? ` (waiting for approval: ${waiting.join(', ')})` : ''} [${view.incidentId}]`,
    MAX_TEXT,
  );
}

/** One line per step: icon, id, status, who approved, note. */
export function stepLine(s: IncidentStepView): string {
  const progress = s.awaitingApproval && s.required ? ` ${s.approvals?.length ?? 0}/${s.required}${s.approvals?.length ? ` (${escapeMrkdwn(s.approvals.join(', '))})` : ''}` : '';
  const approval = s.approval ? ` · approval _${escapeMrkdwn(s.approval)}_${progress}${s.approvedBy ? ` ✓ ${escapeMrkdwn(s.approvedBy)}` : ''}` : '';
  const note = s.note ? ` — ${escapeMrkdwn(s.note)}` : '';
  return `${STEP_ICON[s.status]} \`${escapeMrkdwn(s.id)}\` *${s.status}* ${escapeMrkdwn(s.title)}${approval}${note}`;
}

/** Block Kit for the incident message; updated in place (chat.update) as the incident progresses. */
/** A Block Kit block as plain JSON. */
export type SlackBlock = { type: string; block_id?: string; [key: string]: unknown };

export function incidentBlocks(view: IncidentView): SlackBlock[] {
  const e = escapeMrkdwn;
  const blocks: SlackBlock[] = [
    { type: 'header', text: { type: 'plain_text', text: clip(`${view.severity.toUpperCase()} · ${view.type}`, 150), emoji: true } },
    {
      type: 'section',
      fields: [
        { type: 'mrkdwn', text: `*Status*\n${e(view.status)}` },
        { type: 'mrkdwn', text: `*Severity*\n${SEVERITY_ICON[view.severity]} ${view.severity}` },
        { type: 'mrkdwn', text: `*Subject*\n${e(view.subject || '—')}` },
        { type: 'mrkdwn', text: `*Source*\n${e(view.source)}` },
        { type: 'mrkdwn', text: `*Playbook*\n${e(view.playbook)}` },
        { type: 'mrkdwn', text: `*Alerts*\n${view.alertCount}` },
      ],
    },
  ];
  if (view.attention) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: clip(`:warning: *Needs attention:* ${e(view.attention)}`, MAX_TEXT) } });
  blocks.push({ type: 'section', text: { type: 'mrkdwn', text: clip(view.steps.map(stepLine).join('\n') || '_no steps_', MAX_TEXT) } });
  for (const s of view.steps.filter((x) => x.awaitingApproval).slice(0, 10)) {
    blocks.push(
      {
        type: 'section',
        text: {
          type: 'mrkdwn',
          text: clip(
            `:raised_hand: *${e(s.id)}* needs approval${s.approval ? ` (policy _${e(s.approval)}_${s.required ? `, ${s.approvals?.length ?? 0} of ${s.required}` : ''})` : ''}: ${e(s.title)}${s.expiresAt ? ` — decide by ${e(s.expiresAt)}` : ''}`,
            MAX_TEXT,
          ),
        },
      },
      {
        type: 'actions',
        block_id: clip(`decide:${s.id}`, 255),
        elements: [
          { type: 'button', action_id: APPROVE_ACTION, style: 'primary', text: { type: 'plain_text', text: 'Approve' }, value: buttonValue(view.incidentId, s.id, s.digest) },
          ...(s.tunable?.length ? [{ type: 'button', action_id: CHANGE_ACTION, text: { type: 'plain_text', text: 'Approve with changes…' }, value: buttonValue(view.incidentId, s.id, s.digest) }] : []),
          { type: 'button', action_id: REJECT_ACTION, style: 'danger', text: { type: 'plain_text', text: 'Reject…' }, value: buttonValue(view.incidentId, s.id, s.digest) },
        ],
      },
    );
  }
  // A step that stopped the playbook: the same powers as `bulwark incident retry|skip|abort`.
  if (view.status === 'needs-attention') {
    for (const s of view.steps.filter((x) => x.status === 'failed' || x.status === 'rejected').slice(0, 5)) {
      blocks.push(
        { type: 'section', text: { type: 'mrkdwn', text: clip(`${STEP_ICON[s.status]} *${e(s.id)}* ${s.status}${s.note ? `: ${e(s.note)}` : ''}`, MAX_TEXT) } },
        {
          type: 'actions',
          block_id: clip(`attend:${s.id}`, 255),
          elements: [
            ...(s.status === 'failed' ? [{ type: 'button', action_id: RETRY_ACTION, style: 'primary', text: { type: 'plain_text', text: 'Retry now' }, value: buttonValue(view.incidentId, s.id) }] : []),
            { type: 'button', action_id: SKIP_ACTION, text: { type: 'plain_text', text: 'Skip…' }, value: buttonValue(view.incidentId, s.id) },
            { type: 'button', action_id: ABORT_ACTION, style: 'danger', text: { type: 'plain_text', text: 'Abort incident…' }, value: buttonValue(view.incidentId, s.id) },
          ],
        },
      );
    }
  }
  blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: clip(`${e(view.incidentId)} · opened by ${e(view.openedBy)} · \`/bulwark status ${e(view.incidentId)}\``, MAX_TEXT) }] });
  return blocks;
}

/** The modal a Reject click opens: it collects the reason the rejectUpdate requires. */
export function rejectModal(opts: { callbackId: string; reasonBlock: string; reasonAction: string; privateMetadata: string; incidentId: string; step: string }): Record<string, unknown> {
  return {
    type: 'modal',
    callback_id: opts.callbackId,
    private_metadata: opts.privateMetadata,
    title: { type: 'plain_text', text: 'Reject step' },
    submit: { type: 'plain_text', text: 'Reject' },
    close: { type: 'plain_text', text: 'Cancel' },
    blocks: [
      {
        type: 'section',
        text: { type: 'mrkdwn', text: clip(`Reject \`${escapeMrkdwn(opts.step)}\` of ${escapeMrkdwn(opts.incidentId)}? The step will not run; the playbook decides whether earlier steps are undone.`, MAX_TEXT) },
      },
      {
        type: 'input',
        block_id: opts.reasonBlock,
        label: { type: 'plain_text', text: 'Reason (goes in the incident timeline)' },
        element: { type: 'plain_text_input', action_id: opts.reasonAction, multiline: true, min_length: 1, max_length: 1000 },
      },
    ],
  };
}

/** A modal collecting the reason a skip or an abort needs (the same shape as the reject modal). */
export function reasonModal(opts: { callbackId: string; reasonBlock: string; reasonAction: string; privateMetadata: string; title: string; submit: string; intro: string }): Record<string, unknown> {
  return {
    type: 'modal',
    callback_id: opts.callbackId,
    private_metadata: opts.privateMetadata,
    title: { type: 'plain_text', text: clip(opts.title, 24) },
    submit: { type: 'plain_text', text: clip(opts.submit, 24) },
    close: { type: 'plain_text', text: 'Cancel' },
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: clip(opts.intro, MAX_TEXT) } },
      {
        type: 'input',
        block_id: opts.reasonBlock,
        label: { type: 'plain_text', text: 'Reason (goes in the incident timeline)' },
        element: { type: 'plain_text_input', action_id: opts.reasonAction, multiline: true, min_length: 1, max_length: 1000 },
      },
    ],
  };
}

/** Block id of a parameter's input in the approve-with-changes modal. */
export const paramBlock = (param: string) => `param:${param}`;
export const PARAM_ACTION = 'value';

/** "Approve with changes": one input per tuning parameter, prefilled with its current value. */
export function changesModal(opts: { callbackId: string; privateMetadata: string; incidentId: string; step: string; title: string; params: Record<string, unknown> }): Record<string, unknown> {
  return {
    type: 'modal',
    callback_id: opts.callbackId,
    private_metadata: opts.privateMetadata,
    title: { type: 'plain_text', text: 'Approve with changes' },
    submit: { type: 'plain_text', text: 'Approve' },
    close: { type: 'plain_text', text: 'Cancel' },
    blocks: [
      {
        type: 'section',
        text: { type: 'mrkdwn', text: clip(`Approve \`${escapeMrkdwn(opts.step)}\` (${escapeMrkdwn(opts.title)}) of ${escapeMrkdwn(opts.incidentId)} with these parameters. Changes are checked against the step's schema and recorded in the timeline.`, MAX_TEXT) },
      },
      ...Object.entries(opts.params).map(([param, value]) => ({
        type: 'input',
        block_id: paramBlock(param),
        label: { type: 'plain_text', text: clip(param, 150) },
        element: { type: 'plain_text_input', action_id: PARAM_ACTION, initial_value: clip(String(value), 150), max_length: 150 },
      })),
      {
        type: 'input',
        block_id: 'comment',
        optional: true,
        label: { type: 'plain_text', text: 'Comment (goes in the incident timeline)' },
        element: { type: 'plain_text_input', action_id: 'comment', multiline: true, max_length: 1000 },
      },
    ],
  };
}
