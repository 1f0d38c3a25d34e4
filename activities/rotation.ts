import { randomInt } from 'node:crypto';
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  UpdateSecretVersionStageCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import {
  CancelKeyDeletionCommand,
  CreateAliasCommand,
  CreateKeyCommand,
  DescribeKeyCommand,
  EnableKeyRotationCommand,
  GetKeyPolicyCommand,
  GetKeyRotationStatusCommand,
  ListAliasesCommand,
  ListKeyRotationsCommand,
  ListKeysCommand,
  ListResourceTagsCommand,
  RotateKeyOnDemandCommand,
  ScheduleKeyDeletionCommand,
  UpdateAliasCommand,
  type KeyMetadata,
  type KMSClient,
} from '@aws-sdk/client-kms';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { checkValue, DEFAULT_GENERATOR, generateValue, GeneratorPolicy, type GeneratorPolicyInput } from '../domain/rotation/generator.js';
import { COGNITO_SECRET_GENERATOR, cognitoGeneratorProblem } from '../domain/rotation/cognito-secret.js';
import { RetireOptions, type Consumer, type RotationTarget } from '../domain/rotation/target.js';
import { normaliseAlias } from '../domain/rotation/ids.js';
import { checkDeletionWindowDays, checkRotationPeriodDays, checkWriteInterval, explainOnDemandCap } from '../domain/rotation/limits.js';
import { checkKeyPair, generateKeyPair, type KeyPairPem } from '../domain/rotation/keypair.js';
import { credentialParts, nextKeyPairValue, nextSecretValue, otherUser, SecretShapeError, type RotationStrategy } from '../domain/rotation/strategy.js';
import { call, notFound, notVerified, toFailure } from './failures.js';
import { sendOnce } from './send-once.js';
import { rotationToken, type RotationEvidence } from './secrets.js';

/**
 * The rotation engine's own activities, beside the 4-step ones in secrets.ts (setSecret and
 * finishSecret are reused from there). Secret values are generated and read only in here; what
 * returns to the workflow is ids, labels, dates, user names and check descriptions.
 */

export interface SecretRotationOptions {
  strategy: RotationStrategy;
  generator?: GeneratorPolicy;
  userPair?: [string, string];
}

export interface CreatedVersion {
  secretArn: string;
  name: string;
  versionId: string;
  /** none: a fresh start; resumed: this rotation's version already existed (retry after a crash); cleaned: a foreign AWSPENDING label was removed first; finished: our version is already AWSCURRENT. */
  recovered: 'none' | 'resumed' | 'cleaned' | 'finished';
  staleVersionId?: string;
  /** AWSCURRENT before this rotation (finishSecret moves the label from it). */
  currentVersionId?: string;
  lastWrittenAt?: string;
  created: boolean;
  /** The user the new version authenticates as, when the secret names one. */
  username?: string;
  /**
   * The current version's shape (its user and field names, never values), for testSecret's checks
   * without reading the current value again. Absent when resuming: testSecret reads it then.
   */
  current?: CurrentShape;
}

/** What testSecret compares the pending version with: the current version's user and field names. */
export interface CurrentShape {
  username?: string;
  fields?: string;
}

export interface CheckedRotationOptions {
  generator: GeneratorPolicy;
  target?: RotationTarget;
  consumers?: Consumer[];
}

/**
 * The checked policy (rotationCheckOptions' output, which parses to itself), or, for rotations
 * started before that check moved out of the workflow, the request's own policy with its defaults.
 */
function generatorOf(input: SecretRotationOptions): GeneratorPolicy {
  return input.generator ? GeneratorPolicy.parse(input.generator) : DEFAULT_GENERATOR;
}

/** The user and field names of a version (never its values). */
function credentialShape(value: string, strategy: RotationStrategy): CurrentShape {
  const { username, fields } = credentialParts(value, strategy);
  return { username, fields };
}

export interface ReplacementKey {
  oldKeyId: string;
  oldKeyArn: string;
  newKeyId: string;
  newKeyArn: string;
  keySpec: string;
  keyUsage: string;
  created: boolean;
}

const holding = (map: Record<string, string[]>, label: string) => Object.entries(map).find(([, labels]) => labels.includes(label))?.[0];
const marker = (token: string) => `alias/bulwark/replacement-${token}`;

