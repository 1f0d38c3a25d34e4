import type { Alert, Severity } from './alert.js';
import type { Approval } from './approval-rules.js';
import { maxSeverity, type Plan, type PlaybookDefaults } from './playbook.js';

export const INCIDENT_STATUSES = [
  'awaiting-containment',
  'awaiting-approval',
  'containing',
  'contained',
  'needs-attention',
  'resolved',
  'aborted',
] as const;
export type IncidentStatus = (typeof INCIDENT_STATUSES)[number];

export type TimelineKind =
  | 'alert.received'
  | 'alert.repeated'
  | 'alert.resolved'
  | 'alert.correlated'
  | 'gate.waiting'
  | 'gate.opened'
  | 'approval.requested'
  | 'approval.granted'
  | 'approval.rejected'
  | 'approval.escalated'
  | 'approval.expired'
  | 'step.started'
  | 'step.progress'
  | 'step.succeeded'
  | 'step.skipped'
  | 'step.failed'
  | 'step.compensated'
  | 'incident.extended'
  | 'incident.resolved'
  | 'incident.aborted'
  | 'incident.status';

export interface TimelineEntry {
  at: string;
  kind: TimelineKind;
  step?: string;
  message: string;
  /** AWS resource ids (ARNs, key ids, version ids) the entry is about — never secret values. */
  resources?: string[];
  evidence?: Record<string, unknown>;
}

/** What intake sends to an incident: one delivery may carry many coalesced duplicate alerts. */
export interface AlertDelivery {
  count: number;
  firstReceivedAt: string;
  lastReceivedAt: string;
  highestSeverity: Severity;
  sources: string[];
  /** How many of `count` were `resolved` notifications (e.g. Alertmanager): recorded, they open nothing. */
  resolved?: number;
  /** Set when these alerts have another fingerprint and joined this incident because they name the same client. */
  correlated?: { type: string; clientId: string; fingerprint: string };
}

export type StepStatus = 'pending' | 'awaiting-approval' | 'running' | 'succeeded' | 'skipped' | 'rejected' | 'failed' | 'compensated';

export interface StepState {
  id: string;
  status: StepStatus;
  /** Output of the step needed later (e.g. the limits to restore); ids only. */
  output?: Record<string, unknown>;
  error?: string;
  approvedBy?: string;
  /** Approvals so far (N-of-M policies need several distinct people). */
  approvals?: Approval[];
  /** When the approval window closes. */
  approvalExpiresAt?: string;
  /** Digest of the step as shown to approvers; an approval for another digest is refused. */
  digest?: string;
  /** Why the step did not run: its condition was false, or an approver rejected it. */
  skippedBecause?: string;
}

export interface IncidentInput {
  incidentId: string;
  fingerprint: string;
  alert: Alert;
  openedBy: string;
  defaults: PlaybookDefaults;
  /**
   * The plan resolved by intake from the routed playbook. Carrying it in the input pins the
   * playbook version for the incident's whole life. Absent for incidents started before playbooks
   * were data; those keep their original built-in plan.
   */
  plan?: Plan;
  /** Why intake fell back to the triage plan (no or ambiguous match). */
  routing?: string;
  /** Keep an incident message in Slack up to date (set by intake when Slack is configured). */
  slack?: boolean;
  /** Sign the audit chain head with KMS when contained and when closed (a signing key is configured). */
  auditAnchors?: boolean;
  /** Continue-as-new once history passes this many events (default 4,000; tests lower it). */
  historyLimit?: number;
}

/** Everything the workflow needs to resume after continue-as-new. */
export interface IncidentState {
  incidentId: string;
  fingerprint: string;
  status: IncidentStatus;
  severity: Severity;
  alert: Alert;
  openedBy: string;
  openedAt: string;
  plan: Plan;
  steps: StepState[];
  alertCount: number;
  deliveries: number;
  /** `resolved` notifications received; they never reopen or escalate anything. */
  resolvedAlerts?: number;
  /** Alerts of other types/fingerprints that joined because they name the same client. */
  correlatedAlerts?: number;
  lastAlertAt?: string;
  throttleUntil?: string;
  resolvedBy?: string;
  containApprovedBy?: string;
  attention?: string;
  timeline: TimelineEntry[];
  /** Timeline entries dropped to keep history bounded during alert storms. */
  timelineDropped: number;
  /** The incident's Slack message, once posted; later states update it in place. */
  slackMessage?: { channel: string; ts: string };
  /** Timeline entries (by ordinal) already posted to the message's thread. */
  slackThreadCount?: number;
  /** The last Slack failure, if the message could not be brought up to date. */
  slackError?: string;
  /** Timeline entries (by ordinal) already in the audit file; carried across continue-as-new. */
  auditedCount?: number;
  /** Why the audit trail stopped (the file's chain is broken or unwritable); set once. */
  auditBroken?: string;
}

/** Repeats are summarised, not listed one by one, so a storm cannot blow up workflow state. */
export const MAX_REPEAT_ENTRIES = 50;
export const MAX_TIMELINE_ENTRIES = 500;

