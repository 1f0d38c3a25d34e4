import { allHandlersFinished, ApplicationFailure, condition, proxyActivities, setHandler } from '@temporalio/workflow';
import type { IncidentFacts } from '../domain/regimes/facts.js';
import {
  realDelayMs,
  reminderInstants,
  scaledNow,
  submissionKey,
  submissionRefusal,
  type NotificationEntry,
  type NotificationStage,
  type NotificationState,
  type Submission,
} from '../domain/regimes/notification.js';
import type { Activities } from '../activities/index.js';
import { AWS_ACTIVITY_OPTIONS } from './activity-options.js';
import { regulatorApproveUpdate, regulatorFactsUpdate, regulatorStateQuery } from './notification-definitions.js';
import { failureReason } from './failure-reason.js';

const acts = proxyActivities<Activities>(AWS_ACTIVITY_OPTIONS);
// A submission may wait on a slow regulator endpoint; it is keyed, so a retry does not send twice.
const submit = proxyActivities<Activities>({ ...AWS_ACTIVITY_OPTIONS, startToCloseTimeout: '30 seconds' });

export interface NotificationInput {
  incidentId: string;
  regimeId: string;
  facts: IncidentFacts;
  /** Incident events known when the child starts (aware, …), as ISO instants. */
  events: Record<string, string>;
  summary?: string;
  severity?: string;
  /** The incident's opener: cannot also approve its reports (four-eyes). */
  openedBy?: string;
}

/** A regime that is not (yet) reportable waits this long (regulatory time) for new facts, then ends. */
const UNDECIDED_HORIZON_MS = 90 * 86_400_000;

/**
 * One incident under one regime: classify, and while reportable keep every owed stage's deadline
 * (reminders at 50/80/95 % of its window, escalation at the deadline), take compliance approval as
 * a validated Update, submit through the configured channel, and let each submission anchor the
 * stages chained on it. Facts can change at any time; each change re-classifies, recorded.
 */
