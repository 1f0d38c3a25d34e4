import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  defineQuery,
  defineUpdate,
  ParentClosePolicy,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  sleep,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { Activities } from '../activities/index.js';
import type { GeneratorPolicyInput } from '../domain/rotation/generator.js';
import { kmsReplaceWorkflowId, kmsRotationWorkflowId, normaliseAlias, secretRotationWorkflowId } from '../domain/rotation/ids.js';
import { checkDeletionWindowDays, checkRotationPeriodDays } from '../domain/rotation/limits.js';
import type { ScheduledRotationInput } from '../domain/rotation/policy.js';
import { STRATEGIES, type RotationStrategy } from '../domain/rotation/strategy.js';
import type { Consumer, RotationTarget } from '../domain/rotation/target.js';
import { DEFAULT_CONFIRM_WITHIN, DEFAULT_GRACE } from '../domain/rotation/retire-defaults.js';
import { parseDurationSeconds } from '../domain/duration.js';
import type { ConsumerCheck, TargetEvidence } from '../activities/rotation-targets.js';
import type { CheckedRotationOptions } from '../activities/rotation.js';
import { AWS_ACTIVITY_OPTIONS } from './activity-options.js';
import { failureReason } from './failure-reason.js';

/**
 * The rotation engine's workflows. They decide; every AWS call is an activity in
 * activities/rotation.ts or activities/secrets.ts. Secret values never enter these functions: the
 * generator runs inside the createSecret activity, and only ids, labels and dates come back.
 */
const aws = proxyActivities<Activities>(AWS_ACTIVITY_OPTIONS);
// Creating a replacement key may scan the account's keys on a retry (see rotationCreateReplacementKey).
// The four Secrets Manager steps are short, idempotent (keyed by the rotation's token) and run
// back to back: as local activities they run in the worker that holds the workflow and are
// recorded as markers in one workflow task, instead of a server round trip per step.
const localAws = proxyLocalActivities<Activities>(AWS_ACTIVITY_OPTIONS);
const slowAws = proxyActivities<Activities>({ ...AWS_ACTIVITY_OPTIONS, startToCloseTimeout: '2 minutes' });

const now = () => new Date().toISOString();
const OPERATOR = /^[\w.@:+/-]{1,128}$/;

export interface ProgressEntry {
  at: string;
  message: string;
}

/** Fails the workflow (not the task) with the root reason of an activity failure. */
function fail(err: unknown, prefix: string, type = 'RotationFailed'): never {
  let e: unknown = err;
  while (e && typeof e === 'object' && 'cause' in e && (e as { cause?: unknown }).cause && !(e instanceof ApplicationFailure)) e = (e as { cause: unknown }).cause;
  const root = e instanceof ApplicationFailure ? e : undefined;
  throw ApplicationFailure.nonRetryable(`${prefix}: ${failureReason(err)}`, root?.type ?? type);
}

// ───────────────────────────── secrets ─────────────────────────────

export interface SecretRotationInput {
  secretId: string;
  strategy: RotationStrategy;
  generator?: GeneratorPolicyInput;
  /** alternating-users: the two users that take turns (default: `<user>` ↔ `<user>_clone`). */
  userPair?: [string, string];
  reason?: string;
  requestedBy?: string;
  /** Rotate even if the secret was written less than 10 minutes ago. */
  force?: boolean;
  minIntervalSeconds?: number;
  /** testSecret also presents the new credential to this URL (2xx = accepted). */
  verifyUrl?: string;
  /** setSecret target; with one, the previous credential is revoked there after consumers confirm and the grace period ends. */
  target?: RotationTarget;
  /** HTTPS probes that must report the new version before the previous credential is retired. */
  consumers?: Consumer[];
  /** How long the previous credential stays valid after AWSCURRENT moved (default 1h). */
  grace?: string;
  /** How long to wait for consumers to confirm (default 1h); unconfirmed → the old credential stays valid. */
  confirmWithin?: string;
  /** Seconds between consumer probe rounds (default 30). */
  probeEverySeconds?: number;
}

