import {
  allHandlersFinished,
  condition,
  continueAsNew,
  patched,
  sleep,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertMemo,
  workflowInfo,
} from '@temporalio/workflow';
import {
  applyDelivery,
  incidentMemo,
  initialState,
  isOpen as isOpenStatus,
  pushTimeline,
  recordedCount,
  timelineSince,
  type IncidentInput,
  type IncidentState,
  type IncidentStatus,
  type StepState,
  type TimelineEntry,
} from '../domain/incident.js';
import { approvalRefusal, type ResolvedPolicy } from '../domain/approval-rules.js';
import { applyParamChanges, describeChanges } from '../domain/approval-changes.js';
import { legacyPlanFor, severityBelow, stepDigest, type PlannedStep } from '../domain/playbook.js';
import { evaluate, parseCondition } from '../domain/playbooks/condition.js';
import { resolveTemplates } from '../domain/playbooks/template.js';
import { parseDurationSeconds } from '../domain/duration.js';
import {
  abortUpdate,
  alertsSignal,
  approveUpdate,
  containUpdate,
  extendUpdate,
  rejectUpdate,
  resolveUpdate,
  retryUpdate,
  skipUpdate,
  stateQuery,
  type OperatorAction,
  type StepDecision,
} from './definitions.js';
import { auditEntryFromTimeline, type AuditEntryInput } from '../domain/audit.js';
import type { Activities } from '../activities/index.js';
import { incidentView } from '../domain/slack/view.js';
import { compensateStep, executeStep } from './steps.js';
import { failureReason } from './failure-reason.js';

const slack = proxyActivities<Pick<Activities, 'publishIncidentMessage' | 'postIncidentThread' | 'sendDirectMessages'>>({
  startToCloseTimeout: '15 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 8 },
});

// Local activities: the audit file is on the worker's disk, so there is no task to route through the
// server — each append is one marker in history instead of three events and a task round trip.
const audit = proxyLocalActivities<Pick<Activities, 'appendAudit' | 'anchorAudit'>>({
  startToCloseTimeout: '20 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 10 },
});

/** Continue-as-new well before Temporal's history limits; an alert storm can add many signals. */
const HISTORY_EVENTS_BEFORE_CONTINUE = 4000;

const now = () => new Date().toISOString();

/**
 * One incident: run the plan intake resolved from the routed playbook (pinned in the input), group
 * by group; pass the containment gate when severity needs one and the approval of steps that name
 * a policy; on a failure stop, continue or compensate as the step says. Then stay open (attaching
 * repeat alerts) until an operator resolves or aborts it. Temporary changes (throttling) are
 * restored when their TTL ends, on resolution, on abort and on compensation.
 */