export function pushTimeline(state: IncidentState, entry: TimelineEntry): void {
  state.timeline.push(entry);
  if (state.timeline.length > MAX_TIMELINE_ENTRIES) {
    // Keep the opening entry; drop the oldest after it.
    state.timeline.splice(1, 1);
    state.timelineDropped += 1;
  }
}

/** Timeline entries ever recorded (1-based ordinals), including those dropped to bound state. */
export const recordedCount = (state: IncidentState) => state.timeline.length + state.timelineDropped;

/**
 * Entries with ordinals in (from, upTo], skipping any dropped meanwhile. The opening entry stays at
 * index 0; later ones shift left as the oldest after it are dropped.
 */
export function timelineSince(state: IncidentState, from: number, upTo = recordedCount(state)): { ordinal: number; entry: TimelineEntry }[] {
  const out: { ordinal: number; entry: TimelineEntry }[] = [];
  for (let ordinal = from + 1; ordinal <= upTo; ordinal++) {
    const i = ordinal === 1 ? 0 : ordinal - 1 - state.timelineDropped;
    if (i < 1 && ordinal !== 1) continue;
    const entry = state.timeline[i];
    if (entry) out.push({ ordinal, entry });
  }
  return out;
}

export function applyDelivery(state: IncidentState, delivery: AlertDelivery, at: string): void {
  if (delivery.resolved && delivery.resolved === delivery.count) {
    state.resolvedAlerts = (state.resolvedAlerts ?? 0) + delivery.count;
    pushTimeline(state, { at, kind: 'alert.resolved', message: `${delivery.count} resolved notification(s) from ${delivery.sources.join(', ')}: the detector no longer fires` });
    return;
  }
  if (delivery.correlated) {
    const c = delivery.correlated;
    state.alertCount += delivery.count;
    state.deliveries += 1;
    state.lastAlertAt = delivery.lastReceivedAt;
    state.severity = maxSeverity(state.severity, delivery.highestSeverity);
    state.correlatedAlerts = (state.correlatedAlerts ?? 0) + delivery.count;
    if (state.timeline.filter((e) => e.kind === 'alert.correlated').length < MAX_REPEAT_ENTRIES) {
      pushTimeline(state, {
        at,
        kind: 'alert.correlated',
        message: `${delivery.count} ${c.type} alert(s) (${delivery.highestSeverity}) from ${delivery.sources.join(', ')} joined: same client ${c.clientId} (their own fingerprint ${c.fingerprint})`,
      });
    }
    return;
  }
  const first = state.alertCount === 0;
  state.alertCount += delivery.count;
  state.deliveries += 1;
  state.lastAlertAt = delivery.lastReceivedAt;
  state.severity = maxSeverity(state.severity, delivery.highestSeverity);
  if (first) {
    const repeats = delivery.count - 1;
    pushTimeline(state, {
      at,
      kind: 'alert.received',
      message: `${state.alert.type} (${state.alert.severity}) from ${state.alert.source}${repeats ? ` and ${repeats} repeat(s)` : ''}`,
    });
    return;
  }
  const repeatEntries = state.timeline.filter((e) => e.kind === 'alert.repeated').length;
  if (repeatEntries < MAX_REPEAT_ENTRIES) {
    pushTimeline(state, {
      at,
      kind: 'alert.repeated',
      message: `${delivery.count} repeat alert(s) attached (total ${state.alertCount}), highest severity ${delivery.highestSeverity}`,
    });
  }
}

export function initialState(input: IncidentInput, plan: Plan, at: string): IncidentState {
  return {
    incidentId: input.incidentId,
    fingerprint: input.fingerprint,
    status: 'containing',
    severity: input.alert.severity,
    alert: input.alert,
    openedBy: input.openedBy,
    openedAt: at,
    plan,
    steps: plan.steps.map((s) => ({ id: s.id, status: 'pending' })),
    alertCount: 0,
    deliveries: 0,
    timeline: [
      {
        at,
        kind: 'incident.status',
        message: `opened by ${input.openedBy}; playbook ${plan.playbook}${plan.version ? ` v${plan.version}` : ''}, ${plan.steps.length} step(s)${input.routing ? ` (${input.routing})` : ''}`,
      },
    ],
    timelineDropped: 0,
  };
}

export function isOpen(status: IncidentStatus): boolean {
  return status !== 'resolved' && status !== 'aborted';
}

/** The part of an incident kept in the workflow memo, for listing without a worker. */
export type IncidentMemo = {
  status: IncidentStatus;
  type: string;
  severity: Severity;
  subject: string;
  playbook?: string;
};

export function incidentMemo(state: IncidentState): IncidentMemo {
  const s = state.alert.subject;
  const subject = s.clientId ?? s.apiKeyId ?? s.secretId ?? (s.endpoint ? `${s.endpoint.restApiId}/${s.endpoint.stage}${s.endpoint.resourcePath ?? ''}` : '');
  return { status: state.status, type: state.alert.type, severity: state.severity, subject, playbook: state.plan.version ? `${state.plan.playbook}@v${state.plan.version}` : state.plan.playbook };
}