export interface Retirement {
  retired: boolean;
  at?: string;
  /** Why the previous credential was not revoked (no previous version, consumers did not confirm, …). */
  reason?: string;
  evidence?: TargetEvidence;
}

export interface SecretRotationResult {
  workflowId: string;
  secretArn: string;
  name: string;
  strategy: RotationStrategy;
  versionId: string;
  previousVersionId?: string;
  username?: string;
  recovered: 'none' | 'resumed' | 'cleaned' | 'finished';
  staleVersionId?: string;
  checks: string[];
  stagesAfter: Record<string, string[]>;
  requestedBy?: string;
  reason?: string;
  progress: ProgressEntry[];
  setSecret?: TargetEvidence;
  /** Each consumer's first confirmation of the new version (or its last answer, if it never did). */
  consumers?: ConsumerCheck[];
  retirement?: Retirement;
}

export const secretRotationProgressQuery = defineQuery<{ phase: string; progress: ProgressEntry[] }>('rotationProgress');

/**
 * One rotation of one secret, under workflow id `rotation-secret-<name>` (see
 * domain/rotation/ids.ts): createSecret → setSecret → testSecret → finishSecret, every step keyed
 * by workflowId/firstExecutionRunId so a retried or resumed step finds its own version. A failed
 * testSecret releases the pending version and leaves AWSCURRENT where it was.
 */