export function createRotationActivities({ sm, kms }: { sm: SecretsManagerClient; kms: KMSClient }) {
  async function describeSecret(secretId: string) {
    return call('DescribeSecret', `secret ${secretId}`, () => sm.send(new DescribeSecretCommand({ SecretId: secretId })));
  }
  async function stages(secretArn: string): Promise<Record<string, string[]>> {
    return (await describeSecret(secretArn)).VersionIdsToStages ?? {};
  }
  async function version(secretArn: string, by: { VersionId?: string; VersionStage?: string }) {
    // Always by version or stage: a bare GetSecretValue can return a stale value after labels move.
    return call('GetSecretValue', `secret ${secretArn}`, () => sm.send(new GetSecretValueCommand({ SecretId: secretArn, ...by })));
  }
  async function removePending(secretArn: string, versionId: string) {
    await call('UpdateSecretVersionStage', `secret ${secretArn}`, () =>
      sm.send(new UpdateSecretVersionStageCommand({ SecretId: secretArn, VersionStage: 'AWSPENDING', RemoveFromVersionId: versionId })),
    );
  }
  async function describeKey(keyId: string): Promise<KeyMetadata> {
    const { KeyMetadata: meta } = await call('DescribeKey', `KMS key ${keyId}`, () => kms.send(new DescribeKeyCommand({ KeyId: keyId })));
    if (!meta?.KeyId || !meta.Arn) throw notFound(`KMS key ${keyId} has no metadata`);
    return meta;
  }
  async function findKey(keyId: string): Promise<KeyMetadata | undefined> {
    try {
      return (await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata;
    } catch (err) {
      if ((err as { name?: string }).name === 'NotFoundException') return undefined;
      throw toFailure(err, 'DescribeKey', `KMS key ${keyId}`);
    }
  }
  async function rotations(keyId: string) {
    const out = [];
    let NextMarker: string | undefined;
    do {
      const page = await call('ListKeyRotations', `KMS key ${keyId}`, () => kms.send(new ListKeyRotationsCommand({ KeyId: keyId, Marker: NextMarker })));
      out.push(...(page.Rotations ?? []));
      NextMarker = page.Truncated ? page.NextMarker : undefined;
    } while (NextMarker);
    return out;
  }
  const strategyFailure = (err: unknown, secret: string) =>
    err instanceof SecretShapeError ? ApplicationFailure.nonRetryable(`secret ${secret}: ${err.message}`, 'SecretShapeError') : err;

  return {
    /**
     * The request's options, checked before anything is written: the generator policy (with its
     * defaults; a Cognito target's own default), the target, consumers and durations. Here rather
     * than in the workflow so zod is built once per worker, not once per rotation.
     */
    async rotationCheckOptions(input: { generator?: GeneratorPolicyInput; target?: unknown; consumers?: unknown; grace?: string; confirmWithin?: string }): Promise<CheckedRotationOptions> {
      const issues = (e: { issues: { path: PropertyKey[]; message: string }[] }) => e.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
      const cognito = (input.target as { kind?: unknown } | undefined)?.kind === 'cognito-app-client';
      const policy = GeneratorPolicy.safeParse(input.generator ?? (cognito ? COGNITO_SECRET_GENERATOR : {}));
      if (!policy.success) throw ApplicationFailure.nonRetryable(`generator: ${issues(policy.error)}`, 'InvalidParameters');
      const retire = RetireOptions.safeParse({ target: input.target, consumers: input.consumers, grace: input.grace, confirmWithin: input.confirmWithin });
      if (!retire.success) throw ApplicationFailure.nonRetryable(issues(retire.error), 'InvalidParameters');
      // Cognito takes 24–64 letters, digits, _ and +: refuse a generator that can make anything else before anything is written.
      const cognitoProblem = retire.data.target?.kind === 'cognito-app-client' ? cognitoGeneratorProblem(policy.data) : undefined;
      if (cognitoProblem) throw ApplicationFailure.nonRetryable(`generator: ${cognitoProblem}`, 'InvalidParameters');
      return { generator: policy.data, target: retire.data.target, consumers: retire.data.consumers };
    },

    /**
     * Step 1 (createSecret), with the recovery and the guard in front of it: resolve the secret;
     * our version already AWSCURRENT → finished; our version present → resume it (a retry after a
     * crash, or a lost response); otherwise refuse a write sooner than AWS advises unless forced,
     * release a stale AWSPENDING left by another, crashed rotation, and put a new version under this
     * rotation's token, labelled AWSPENDING, with a value generated here. Three AWS calls on the
     * common path (DescribeSecret, GetSecretValue, PutSecretValue); testSecret reads the new version
     * back by id and stage.
     */
    async rotationCreateSecret(input: { secretId: string; idempotencyKey: string; force?: boolean; minIntervalSeconds?: number } & SecretRotationOptions): Promise<CreatedVersion> {
      const token = rotationToken(input.idempotencyKey);
      const d = await describeSecret(input.secretId);
      const secretArn = d.ARN!;
      const name = d.Name!;
      const map = d.VersionIdsToStages ?? {};
      const currentVersionId = holding(map, 'AWSCURRENT');
      const base = { secretArn, name, versionId: token, currentVersionId };
      if (currentVersionId === token) {
        // A retry after finishSecret (local steps re-run together): report the user like a fresh run does.
        const mine = await version(secretArn, { VersionId: token });
        return { ...base, recovered: 'finished', created: false, username: credentialParts(mine.SecretString ?? '', input.strategy).username };
      }
      if (map[token]) {
        const pending = await version(secretArn, { VersionId: token });
        return { ...base, recovered: 'resumed', created: false, username: credentialParts(pending.SecretString ?? '', input.strategy).username };
      }
      const current = await version(secretArn, currentVersionId ? { VersionId: currentVersionId } : { VersionStage: 'AWSCURRENT' });
      // The guard: when did the current value replace an earlier one? The current version's
      // CreatedDate (GetSecretValue reports it per version; the sandbox's ListSecretVersionIds does
      // not). A secret with no AWSPREVIOUS was never rotated or updated since creation: allowed.
      const lastWrittenAt = holding(map, 'AWSPREVIOUS') ? (current.CreatedDate ?? d.LastChangedDate) : undefined;
      const guard = checkWriteInterval({ secret: name, lastWrittenAt, now: new Date(), minIntervalSeconds: input.minIntervalSeconds, force: input.force });
      if (!guard.ok) throw ApplicationFailure.nonRetryable(guard.message, 'RotationTooSoon', { retryAfter: guard.retryAfter });

      const stale = Object.entries(map).find(([, labels]) => labels.includes('AWSPENDING') && !labels.includes('AWSCURRENT'))?.[0];
      if (stale) {
        await removePending(secretArn, stale);
        const after = await stages(secretArn);
        if (after[stale]?.includes('AWSPENDING')) throw notVerified(`secret ${name}: stale version ${stale} is still AWSPENDING after removing the label`);
        if (holding(after, 'AWSCURRENT') !== currentVersionId) throw ApplicationFailure.nonRetryable(`secret ${name}: AWSCURRENT moved while cleaning up; another rotation is running outside bulwark`, 'RotationStateError');
      }
      const policy = generatorOf(input);
      let next;
      try {
        next =
          policy.kind === 'keypair'
            ? nextKeyPairValue(current.SecretString, input.strategy, generateKeyPair(policy.algorithm))
            : nextSecretValue(current.SecretString, input.strategy, () => generateValue(policy, randomInt), input.userPair);
      } catch (err) {
        throw strategyFailure(err, name);
      }
      // Both values are in hand only here: a generator that repeated the current value is caught
      // before anything is written (testSecret then checks what was stored against this shape).
      if (next.value === current.SecretString) throw ApplicationFailure.nonRetryable(`secret ${name}: the generated value equals the current one`, 'RotationTestFailed');
      const currentShape = current.SecretString === undefined ? {} : credentialShape(current.SecretString, input.strategy);
      try {
        await sm.send(new PutSecretValueCommand({ SecretId: secretArn, ClientRequestToken: token, SecretString: next.value, VersionStages: ['AWSPENDING'] }));
      } catch (err) {
        // AWS: the version exists under our token from an attempt whose response was lost; it keeps that attempt's value.
        if ((err as { name?: string }).name !== 'ResourceExistsException') throw toFailure(err, 'PutSecretValue', `secret ${name}`);
      }
      return { ...base, recovered: stale ? 'cleaned' : 'none', staleVersionId: stale, lastWrittenAt: lastWrittenAt?.toISOString(), created: true, username: next.username, current: currentShape };
    },

    /**
     * Step 3 (testSecret): the pending version reads back by id and stage, differs from the current
     * one, keeps its fields, satisfies the generator policy, switched user (alternating-users), and,
     * with `verifyUrl`, is accepted by the system that uses it (HTTP Basic for user+password, Bearer
     * otherwise; 2xx passes, 401/403 fails the rotation, 5xx is retried).
     */
    async rotationTestSecret(input: { secretArn: string; idempotencyKey: string; verifyUrl?: string; current?: CurrentShape } & SecretRotationOptions): Promise<{ versionId: string; checks: string[] }> {
      const token = rotationToken(input.idempotencyKey);
      const fail = (why: string) => ApplicationFailure.nonRetryable(`testSecret failed for ${input.secretArn}: ${why}`, 'RotationTestFailed');
      let pending: string | undefined;
      try {
        pending = (await sm.send(new GetSecretValueCommand({ SecretId: input.secretArn, VersionId: token, VersionStage: 'AWSPENDING' }))).SecretString;
      } catch (err) {
        const map = await stages(input.secretArn);
        if (holding(map, 'AWSCURRENT') === token) return { versionId: token, checks: ['already current'] };
        if (!map[token]?.includes('AWSPENDING')) throw fail(`version ${token} is not AWSPENDING`);
        throw toFailure(err, 'GetSecretValue', `secret ${input.secretArn}`);
      }
      // createSecret compared the new value with the current one and passed the current shape on;
      // a resumed rotation did not, so the current version is read here.
      let c = input.current;
      let differs = 'differs from current (checked when generated)';
      if (!c) {
        const currentRes = await version(input.secretArn, { VersionStage: 'AWSCURRENT' });
        if (currentRes.VersionId === token) return { versionId: token, checks: ['already current'] };
        if (pending !== undefined && pending === currentRes.SecretString) throw fail('the pending version equals the current one');
        c = currentRes.SecretString === undefined ? undefined : credentialShape(currentRes.SecretString, input.strategy);
        differs = 'differs from current';
      }
      if (!pending) throw fail('the pending version is empty');
      const p = credentialParts(pending, input.strategy);
      const checks = [`version ${token} reads back as AWSPENDING`, differs];
      const policy = generatorOf(input);
      // A key-pair secret's first rotation adds privateKey/publicKey to whatever fields it had.
      const firstPair = policy.kind === 'keypair' && !(c?.fields ?? '').split(',').includes('privateKey');
      if (c && c.fields !== p.fields && !firstPair) throw fail("the pending version changed the secret's fields");
      if (c?.fields && !firstPair) checks.push('same fields as current');
      if (policy.kind === 'keypair') {
        if (input.verifyUrl) throw fail('verifyUrl presents passwords and tokens; a key pair is checked by its target');
        let pair: Partial<KeyPairPem>;
        try {
          pair = JSON.parse(pending) as Partial<KeyPairPem>;
        } catch {
          throw fail('the pending version is not JSON');
        }
        const problems = checkKeyPair(pair, policy.algorithm);
        if (problems.length) throw fail(`the new key pair is not valid: ${problems.join('; ')}`);
        checks.push(`a matching ${policy.algorithm} key pair`);
      } else {
        if (p.credentials.length === 0) throw fail('no credential field in the pending version');
        for (const cred of p.credentials) {
          const problems = checkValue(cred, policy);
          if (problems.length) throw fail(`the new credential breaks the generator policy: ${problems.join('; ')}`);
        }
        checks.push(`credential matches policy (${policy.kind}, ${policy.length} chars)`);
      }
      if (input.strategy === 'alternating-users') {
        if (!c?.username || !p.username) throw fail('alternating-users needs a username in both versions');
        let expected: string;
        try {
          expected = otherUser(c.username, input.userPair);
        } catch (err) {
          throw strategyFailure(err, input.secretArn);
        }
        if (p.username !== expected) throw fail(`the pending version authenticates as ${p.username}, expected ${expected}`);
        checks.push(`switches user ${c.username} → ${p.username}`);
      }
      if (input.verifyUrl) {
        const password = p.credentials[0]!;
        const authorization = p.username ? `Basic ${Buffer.from(`${p.username}:${password}`).toString('base64')}` : `Bearer ${password}`;
        let status: number;
        try {
          status = (await fetch(input.verifyUrl, { method: 'POST', headers: { authorization }, signal: AbortSignal.timeout(5000) })).status;
        } catch (err) {
          throw ApplicationFailure.retryable(`testSecret could not reach ${input.verifyUrl}: ${(err as Error).message}`, 'TargetUnavailable');
        }
        if (status >= 500 || status === 429) throw ApplicationFailure.retryable(`testSecret: ${input.verifyUrl} answered ${status}`, 'TargetUnavailable');
        if (status < 200 || status >= 300) throw fail(`${input.verifyUrl} refused the new credential (HTTP ${status})`);
        checks.push(`accepted by ${input.verifyUrl} (HTTP ${status})`);
      }
      return { versionId: token, checks };
    },

    /**
     * Step 4 (finishSecret): AWSCURRENT moves to this rotation's version (AWS gives the old one
     * AWSPREVIOUS), AWSPENDING is released, and the labels are read back. With the current version
     * id from step 1 the common path is three calls; a retry finds where it left off.
     */
    async rotationFinishSecret(input: { secretArn: string; idempotencyKey: string; currentVersionId?: string }): Promise<RotationEvidence> {
      const token = rotationToken(input.idempotencyKey);
      const where = `secret ${input.secretArn}`;
      const move = (from: string | undefined) =>
        sm.send(new UpdateSecretVersionStageCommand({ SecretId: input.secretArn, VersionStage: 'AWSCURRENT', MoveToVersionId: token, RemoveFromVersionId: from }));
      let moved = false;
      if (input.currentVersionId && input.currentVersionId !== token) {
        try {
          await move(input.currentVersionId);
          moved = true;
        } catch {
          // Someone (or an earlier attempt of this step) moved the label: look before acting.
        }
      }
      if (!moved) {
        const map = await stages(input.secretArn);
        const current = holding(map, 'AWSCURRENT');
        if (current !== token) {
          if (!map[token]) throw ApplicationFailure.nonRetryable(`${where}: version ${token} does not exist`, 'RotationStateError');
          await call('UpdateSecretVersionStage', where, () => move(current));
        }
      }
      try {
        await sm.send(new UpdateSecretVersionStageCommand({ SecretId: input.secretArn, VersionStage: 'AWSPENDING', RemoveFromVersionId: token }));
      } catch (err) {
        // Already released by an earlier attempt is fine; anything else is checked below or rethrown.
        if (!(await stages(input.secretArn))[token]?.every((l) => l !== 'AWSPENDING')) throw toFailure(err, 'UpdateSecretVersionStage', where);
      }
      const map = await stages(input.secretArn);
      if (!map[token]?.includes('AWSCURRENT')) throw notVerified(`${where}: AWSCURRENT is not on ${token} after finishSecret`);
      if (map[token]?.includes('AWSPENDING')) throw notVerified(`${where}: ${token} is still AWSPENDING after finishSecret`);
      return { secretArn: input.secretArn, newVersionId: token, previousVersionId: holding(map, 'AWSPREVIOUS'), stagesAfter: map };
    },

    /** After a failed test: release the AWSPENDING label of this rotation's version; AWSCURRENT stays where it is (read back). */
    async rotationAbandonPending(input: { secretArn: string; idempotencyKey: string }): Promise<{ removed: boolean; currentVersionId?: string }> {
      const token = rotationToken(input.idempotencyKey);
      let map = await stages(input.secretArn);
      if (holding(map, 'AWSCURRENT') === token) throw ApplicationFailure.nonRetryable(`secret ${input.secretArn}: version ${token} is already AWSCURRENT`, 'RotationStateError');
      const removed = Boolean(map[token]?.includes('AWSPENDING'));
      if (removed) {
        await removePending(input.secretArn, token);
        map = await stages(input.secretArn);
        if (map[token]?.includes('AWSPENDING')) throw notVerified(`secret ${input.secretArn}: ${token} is still AWSPENDING`);
      }
      return { removed, currentVersionId: holding(map, 'AWSCURRENT') };
    },

    /** On-demand rotation of a symmetric key; idempotent by `requestedAt` (a rotation since then is ours). */
    async rotationRotateKeyOnDemand(input: { keyId: string; requestedAt: string }): Promise<{ keyId: string; keyArn: string; rotationDate?: string; onDemandRotations: number; changed: boolean }> {
      const meta = await describeKey(input.keyId);
      if (meta.KeySpec !== 'SYMMETRIC_DEFAULT' || meta.Origin !== 'AWS_KMS') {
        throw ApplicationFailure.nonRetryable(
          `KMS key ${input.keyId} is ${meta.KeySpec} (${meta.Origin}): AWS rotates only symmetric AWS_KMS keys in place; replace asymmetric and HMAC keys behind their alias (bulwark rotate key <alias> --replace)`,
          'UnsupportedOperationException',
        );
      }
      if (meta.KeyState !== 'Enabled') throw ApplicationFailure.nonRetryable(`KMS key ${input.keyId} is ${meta.KeyState}: only an enabled key can rotate`, 'KMSInvalidStateException');
      const since = Date.parse(input.requestedAt) - 1000;
      const ours = async () => {
        const all = await rotations(meta.KeyId!);
        return { all, mine: all.filter((r) => r.RotationType === 'ON_DEMAND' && r.RotationDate && r.RotationDate.getTime() >= since).at(-1) };
      };
      const before = await ours();
      const count = (list: typeof before.all) => list.filter((r) => r.RotationType === 'ON_DEMAND').length;
      if (before.mine) return { keyId: meta.KeyId!, keyArn: meta.Arn!, rotationDate: before.mine.RotationDate!.toISOString(), onDemandRotations: count(before.all), changed: false };
      try {
        await sendOnce((c) => kms.send(c), new RotateKeyOnDemandCommand({ KeyId: meta.KeyId! }));
      } catch (err) {
        const e = err as { name?: string; message?: string };
        if (e.name === 'LimitExceededException') throw ApplicationFailure.nonRetryable(explainOnDemandCap(meta.KeyId!, count(before.all), e.message ?? ''), 'OnDemandRotationCapReached');
        // ConflictException: an on-demand rotation of this key is already in progress; wait and look again.
        if (e.name === 'ConflictException') throw ApplicationFailure.retryable(`KMS key ${input.keyId}: an on-demand rotation is in progress`, 'ConflictException');
        throw toFailure(err, 'RotateKeyOnDemand', `KMS key ${input.keyId}`);
      }
      const after = await ours();
      if (!after.mine) {
        // Rotation runs asynchronously in AWS: the status shows it started even before the list does.
        const status = await call('GetKeyRotationStatus', `KMS key ${input.keyId}`, () => kms.send(new GetKeyRotationStatusCommand({ KeyId: meta.KeyId! })));
        if (!status.OnDemandRotationStartDate) throw notVerified(`KMS key ${input.keyId}: no on-demand rotation recorded after RotateKeyOnDemand`);
        return { keyId: meta.KeyId!, keyArn: meta.Arn!, rotationDate: status.OnDemandRotationStartDate.toISOString(), onDemandRotations: count(after.all) + 1, changed: true };
      }
      return { keyId: meta.KeyId!, keyArn: meta.Arn!, rotationDate: after.mine.RotationDate!.toISOString(), onDemandRotations: count(after.all), changed: true };
    },

    /** Automatic rotation with a custom period (90–2560 days); read back with GetKeyRotationStatus. */
    async rotationEnableAutomaticRotation(input: { keyId: string; periodDays: number }): Promise<{ keyId: string; keyArn: string; enabled: boolean; periodDays?: number; nextRotationDate?: string; changed: boolean }> {
      const problem = checkRotationPeriodDays(input.periodDays);
      if (problem) throw ApplicationFailure.nonRetryable(problem, 'InvalidParameters');
      const meta = await describeKey(input.keyId);
      if (meta.KeySpec !== 'SYMMETRIC_DEFAULT' || meta.Origin !== 'AWS_KMS') {
        throw ApplicationFailure.nonRetryable(`KMS key ${input.keyId} is ${meta.KeySpec} (${meta.Origin}): automatic rotation is only for symmetric AWS_KMS keys`, 'UnsupportedOperationException');
      }
      const status = () => call('GetKeyRotationStatus', `KMS key ${input.keyId}`, () => kms.send(new GetKeyRotationStatusCommand({ KeyId: meta.KeyId! })));
      const before = await status();
      const same = before.KeyRotationEnabled && (before.RotationPeriodInDays === undefined || before.RotationPeriodInDays === input.periodDays);
      if (!same) await call('EnableKeyRotation', `KMS key ${input.keyId}`, () => kms.send(new EnableKeyRotationCommand({ KeyId: meta.KeyId!, RotationPeriodInDays: input.periodDays })));
      const after = await status();
      if (!after.KeyRotationEnabled) throw notVerified(`KMS key ${input.keyId}: automatic rotation reads disabled after EnableKeyRotation`);
      // The sandbox does not report the period; AWS does, and then it must match.
      if (after.RotationPeriodInDays !== undefined && after.RotationPeriodInDays !== input.periodDays) throw notVerified(`KMS key ${input.keyId}: rotation period reads ${after.RotationPeriodInDays} days, asked for ${input.periodDays}`);
      return { keyId: meta.KeyId!, keyArn: meta.Arn!, enabled: true, periodDays: after.RotationPeriodInDays, nextRotationDate: after.NextRotationDate?.toISOString(), changed: !same };
    },

    /**
     * A new key with the old key's KeySpec, KeyUsage, key policy and tags, for an asymmetric or
     * HMAC key behind `aliasName`. Idempotent: a marker alias `alias/bulwark/replacement-<token>`
     * points at the key made for this rotation; a retry after a crash between CreateKey and the
     * marker finds the key by its `bulwark:rotation-token` tag.
     */
    async rotationCreateReplacementKey(input: { aliasName: string; idempotencyKey: string }): Promise<ReplacementKey> {
      const token = rotationToken(input.idempotencyKey);
      const aliasName = normaliseAlias(input.aliasName);
      const existing = await findKey(marker(token));
      const resolveOld = async (): Promise<KeyMetadata> => {
        const tags = existing ? (await call('ListResourceTags', `KMS key ${existing.KeyId}`, () => kms.send(new ListResourceTagsCommand({ KeyId: existing.KeyId! })))).Tags ?? [] : [];
        const replaced = tags.find((t) => t.TagKey === 'bulwark:replaces')?.TagValue;
        return describeKey(replaced ?? aliasName);
      };
      const old = await resolveOld();
      if (old.KeySpec === 'SYMMETRIC_DEFAULT') {
        throw ApplicationFailure.nonRetryable(`KMS key ${old.KeyId} behind ${aliasName} is symmetric: rotate it in place (bulwark rotate key ${aliasName}), which keeps old ciphertexts decryptable`, 'UnsupportedOperationException');
      }
      const result = (k: KeyMetadata, created: boolean): ReplacementKey => ({
        oldKeyId: old.KeyId!, oldKeyArn: old.Arn!, newKeyId: k.KeyId!, newKeyArn: k.Arn!, keySpec: k.KeySpec!, keyUsage: k.KeyUsage!, created,
      });
      if (existing) return result(existing, false);
      let created: KeyMetadata | undefined;
      if (Context.current().info.attempt > 1) created = await findByToken(token);
      if (!created) {
        const { Policy } = await call('GetKeyPolicy', `KMS key ${old.KeyId}`, () => kms.send(new GetKeyPolicyCommand({ KeyId: old.KeyId!, PolicyName: 'default' })));
        const { Tags } = await call('ListResourceTags', `KMS key ${old.KeyId}`, () => kms.send(new ListResourceTagsCommand({ KeyId: old.KeyId! })));
        const keep = (Tags ?? []).filter((t) => !t.TagKey?.startsWith('bulwark:'));
        const made = await call('CreateKey', `replacement for ${old.KeyId}`, () =>
          kms.send(
            new CreateKeyCommand({
              KeySpec: old.KeySpec,
              KeyUsage: old.KeyUsage,
              Policy,
              Description: `replaces ${old.KeyId} behind ${aliasName} (bulwark rotation)`,
              Tags: [...keep, { TagKey: 'bulwark:replaces', TagValue: old.KeyId! }, { TagKey: 'bulwark:rotation-token', TagValue: token }],
            }),
          ),
        );
        created = made.KeyMetadata!;
      }
      try {
        await kms.send(new CreateAliasCommand({ AliasName: marker(token), TargetKeyId: created.KeyId! }));
      } catch (err) {
        if ((err as { name?: string }).name !== 'AlreadyExistsException') throw toFailure(err, 'CreateAlias', marker(token));
      }
      const check = await describeKey(marker(token));
      if (check.KeySpec !== old.KeySpec || check.KeyUsage !== old.KeyUsage) throw notVerified(`replacement key ${check.KeyId} is ${check.KeySpec}/${check.KeyUsage}, expected ${old.KeySpec}/${old.KeyUsage}`);
      return result(check, true);

      async function findByToken(t: string): Promise<KeyMetadata | undefined> {
        let Marker: string | undefined;
        do {
          const page = await call('ListKeys', 'KMS keys', () => kms.send(new ListKeysCommand({ Marker })));
          for (const k of page.Keys ?? []) {
            const { Tags } = await call('ListResourceTags', `KMS key ${k.KeyId}`, () => kms.send(new ListResourceTagsCommand({ KeyId: k.KeyId! })));
            if (Tags?.some((tag) => tag.TagKey === 'bulwark:rotation-token' && tag.TagValue === t)) return describeKey(k.KeyId!);
          }
          Marker = page.Truncated ? page.NextMarker : undefined;
        } while (Marker);
        return undefined;
      }
    },

    /** Points the alias at the key; read back through the alias. */
    async rotationMoveAlias(input: { aliasName: string; targetKeyId: string }): Promise<{ aliasName: string; targetKeyId: string; previousKeyId: string; changed: boolean }> {
      const aliasName = normaliseAlias(input.aliasName);
      const before = await describeKey(aliasName);
      if (before.KeyId !== input.targetKeyId) {
        await call('UpdateAlias', aliasName, () => kms.send(new UpdateAliasCommand({ AliasName: aliasName, TargetKeyId: input.targetKeyId })));
      }
      const after = await describeKey(aliasName);
      if (after.KeyId !== input.targetKeyId) throw notVerified(`${aliasName} points at ${after.KeyId} after UpdateAlias, expected ${input.targetKeyId}`);
      return { aliasName, targetKeyId: after.KeyId!, previousKeyId: before.KeyId!, changed: before.KeyId !== input.targetKeyId };
    },

    /**
     * Deletion after approval, with our own safety checks (the sandbox enforces neither): a 7–30 day
     * window, the key already disabled, and no alias still pointing at it.
     */
    async rotationScheduleKeyDeletion(input: { keyId: string; pendingWindowDays: number }): Promise<{ keyId: string; keyState: string; deletionDate?: string; changed: boolean }> {
      const problem = checkDeletionWindowDays(input.pendingWindowDays);
      if (problem) throw ApplicationFailure.nonRetryable(problem, 'InvalidParameters');
      const meta = await describeKey(input.keyId);
      if (meta.KeyState === 'PendingDeletion') return { keyId: meta.KeyId!, keyState: 'PendingDeletion', deletionDate: meta.DeletionDate?.toISOString(), changed: false };
      if (meta.KeyState !== 'Disabled') throw ApplicationFailure.nonRetryable(`KMS key ${input.keyId} is ${meta.KeyState}: bulwark schedules deletion only of a disabled key`, 'KMSInvalidStateException');
      const { Aliases } = await call('ListAliases', `KMS key ${input.keyId}`, () => kms.send(new ListAliasesCommand({ KeyId: meta.KeyId! })));
      const still = (Aliases ?? []).filter((a) => !a.AliasName?.startsWith('alias/bulwark/'));
      if (still.length) throw ApplicationFailure.nonRetryable(`KMS key ${input.keyId} is still the target of ${still.map((a) => a.AliasName).join(', ')}: not deleting a key in use`, 'KeyInUse');
      await call('ScheduleKeyDeletion', `KMS key ${input.keyId}`, () => kms.send(new ScheduleKeyDeletionCommand({ KeyId: meta.KeyId!, PendingWindowInDays: input.pendingWindowDays })));
      const after = await describeKey(input.keyId);
      if (after.KeyState !== 'PendingDeletion') throw notVerified(`KMS key ${input.keyId} reads ${after.KeyState} after ScheduleKeyDeletion`);
      return { keyId: after.KeyId!, keyState: 'PendingDeletion', deletionDate: after.DeletionDate?.toISOString(), changed: true };
    },

    /** Cancels a scheduled deletion; AWS leaves the key Disabled (read back). */
    async rotationCancelKeyDeletion(input: { keyId: string }): Promise<{ keyId: string; keyState: string; changed: boolean }> {
      const meta = await describeKey(input.keyId);
      if (meta.KeyState !== 'PendingDeletion') return { keyId: meta.KeyId!, keyState: meta.KeyState!, changed: false };
      await call('CancelKeyDeletion', `KMS key ${input.keyId}`, () => kms.send(new CancelKeyDeletionCommand({ KeyId: meta.KeyId! })));
      const after = await describeKey(input.keyId);
      if (after.KeyState === 'PendingDeletion') throw notVerified(`KMS key ${input.keyId} is still PendingDeletion after CancelKeyDeletion`);
      return { keyId: after.KeyId!, keyState: after.KeyState!, changed: true };
    },

    /** The key's state now (gone keys read "Deleted"). */
    async rotationKeyState(input: { keyId: string }): Promise<{ keyId: string; keyState: string }> {
      const meta = await findKey(input.keyId);
      return { keyId: input.keyId, keyState: meta?.KeyState ?? 'Deleted' };
    },
  };
}

export type RotationActivities = ReturnType<typeof createRotationActivities>;
