import {
  DeleteAccessKeyCommand,
  GetAccessKeyLastUsedCommand,
  GetRolePolicyCommand,
  ListAccessKeysCommand,
  PutRolePolicyCommand,
  UpdateAccessKeyCommand,
  type AccessKeyMetadata,
  type IAMClient,
} from '@aws-sdk/client-iam';
import { ApplicationFailure } from '@temporalio/common';
import { call, notFound, notVerified, toFailure } from './failures.js';

/**
 * IAM containment for leaked AWS credentials (GuardDuty's credential-exfiltration findings and
 * the like): long-term access keys are deactivated (reversible, the compensation is
 * reactivateAccessKey) and deleted only once inactive (irreversible: behind approval); role
 * sessions are revoked the way the console's "Revoke active sessions" does it. Only ids, names,
 * statuses and timestamps are returned — an access key's secret is never read (IAM cannot return it
 * after creation anyway).
 */

export type AccessKeyStatus = 'Active' | 'Inactive';

export interface AccessKeyEvidence {
  accessKeyId: string;
  userName: string;
  /** The status read back from ListAccessKeys after the step. */
  status: AccessKeyStatus;
  /** false when the key already had the wanted status (a retry, or someone got there first). */
  changed: boolean;
  createDate?: string;
  verifiedAt: string;
}

export interface AccessKeyDeletionEvidence {
  accessKeyId: string;
  userName: string;
  /** false when the key was already gone: a retry after a crash, or deleted by someone else. */
  deleted: boolean;
  /** ListAccessKeys no longer lists the key. */
  verifiedAbsentAt: string;
}

/** The name the AWS console gives the inline policy written by "Revoke active sessions". */
export const REVOKE_SESSIONS_POLICY = 'AWSRevokeOlderSessions';

export interface RoleSessionsEvidence {
  roleName: string;
  policyName: string;
  /** The cut-off in force after the step (ISO 8601, UTC): sessions issued before it are denied. */
  issuedBefore: string;
  /** The cut-off that was in force before the step, if the policy existed and could be read. */
  previousIssuedBefore?: string;
  /** false when an equal or later cut-off was already in force: nothing was written. */
  changed: boolean;
  verifiedAt: string;
}

/** The policy document the console writes (docs: IAM User Guide, "Revoke IAM role temporary security credentials"). */
export function revokeSessionsPolicy(issuedBefore: string): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: {
      Effect: 'Deny',
      Action: '*',
      Resource: '*',
      Condition: { DateLessThan: { 'aws:TokenIssueTime': issuedBefore } },
    },
  });
}

/**
 * The cut-off of an AWSRevokeOlderSessions policy, or undefined when the document does not have the
 * console's shape (one Deny * on * statement, as an object or a one-element array, conditioned
 * only on aws:TokenIssueTime DateLessThan). IAM returns policy documents URL-encoded.
 */
export function parseRevokeSessionsPolicy(document: string): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(decodeURIComponent(document));
  } catch {
    return undefined;
  }
  const statements = (parsed as { Statement?: unknown })?.Statement;
  const list = Array.isArray(statements) ? statements : [statements];
  if (list.length !== 1) return undefined;
  const s = list[0] as { Effect?: unknown; Action?: unknown; Resource?: unknown; Condition?: Record<string, Record<string, unknown>> } | undefined;
  const star = (v: unknown) => v === '*' || (Array.isArray(v) && v.length === 1 && v[0] === '*');
  if (!s || s.Effect !== 'Deny' || !star(s.Action) || !star(s.Resource)) return undefined;
  const conditions = Object.keys(s.Condition ?? {});
  if (conditions.length !== 1 || conditions[0] !== 'DateLessThan') return undefined;
  const dateLessThan = s.Condition!.DateLessThan!;
  if (Object.keys(dateLessThan).length !== 1) return undefined;
  const raw = dateLessThan['aws:TokenIssueTime'];
  const value = Array.isArray(raw) && raw.length === 1 ? raw[0] : raw;
  if (typeof value !== 'string' || Number.isNaN(Date.parse(value))) return undefined;
  return value;
}

