import { createHash, randomBytes } from 'node:crypto';
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretsCommand,
  PutSecretValueCommand,
  UpdateSecretVersionStageCommand,
  type SecretsManagerClient,
  type UpdateSecretVersionStageCommandInput,
} from '@aws-sdk/client-secrets-manager';
import { ApplicationFailure } from '@temporalio/common';
import { call, notFound, notVerified } from './failures.js';

/**
 * Secrets Manager rotation, driven by us rather than a rotation Lambda, in the four AWS steps:
 * createSecret (new version labelled AWSPENDING), setSecret, testSecret, finishSecret (AWSCURRENT
 * moves, the old version becomes AWSPREVIOUS). Every step takes the same idempotency key; the
 * version id (ClientRequestToken) is derived from it, so a retried or replayed step finds its own
 * earlier work instead of creating a second version. Secret values never leave this module.
 */
export interface SecretRef {
  arn: string;
  name: string;
}

export interface RotationEvidence {
  secretArn: string;
  newVersionId: string;
  previousVersionId?: string;
  /** Labels read back from AWS after the move. */
  stagesAfter: Record<string, string[]>;
}

/** ClientRequestToken must be 32–64 characters; a UUID-shaped digest of the key fits and reads well. */
export function rotationToken(idempotencyKey: string): string {
  const h = createHash('sha256').update(idempotencyKey).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

const SECRET_FIELD = /secret|password|token|key/i;

/** A fresh credential in the same shape as the current one: JSON objects keep their keys, and fields that look like credentials get new values. */
export function generateLike(current: string | undefined): string {
  const fresh = () => randomBytes(32).toString('base64url');
  if (current) {
    try {
      const parsed: unknown = JSON.parse(current);
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
        const obj = parsed as Record<string, unknown>;
        const credentialFields = Object.keys(obj).filter((k) => SECRET_FIELD.test(k) && typeof obj[k] === 'string');
        if (credentialFields.length > 0) {
          for (const k of credentialFields) obj[k] = fresh();
          return JSON.stringify(obj);
        }
      }
    } catch {
      // Not JSON: the whole string is the credential.
    }
  }
  return fresh();
}

function jsonKeys(value: string): string | undefined {
  try {
    const parsed: unknown = JSON.parse(value);
    return parsed && typeof parsed === 'object' ? Object.keys(parsed).sort().join(',') : undefined;
  } catch {
    return undefined;
  }
}