export async function regulatorNotificationWorkflow(input: NotificationInput): Promise<NotificationState> {
  const realStartMs = Date.now();
  const state: NotificationState = {
    incidentId: input.incidentId,
    regime: input.regimeId,
    status: 'assessing',
    why: [],
    facts: { ...input.facts },
    fields: {},
    events: { ...input.events },
    summary: input.summary,
    severity: input.severity,
    openedBy: input.openedBy,
    approvers: [],
    timeZone: 'UTC',
    confidence: [],
    timeScale: 1,
    clock: { realStartMs, virtualStartMs: realStartMs },
    stages: [],
    classifications: [],
    log: [],
  };
  let dirty = true;
  let evaluating = false;
  const submitting = new Set<string>();
  const now = () => scaledNow(Date.now(), state.clock, state.timeScale);
  const iso = (ms: number) => new Date(ms).toISOString();
  const log = (e: Omit<NotificationEntry, 'at'>) => state.log.push({ at: iso(now()), ...e });

  setHandler(regulatorStateQuery, () => state);

  setHandler(
    regulatorFactsUpdate,
    async (change) => {
      if (change.facts) state.facts = { ...state.facts, ...change.facts };
      if (change.fields) state.fields = { ...state.fields, ...change.fields };
      log({ kind: 'facts', message: `${change.by} updated ${[change.facts ? `facts (${Object.keys(change.facts).join(', ')})` : '', change.fields ? `report fields (${Object.keys(change.fields).join(', ')})` : ''].filter(Boolean).join(' and ')}` });
      dirty = true;
      await condition(() => !dirty && !evaluating);
      return { status: state.status, reportable: state.reportable };
    },
    {
      validator: (change) => {
        if (!change || typeof change.by !== 'string' || !change.by.trim()) throw new Error('by: expected who changes the facts');
        if (change.facts !== undefined && (typeof change.facts !== 'object' || change.facts === null || Array.isArray(change.facts))) throw new Error('facts: expected an object of incident facts');
        if (change.fields !== undefined && (typeof change.fields !== 'object' || change.fields === null || Object.values(change.fields).some((v) => typeof v !== 'string'))) throw new Error('fields: expected {field: "text"}');
        if (!change.facts && !change.fields) throw new Error('nothing to change: give facts or fields');
        if (state.status === 'complete') throw new Error(`${state.regime} notifications are complete`);
      },
    },
  );

  setHandler(
    regulatorApproveUpdate,
    async (req): Promise<Submission> => {
      const stage = state.stages.find((s) => s.id === req.stage)!;
      const nowMs = now();
      const late = !stage.timeline.immediate && !!stage.timeline.dueAt && nowMs > Date.parse(stage.timeline.dueAt);
      submitting.add(stage.id);
      log({ kind: 'approved', stage: stage.id, message: `${req.by} approved the ${stage.title}${late ? ` (late: ${req.reason})` : ''}` });
      try {
        const r = await submit.regulatorsSubmit({
          key: submissionKey(state.incidentId, state.regime, stage.id),
          regimeId: state.regime,
          stage: stage.id,
          approvedBy: req.by,
          late,
          reason: req.reason?.trim() || undefined,
          at: iso(nowMs),
          draft: { incidentId: state.incidentId, facts: state.facts, fields: state.fields, events: state.events, summary: state.summary, severity: state.severity, classifications: state.classifications },
        });
        // The submission instant on this workflow's clock anchors the chained stages.
        const at = iso(now());
        const submission: Submission = { id: r.id, key: r.key, at, channel: r.channel, approvedBy: r.approvedBy, late: r.late, reason: r.reason };
        // Re-found by id: a re-classification while the report was being sent replaces the stage objects.
        (state.stages.find((s) => s.id === stage.id) ?? stage).submission = submission;
        state.events[`stage:${stage.id}.submitted`] = at;
        log({ kind: 'submitted', stage: stage.id, message: `${stage.title} submitted${late ? ' late' : ''} via ${r.channel} (${r.id})${r.draft.missing.length ? `; fields still missing: ${r.draft.missing.join(', ')}` : ''}` });
        dirty = true;
        return submission;
      } catch (err) {
        const reason = failureReason(err);
        log({ kind: 'error', stage: stage.id, message: `submission failed: ${reason}` });
        throw ApplicationFailure.nonRetryable(`submission of ${state.regime}/${stage.id} failed: ${reason}`, 'SubmissionFailed');
      } finally {
        submitting.delete(stage.id);
      }
    },
    {
      validator: (req) => {
        const refusal = submissionRefusal(state, req, now());
        if (refusal) throw new Error(refusal);
        if (submitting.has(req.stage)) throw new Error(`stage ${req.stage} is being submitted right now`);
      },
    },
  );

  async function evaluate(): Promise<void> {
    const at = iso(now());
    const submitted = new Map(state.stages.flatMap((s) => (s.submission ? [[s.id, s.submission] as const] : [])));
    const ev = await acts.regulatorsEvaluate({ incidentId: state.incidentId, regimeId: state.regime, facts: state.facts, events: state.events, at });
    // Fixed by the first answer: the clock must not change speed mid-incident. A scaled (test)
    // clock starts at this evaluation, so the first activity's latency is not multiplied too.
    if (state.classifications.length === 0 && ev.timeScale !== 1) {
      state.timeScale = ev.timeScale;
      state.clock = { realStartMs: Date.now(), virtualStartMs: Date.parse(at) };
    }
    state.regimeVersion = ev.regimeVersion;
    state.title = ev.title;
    state.why = ev.decision ? [ev.decision, ...ev.why] : ev.why;
    state.approvers = ev.approvers;
    state.channel = ev.channel;
    state.timeZone = ev.timeZone;
    state.confidence = ev.confidence;
    const previous = state.classifications.at(-1)?.reportable;
    if (previous !== ev.reportable || state.classifications.length === 0) {
      state.classifications.push({ at, reportable: ev.reportable, decision: ev.decision });
      const text = ev.reportable === 'unknown' ? 'undetermined (facts missing)' : ev.reportable ? 'reportable' : 'not reportable';
      log({ kind: previous === undefined ? 'classified' : 'reclassified', message: `${state.regime}: ${text}${ev.decision ? ` — ${ev.decision}` : ''}` });
    }
    state.reportable = ev.reportable;
    state.stages = ev.stages.map((s) => {
      const before = state.stages.find((x) => x.id === s.id);
      return { ...s, remindersSent: before?.remindersSent ?? [], escalatedAt: before?.escalatedAt, submission: before?.submission ?? submitted.get(s.id) };
    });
    if (!ev.found || !ev.applicable || ev.reportable === false) state.status = 'not-reportable';
    else if (ev.reportable === 'unknown') state.status = 'undetermined';
    else {
      state.status = 'reportable';
      // Becoming reportable is the classification event most stages count from.
      if (!state.events.classified) {
        state.events.classified = at;
        dirty = true;
      }
      if (state.facts.ransomPaid && !state.events['payment-made']) {
        state.events['payment-made'] = at;
        dirty = true;
      }
      const owed = state.stages.filter((s) => s.required === 'met');
      if (owed.length && owed.every((s) => s.submission) && !state.stages.some((s) => s.required === 'unknown')) state.status = 'complete';
    }
  }

  /** Stages whose deadline runs: owed, started, not submitted. */
  const running = () => state.stages.filter((s) => s.required === 'met' && !s.submission && s.timeline.dueAt && s.timeline.anchorAt);

  function nextWake(): number | undefined {
    let next: number | undefined;
    for (const s of running()) {
      const due = Date.parse(s.timeline.dueAt!);
      const candidates = [
        ...reminderInstants(Date.parse(s.timeline.anchorAt!), due).filter((r) => !s.remindersSent.includes(r.fraction)).map((r) => r.atMs),
        ...(s.timeline.immediate && !s.remindersSent.includes(0) ? [Date.parse(s.timeline.anchorAt!)] : []),
        ...(!s.timeline.immediate && !s.escalatedAt ? [due] : []),
      ];
      for (const c of candidates) if (next === undefined || c < next) next = c;
    }
    return next;
  }

  async function notify(s: NotificationStage, kind: 'reminder' | 'escalation', text: string): Promise<void> {
    try {
      const r = await acts.regulatorsNotify({ incidentId: state.incidentId, regimeId: state.regime, stage: s.id, kind, text });
      log({ kind: kind === 'escalation' ? 'escalated' : 'reminder', stage: s.id, message: `${text} (${r.channel})` });
    } catch (err) {
      // A reminder that cannot be delivered must not stop the deadline tracking; it is recorded.
      log({ kind: 'error', stage: s.id, message: `${kind} not delivered: ${failureReason(err)}` });
    }
  }

  async function fireDue(): Promise<void> {
    const nowMs = now();
    for (const s of running()) {
      const due = Date.parse(s.timeline.dueAt!);
      const label = `${state.regime} ${s.title} for incident ${state.incidentId}`;
      if (s.timeline.immediate) {
        if (!s.remindersSent.includes(0)) {
          s.remindersSent.push(0);
          await notify(s, 'reminder', `${label} is due immediately; approvers: ${state.approvers.join(', ') || 'none configured'}`);
        }
        continue;
      }
      if (nowMs >= due) {
        if (!s.escalatedAt) {
          s.escalatedAt = iso(nowMs);
          for (const r of reminderInstants(Date.parse(s.timeline.anchorAt!), due)) if (!s.remindersSent.includes(r.fraction)) s.remindersSent.push(r.fraction);
          await notify(s, 'escalation', `${label} was due ${s.timeline.dueAt} and is not approved; escalating to ${state.approvers.join(', ') || 'compliance (no approvers configured)'}. A late submission needs a reason for delay.`);
        }
        continue;
      }
      // After a pause (worker down) only the latest passed reminder is sent, not a burst.
      const passed = reminderInstants(Date.parse(s.timeline.anchorAt!), due).filter((r) => r.atMs <= nowMs && !s.remindersSent.includes(r.fraction));
      if (passed.length) {
        for (const r of passed) s.remindersSent.push(r.fraction);
        const pct = Math.round(passed.at(-1)!.fraction * 100);
        const leftMin = Math.max(0, Math.round((due - nowMs) / 60_000));
        await notify(s, 'reminder', `${label}: ${pct}% of the window used, due ${s.timeline.dueAt} (${leftMin} min left); approve with \`bulwark regulators approve ${state.incidentId} ${state.regime} ${s.id} --as <you>\``);
      }
    }
  }

  try {
    for (;;) {
      if (dirty) {
        dirty = false;
        evaluating = true;
        try {
          await evaluate();
        } finally {
          evaluating = false;
        }
        if (dirty) continue;
      }
      if (state.status === 'complete') break;
      await fireDue();
      if (dirty) continue;
      const next = nextWake();
      if (next === undefined && state.status !== 'reportable') {
        // Not reportable (yet): wait for new facts for a while, then end.
        const woke = await condition(() => dirty, Math.max(1, realDelayMs(state.clock.virtualStartMs + UNDECIDED_HORIZON_MS, now(), state.timeScale)));
        if (!woke && submitting.size === 0) break;
        continue;
      }
      if (next === undefined) await condition(() => dirty);
      else await condition(() => dirty, Math.max(1, realDelayMs(next, now(), state.timeScale)));
    }
  } catch (err) {
    state.status = 'failed';
    state.error = failureReason(err);
    log({ kind: 'error', message: state.error });
    throw err;
  }
  await condition(allHandlersFinished);
  return state;
}