export async function secretRotationWorkflow(input: SecretRotationInput): Promise<SecretRotationResult> {
  const info = workflowInfo();
  const local = patched('rotation-local-steps');
  const steps = local ? localAws : aws;
  const idempotencyKey = `${info.workflowId}/${info.firstExecutionRunId}`;
  const progress: ProgressEntry[] = [];
  let phase = 'preparing';
  const record = (message: string) => progress.push({ at: now(), message });
  setHandler(secretRotationProgressQuery, () => ({ phase, progress }));

  if (!STRATEGIES.includes(input.strategy)) throw ApplicationFailure.nonRetryable(`strategy must be one of ${STRATEGIES.join(', ')}`, 'InvalidParameters');
  let checked: CheckedRotationOptions;
  if (local) {
    try {
      checked = await localAws.rotationCheckOptions({ generator: input.generator, target: input.target, consumers: input.consumers, grace: input.grace, confirmWithin: input.confirmWithin });
    } catch (err) {
      throw ApplicationFailure.nonRetryable(failureReason(err), 'InvalidParameters');
    }
  } else {
    // Rotations started before 'rotation-local-steps' checked these in the workflow, before any
    // command; they are in flight, so they passed. The activities apply the generator's defaults.
    checked = { generator: (input.generator ?? {}) as CheckedRotationOptions['generator'], target: input.target, consumers: input.consumers };
  }
  const { generator, target, consumers } = checked;
  let setEvidence: TargetEvidence | undefined;
  record(`rotation of ${input.secretId} (${input.strategy}) requested by ${input.requestedBy ?? 'unknown'}${input.reason ? `: ${input.reason}` : ''}`);

  const options = { idempotencyKey, strategy: input.strategy, generator, userPair: input.userPair };
  let created: Awaited<ReturnType<Activities['rotationCreateSecret']>> | undefined;
  let checks: string[] = [];
  let finished: Awaited<ReturnType<Activities['rotationFinishSecret']>>;
  try {
    phase = 'createSecret';
    created = await steps.rotationCreateSecret({ ...options, secretId: input.secretId, force: input.force, minIntervalSeconds: input.minIntervalSeconds });
    if (created.recovered === 'cleaned') record(`removed stale AWSPENDING from version ${created.staleVersionId} (an earlier rotation that did not finish)`);
    if (created.recovered === 'resumed') record(`resuming: version ${created.versionId} of this rotation already exists`);
    if (created.recovered !== 'finished') {
      record(`createSecret: version ${created.versionId} is AWSPENDING${created.created ? '' : ' (already created)'}`);
      // setSecret hands the pending credential to the system that checks it, before AWSCURRENT
      // moves; without a target there is nothing to call (testSecret can still use `verifyUrl`).
      if (target) {
        phase = 'setSecret';
        // Cognito lists client secrets by id only: the ids held before setSecret go into history
        // first (an ordinary activity, not a local one), so a retried setSecret, a failed test and
        // the retirement can tell the new secret from the old ones (activities/rotation-cognito.ts).
        const prior = target.kind === 'cognito-app-client' ? (await aws.rotationCognitoClientSecrets({ target })).clientSecretIds : undefined;
        setEvidence = await steps.rotationSetSecret({ secretArn: created.secretArn, idempotencyKey, strategy: input.strategy, target, ...(prior ? { priorClientSecretIds: prior } : {}) });
        record(`setSecret: ${describeTarget(setEvidence)}`);
      } else record('setSecret: no target configured');
      phase = 'testSecret';
      try {
        checks = (await steps.rotationTestSecret({ ...options, secretArn: created.secretArn, verifyUrl: input.verifyUrl, current: created.current })).checks;
      } catch (err) {
        const reason = failureReason(err);
        phase = 'abandoning';
        // The target accepted the new credential in setSecret: it must not stay valid there.
        if (target) await steps.rotationRevokeAtTarget({ secretArn: created.secretArn, versionId: created.versionId, strategy: input.strategy, target, set: setEvidence });
        const abandoned = await steps.rotationAbandonPending({ secretArn: created.secretArn, idempotencyKey });
        const message = `${reason}. AWSCURRENT is unchanged (version ${abandoned.currentVersionId}); the new version ${created.versionId} was ${abandoned.removed ? 'released from AWSPENDING' : 'not pending'}`;
        // A credential that cannot be rotated is a security problem of its own: it becomes an incident.
        if (patched('rotation-failure-incident')) await raiseRotationIncident(created.name, created.secretArn, message, record);
        throw ApplicationFailure.nonRetryable(message, 'RotationTestFailed');
      }
      record(`testSecret passed: ${checks.join(', ')}`);
    }
    phase = 'finishSecret';
    finished = await steps.rotationFinishSecret({ secretArn: created.secretArn, idempotencyKey, currentVersionId: created.currentVersionId });
  } catch (err) {
    if (err instanceof ApplicationFailure) throw err;
    fail(err, `rotation of ${created?.name ?? input.secretId} ${phase === 'createSecret' ? 'refused or failed' : 'failed'} in ${phase}`);
  }
  const secretArn = created.secretArn;
  record(`finishSecret: AWSCURRENT is ${finished.newVersionId}, AWSPREVIOUS ${finished.previousVersionId ?? '(none)'}`);
  const finishedAt = Date.now();
  let confirmations: ConsumerCheck[] | undefined;
  let retirement: Retirement | undefined;
  if (target || consumers?.length) {
    const previous = finished.previousVersionId;
    if (!previous) retirement = { retired: false, reason: 'no previous version to retire' };
    else {
      if (consumers?.length) {
        phase = 'confirming';
        confirmations = await confirmConsumers(consumers, finished.newVersionId, parseDurationSeconds(input.confirmWithin ?? DEFAULT_CONFIRM_WITHIN), input.probeEverySeconds ?? 30, record);
      }
      const unconfirmed = confirmations?.filter((c) => !c.confirmed) ?? [];
      if (unconfirmed.length) {
        retirement = { retired: false, reason: `not confirmed by ${unconfirmed.map((c) => `${c.name} (${c.why})`).join(', ')}: the previous credential stays valid` };
      } else if (!target) {
        retirement = { retired: false, reason: 'no target to revoke the previous credential at; it remains AWSPREVIOUS' };
      } else if (target.kind === 'https' && !target.revokeUrl) {
        retirement = { retired: false, reason: 'the HTTPS target has no revokeUrl: the previous credential stays valid there until removed' };
      } else if (target.kind === 'cognito-app-client' && !setEvidence?.clientSecretId) {
        retirement = { retired: false, reason: 'setSecret ran in an earlier run, so which Cognito client secret is the new one is not known here: delete the older one by hand' };
      } else {
        phase = 'grace';
        const graceMs = parseDurationSeconds(input.grace ?? DEFAULT_GRACE) * 1000;
        const left = finishedAt + graceMs - Date.now();
        if (left > 0) {
          record(`grace: previous version ${previous} stays valid for ${Math.ceil(left / 1000)}s`);
          await sleep(left);
        }
        phase = 'retiring';
        const evidence = await steps.rotationRevokeAtTarget({ secretArn: created.secretArn, versionId: previous, strategy: input.strategy, target, set: setEvidence });
        retirement = { retired: true, at: now(), evidence };
      }
    }
    record(retirement.retired ? `retired previous version ${finished.previousVersionId}: ${describeTarget(retirement.evidence!)}` : `previous version not retired: ${retirement.reason}`);
  }
  phase = 'done';
  return {
    workflowId: info.workflowId,
    secretArn,
    name: created.name,
    strategy: input.strategy,
    versionId: finished.newVersionId,
    previousVersionId: finished.previousVersionId,
    username: created.username,
    recovered: created.recovered,
    staleVersionId: created.staleVersionId,
    checks,
    stagesAfter: finished.stagesAfter,
    requestedBy: input.requestedBy,
    reason: input.reason,
    progress,
    setSecret: setEvidence,
    consumers: confirmations,
    retirement,
  };
}

