import { ApplicationFailure, startChild, workflowInfo } from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { IncidentFacts } from '../domain/regimes/facts.js';
import { notificationWorkflowId } from '../domain/regimes/notification.js';
import type { Activities } from '../activities/index.js';
import type { NotificationInput, regulatorNotificationWorkflow } from './notification.js';

export interface AssessParams {
  facts?: Record<string, unknown>;
  regimes?: string[];
  summary?: string;
  openedBy?: string;
  aware?: string;
}

/**
 * The `regulators.assess` step: classify the incident under every regime, then start one
 * notification child per applicable regime. The child's id is derived from incident + regime, so a
 * retried or repeated step finds it already there instead of starting a second; ABANDON lets the
 * notifications outlive the incident (a final report is due weeks after resolution).
 */
export async function startRegulatorNotifications(act: Pick<Activities, 'regulatorsClassify'>, params: AssessParams, requestedAt: string) {
  const incidentId = workflowInfo().workflowId;
  const verdicts = await act.regulatorsClassify({ facts: (params.facts ?? {}) as IncidentFacts, at: requestedAt });
  const unknown = params.regimes?.filter((r) => !verdicts.some((v) => v.regime === r)) ?? [];
  if (unknown.length) throw ApplicationFailure.nonRetryable(`regimes: unknown regime(s) ${unknown.join(', ')} (known: ${verdicts.map((v) => v.regime).join(', ')})`, 'InvalidParameters');
  const chosen = verdicts.filter((v) => v.applicable && (!params.regimes || params.regimes.includes(v.regime)));
  const notifications: { regime: string; workflowId: string; started: boolean }[] = [];
  for (const v of chosen) {
    const workflowId = notificationWorkflowId(incidentId, v.regime);
    const input: NotificationInput = {
      incidentId,
      regimeId: v.regime,
      facts: (params.facts ?? {}) as IncidentFacts,
      events: { aware: params.aware ?? requestedAt },
      summary: params.summary,
      openedBy: params.openedBy,
    };
    try {
      await startChild<typeof regulatorNotificationWorkflow>('regulatorNotificationWorkflow', {
        workflowId,
        args: [input],
        parentClosePolicy: 'ABANDON',
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
      });
      notifications.push({ regime: v.regime, workflowId, started: true });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      notifications.push({ regime: v.regime, workflowId, started: false });
    }
  }
  const label = (r: boolean | 'unknown') => (r === 'unknown' ? 'undetermined' : r ? 'reportable' : 'not reportable');
  const applicable = verdicts.filter((v) => v.applicable);
  const reportable = applicable.filter((v) => v.reportable === true).map((v) => v.regime);
  const undetermined = applicable.filter((v) => v.reportable === 'unknown').map((v) => v.regime);
  return {
    output: {
      regimes: applicable.map((v) => ({ regime: v.regime, version: v.version, reportable: v.reportable, why: v.why })),
      notifications,
    },
    resources: notifications.map((n) => n.workflowId),
    message: [
      reportable.length ? `reportable under ${reportable.join(', ')}` : 'reportable under no regime',
      undetermined.length ? `undetermined (facts missing): ${undetermined.join(', ')}` : '',
      `${applicable.length} applicable regime(s): ${applicable.map((v) => `${v.regime} ${label(v.reportable)}`).join(', ') || 'none'}`,
      notifications.length ? `notification workflows: ${notifications.map((n) => `${n.workflowId}${n.started ? '' : ' (already running)'}`).join(', ')}` : '',
    ]
      .filter(Boolean)
      .join('; '),
  };
}