function canonicalInstant(value: string, field: string): string {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw ApplicationFailure.nonRetryable(`${field} is not an ISO 8601 instant: ${JSON.stringify(value)}`, 'InvalidInput');
  return new Date(ms).toISOString();
}

const isNoSuchEntity = (err: unknown) => {
  // The SDK names it NoSuchEntityException; once wrapped by call() the name is the failure's type.
  const e = err as { name?: string; type?: string | null };
  return e?.name === 'NoSuchEntity' || e?.name === 'NoSuchEntityException' || e?.type === 'NoSuchEntity' || e?.type === 'NoSuchEntityException';
};

export function createIamActivities({ iam }: { iam: IAMClient }) {
  async function listKeys(userName: string): Promise<AccessKeyMetadata[]> {
    const keys: AccessKeyMetadata[] = [];
    let Marker: string | undefined;
    do {
      const page = await call('ListAccessKeys', `IAM user ${userName}`, () => iam.send(new ListAccessKeysCommand({ UserName: userName, Marker })));
      keys.push(...(page.AccessKeyMetadata ?? []));
      Marker = page.IsTruncated ? page.Marker : undefined;
    } while (Marker);
    return keys;
  }

  async function findKey(accessKeyId: string, userName: string): Promise<AccessKeyMetadata | undefined> {
    return (await listKeys(userName)).find((k) => k.AccessKeyId === accessKeyId);
  }

  /** The user that owns a key: GetAccessKeyLastUsed names it for any key in the account. */
  async function ownerOf(accessKeyId: string): Promise<string> {
    const r = await call('GetAccessKeyLastUsed', `access key ${accessKeyId}`, () => iam.send(new GetAccessKeyLastUsedCommand({ AccessKeyId: accessKeyId })));
    if (!r.UserName) throw notFound(`access key ${accessKeyId}: IAM does not name an owning user (a root or another account's key?)`);
    return r.UserName;
  }

  async function setStatus(input: { accessKeyId: string; userName?: string }, wanted: AccessKeyStatus): Promise<AccessKeyEvidence> {
    const { accessKeyId } = input;
    const userName = input.userName ?? (await ownerOf(accessKeyId));
    const before = await findKey(accessKeyId, userName);
    if (!before) throw notFound(`access key ${accessKeyId} does not belong to IAM user ${userName} (or was deleted)`);
    const changed = before.Status !== wanted;
    if (changed) {
      await call('UpdateAccessKey', `access key ${accessKeyId} of ${userName}`, () =>
        iam.send(new UpdateAccessKeyCommand({ UserName: userName, AccessKeyId: accessKeyId, Status: wanted })),
      );
    }
    const after = await findKey(accessKeyId, userName);
    if (after?.Status !== wanted) {
      throw notVerified(`access key ${accessKeyId} of ${userName} reads back as ${after?.Status ?? 'missing'} after setting ${wanted}`);
    }
    return {
      accessKeyId,
      userName,
      status: wanted,
      changed,
      createDate: after.CreateDate?.toISOString(),
      verifiedAt: new Date().toISOString(),
    };
  }

  return {
    /**
     * Deactivates a long-term access key; the owning user is looked up when not given. Reversible
     * (reactivateAccessKey). Safe to repeat: an already inactive key reports changed=false.
     */
    async deactivateAccessKey(input: { accessKeyId: string; userName?: string }): Promise<AccessKeyEvidence> {
      return setStatus(input, 'Inactive');
    },

    /** The compensation of deactivateAccessKey. */
    async reactivateAccessKey(input: { accessKeyId: string; userName?: string }): Promise<AccessKeyEvidence> {
      return setStatus(input, 'Active');
    },

    /**
     * Deletes an access key — irreversible, so it runs only after approval, and only for a key that
     * is already Inactive (deactivate first: a still-active key may be in legitimate use, and the
     * inactive period is the chance to notice). Safe to repeat: a key already gone reports
     * deleted=false. The user must exist: a missing user is not something our own retry causes.
     */
    async deleteAccessKey(input: { accessKeyId: string; userName: string }): Promise<AccessKeyDeletionEvidence> {
      const { accessKeyId, userName } = input;
      const before = await findKey(accessKeyId, userName);
      if (before) {
        if (before.Status !== 'Inactive') {
          throw ApplicationFailure.nonRetryable(
            `access key ${accessKeyId} of ${userName} is ${before.Status ?? 'in an unknown state'}; only an Inactive key may be deleted — deactivate it first`,
            'AccessKeyStillActive',
          );
        }
        try {
          await call('DeleteAccessKey', `access key ${accessKeyId} of ${userName}`, () =>
            iam.send(new DeleteAccessKeyCommand({ UserName: userName, AccessKeyId: accessKeyId })),
          );
        } catch (err) {
          // Deleted between our read and our call (a concurrent attempt): the end state is what we want.
          if (!isNoSuchEntity(err)) throw err;
        }
      }
      if (await findKey(accessKeyId, userName)) throw notVerified(`access key ${accessKeyId} of ${userName} is still listed after DeleteAccessKey`);
      return { accessKeyId, userName, deleted: Boolean(before), verifiedAbsentAt: new Date().toISOString() };
    },

    /**
     * Denies every action to sessions of the role issued before `issuedBefore`, by putting the
     * inline policy AWSRevokeOlderSessions exactly as the console does. New sessions (assumed after
     * the cut-off) are unaffected. The cut-off only ever moves forward: an equal or later one already
     * in force is kept (changed=false), so a retry or a replayed older step never re-admits sessions.
     * A policy of that name in any other shape is replaced. Read back with GetRolePolicy.
     * Note: AWS documents that policy changes can take a few minutes to propagate.
     */
    async revokeRoleSessions(input: { roleName: string; issuedBefore: string }): Promise<RoleSessionsEvidence> {
      const { roleName } = input;
      const wanted = canonicalInstant(input.issuedBefore, 'issuedBefore');
      const resource = `role ${roleName} policy ${REVOKE_SESSIONS_POLICY}`;
      const read = async (): Promise<{ exists: boolean; cutoff?: string }> => {
        try {
          const p = await iam.send(new GetRolePolicyCommand({ RoleName: roleName, PolicyName: REVOKE_SESSIONS_POLICY }));
          return { exists: true, cutoff: p.PolicyDocument ? parseRevokeSessionsPolicy(p.PolicyDocument) : undefined };
        } catch (err) {
          // GetRolePolicy answers NoSuchEntity both for a missing policy and a missing role; PutRolePolicy tells them apart.
          if (isNoSuchEntity(err)) return { exists: false };
          throw toFailure(err, 'GetRolePolicy', resource);
        }
      };
      const before = await read();
      const previous = before.cutoff;
      if (previous && Date.parse(previous) >= Date.parse(wanted)) {
        return { roleName, policyName: REVOKE_SESSIONS_POLICY, issuedBefore: previous, previousIssuedBefore: previous, changed: false, verifiedAt: new Date().toISOString() };
      }
      await call('PutRolePolicy', resource, () =>
        iam.send(new PutRolePolicyCommand({ RoleName: roleName, PolicyName: REVOKE_SESSIONS_POLICY, PolicyDocument: revokeSessionsPolicy(wanted) })),
      );
      const after = await read();
      if (!after.cutoff || Date.parse(after.cutoff) !== Date.parse(wanted)) {
        // A concurrent run may have written a later cut-off in between: that is still a correct end state.
        if (after.cutoff && Date.parse(after.cutoff) > Date.parse(wanted)) {
          return { roleName, policyName: REVOKE_SESSIONS_POLICY, issuedBefore: after.cutoff, previousIssuedBefore: previous, changed: true, verifiedAt: new Date().toISOString() };
        }
        throw notVerified(`${resource} reads back with cut-off ${after.cutoff ?? '(none)'} after writing ${wanted}`);
      }
      return { roleName, policyName: REVOKE_SESSIONS_POLICY, issuedBefore: wanted, previousIssuedBefore: previous, changed: true, verifiedAt: new Date().toISOString() };
    },
  };
}

export type IamActivities = ReturnType<typeof createIamActivities>;
