import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { AlertDelivery, IncidentState, IncidentStatus } from '../domain/incident.js';

/** The incident workflow's message surface, shared by the workflow, intake and CLI. */
export const alertsSignal = defineSignal<[AlertDelivery]>('alerts');
export const stateQuery = defineQuery<IncidentState>('state');

export interface OperatorAction {
  by: string;
  reason?: string;
}

/** Opens the containment gate of a low/medium incident. */
export const containUpdate = defineUpdate<IncidentStatus, [OperatorAction]>('contain');
/** Ends the incident; reversible changes (throttling) are restored first. */
export const resolveUpdate = defineUpdate<IncidentStatus, [OperatorAction]>('resolve');
/** Pushes back the automatic restore of temporary limits. Returns the new restore time. */
export const extendUpdate = defineUpdate<string, [OperatorAction & { ttlSeconds: number }]>('extend');