/** Opens (or joins, by secret) an incident for a rotation whose new credential failed its test; never masks the rotation's own failure. */
async function raiseRotationIncident(name: string, secretArn: string, reason: string, record: (m: string) => void): Promise<void> {
  const alert = {
    source: 'bulwark-rotation',
    type: 'rotation.failed',
    severity: 'high',
    observedAt: now(),
    dedupKey: `rotation-failed:${name}`,
    subject: { secretId: secretArn },
    details: { secret: name, reason, workflowId: workflowInfo().workflowId },
  };
  try {
    const [opened] = await aws.openIncidents({ alerts: [alert], observedAt: alert.observedAt, openedBy: 'rotation' });
    record(`incident ${opened!.incidentId} ${opened!.deduplicated ? 'already open for this secret (counted)' : 'opened'}`);
  } catch (err) {
    record(`could not open an incident: ${failureReason(err)}`);
  }
}

function describeTarget(e: TargetEvidence): string {
  if (e.kind === 'https') return e.httpStatus ? `HTTPS target answered ${e.httpStatus}${e.changed ? '' : ' (already had it)'}` : 'HTTPS target has no revoke URL';
  if (e.kind === 'cognito-app-client') {
    if (e.deletedClientSecretIds) return `app client ${e.clientId}: ${e.deletedClientSecretIds.length ? `deleted client secret(s) ${e.deletedClientSecretIds.join(', ')}` : 'no client secret left to delete'}`;
    return `app client ${e.clientId} holds the new value as client secret ${e.clientSecretId}${e.changed ? '' : ' (already)'}`;
  }
  return e.apiKeyId ? `API key ${e.apiKeyId}${e.usagePlanIds ? ` in usage plan(s) ${e.usagePlanIds.join(', ') || '(none)'}` : ''}${e.changed ? '' : ' (already)'}` : 'no API key holds that credential';
}

