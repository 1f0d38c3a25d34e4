import { ApplicationFailure, proxyActivities, sleep, workflowInfo, type ActivityOptions } from '@temporalio/workflow';
import { startRegulatorNotifications } from './notification-start.js';
import { rotateCertificateStep } from './certificate-step.js';
import { blockIps, unblockIps, type BlockIpsOutput, type BlockIpsParams } from './waf-steps.js';
import type { Endpoint } from '../domain/alert.js';
import { parseDurationSeconds } from '../domain/duration.js';
import type { IncidentState, TimelineEntry } from '../domain/incident.js';
import type { PlannedStep } from '../domain/playbook.js';
import type { Activities } from '../activities/index.js';
import { AWS_ACTIVITY_OPTIONS } from './activity-options.js';
import { listConsentsStep, revokeConsentsStep } from './consents.js';

const aws = proxyActivities<Activities>(AWS_ACTIVITY_OPTIONS);

type Recorder = (entry: Omit<TimelineEntry, 'at'>) => void;

export interface StepOutcome {
  output: { [key: string]: unknown };
  resources: string[];
  message: string;
}

/** A step's own timeout and retry policy, over the AWS defaults. */
function activitiesFor(step: PlannedStep) {
  if (!step.timeoutSeconds && !step.retry) return aws;
  const options: ActivityOptions = {
    ...AWS_ACTIVITY_OPTIONS,
    ...(step.timeoutSeconds ? { startToCloseTimeout: step.timeoutSeconds * 1000 } : {}),
    retry: {
      ...AWS_ACTIVITY_OPTIONS.retry,
      ...(step.retry?.maxAttempts ? { maximumAttempts: step.retry.maxAttempts } : {}),
      ...(step.retry?.initialIntervalSeconds ? { initialInterval: step.retry.initialIntervalSeconds * 1000 } : {}),
      ...(step.retry?.backoff ? { backoffCoefficient: step.retry.backoff } : {}),
    },
  };
  return proxyActivities<Activities>(options);
}

/** Idempotency key for one step of one incident; stable across retries, replays and continue-as-new. */
function stepKey(step: PlannedStep, resource: string): string {
  const info = workflowInfo();
  return `${info.workflowId}/${info.firstExecutionRunId}/${step.id}/${resource}`;
}

/** Parameters as the action declares them (checked at plan time; activities check what they use). */
interface Params {
  apiKeyId?: string;
  clientId?: string;
  secretId?: string;
  endpoint?: Endpoint;
  rateLimit?: number;
  burstLimit?: number;
  ttl?: string;
  keyId?: string;
  newKeyId?: string;
  accessKeyId?: string;
  userName?: string;
  roleName?: string;
  provider?: 'cognito' | 'webhook';
  userPoolId?: string;
  appClientId?: string;
  url?: string;
  message?: string;
  duration?: string;
  // regulators.assess (issue 7)
  facts?: Record<string, unknown>;
  regimes?: string[];
  summary?: string;
  openedBy?: string;
  aware?: string;
  // consents.revoke (issue 9)
  batchSize?: number;
}

function need<K extends keyof Params>(p: Params, key: K): NonNullable<Params[K]> {
  const v = p[key];
  if (v === undefined || v === null || v === '') throw ApplicationFailure.nonRetryable(`parameter ${String(key)} is missing after resolving the playbook's references`, 'InvalidParameters');
  return v as NonNullable<Params[K]>;
}