export function createSecretsActivities({ sm, clientTag }: { sm: SecretsManagerClient; clientTag: string }) {
  async function stages(secretArn: string): Promise<Record<string, string[]>> {
    const d = await call('DescribeSecret', `secret ${secretArn}`, () => sm.send(new DescribeSecretCommand({ SecretId: secretArn })));
    return d.VersionIdsToStages ?? {};
  }
  const holding = (map: Record<string, string[]>, label: string) =>
    Object.entries(map).find(([, labels]) => labels.includes(label))?.[0];

  /**
   * Moves a staging label. When AWS made the move but its answer was lost, the SDK's retry of the
   * same move is refused (the label is no longer where the request says): if the labels already
   * read back as wanted, the move is done — found by the chaos suite (docs/chaos.md).
   */
  async function moveLabel(secretArn: string, move: Omit<UpdateSecretVersionStageCommandInput, 'SecretId'>, done: (map: Record<string, string[]>) => boolean): Promise<void> {
    try {
      await call('UpdateSecretVersionStage', `secret ${secretArn}`, () => sm.send(new UpdateSecretVersionStageCommand({ SecretId: secretArn, ...move })));
    } catch (err) {
      if (done(await stages(secretArn))) return;
      throw err;
    }
  }

  async function valueOf(secretArn: string, by: { VersionId?: string; VersionStage?: string }): Promise<string | undefined> {
    const v = await call('GetSecretValue', `secret ${secretArn}`, () =>
      // Always name a version or stage: a bare GetSecretValue can return a stale value after labels move.
      sm.send(new GetSecretValueCommand({ SecretId: secretArn, ...by })),
    );
    return v.SecretString;
  }

  return {
    /** The secrets to rotate: the one named, or every secret tagged `clientTag=<clientId>`. */
    async resolveSecrets(input: { secretId?: string; clientId?: string }): Promise<{ secrets: SecretRef[] }> {
      if (input.secretId) {
        const id = input.secretId;
        const d = await call('DescribeSecret', `secret ${id}`, () => sm.send(new DescribeSecretCommand({ SecretId: id })));
        return { secrets: [{ arn: d.ARN!, name: d.Name! }] };
      }
      if (!input.clientId) throw notFound('neither a secretId nor a clientId was given');
      const clientId = input.clientId;
      const secrets: SecretRef[] = [];
      let NextToken: string | undefined;
      do {
        const page = await call('ListSecrets', `client ${clientId}`, () =>
          sm.send(
            new ListSecretsCommand({
              Filters: [
                { Key: 'tag-key', Values: [clientTag] },
                { Key: 'tag-value', Values: [clientId] },
              ],
              NextToken,
            }),
          ),
        );
        for (const s of page.SecretList ?? []) {
          // The two filters match independently; keep only secrets whose clientTag really equals clientId.
          if (s.Tags?.some((t) => t.Key === clientTag && t.Value === clientId)) secrets.push({ arn: s.ARN!, name: s.Name! });
        }
        NextToken = page.NextToken;
      } while (NextToken);
      if (secrets.length === 0) throw notFound(`no Secrets Manager secret is tagged ${clientTag}=${clientId}`);
      return { secrets };
    },

    /** Step 1: a new version with a fresh value, labelled AWSPENDING. Does nothing if that version exists. */
    async createSecret(input: { secretArn: string; idempotencyKey: string }): Promise<{ versionId: string; created: boolean }> {
      const token = rotationToken(input.idempotencyKey);
      const before = await stages(input.secretArn);
      if (before[token]) return { versionId: token, created: false };
      // A pending version left by an earlier, abandoned rotation would block ours: release its label.
      const stale = holding(before, 'AWSPENDING');
      if (stale) {
        await moveLabel(input.secretArn, { VersionStage: 'AWSPENDING', RemoveFromVersionId: stale }, (m) => !m[stale]?.includes('AWSPENDING'));
      }
      const current = await valueOf(input.secretArn, { VersionStage: 'AWSCURRENT' });
      await call('PutSecretValue', `secret ${input.secretArn}`, () =>
        sm.send(
          new PutSecretValueCommand({
            SecretId: input.secretArn,
            ClientRequestToken: token,
            SecretString: generateLike(current),
            VersionStages: ['AWSPENDING'],
          }),
        ),
      );
      const after = await stages(input.secretArn);
      if (!after[token]?.includes('AWSPENDING')) throw notVerified(`secret ${input.secretArn}: version ${token} is not AWSPENDING after createSecret`);
      return { versionId: token, created: true };
    },

    /**
     * Step 2: hand the pending credential to the system that checks it. The demo's clients have no
     * downstream system yet (pluggable targets arrive with the rotation engine), so this step
     * confirms the pending version is in place and reports the target as "none".
     */
    async setSecret(input: { secretArn: string; idempotencyKey: string }): Promise<{ versionId: string; target: string }> {
      const token = rotationToken(input.idempotencyKey);
      const map = await stages(input.secretArn);
      if (holding(map, 'AWSCURRENT') === token) return { versionId: token, target: 'none' };
      if (!map[token]?.includes('AWSPENDING')) {
        throw ApplicationFailure.nonRetryable(`secret ${input.secretArn}: version ${token} is not AWSPENDING; createSecret did not complete`, 'RotationStateError');
      }
      return { versionId: token, target: 'none' };
    },

    /** Step 3: the pending value must exist, differ from the current one and keep its shape. */
    async testSecret(input: { secretArn: string; idempotencyKey: string }): Promise<{ versionId: string; checks: string[] }> {
      const token = rotationToken(input.idempotencyKey);
      const map = await stages(input.secretArn);
      if (holding(map, 'AWSCURRENT') === token) return { versionId: token, checks: ['already current'] };
      const pending = await valueOf(input.secretArn, { VersionId: token, VersionStage: 'AWSPENDING' });
      const current = await valueOf(input.secretArn, { VersionStage: 'AWSCURRENT' });
      if (!pending) throw ApplicationFailure.nonRetryable(`secret ${input.secretArn}: pending version ${token} is empty`, 'RotationTestFailed');
      if (pending === current) throw ApplicationFailure.nonRetryable(`secret ${input.secretArn}: pending version equals the current one`, 'RotationTestFailed');
      if (current && jsonKeys(current) !== jsonKeys(pending)) {
        throw ApplicationFailure.nonRetryable(`secret ${input.secretArn}: pending version changed the secret's fields`, 'RotationTestFailed');
      }
      return { versionId: token, checks: ['pending version readable', 'differs from current', 'same fields as current'] };
    },

    /** Step 4: AWSCURRENT moves to the new version (the old one becomes AWSPREVIOUS); read back to prove it. */
    async finishSecret(input: { secretArn: string; idempotencyKey: string }): Promise<RotationEvidence> {
      const token = rotationToken(input.idempotencyKey);
      let map = await stages(input.secretArn);
      const current = holding(map, 'AWSCURRENT');
      if (current !== token) {
        if (!map[token]) throw ApplicationFailure.nonRetryable(`secret ${input.secretArn}: version ${token} does not exist`, 'RotationStateError');
        await moveLabel(input.secretArn, { VersionStage: 'AWSCURRENT', MoveToVersionId: token, RemoveFromVersionId: current }, (m) => Boolean(m[token]?.includes('AWSCURRENT')));
        map = await stages(input.secretArn);
      }
      if (map[token]?.includes('AWSPENDING')) {
        await moveLabel(input.secretArn, { VersionStage: 'AWSPENDING', RemoveFromVersionId: token }, (m) => !m[token]?.includes('AWSPENDING'));
        map = await stages(input.secretArn);
      }
      if (!map[token]?.includes('AWSCURRENT')) throw notVerified(`secret ${input.secretArn}: AWSCURRENT is not on ${token} after finishSecret`);
      return {
        secretArn: input.secretArn,
        newVersionId: token,
        previousVersionId: holding(map, 'AWSPREVIOUS'),
        stagesAfter: map,
      };
    },
  };
}

export type SecretsActivities = ReturnType<typeof createSecretsActivities>;