/** Probes every consumer until all report `versionId` or `withinSeconds` pass; keeps each one's first confirmation. */
async function confirmConsumers(consumers: Consumer[], versionId: string, withinSeconds: number, everySeconds: number, record: (m: string) => void): Promise<ConsumerCheck[]> {
  const deadline = Date.now() + withinSeconds * 1000;
  const latest = new Map<string, ConsumerCheck>();
  for (;;) {
    const pending = consumers.filter((c) => !latest.get(c.name)?.confirmed);
    for (const check of await aws.rotationProbeConsumers({ consumers: pending, versionId })) {
      latest.set(check.name, check);
      if (check.confirmed) record(`consumer ${check.name} confirmed version ${versionId}`);
    }
    if (consumers.every((c) => latest.get(c.name)?.confirmed) || Date.now() >= deadline) break;
    await sleep(Math.min(everySeconds * 1000, Math.max(1, deadline - Date.now())));
  }
  return consumers.map((c) => latest.get(c.name)!);
}

// ───────────────────────────── KMS: in place ─────────────────────────────

export interface KmsKeyRotationInput {
  keyId: string;
  mode: 'on-demand' | 'enable-automatic';
  /** enable-automatic: 90–2560 days (default 365). */
  periodDays?: number;
  requestedBy?: string;
  reason?: string;
}

export interface KmsKeyRotationResult {
  workflowId: string;
  keyId: string;
  keyArn: string;
  mode: KmsKeyRotationInput['mode'];
  changed: boolean;
  rotationDate?: string;
  onDemandRotations?: number;
  periodDays?: number;
  nextRotationDate?: string;
}

/** Symmetric keys: rotate now (RotateKeyOnDemand, capped per key by AWS) or enable automatic rotation with a period. */
export async function kmsKeyRotationWorkflow(input: KmsKeyRotationInput): Promise<KmsKeyRotationResult> {
  const { workflowId } = workflowInfo();
  if (input.mode === 'enable-automatic') {
    const periodDays = input.periodDays ?? 365;
    const problem = checkRotationPeriodDays(periodDays);
    if (problem) throw ApplicationFailure.nonRetryable(problem, 'InvalidParameters');
    try {
      const r = await aws.rotationEnableAutomaticRotation({ keyId: input.keyId, periodDays });
      return { workflowId, keyId: r.keyId, keyArn: r.keyArn, mode: input.mode, changed: r.changed, periodDays: r.periodDays ?? periodDays, nextRotationDate: r.nextRotationDate };
    } catch (err) {
      fail(err, `enabling automatic rotation of ${input.keyId} failed`);
    }
  }
  if (input.mode !== 'on-demand') throw ApplicationFailure.nonRetryable('mode must be on-demand or enable-automatic', 'InvalidParameters');
  try {
    // Workflow time at this point is stable across replays: a rotation since then is this one.
    const r = await aws.rotationRotateKeyOnDemand({ keyId: input.keyId, requestedAt: now() });
    return { workflowId, keyId: r.keyId, keyArn: r.keyArn, mode: input.mode, changed: r.changed, rotationDate: r.rotationDate, onDemandRotations: r.onDemandRotations };
  } catch (err) {
    fail(err, `on-demand rotation of ${input.keyId} failed`);
  }
}

// ───────────────────────────── KMS: replace behind the alias ─────────────────────────────

export interface KmsKeyReplaceInput {
  aliasName: string;
  /** How long the old key stays enabled (verification of old signatures) after the alias moved. */
  graceSeconds: number;
  /** ScheduleKeyDeletion waiting period, 7–30 days. Deletion always waits for `approveDeletion`. */
  deletionWindowDays: number;
  /** Inside an incident: disable the old key right after the alias moves (no grace). */
  emergency?: boolean;
  requestedBy?: string;
  reason?: string;
}

export type DeletionStatus = 'not-requested' | 'awaiting-approval' | 'approved' | 'scheduled' | 'cancelled' | 'deleted';