/** The timeline's step start time: a stable "requested at" for activities that compare against AWS timestamps. */
export async function executeStep(step: PlannedStep, params: Params, record: Recorder, requestedAt: string): Promise<StepOutcome> {
  const act = activitiesFor(step);
  switch (step.action) {
    case 'apigateway.disableApiKey': {
      const { keys } = await act.disableApiKeys({ apiKeyId: params.apiKeyId, clientId: params.clientId });
      const changed = keys.filter((k) => k.changed).length;
      return {
        output: { keys },
        resources: keys.map((k) => k.apiKeyId),
        message: `disabled ${keys.length} API key(s)${changed < keys.length ? ` (${keys.length - changed} already disabled)` : ''}`,
      };
    }
    case 'secrets.rotate': {
      const { secrets } = await act.resolveSecrets({ secretId: params.secretId, clientId: params.clientId });
      const rotations = [];
      for (const secret of secrets) {
        const input = { secretArn: secret.arn, idempotencyKey: stepKey(step, secret.arn) };
        const created = await act.createSecret(input);
        record({ kind: 'step.progress', step: step.id, message: `createSecret: version ${created.versionId} is AWSPENDING`, resources: [secret.arn, created.versionId] });
        await act.setSecret(input);
        const tested = await act.testSecret(input);
        record({ kind: 'step.progress', step: step.id, message: `testSecret passed: ${tested.checks.join(', ')}`, resources: [secret.arn] });
        rotations.push(await act.finishSecret(input));
      }
      return {
        output: { rotations: rotations.map((r) => ({ secretArn: r.secretArn, newVersionId: r.newVersionId, previousVersionId: r.previousVersionId })) },
        resources: rotations.flatMap((r) => [r.secretArn, r.newVersionId]),
        message: `rotated ${rotations.length} secret(s): AWSCURRENT moved, previous version kept as AWSPREVIOUS`,
      };
    }
    case 'apigateway.throttle': {
      const endpoint = need(params, 'endpoint');
      const limits = { rateLimit: need(params, 'rateLimit'), burstLimit: need(params, 'burstLimit') };
      const snapshot = await act.snapshotThrottle({ endpoint });
      const evidence = await act.applyThrottle({ endpoint, settingsKey: snapshot.settingsKey, limits });
      return {
        output: { snapshot, evidence },
        resources: [evidence.stageArn],
        message: `throttled ${snapshot.settingsKey} to ${limits.rateLimit} rps / burst ${limits.burstLimit} (was ${snapshot.previous.rateLimit} / ${snapshot.previous.burstLimit}, ${snapshot.previousSource} level)`,
      };
    }
    case 'kms.rotate': {
      const r = await act.rotationRotateKeyOnDemand({ keyId: need(params, 'keyId'), requestedAt });
      return { output: { ...r }, resources: [r.keyArn], message: r.changed ? `rotated KMS key ${r.keyId} on demand` : `KMS key ${r.keyId} was already rotated by this step` };
    }
    case 'secrets.reencrypt': {
      const keyId = need(params, 'keyId');
      const r = await act.reencryptSecrets({ keyId, newKeyId: params.newKeyId, idempotencyKey: stepKey(step, keyId) });
      for (const s of r.secrets) record({ kind: 'step.progress', step: step.id, message: `re-encrypted ${s.name}: version ${s.versionId} is AWSCURRENT under ${s.kmsKeyId}${s.changed ? '' : ' (already)'}`, resources: [s.secretArn, s.versionId] });
      return {
        output: { keyArn: r.keyArn, secrets: r.secrets.map(({ secretArn, versionId, kmsKeyId }) => ({ secretArn, versionId, kmsKeyId })) },
        resources: r.secrets.map((s) => s.secretArn),
        message: `re-encrypted ${r.secrets.length} secret(s) under ${r.keyArn}`,
      };
    }
    case 'kms.disableKey': {
      const r = await act.disableKmsKey({ keyId: need(params, 'keyId') });
      return { output: { ...r }, resources: [r.keyArn], message: `KMS key ${r.keyId} is ${r.keyState}${r.changed ? '' : ' (already)'}` };
    }
    case 'iam.deactivateAccessKey': {
      const r = await act.deactivateAccessKey({ accessKeyId: need(params, 'accessKeyId'), userName: params.userName });
      return { output: { ...r }, resources: [r.accessKeyId], message: `access key ${r.accessKeyId} of ${r.userName} is ${r.status}${r.changed ? '' : ' (already)'}` };
    }
    case 'iam.deleteAccessKey': {
      const r = await act.deleteAccessKey({ accessKeyId: need(params, 'accessKeyId'), userName: need(params, 'userName') });
      return { output: { ...r }, resources: [r.accessKeyId], message: `access key ${r.accessKeyId} of ${r.userName} ${r.deleted ? 'deleted' : 'was already gone'}` };
    }
    case 'iam.revokeRoleSessions': {
      const r = await act.revokeRoleSessions({ roleName: need(params, 'roleName'), issuedBefore: requestedAt });
      return { output: { ...r }, resources: [r.roleName], message: `sessions of role ${r.roleName} issued before ${r.issuedBefore} are denied${r.changed ? '' : ' (already)'}` };
    }
    case 'oauth.revokeClient': {
      if (params.provider === 'cognito') {
        const userPoolId = need(params, 'userPoolId');
        const clientId = need(params, 'appClientId');
        const r = await act.rotateAppClientSecret({ userPoolId, clientId, idempotencyKey: stepKey(step, clientId) });
        return { output: { ...r }, resources: [r.oldClientId, r.newClientId], message: `app client ${r.oldClientId} ${r.oldClient}; replacement ${r.newClientId} has a new secret` };
      }
      const clientId = need(params, 'clientId');
      const r = await act.disableOAuthClient({ url: need(params, 'url'), clientId, idempotencyKey: stepKey(step, clientId) });
      return { output: { ...r }, resources: [r.clientId], message: `OAuth client ${r.clientId}: webhook answered ${r.httpStatus}${r.status ? `, status ${r.status}` : ''} (verified: ${r.verified})` };
    }
    case 'notify.operators': {
      const r = await act.notifyOperators({ incidentId: workflowInfo().workflowId, step: step.id, message: need(params, 'message') });
      return { output: { ...r }, resources: [], message: need(params, 'message') };
    }
    case 'certificates.rotate':
      return rotateCertificateStep(params as Record<string, unknown>);
    case 'wait': {
      const seconds = parseDurationSeconds(need(params, 'duration'));
      await sleep(seconds * 1000);
      return { output: { waitedSeconds: seconds }, resources: [], message: `waited ${need(params, 'duration')}` };
    }
    case 'regulators.assess':
      return startRegulatorNotifications(act, params, requestedAt);
    // consents (issue 9)
    case 'consents.list':
      return listConsentsStep(step, params);
    case 'consents.revoke':
      return revokeConsentsStep(step, params, record, stepKey(step, need(params, 'clientId')));
    // threat intel (issue 9 part 2)
    case 'waf.blockIps':
      return blockIps(act, step.id, params as unknown as BlockIpsParams);
    default:
      throw ApplicationFailure.nonRetryable(`action ${step.action} is not available in this worker`, 'UnknownAction');
  }
}

