import {
  allHandlersFinished,
  condition,
  continueAsNew,
  setHandler,
  upsertMemo,
  workflowInfo,
} from '@temporalio/workflow';
import {
  applyDelivery,
  incidentMemo,
  initialState,
  pushTimeline,
  type IncidentInput,
  type IncidentState,
  type IncidentStatus,
  type TimelineEntry,
} from '../domain/incident.js';
import { needsContainGate, planFor, type PlannedStep } from '../domain/playbook.js';
import { alertsSignal, containUpdate, extendUpdate, resolveUpdate, stateQuery, type OperatorAction } from './definitions.js';
import { compensateStep, executeStep, failureReason } from './steps.js';

/** Continue-as-new well before Temporal's history limits; an alert storm can add many signals. */
const HISTORY_EVENTS_BEFORE_CONTINUE = 4000;

const now = () => new Date().toISOString();

/**
 * One incident: plan the playbook from the first alert, pass the containment gate when severity
 * needs one, run each step, then stay open (attaching repeat alerts) until an operator resolves it.
 * Temporary changes (throttling) are restored when their TTL ends or the incident is resolved.
 */
export async function incidentWorkflow(input: IncidentInput, carried?: IncidentState): Promise<IncidentState> {
  const state: IncidentState = carried ?? initialState(input, planFor(input.alert, input.defaults), now());
  const record = (entry: Omit<TimelineEntry, 'at'>) => pushTimeline(state, { at: now(), ...entry });
  // The status is also kept in the memo so `incident list` reads it from visibility, without
  // querying every workflow (a query waits for a worker; a list must not).
  const publish = () => upsertMemo(incidentMemo(state));
  const setStatus = (status: IncidentStatus, why?: string) => {
    state.status = status;
    if (why) record({ kind: 'incident.status', message: `${status}: ${why}` });
    publish();
  };
  if (!carried) publish();
  let resolveRequest: OperatorAction | undefined;
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
  setHandler(
    resolveUpdate,
    async (action) => {
      resolveRequest = action;
      wakeups++;
      await condition(() => state.status === 'resolved');
      return state.status;
    },
    {
      validator: (action) => {
        requireActor(action);
        if (state.status === 'resolved' || resolveRequest) throw new Error('incident is already resolved or resolving');
      },
    },
  );
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
    const done = await condition(() => predicate() || historyIsLarge() || wakeups !== seen, timeoutMs);
    if (historyIsLarge() && !resolveRequest) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof incidentWorkflow>(input, state);
    }
    return done;
  }

  for (const step of state.plan.steps) {
    const stepState = state.steps.find((s) => s.id === step.id)!;
    if (stepState.status !== 'pending' && stepState.status !== 'running') continue;
    if (state.status === 'needs-attention' || resolveRequest) break;
    if (step.gate === 'contain' && !state.containApprovedBy) {
      if (needsContainGate(state.severity)) {
        if (state.status !== 'awaiting-containment') {
          setStatus('awaiting-containment', `${state.severity} severity: run \`bulwark incident contain ${state.incidentId}\` to start containment`);
          record({ kind: 'gate.waiting', step: step.id, message: `waiting for an operator before: ${step.title}` });
        }
        while (!state.containApprovedBy && needsContainGate(state.severity) && !resolveRequest) {
          await waitUntil(() => Boolean(state.containApprovedBy) || !needsContainGate(state.severity) || Boolean(resolveRequest));
        }
        if (resolveRequest) break;
        if (!state.containApprovedBy) record({ kind: 'gate.opened', message: `severity escalated to ${state.severity} by a repeat alert: containing without waiting` });
      }
      setStatus('containing');
    }
    await runStep(step);
  }
  if (state.status === 'containing') setStatus('contained', summary(state));

  while (!resolveRequest) {
    const restoreAt = state.throttleUntil ? Date.parse(state.throttleUntil) : undefined;
    const woke = await waitUntil(() => Boolean(resolveRequest), restoreAt === undefined ? undefined : Math.max(1, restoreAt - Date.now()));
    if (!woke && restoreAt !== undefined && Date.now() >= restoreAt && state.throttleUntil) {
      await compensateAll('TTL expired');
      state.throttleUntil = undefined;
    }
  }

  await compensateAll(`resolved by ${resolveRequest.by}`);
  state.throttleUntil = undefined;
  state.resolvedBy = resolveRequest.by;
  record({ kind: 'incident.resolved', message: `resolved by ${resolveRequest.by}${resolveRequest.reason ? `: ${resolveRequest.reason}` : ''}` });
  setStatus('resolved');
  await condition(allHandlersFinished);
  return state;

  async function runStep(step: PlannedStep): Promise<void> {
    const stepState = state.steps.find((s) => s.id === step.id)!;
    stepState.status = 'running';
    record({ kind: 'step.started', step: step.id, message: step.title });
    try {
      const outcome = await executeStep(step, record);
      stepState.status = 'succeeded';
      stepState.output = outcome.output;
      record({ kind: 'step.succeeded', step: step.id, message: outcome.message, resources: outcome.resources });
      if (step.action.kind === 'apigateway.throttle') {
        state.throttleUntil = new Date(Date.now() + step.action.ttlSeconds * 1000).toISOString();
      }
    } catch (err) {
      const reason = failureReason(err);
      stepState.status = 'failed';
      stepState.error = reason;
      record({ kind: 'step.failed', step: step.id, message: reason });
      state.attention = `step ${step.id} failed: ${reason}`;
      setStatus('needs-attention', state.attention);
    }
  }

  async function compensateAll(why: string): Promise<void> {
    for (const step of [...state.plan.steps].reverse()) {
      const stepState = state.steps.find((s) => s.id === step.id)!;
      if (!step.reversible || stepState.status !== 'succeeded') continue;
      try {
        const outcome = await compensateStep(step, state);
        if (!outcome) continue;
        stepState.status = 'compensated';
        record({ kind: 'step.compensated', step: step.id, message: `${outcome.message} (${why})`, resources: outcome.resources });
      } catch (err) {
        const reason = failureReason(err);
        state.attention = `undoing step ${step.id} failed: ${reason}`;
        record({ kind: 'step.failed', step: step.id, message: state.attention });
        setStatus('needs-attention', state.attention);
      }
    }
  }
}

function requireActor(action: OperatorAction): void {
  if (!action || typeof action.by !== 'string' || !/^[\w.@:+-]{1,128}$/.test(action.by)) {
    throw new Error('`by` must name the operator (letters, digits, . _ @ : + -)');
  }
}

function summary(state: IncidentState): string {
  const done = state.steps.filter((s) => s.status === 'succeeded').length;
  return `${done}/${state.steps.length} step(s) succeeded`;
}
