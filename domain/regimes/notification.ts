import { approvalRefusal } from '../approval-rules.js';
import type { StageTimeline } from './deadlines.js';
import type { IncidentFacts } from './facts.js';

/**
 * The regulator-notification workflow's state and the pure decisions it makes: reminder instants,
 * the approval/submission check its Update validator runs (the CLI shows the same reasons), and
 * the displayed state of a stage. No zod, no calendars: this module runs inside workflow code.
 */

/** Reminders go out at these fractions of each stage's window (anchor → deadline). */
export const REMINDER_FRACTIONS = [0.5, 0.8, 0.95] as const;

/** One child per incident and regime: the id is the dedupe, so a retried step never starts a second one. */
export const notificationWorkflowId = (incidentId: string, regimeId: string) => `regulators/${incidentId}/${regimeId}`;

/** What a regulator will see as the sender's reference; stable across retries of one submission. */
export const submissionKey = (incidentId: string, regimeId: string, stage: string) => `${incidentId}/${regimeId}/${stage}`;

export type DisplayState = 'not-started' | 'pending' | 'due-soon' | 'overdue' | 'submitted' | 'late' | 'not-required';

export interface Submission {
  id: string;
  key: string;
  at: string;
  channel: string;
  approvedBy: string;
  late: boolean;
  reason?: string;
}

export interface NotificationEntry {
  at: string;
  kind: 'classified' | 'reclassified' | 'reminder' | 'escalated' | 'approved' | 'submitted' | 'refused' | 'facts' | 'error';
  stage?: string;
  message: string;
}

export interface NotificationStage {
  id: string;
  title: string;
  /** Whether the facts make this stage owed: met / not-met / unknown (owed if the facts confirm). */
  required: 'met' | 'not-met' | 'unknown';
  timeline: StageTimeline;
  remindersSent: number[];
  escalatedAt?: string;
  submission?: Submission;
  needsLegalReview: boolean;
}

export interface NotificationState {
  incidentId: string;
  regime: string;
  regimeVersion?: number;
  title?: string;
  status: 'assessing' | 'not-reportable' | 'undetermined' | 'reportable' | 'complete' | 'failed';
  reportable?: boolean | 'unknown';
  why: string[];
  facts: IncidentFacts;
  /** Operator-supplied report field values (free text), by field name. */
  fields: Record<string, string>;
  events: Record<string, string>;
  summary?: string;
  severity?: string;
  openedBy?: string;
  approvers: string[];
  channel?: string;
  timeZone: string;
  confidence: string[];
  /** Durations are divided by this in tests; 1 in production. Instants in this state are on the scaled clock. */
  timeScale: number;
  /** Maps workflow time to the (scaled) regulatory clock; identity when timeScale is 1. */
  clock: { realStartMs: number; virtualStartMs: number };
  stages: NotificationStage[];
  classifications: { at: string; reportable: boolean | 'unknown'; decision?: string }[];
  log: NotificationEntry[];
  error?: string;
}

/** The scaled clock: with timeScale k, one real second is k seconds of regulatory time (tests only). */
export function scaledNow(realNowMs: number, clock: NotificationState['clock'], timeScale: number): number {
  return clock.virtualStartMs + (realNowMs - clock.realStartMs) * timeScale;
}

/** Real milliseconds until a scaled instant (never negative). */
export function realDelayMs(scaledAtMs: number, scaledNowMs: number, timeScale: number): number {
  return Math.max(0, Math.ceil((scaledAtMs - scaledNowMs) / timeScale));
}

/** Reminder instants of one window; an "immediately" stage has no window, only urgency. */
export function reminderInstants(anchorMs: number, dueMs: number): { fraction: number; atMs: number }[] {
  if (!(dueMs > anchorMs)) return [];
  return REMINDER_FRACTIONS.map((fraction) => ({ fraction, atMs: anchorMs + Math.round((dueMs - anchorMs) * fraction) }));
}

/** What a stage looks like at `nowMs` (on the state's clock). */
export function displayState(stage: NotificationStage, nowMs: number, dueSoonFraction = 0.25): DisplayState {
  if (stage.required === 'not-met') return 'not-required';
  if (stage.submission) return stage.submission.late ? 'late' : 'submitted';
  const t = stage.timeline;
  if (!t.dueAt) return 'not-started';
  if (t.immediate) return 'due-soon';
  const due = Date.parse(t.dueAt);
  const anchor = t.anchorAt ? Date.parse(t.anchorAt) : due;
  if (nowMs > due) return 'overdue';
  return due - nowMs <= (due - anchor) * dueSoonFraction ? 'due-soon' : 'pending';
}

export interface ApproveRequest {
  stage: string;
  by: string;
  /** Reason for delay; required when the deadline has passed. */
  reason?: string;
}

/**
 * Why this approval (which submits the report) is refused, or undefined. The same rules as step
 * approvals (approver allowed, four-eyes against the incident's opener) plus the regulator ones:
 * the stage is owed, its window has started, it is not submitted yet, and a late one says why.
 */
export function submissionRefusal(state: NotificationState, req: ApproveRequest, nowMs: number): string | undefined {
  if (!req || typeof req.by !== 'string' || !req.by.trim()) return 'by: expected the approver\'s name';
  if (typeof req.stage !== 'string') return 'stage: expected a stage id';
  if (req.reason !== undefined && typeof req.reason !== 'string') return 'reason: expected text';
  if (state.status !== 'reportable') return `${state.regime} is ${state.status === 'assessing' ? 'still being assessed' : state.status}: nothing to submit`;
  const stage = state.stages.find((s) => s.id === req.stage);
  if (!stage) return `stage "${req.stage}" is not a stage of ${state.regime} (stages: ${state.stages.map((s) => s.id).join(', ')})`;
  if (stage.required === 'not-met') return `stage ${stage.id} is not owed for this incident`;
  if (stage.submission) return `stage ${stage.id} was already submitted at ${stage.submission.at} (${stage.submission.id})`;
  if (!stage.timeline.dueAt) return `stage ${stage.id} has not started: waiting for ${stage.timeline.waitingFor.join(', ') || 'its anchor'}`;
  if (!state.approvers.length) return `no compliance approvers are configured for ${state.regime} (profile "approvers" for roles of the rule file)`;
  const refusal = approvalRefusal({
    policy: { name: `regulators:${state.regime}`, approvers: state.approvers, required: 1, expirySeconds: 0, escalation: [], onExpiry: 'reject' },
    by: req.by,
    opener: state.openedBy ?? '',
    approvals: [],
    now: nowMs,
  });
  if (refusal) return refusal;
  const late = !stage.timeline.immediate && nowMs > Date.parse(stage.timeline.dueAt);
  if (late && !req.reason?.trim()) return `stage ${stage.id} is late (due ${stage.timeline.dueAt}): a late submission needs a reason for delay (--reason)`;
  return undefined;
}