/** Undoes a reversible step from its recorded output; undefined when there is nothing to undo. */
export async function compensateStep(step: PlannedStep, state: IncidentState): Promise<StepOutcome | undefined> {
  const recorded = state.steps.find((s) => s.id === step.id)?.output;
  if (!recorded) return undefined;
  switch (step.action) {
    case 'apigateway.throttle': {
      const { snapshot } = recorded as { snapshot: Awaited<ReturnType<Activities['snapshotThrottle']>> };
      const endpoint = step.with.endpoint as Endpoint;
      const evidence = await aws.restoreThrottle({ endpoint, settingsKey: snapshot.settingsKey, previous: snapshot.previous });
      return {
        output: { restored: evidence },
        resources: [evidence.stageArn],
        message: `restored ${snapshot.settingsKey} to ${snapshot.previous.rateLimit} rps / burst ${snapshot.previous.burstLimit}`,
      };
    }
    case 'kms.disableKey': {
      const { keyId } = recorded as { keyId: string };
      const r = await aws.enableKmsKey({ keyId });
      return { output: { restored: r }, resources: [r.keyArn], message: `re-enabled KMS key ${r.keyId}` };
    }
    case 'iam.deactivateAccessKey': {
      const { accessKeyId, userName } = recorded as { accessKeyId: string; userName: string };
      const r = await aws.reactivateAccessKey({ accessKeyId, userName });
      return { output: { restored: r }, resources: [r.accessKeyId], message: `reactivated access key ${r.accessKeyId}` };
    }
    case 'waf.blockIps':
      return unblockIps(aws, recorded as unknown as BlockIpsOutput);
    default:
      return undefined;
  }
}
