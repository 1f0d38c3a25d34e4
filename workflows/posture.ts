import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { PostedAlert, PostureStore } from '../activities/posture.js';
import { diffIsEmpty, findingAlerts, type Finding, type ScanDiff } from '../domain/posture/compare.js';
import type { DeclaredInventory } from '../domain/posture/declared.js';

/** What `bulwark inventory schedule` puts in the Schedule's action (validated there, so parsed here). */
export interface PostureScanInput {
  /** The declared inventory, pinned when the schedule was created or updated (re-run the command after editing the file). */
  declared?: DeclaredInventory;
  /** Where scans are kept between runs (see activities/posture.ts for why S3). */
  store: PostureStore;
  /** Post findings to intake; false: only scan, diff and store. */
  alert: boolean;
  /** Intake base URL; default: the worker's BULWARK_INTAKE_HOST/PORT. Never a secret: the worker signs. */
  intakeUrl?: string;
  source?: string;
}

export interface PostureScanResult {
  scannedAt: string;
  endpoints: number;
  findings: Pick<Finding, 'kind' | 'severity' | 'key'>[];
  diff: ScanDiff;
  diffEmpty: boolean;
  baselineRunKey?: string;
  storedAt: string;
  posted: PostedAlert[];
}

// A scan walks every API, stage and usage plan: give it more than one AWS call's time, heartbeat-free.
const scan = proxyActivities<Pick<Activities, 'runPostureScan'>>({
  startToCloseTimeout: '5 minutes',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 5 },
});
const post = proxyActivities<Pick<Activities, 'postPostureAlerts'>>({
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 8 },
});

/**
 * One scheduled posture scan: scan the account, diff against the previous run's scan (kept in S3 by
 * the activity), and post each finding to intake as a `posture.<kind>` alert carrying the diff. A
 * finding seen again the next day has the same dedupKey, so it joins the open incident as a repeat.
 */
export async function postureScanWorkflow(input: PostureScanInput): Promise<PostureScanResult> {
  const runKey = workflowInfo().workflowId;
  const outcome = await scan.runPostureScan({ runKey, declared: input.declared, store: input.store });
  let posted: PostedAlert[] = [];
  if (input.alert && outcome.findings.length > 0) {
    const alerts = findingAlerts(outcome.findings, { source: input.source ?? 'bulwark-posture', observedAt: new Date().toISOString(), diff: outcome.diff });
    posted = (await post.postPostureAlerts({ intakeUrl: input.intakeUrl, alerts })).results;
  }
  return {
    scannedAt: outcome.scannedAt,
    endpoints: outcome.endpoints,
    findings: outcome.findings.map((f) => ({ kind: f.kind, severity: f.severity, key: f.key })),
    diff: outcome.diff,
    diffEmpty: diffIsEmpty(outcome.diff),
    ...(outcome.baselineRunKey ? { baselineRunKey: outcome.baselineRunKey } : {}),
    storedAt: outcome.storedAt,
    posted,
  };
}
