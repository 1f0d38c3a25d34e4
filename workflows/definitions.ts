import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { AlertDelivery, IncidentState, IncidentStatus, StepStatus } from '../domain/incident.js';

/** The incident workflow's message surface, shared by the workflow, intake and CLI. */
export const alertsSignal = defineSignal<[AlertDelivery]>('alerts');
export const stateQuery = defineQuery<IncidentState>('state');

export interface OperatorAction {
  by: string;
  reason?: string;
}

export interface StepDecision extends OperatorAction {
  step: string;
  /** The step digest the approver was shown; refused if the plan changed since. */
  digest?: string;
  /** Approve with changes: tuning parameters to change (domain/approval-changes.ts), checked against the action's schema. */
  changes?: Record<string, string | number | boolean>;
}

/** Opens the containment gate of a low/medium incident. */
export const containUpdate = defineUpdate<IncidentStatus, [OperatorAction]>('contain');
/** Ends the incident; reversible changes (throttling) are restored first. */
export const resolveUpdate = defineUpdate<IncidentStatus, [OperatorAction]>('resolve');
/** Stops the playbook, undoes reversible steps in reverse order and closes the incident as aborted. */
export const abortUpdate = defineUpdate<IncidentStatus, [OperatorAction]>('abort');
/** Pushes back the automatic restore of temporary limits. Returns the new restore time. */
export const extendUpdate = defineUpdate<string, [OperatorAction & { ttlSeconds: number }]>('extend');
/** Approves a step that names an approval policy; answers once the step has finished. */
export const approveUpdate = defineUpdate<StepStatus, [StepDecision]>('approve');
/** Rejects such a step: it is skipped (or, with onFailure: compensate, earlier steps are undone). */
export const rejectUpdate = defineUpdate<StepStatus, [StepDecision]>('reject');
/** Runs a failed step again (after its cause was fixed); answers when it has run. */
export const retryUpdate = defineUpdate<StepStatus, [StepDecision]>('retry');
/** Skips a failed or rejected step (reason required) and lets the playbook go on. */
export const skipUpdate = defineUpdate<StepStatus, [StepDecision]>('skip');
