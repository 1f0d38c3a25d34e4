import { ActivityFailure, ApplicationFailure, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { IncidentState, TimelineEntry } from '../domain/incident.js';
import type { PlannedStep } from '../domain/playbook.js';
import type { Activities } from '../activities/index.js';
import { AWS_ACTIVITY_OPTIONS } from './activity-options.js';

const aws = proxyActivities<Activities>(AWS_ACTIVITY_OPTIONS);

type Recorder = (entry: Omit<TimelineEntry, 'at'>) => void;

export interface StepOutcome {
  output: { [key: string]: unknown };
  resources: string[];
  message: string;
}

/** Idempotency key for one step of one incident; stable across retries, replays and continue-as-new. */
function stepKey(step: PlannedStep, resource: string): string {
  const info = workflowInfo();
  return `${info.workflowId}/${info.firstExecutionRunId}/${step.id}/${resource}`;
}

export async function executeStep(step: PlannedStep, record: Recorder): Promise<StepOutcome> {
  const action = step.action;
  switch (action.kind) {
    case 'apigateway.disableApiKeys': {
      const { keys } = await aws.disableApiKeys({ apiKeyId: action.apiKeyId, clientId: action.clientId });
      const changed = keys.filter((k) => k.changed).length;
      return {
        output: { keys },
        resources: keys.map((k) => k.apiKeyId),
        message: `disabled ${keys.length} API key(s)${changed < keys.length ? ` (${keys.length - changed} already disabled)` : ''}`,
      };
    }
    case 'secrets.rotate': {
      const { secrets } = await aws.resolveSecrets({ secretId: action.secretId, clientId: action.clientId });
      const rotations = [];
      for (const secret of secrets) {
        const input = { secretArn: secret.arn, idempotencyKey: stepKey(step, secret.arn) };
        const created = await aws.createSecret(input);
        record({ kind: 'step.progress', step: step.id, message: `createSecret: version ${created.versionId} is AWSPENDING`, resources: [secret.arn, created.versionId] });
        await aws.setSecret(input);
        const tested = await aws.testSecret(input);
        record({ kind: 'step.progress', step: step.id, message: `testSecret passed: ${tested.checks.join(', ')}`, resources: [secret.arn] });
        rotations.push(await aws.finishSecret(input));
      }
      return {
        output: { rotations: rotations.map((r) => ({ secretArn: r.secretArn, newVersionId: r.newVersionId, previousVersionId: r.previousVersionId })) },
        resources: rotations.flatMap((r) => [r.secretArn, r.newVersionId]),
        message: `rotated ${rotations.length} secret(s): AWSCURRENT moved, previous version kept as AWSPREVIOUS`,
      };
    }
    case 'apigateway.throttle': {
      const snapshot = await aws.snapshotThrottle({ endpoint: action.endpoint });
      const evidence = await aws.applyThrottle({ endpoint: action.endpoint, settingsKey: snapshot.settingsKey, limits: action.limits });
      return {
        output: { snapshot, evidence },
        resources: [evidence.stageArn],
        message: `throttled ${snapshot.settingsKey} to ${action.limits.rateLimit} rps / burst ${action.limits.burstLimit} (was ${snapshot.previous.rateLimit} / ${snapshot.previous.burstLimit}, ${snapshot.previousSource} level)`,
      };
    }
  }
}

/** Undoes a reversible step from its recorded output. */
export async function compensateStep(step: PlannedStep, state: IncidentState): Promise<StepOutcome | undefined> {
  const action = step.action;
  if (action.kind !== 'apigateway.throttle') return undefined;
  const recorded = state.steps.find((s) => s.id === step.id)?.output as
    | { snapshot: Awaited<ReturnType<Activities['snapshotThrottle']>> }
    | undefined;
  if (!recorded) return undefined;
  const { snapshot } = recorded;
  const evidence = await aws.restoreThrottle({ endpoint: action.endpoint, settingsKey: snapshot.settingsKey, previous: snapshot.previous });
  return {
    output: { restored: evidence },
    resources: [evidence.stageArn],
    message: `restored ${snapshot.settingsKey} to ${snapshot.previous.rateLimit} rps / burst ${snapshot.previous.burstLimit}`,
  };
}

/** The operator-facing reason of a failed activity: the root ApplicationFailure's message. */
export function failureReason(err: unknown): string {
  let e: unknown = err;
  while (e instanceof ActivityFailure && e.cause) e = e.cause;
  if (e instanceof ApplicationFailure) return e.message;
  return e instanceof Error ? e.message : String(e);
}