export async function incidentWorkflow(input: IncidentInput, carried?: IncidentState): Promise<IncidentState> {
  const state: IncidentState = carried ?? initialState(input, input.plan ?? legacyPlanFor(input.alert, input.defaults), now());
  // Incidents started before the audit trail existed replay without it (no marker in their history).
  const audited = patched('audit-trail-v2');
  let auditInFlight = false;
  let anchorWanted = false;
  // Entries are shipped at safe points (status changes, after each group of steps, before the run
  // ends) rather than one by one: a handful of appends per incident instead of one per entry.
  let auditFlushWanted = false;
  const recorded = () => recordedCount(state);
  let slackWanted = 0;
  let slackDone = 0;
  const record = (entry: Omit<TimelineEntry, 'at'>) => {
    pushTimeline(state, { at: now(), ...entry });
    slackWanted++;
  };
  // The status is also kept in the memo so `incident list` reads it from visibility, without
  // querying every workflow (a query waits for a worker; a list must not).
  const publish = () => {
    upsertMemo(incidentMemo(state));
    slackWanted++;
    auditFlushWanted = true;
  };
  const setStatus = (status: IncidentStatus, why?: string) => {
    state.status = status;
    if (why) record({ kind: 'incident.status', message: `${status}: ${why}` });
    publish();
  };
  if (!carried) publish();
  if (audited) void auditLoop();
  if (input.slack) void slackLoop();
  const stepState = (id: string) => state.steps.find((s) => s.id === id)!;
  const gateThreshold = state.plan.operatorBelow ?? 'high';
  let closeRequest: { kind: 'resolve' | 'abort'; action: OperatorAction } | undefined;
  const rejections = new Map<string, StepDecision>();
  let resumeRequested = false;
  let wakeups = 0;

  setHandler(stateQuery, () => state);
  setHandler(alertsSignal, (delivery) => {
    applyDelivery(state, delivery, now());
    wakeups++;
  });
  setHandler(
    containUpdate,
    async (action) => {
      state.containApprovedBy = action.by;
      record({ kind: 'gate.opened', message: `containment approved by ${action.by}${action.reason ? `: ${action.reason}` : ''}` });
      wakeups++;
      // Answer once containment has run, so the operator sees its outcome.
      await condition(() => state.status !== 'awaiting-containment' && state.status !== 'containing');
      return state.status;
    },
    {
      validator: (action) => {
        requireActor(action);
        if (state.status !== 'awaiting-containment') throw new Error(`incident is not waiting for containment (status: ${state.status})`);
      },
    },
  );
  for (const [update, kind] of [[resolveUpdate, 'resolve'], [abortUpdate, 'abort']] as const) {
    setHandler(
      update,
      async (action) => {
        closeRequest = { kind, action };
        wakeups++;
        await condition(() => state.status === 'resolved' || state.status === 'aborted');
        return state.status;
      },
      {
        validator: (action) => {
          requireActor(action);
          if (state.status === 'resolved' || state.status === 'aborted' || closeRequest) throw new Error(`incident is already ${closeRequest ? `${closeRequest.kind === 'abort' ? 'aborting' : 'resolving'}` : state.status}`);
        },
      },
    );
  }
  // `${steps.…}` references resolve when the step runs; for checking changes, resolve what is known now.
  const resolveForCheck = (params: Record<string, unknown>) => resolveTemplates(params, context()) as Record<string, unknown>;
  const policyOf = (step: PlannedStep): ResolvedPolicy =>
    step.approvalPolicy ?? { name: step.approval ?? 'default', approvers: [], required: 1, expirySeconds: 15 * 60, escalation: [], onExpiry: 'reject', undefinedPolicy: true };
  for (const [update, approved] of [[approveUpdate, true], [rejectUpdate, false]] as const) {
    setHandler(
      update,
      async (decision) => {
        const s = stepState(decision.step);
        const step = state.plan.steps.find((p) => p.id === decision.step)!;
        wakeups++;
        if (!approved) rejections.set(decision.step, decision);
        else {
          // Approve with changes: the step runs with the changed parameters, the digest moves with
          // them, and approvals given for the old parameters no longer count (they approved something else).
          let changedText = '';
          if (decision.changes) {
            const applied = applyParamChanges(step, decision.changes, resolveForCheck);
            if (applied.ok && applied.changed.length > 0) {
              const dropped = (s.approvals ?? []).map((a) => a.by);
              step.with = applied.with;
              s.digest = stepDigest(step);
              s.approvals = [];
              changedText = ` with changes: ${describeChanges(applied.changed)}${dropped.length ? ` (earlier approval by ${dropped.join(', ')} no longer counts)` : ''}`;
            }
          }
          s.approvals = [...(s.approvals ?? []), { by: decision.by, at: now(), comment: decision.reason }];
          const need = policyOf(step).required - s.approvals.length;
          record({ kind: 'approval.granted', step: decision.step, message: `approved by ${decision.by}${changedText}${decision.reason ? `: ${decision.reason}` : ''}${need > 0 ? ` (${need} more needed)` : ''}` });
          // N-of-M: the first approvers get their answer now; the last one when the step has run.
          if (need > 0) return s.status;
        }
        await condition(() => !['awaiting-approval', 'running'].includes(s.status));
        return s.status;
      },
      {
        validator: (decision) => {
          requireActor(decision);
          const step = state.plan.steps.find((s) => s.id === decision?.step);
          if (!step) throw new Error(`no step "${decision?.step}" in this incident's plan (${state.plan.steps.map((s) => s.id).join(', ')})`);
          const s = stepState(step.id);
          if (s.status !== 'awaiting-approval' || rejections.has(step.id) || (s.approvals?.length ?? 0) >= policyOf(step).required) {
            throw new Error(`step ${step.id} is not waiting for approval (status: ${s.status})`);
          }
          if (decision.digest && decision.digest !== s.digest) throw new Error(`step ${step.id} changed since it was shown to you; look again before deciding`);
          if (approved) {
            const applied = decision.changes === undefined ? undefined : applyParamChanges(step, decision.changes, resolveForCheck);
            // Real changes drop the approvals given for the old parameters, so those do not count here.
            const counted = applied?.ok && applied.changed.length > 0 ? [] : (s.approvals ?? []);
            const refusal = approvalRefusal({ policy: policyOf(step), by: decision.by, opener: state.openedBy, approvals: counted, expiresAt: s.approvalExpiresAt, now: Date.now() });
            if (refusal) throw new Error(refusal);
            if (applied && !applied.ok) throw new Error(`cannot approve ${step.id} with these changes: ${applied.message}`);
          } else if (!decision.reason) throw new Error('a rejection needs a reason');
          else if (decision.changes !== undefined) throw new Error('changes go with an approval, not a rejection');
        },
      },
    );
  }
  for (const [update, kind] of [[retryUpdate, 'retry'], [skipUpdate, 'skip']] as const) {
    setHandler(
      update,
      async (decision) => {
        const s = stepState(decision.step);
        if (kind === 'retry') {
          s.status = 'pending';
          s.error = undefined;
          s.skippedBecause = undefined;
          record({ kind: 'step.progress', step: decision.step, message: `retry requested by ${decision.by}${decision.reason ? `: ${decision.reason}` : ''}` });
        } else {
          s.status = 'skipped';
          s.skippedBecause = `skipped by ${decision.by}: ${decision.reason}`;
          record({ kind: 'step.skipped', step: decision.step, message: s.skippedBecause });
        }
        state.attention = undefined;
        resumeRequested = true;
        wakeups++;
        // A retry answers once the step has run again; a skip at once.
        await condition(() => s.status !== 'pending' && s.status !== 'running');
        return s.status;
      },
      {
        validator: (decision) => {
          requireActor(decision);
          const step = state.plan.steps.find((x) => x.id === decision?.step);
          if (!step) throw new Error(`no step "${decision?.step}" in this incident's plan (${state.plan.steps.map((x) => x.id).join(', ')})`);
          if (closeRequest || !isOpenStatus(state.status)) throw new Error(`incident is ${closeRequest ? 'closing' : state.status}`);
          const status = stepState(step.id).status;
          const allowed = kind === 'retry' ? ['failed'] : ['failed', 'rejected'];
          if (!allowed.includes(status) || state.status !== 'needs-attention') {
            throw new Error(`step ${step.id} is ${status}${state.status !== 'needs-attention' ? ` and the incident is ${state.status}` : ''}: only a step that stopped the playbook can be ${kind === 'retry' ? 'retried' : 'skipped'}`);
          }
          if (kind === 'skip' && !decision.reason) throw new Error('skipping a step needs a reason');
        },
      },
    );
  }
  setHandler(
    extendUpdate,
    (action) => {
      const until = new Date(Date.now() + action.ttlSeconds * 1000).toISOString();
      state.throttleUntil = until;
      record({ kind: 'incident.extended', message: `temporary limits extended until ${until} by ${action.by}` });
      wakeups++;
      return until;
    },
    {
      validator: (action) => {
        requireActor(action);
        if (!Number.isInteger(action.ttlSeconds) || action.ttlSeconds < 60 || action.ttlSeconds > 7 * 24 * 3600) {
          throw new Error('ttlSeconds must be a whole number of seconds between 60 and 604800');
        }
        if (!state.throttleUntil) throw new Error('incident holds no temporary limits to extend');
      },
    },
  );

  const historyLimit = input.historyLimit ?? HISTORY_EVENTS_BEFORE_CONTINUE;
  const historyIsLarge = () => workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > historyLimit;

  /** Waits for a predicate at a safe point; hands over to a fresh run if the history grew large meanwhile. */
  async function waitUntil(predicate: () => boolean, timeoutMs?: number): Promise<boolean> {
    const seen = wakeups;
    const woke = () => predicate() || historyIsLarge() || wakeups !== seen;
    const done = timeoutMs === undefined ? (await condition(woke), true) : await condition(woke, timeoutMs);
    if (historyIsLarge() && !closeRequest) {
      await condition(allHandlersFinished);
      await auditDrained();
      await continueAsNew<typeof incidentWorkflow>(input, state);
    }
    return done;
  }

  const groups = [...new Set(state.plan.steps.map((s) => s.group))].sort((a, b) => a - b);
  // Runs the plan; after a stop it waits (restoring temporary limits on their TTL) until an operator
  // retries or skips the failed step, which resumes the plan, or closes the incident.
  for (;;) {
    for (const group of groups) {
      if (state.status === 'needs-attention' || closeRequest) break;
      const steps = state.plan.steps.filter((s) => s.group === group && ['pending', 'running', 'awaiting-approval'].includes(stepState(s.id).status));
      if (steps.length === 0) continue;
      if (steps.some((s) => s.gate === 'contain') && !state.containApprovedBy) {
        if (severityBelow(state.severity, gateThreshold)) {
          if (state.status !== 'awaiting-containment') {
            setStatus('awaiting-containment', `${state.severity} severity: run \`bulwark incident contain ${state.incidentId}\` to start containment`);
            record({ kind: 'gate.waiting', step: steps[0]!.id, message: `waiting for an operator before: ${steps[0]!.title}` });
          }
          while (!state.containApprovedBy && severityBelow(state.severity, gateThreshold) && !closeRequest) {
            await waitUntil(() => Boolean(state.containApprovedBy) || !severityBelow(state.severity, gateThreshold) || Boolean(closeRequest));
          }
          if (closeRequest) break;
          if (!state.containApprovedBy) record({ kind: 'gate.opened', message: `severity escalated to ${state.severity} by a repeat alert: containing without waiting` });
        }
        setStatus('containing');
      }
      await Promise.all(steps.map(runStep));
      auditFlushWanted = true;
      const failed = steps.filter((s) => ['failed', 'rejected'].includes(stepState(s.id).status) && s.onFailure !== 'continue');
      if (failed.length > 0 && !closeRequest) {
        const first = failed[0]!;
        const why = stepState(first.id).error ?? stepState(first.id).skippedBecause ?? 'failed';
        if (failed.some((s) => s.onFailure === 'compensate')) {
          const undone = await compensateAll(`step ${first.id} ${stepState(first.id).status}`);
          state.attention = `step ${first.id} ${stepState(first.id).status}: ${why}; undid ${undone} earlier step(s)`;
        } else {
          state.attention = `step ${first.id} ${stepState(first.id).status}: ${why}`;
        }
        setStatus('needs-attention', state.attention);
      }
    }
    if (state.status === 'containing') setStatus('contained', summary(state));
    anchorWanted = Boolean(input.auditAnchors);
    while (!closeRequest && !resumeRequested) {
      const restoreAt = state.throttleUntil ? Date.parse(state.throttleUntil) : undefined;
      const woke = await waitUntil(() => Boolean(closeRequest) || resumeRequested, restoreAt === undefined ? undefined : Math.max(1, restoreAt - Date.now()));
      if (!woke && restoreAt !== undefined && Date.now() >= restoreAt && state.throttleUntil) {
        await compensateAll('TTL expired', { temporaryOnly: true });
        state.throttleUntil = undefined;
      }
    }
    if (closeRequest) break;
    resumeRequested = false;
    setStatus('containing');
  }

  const { kind, action } = closeRequest;
  // Resolving ends temporary measures only; abort undoes every reversible step (the response was wrong).
  await compensateAll(`${kind === 'abort' ? 'aborted' : 'resolved'} by ${action.by}`, { temporaryOnly: kind === 'resolve' });
  state.throttleUntil = undefined;
  state.resolvedBy = action.by;
  record({ kind: kind === 'abort' ? 'incident.aborted' : 'incident.resolved', message: `${kind === 'abort' ? 'aborted' : 'resolved'} by ${action.by}${action.reason ? `: ${action.reason}` : ''}` });
  setStatus(kind === 'abort' ? 'aborted' : 'resolved');
  anchorWanted = Boolean(input.auditAnchors);
  await condition(allHandlersFinished);
  await auditDrained();
  // The final state in Slack, if Slack answers soon; closing never waits on it for long.
  if (input.slack) await condition(() => slackDone === slackWanted, '30 seconds');
  return state;

  /**
   * Keeps the incident's Slack message current (chat.update in place, timeline in its thread), at
   * most about once a second, in the background: a Slack outage never holds up a step.
   */
  async function slackLoop(): Promise<void> {
    for (;;) {
      await condition(() => slackDone !== slackWanted);
      const target = slackWanted;
      try {
        state.slackMessage = await slack.publishIncidentMessage({ incidentId: state.incidentId, view: incidentView(state), message: state.slackMessage, openedAt: state.openedAt, invite: slackUsers(state.plan.steps.flatMap((p) => [...(p.approvalPolicy?.approvers ?? []), ...(p.approvalPolicy?.escalation.flatMap((e) => e.notify) ?? [])])) });
        const from = state.slackThreadCount ?? 0;
        const upTo = recorded();
        const lines = timelineSince(state, from, upTo).map(({ entry }) => `${entry.at.slice(11, 19)} ${entry.kind}${entry.step ? ` [${entry.step}]` : ''} ${entry.message}`);
        if (lines.length) await slack.postIncidentThread({ channel: state.slackMessage.channel, threadTs: state.slackMessage.ts, lines, key: `${state.incidentId}:${from}-${upTo}` });
        state.slackThreadCount = upTo;
        state.slackError = undefined;
      } catch (err) {
        // Not recorded in the timeline (that would trigger another post); shown in `incident show`.
        state.slackError = failureReason(err);
      }
      slackDone = target;
      await sleep(1000);
    }
  }

  /**
   * Ships timeline entries to the hash-chained audit file in the background, so a slow disk or
   * KMS never delays containment; drained before the run ends or continues as new.
   */
  async function auditLoop(): Promise<void> {
    while (!state.auditBroken) {
      await condition(() => (auditFlushWanted && recorded() > (state.auditedCount ?? 0)) || anchorWanted);
      auditFlushWanted = false;
      auditInFlight = true;
      try {
        const from = state.auditedCount ?? 0;
        if (recorded() > from) {
          const upTo = Math.min(recorded(), from + 200);
          const records: AuditEntryInput[] = timelineSince(state, from, upTo).map(({ ordinal, entry }) => auditEntryFromTimeline(state.incidentId, ordinal, entry));
          await audit.appendAudit({ incidentId: state.incidentId, records });
          state.auditedCount = upTo;
        } else {
          anchorWanted = false;
          await audit.anchorAudit({ incidentId: state.incidentId });
        }
      } catch (err) {
        // Recorded once; a broken audit trail needs a person, not a retry loop.
        state.auditBroken = failureReason(err);
        anchorWanted = false;
        state.attention = `audit trail: ${state.auditBroken}`;
        pushTimeline(state, { at: now(), kind: 'incident.status', message: `needs-attention: ${state.attention}` });
        if (state.status !== 'resolved' && state.status !== 'aborted') state.status = 'needs-attention';
        publish();
      } finally {
        auditInFlight = false;
      }
    }
  }

  async function auditDrained(): Promise<void> {
    auditFlushWanted = true;
    if (audited) await condition(() => (recorded() === (state.auditedCount ?? 0) && !anchorWanted && !auditInFlight) || Boolean(state.auditBroken));
  }

  /** What `when` conditions and `${steps.…}` references read. */
  function context() {
    const steps: Record<string, { status: string; output?: unknown }> = {};
    for (const s of state.steps) steps[s.id] = { status: s.status, output: s.output };
    return { alert: state.alert, inputs: state.plan.inputs ?? {}, settings: state.plan.settings, incident: { severity: state.severity, id: state.incidentId }, steps };
  }

  async function runStep(step: PlannedStep): Promise<void> {
    const s = stepState(step.id);
    if (step.when && s.status === 'pending' && !evaluate(parseCondition(step.when), context())) {
      s.status = 'skipped';
      s.skippedBecause = `condition is false: ${step.when}`;
      record({ kind: 'step.skipped', step: step.id, message: `${step.title}: ${s.skippedBecause}` });
      return;
    }
    if (step.approval && !s.approvedBy && !(await approval(step, s))) return;
    if (closeRequest) return;
    s.status = 'running';
    const startedAt = now();
    record({ kind: 'step.started', step: step.id, message: step.title });
    try {
      if (step.invalid) throw new Error(`invalid parameters: ${step.invalid}`);
      const resolved = resolveTemplates(step.with, context()) as Parameters<typeof executeStep>[1];
      // Regulator notifications need who opened the incident (four-eyes on their approval) and
      // when the team became aware (the deadline anchor); a playbook may still say otherwise.
      const params = step.action === 'regulators.assess' ? { openedBy: state.openedBy, aware: state.openedAt, ...resolved } : resolved;
      const outcome = await executeStep(step, params, record, startedAt);
      s.status = 'succeeded';
      s.output = outcome.output;
      record({ kind: 'step.succeeded', step: step.id, message: outcome.message, resources: outcome.resources });
      if (step.action === 'apigateway.throttle') {
        const ttl = typeof params.ttl === 'string' ? parseDurationSeconds(params.ttl) : 1800;
        state.throttleUntil = new Date(Date.now() + ttl * 1000).toISOString();
      }
    } catch (err) {
      const reason = failureReason(err);
      s.status = 'failed';
      s.error = reason;
      record({ kind: 'step.failed', step: step.id, message: reason });
      if (step.onFailure === 'continue') record({ kind: 'step.progress', step: step.id, message: 'onFailure: continue — the playbook goes on' });
    }
  }

  /**
   * Waits for the step's approvals under its policy (N distinct approvers, four-eyes, expiry with
   * escalation), a rejection, or the end of the window; true when the step may run.
   */
  async function approval(step: PlannedStep, s: StepState): Promise<boolean> {
    const policy = policyOf(step);
    const requestedAt = Date.now();
    s.status = 'awaiting-approval';
    s.approvals = s.approvals ?? [];
    s.approvalExpiresAt = new Date(requestedAt + policy.expirySeconds * 1000).toISOString();
    s.digest = stepDigest(step);
    const who = policy.approvers.length ? `${policy.required} of ${policy.approvers.join(', ')}` : `${policy.required} operator(s) other than the opener`;
    record({
      kind: 'approval.requested',
      step: step.id,
      message: `${step.title} needs approval under ${policy.name}${policy.undefinedPolicy ? ' (not in approvals.yaml: default policy)' : ''}: ${who}, by ${s.approvalExpiresAt} — bulwark incident approve ${state.incidentId} ${step.id}`,
    });
    setStatus('awaiting-approval');
    const approvedEnough = () => (s.approvals?.length ?? 0) >= policy.required;
    // Incidents from before escalation DMs replay as they ran: one escalation per wake-up, none at expiry.
    const escalationDms = patched('slack-escalation-dm');
    const pending = [...policy.escalation].sort((a, b) => a.afterSeconds - b.afterSeconds);
    while (!approvedEnough() && !rejections.has(step.id) && !closeRequest) {
      const deadline = Date.parse(s.approvalExpiresAt);
      const nextEscalation = pending[0] ? requestedAt + pending[0].afterSeconds * 1000 : Infinity;
      const wakeAt = Math.min(deadline, nextEscalation);
      await waitUntil(() => approvedEnough() || rejections.has(step.id) || Boolean(closeRequest), Math.max(1, wakeAt - Date.now()));
      // At expiry, escalations not yet sent (their `after` is at or past the window) go out before the default applies.
      const expiredNow = Date.now() >= deadline && !approvedEnough() && !rejections.has(step.id) && !closeRequest;
      while (pending[0] && !approvedEnough() && (Date.now() >= requestedAt + pending[0].afterSeconds * 1000 || (expiredNow && escalationDms))) {
        const e = pending.shift()!;
        record({ kind: 'approval.escalated', step: step.id, message: `no decision after ${Math.round((Date.now() - requestedAt) / 1000)}s: paging ${e.notify.join(', ')}` });
        await executeStep(
          { ...step, id: `${step.id}-escalation`, action: 'notify.operators', timeoutSeconds: undefined, retry: undefined },
          { message: `approval needed for ${step.id} of ${state.incidentId}: ${e.notify.join(', ')}` },
          record,
          now(),
        ).catch(() => undefined);
        const users = slackUsers(e.notify);
        // In the background: a Slack outage must not hold up the decision (or the expiry default).
        if (input.slack && escalationDms && users.length) {
          void slack
            .sendDirectMessages({
              users,
              key: `${state.incidentId}/${step.id}/escalation-${e.afterSeconds}`,
              text: `Approval needed: ${step.title} (${step.id}) of ${state.incidentId}, ${state.severity} ${state.alert.type}. Nobody has decided yet; the window closes at ${s.approvalExpiresAt}, then policy ${policy.name} applies: ${policy.onExpiry}. Approve or reject it on the incident message or with \`bulwark incident approve ${state.incidentId} ${step.id}\`.`,
            })
            .catch(() => undefined);
        }
        if (!escalationDms) break;
      }
      if (Date.now() >= deadline && !approvedEnough() && !rejections.has(step.id)) {
        if (policy.onExpiry === 'proceed') {
          record({ kind: 'approval.expired', step: step.id, message: `no decision by ${s.approvalExpiresAt}: policy ${policy.name} proceeds with this containment step` });
          break;
        }
        s.status = 'rejected';
        s.skippedBecause = `approval expired at ${s.approvalExpiresAt} (policy ${policy.name}: reject)`;
        record({ kind: 'approval.expired', step: step.id, message: s.skippedBecause });
        if (state.status === 'awaiting-approval') setStatus('containing');
        return false;
      }
    }
    if (closeRequest) return false;
    const rejection = rejections.get(step.id);
    if (rejection) {
      s.status = 'rejected';
      s.skippedBecause = `rejected by ${rejection.by}: ${rejection.reason}`;
      record({ kind: 'approval.rejected', step: step.id, message: s.skippedBecause });
    } else {
      s.approvedBy = (s.approvals ?? []).map((a) => a.by).join(', ') || `policy ${policy.name} (expired: proceed)`;
    }
    if (state.status === 'awaiting-approval') setStatus('containing');
    return !rejection;
  }

  /** Undoes succeeded reversible steps, last first. Returns how many were undone. */
  async function compensateAll(why: string, opts: { temporaryOnly?: boolean } = {}): Promise<number> {
    let undone = 0;
    for (const step of [...state.plan.steps].reverse()) {
      const s = stepState(step.id);
      if (!step.reversible || s.status !== 'succeeded') continue;
      // A disabled key or deactivated credential stays so when the incident is resolved; only
      // temporary limits (throttling) end with their TTL or the incident.
      if (opts.temporaryOnly && step.action !== 'apigateway.throttle') continue;
      try {
        const outcome = await compensateStep(step, state);
        if (!outcome) continue;
        s.status = 'compensated';
        undone++;
        record({ kind: 'step.compensated', step: step.id, message: `${outcome.message} (${why})`, resources: outcome.resources });
      } catch (err) {
        const reason = failureReason(err);
        state.attention = `undoing step ${step.id} failed: ${reason}`;
        record({ kind: 'step.failed', step: step.id, message: state.attention });
        setStatus('needs-attention', state.attention);
      }
    }
    return undone;
  }
}

/** Slack user ids among approval principals (`slack:U123`). */
function slackUsers(principals: string[]): string[] {
  return [...new Set(principals.filter((p) => p.startsWith('slack:')).map((p) => p.slice('slack:'.length)))];
}

function requireActor(action: OperatorAction): void {
  if (!action || typeof action.by !== 'string' || !/^[\w.@:+-]{1,128}$/.test(action.by)) {
    throw new Error('`by` must name the operator (letters, digits, . _ @ : + -)');
  }
}

function summary(state: IncidentState): string {
  const done = state.steps.filter((s) => s.status === 'succeeded').length;
  const skipped = state.steps.filter((s) => s.status === 'skipped').length;
  return `${done}/${state.steps.length} step(s) succeeded${skipped ? `, ${skipped} skipped` : ''}`;
}
