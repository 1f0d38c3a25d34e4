import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { ApproveRequest, NotificationState, Submission } from '../domain/regimes/notification.js';
import type { IncidentFacts } from '../domain/regimes/facts.js';

/** The regulator-notification workflow's message surface, shared by the workflow, steps and CLI. */
export const regulatorStateQuery = defineQuery<NotificationState>('regulatorState');

/** Compliance approval of one stage's report; on acceptance the report is submitted. Answers the submission. */
export const regulatorApproveUpdate = defineUpdate<Submission, [ApproveRequest]>('regulatorApprove');

export interface FactsChange {
  by: string;
  /** Merged over the known facts (already validated by the caller against IncidentFacts). */
  facts?: IncidentFacts;
  /** Report field values supplied by operators, by field name. */
  fields?: Record<string, string>;
}

/** New facts or report fields; the regime is classified again. Answers the new verdict. */
export const regulatorFactsUpdate = defineUpdate<{ status: NotificationState['status']; reportable?: boolean | 'unknown' }, [FactsChange]>('regulatorFacts');