export interface KeyReplaceState {
  aliasName: string;
  phase: 'creating' | 'alias-moved' | 'grace' | 'old-key-disabled' | 'done' | 'failed';
  deletion: DeletionStatus;
  oldKeyId?: string;
  newKeyId?: string;
  keySpec?: string;
  graceUntil?: string;
  deletionDate?: string;
  oldKeyState?: string;
  approvedBy?: string;
  cancelledBy?: string;
  emergency: boolean;
  error?: string;
  progress: ProgressEntry[];
}

export interface DeletionDecision {
  by: string;
  reason?: string;
}

export const keyReplaceStateQuery = defineQuery<KeyReplaceState>('keyReplaceState');
/** Approves ScheduleKeyDeletion of the old key (after it is disabled). Not by whoever requested the rotation. */
export const approveDeletionUpdate = defineUpdate<KeyReplaceState, [DeletionDecision]>('approveDeletion');
/** Keeps the old key: before scheduling, deletion is never asked for; after, CancelKeyDeletion (the key stays Disabled). */
export const cancelDeletionUpdate = defineUpdate<KeyReplaceState, [DeletionDecision]>('cancelDeletion');

function requireOperator(d: DeletionDecision): void {
  if (!d || typeof d.by !== 'string' || !OPERATOR.test(d.by)) throw new Error('`by` must name the operator (letters, digits, . _ @ : + - /)');
}

/**
 * Asymmetric and HMAC keys, which AWS cannot rotate: a new key with the same spec, usage and
 * policy; the alias moves to it; the old key stays enabled for the grace period (so signatures
 * and MACs made with it still verify), then is disabled; deletion is scheduled only after an
 * `approveDeletion` Update and can be cancelled until the waiting period ends.
 */
export async function kmsKeyReplaceWorkflow(input: KmsKeyReplaceInput): Promise<KeyReplaceState> {
  const info = workflowInfo();
  const idempotencyKey = `${info.workflowId}/${info.firstExecutionRunId}`;
  const state: KeyReplaceState = { aliasName: normaliseAlias(input.aliasName), phase: 'creating', deletion: 'not-requested', emergency: Boolean(input.emergency), progress: [] };
  const record = (message: string) => state.progress.push({ at: now(), message });
  let waitingForApproval = false;
  let cancelAfterScheduling: DeletionDecision | undefined;

  setHandler(keyReplaceStateQuery, () => state);
  setHandler(
    approveDeletionUpdate,
    async (d) => {
      state.approvedBy = d.by;
      state.deletion = 'approved';
      record(`deletion of ${state.oldKeyId ?? 'the old key'} approved by ${d.by}${d.reason ? `: ${d.reason}` : ''}`);
      // Answer once it is scheduled, unless the old key is still in its grace period.
      if (waitingForApproval) await condition(() => state.deletion !== 'approved' || state.phase === 'failed');
      return state;
    },
    {
      validator: (d) => {
        requireOperator(d);
        if (input.requestedBy && d.by === input.requestedBy) throw new Error(`${d.by} requested this rotation and cannot also approve deleting the old key`);
        if (state.phase === 'failed' || state.phase === 'done') throw new Error(`the replacement is ${state.phase}`);
        if (state.deletion !== 'not-requested' && state.deletion !== 'awaiting-approval') throw new Error(`deletion is already ${state.deletion}`);
      },
    },
  );
  setHandler(
    cancelDeletionUpdate,
    async (d) => {
      state.cancelledBy = d.by;
      if (state.deletion === 'scheduled') {
        cancelAfterScheduling = d;
        await condition(() => state.deletion !== 'scheduled' || state.phase === 'failed');
      } else {
        state.deletion = 'cancelled';
        record(`deletion of ${state.oldKeyId ?? 'the old key'} cancelled by ${d.by}${d.reason ? `: ${d.reason}` : ''}: the key is kept (disabled)`);
      }
      return state;
    },
    {
      validator: (d) => {
        requireOperator(d);
        if (state.deletion === 'cancelled' || state.deletion === 'deleted') throw new Error(`deletion is already ${state.deletion}`);
        if (cancelAfterScheduling) throw new Error('a cancellation is already in progress');
      },
    },
  );

  try {
    const problem = checkDeletionWindowDays(input.deletionWindowDays);
    if (problem) throw ApplicationFailure.nonRetryable(problem, 'InvalidParameters');
    if (!Number.isFinite(input.graceSeconds) || input.graceSeconds < 0) throw ApplicationFailure.nonRetryable('graceSeconds must be 0 or more', 'InvalidParameters');
    record(`replacing the key behind ${state.aliasName}${input.emergency ? ' (emergency: no grace period)' : ''}, requested by ${input.requestedBy ?? 'unknown'}${input.reason ? `: ${input.reason}` : ''}`);

    const created = await slowAws.rotationCreateReplacementKey({ aliasName: state.aliasName, idempotencyKey });
    Object.assign(state, { oldKeyId: created.oldKeyId, newKeyId: created.newKeyId, keySpec: created.keySpec });
    record(`new ${created.keySpec}/${created.keyUsage} key ${created.newKeyId}${created.created ? '' : ' (already created)'} replaces ${created.oldKeyId}`);

    const moved = await aws.rotationMoveAlias({ aliasName: state.aliasName, targetKeyId: created.newKeyId });
    state.phase = 'alias-moved';
    record(`${moved.aliasName} now points at ${moved.targetKeyId}`);

    if (!input.emergency && input.graceSeconds > 0) {
      state.phase = 'grace';
      state.graceUntil = new Date(Date.now() + input.graceSeconds * 1000).toISOString();
      record(`old key ${created.oldKeyId} stays enabled until ${state.graceUntil} so existing signatures still verify`);
      await sleep(input.graceSeconds * 1000);
    }
    const disabled = await aws.disableKmsKey({ keyId: created.oldKeyId });
    state.phase = 'old-key-disabled';
    state.oldKeyState = disabled.keyState;
    record(`old key ${created.oldKeyId} is ${disabled.keyState}`);

    if (state.deletion === 'not-requested') {
      state.deletion = 'awaiting-approval';
      record(`deletion of ${created.oldKeyId} (${input.deletionWindowDays}-day waiting period) waits for approval: bulwark rotate approve-deletion ${state.aliasName}`);
    }
    waitingForApproval = true;
    await condition(() => state.deletion === 'approved' || state.deletion === 'cancelled');
    waitingForApproval = false;

    if (state.deletion === 'approved') {
      const scheduled = await aws.rotationScheduleKeyDeletion({ keyId: created.oldKeyId, pendingWindowDays: input.deletionWindowDays });
      state.deletion = 'scheduled';
      state.deletionDate = scheduled.deletionDate;
      state.oldKeyState = scheduled.keyState;
      record(`old key ${created.oldKeyId} is ${scheduled.keyState}, deleted on ${scheduled.deletionDate ?? '(date not reported)'}; cancel until then: bulwark rotate cancel-deletion ${state.aliasName}`);
      const until = state.deletionDate ? Math.max(1000, Date.parse(state.deletionDate) - Date.now()) : input.deletionWindowDays * 86_400_000;
      const cancelled = await condition(() => cancelAfterScheduling !== undefined, until);
      if (cancelled) {
        const r = await aws.rotationCancelKeyDeletion({ keyId: created.oldKeyId });
        state.deletion = 'cancelled';
        state.oldKeyState = r.keyState;
        record(`deletion of ${created.oldKeyId} cancelled by ${cancelAfterScheduling!.by}${cancelAfterScheduling!.reason ? `: ${cancelAfterScheduling!.reason}` : ''}: the key is ${r.keyState}`);
      } else {
        const r = await aws.rotationKeyState({ keyId: created.oldKeyId });
        state.deletion = 'deleted';
        state.oldKeyState = r.keyState;
        record(`waiting period over: old key ${created.oldKeyId} reads ${r.keyState}`);
      }
    }
    state.phase = 'done';
  } catch (err) {
    state.phase = 'failed';
    state.error = failureReason(err);
    record(`failed: ${state.error}`);
    await condition(allHandlersFinished);
    fail(err, `replacing the key behind ${state.aliasName} failed`);
  }
  await condition(allHandlersFinished);
  return state;
}

// ───────────────────────────── schedules ─────────────────────────────

const alreadyStarted = (err: unknown) => err instanceof WorkflowExecutionAlreadyStartedError || (err as { name?: string })?.name === 'WorkflowExecutionAlreadyStartedError';

export interface ScheduledRotationResult {
  policy: string;
  childWorkflowId: string;
  outcome: 'rotated' | 'started' | 'skipped';
  detail: string;
}

/**
 * What a rotation Schedule starts. It runs the rotation as a child under the target's own id, so
 * a scheduled run and a manual `bulwark rotate` of the same secret or key never overlap: the
 * second one finds the first running and is skipped (reported, not duplicated).
 */
export async function scheduledRotationWorkflow(input: ScheduledRotationInput): Promise<ScheduledRotationResult> {
  const t = input.target;
  const requestedBy = `schedule:${input.set}/${input.policy}`;
  const reason = `rotation policy ${input.policy}`;
  const common = { parentClosePolicy: ParentClosePolicy.ABANDON };
  const skipped = (id: string): ScheduledRotationResult => ({ policy: input.policy, childWorkflowId: id, outcome: 'skipped', detail: `a rotation under ${id} is already running` });
  try {
    if (t.kind === 'secret') {
      const workflowId = secretRotationWorkflowId(t.secretId);
      let child;
      try {
        child = await startChild(secretRotationWorkflow, {
          ...common,
          workflowId,
          args: [{ secretId: t.secretId, strategy: t.strategy, generator: t.generator, userPair: t.userPair, minIntervalSeconds: t.minIntervalSeconds, target: t.setSecret, consumers: t.consumers, grace: t.grace, confirmWithin: t.confirmWithin, requestedBy, reason }],
        });
      } catch (err) {
        if (alreadyStarted(err)) return skipped(workflowId);
        throw err;
      }
      const r = await child.result();
      return { policy: input.policy, childWorkflowId: workflowId, outcome: 'rotated', detail: `AWSCURRENT is ${r.versionId}` };
    }
    if (t.kind === 'kms-rotate') {
      const workflowId = kmsRotationWorkflowId(t.keyId);
      let child;
      try {
        child = await startChild(kmsKeyRotationWorkflow, { ...common, workflowId, args: [{ keyId: t.keyId, mode: 'on-demand', requestedBy, reason }] });
      } catch (err) {
        if (alreadyStarted(err)) return skipped(workflowId);
        throw err;
      }
      const r = await child.result();
      return { policy: input.policy, childWorkflowId: workflowId, outcome: 'rotated', detail: `rotated ${r.keyId} at ${r.rotationDate ?? '?'}` };
    }
    const workflowId = kmsReplaceWorkflowId(t.aliasName);
    try {
      // The replacement waits for a human to approve deletion: start it and let it run on its own.
      await startChild(kmsKeyReplaceWorkflow, { ...common, workflowId, args: [{ aliasName: t.aliasName, graceSeconds: t.graceSeconds, deletionWindowDays: t.deletionWindowDays, requestedBy, reason }] });
    } catch (err) {
      if (alreadyStarted(err)) return skipped(workflowId);
      throw err;
    }
    return { policy: input.policy, childWorkflowId: workflowId, outcome: 'started', detail: `replacing the key behind ${t.aliasName}; deletion needs approval` };
  } catch (err) {
    fail(err, `scheduled rotation ${input.policy} failed`);
  }
}
