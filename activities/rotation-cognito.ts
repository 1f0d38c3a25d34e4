import {
  AddUserPoolClientSecretCommand,
  DeleteUserPoolClientSecretCommand,
  ListUserPoolClientSecretsCommand,
  type CognitoIdentityProviderClient,
} from '@aws-sdk/client-cognito-identity-provider';
import { ApplicationFailure } from '@temporalio/common';
import { checkCognitoSecret, COGNITO_SECRETS_PER_CLIENT } from '../domain/rotation/cognito-secret.js';
import type { CognitoAppClientTarget } from '../domain/rotation/target.js';
import type { z } from 'zod';
import { call, notVerified, toFailure } from './failures.js';

/**
 * The `cognito-app-client` rotation target: the pending credential becomes the app client's second
 * client secret (AddUserPoolClientSecret with the value from AWSPENDING), and the secrets the client
 * held before the rotation are deleted when the previous credential is retired.
 *
 * Cognito never returns a secret's value after it is added (ListUserPoolClientSecrets gives ids and
 * create dates only), so which secret is whose cannot be read back by value. It is told apart by
 * ids: the workflow records the client's secret ids *before* setSecret (rotationCognitoClientSecrets,
 * an ordinary activity, so the list is in history before anything is added). Any id that is not in
 * that list is the one this rotation added: a retried setSecret finds it and adds nothing; a failed
 * testSecret deletes exactly it; retiring deletes exactly the ids from the list, and only while the
 * new one is still there. A create date cannot do this job: Secrets Manager and Cognito are
 * different clocks (and the sandbox's Secrets Manager counts whole seconds).
 *
 * Values go only to AddUserPoolClientSecret; what returns is client and secret ids.
 */

type Target = z.infer<typeof CognitoAppClientTarget>;

export interface CognitoEvidence {
  kind: 'cognito-app-client';
  clientId: string;
  /** The client secret that holds the new version's value. */
  clientSecretId?: string;
  /** The client's secrets before this rotation's setSecret: the previous credential(s). */
  priorClientSecretIds?: string[];
  deletedClientSecretIds?: string[];
  /** The version whose credential was set (setSecret) or revoked. */
  versionId: string;
  changed: boolean;
}

export function createCognitoTarget({ cognito }: { cognito: CognitoIdentityProviderClient }) {
  const where = (t: Target) => `app client ${t.clientId} of user pool ${t.userPoolId}`;
  async function secrets(t: Target): Promise<{ id: string; created?: Date }[]> {
    // No pagination: a client holds at most two secrets and Cognito returns them in one answer.
    const r = await call('ListUserPoolClientSecrets', where(t), () => cognito.send(new ListUserPoolClientSecretsCommand({ UserPoolId: t.userPoolId, ClientId: t.clientId })));
    return (r.ClientSecrets ?? []).filter((s) => s.ClientSecretId).map((s) => ({ id: s.ClientSecretId!, created: s.ClientSecretCreateDate }));
  }
  const full = (t: Target, held: { id: string; created?: Date }[]) =>
    ApplicationFailure.nonRetryable(
      `${where(t)} already holds ${held.length} client secrets (${held.map((s) => `${s.id}${s.created ? ` created ${s.created.toISOString()}` : ''}`).join(', ')}), none added by this rotation: ` +
        `Cognito allows ${COGNITO_SECRETS_PER_CLIENT} per client, so there is no room for the new one. Delete the one no consumer uses any more ` +
        '(DeleteUserPoolClientSecret; usually the older one, kept by a rotation whose consumers did not confirm) and rotate again',
      'TargetFull',
    );

  return {
    async list(t: Target): Promise<string[]> {
      return (await secrets(t)).map((s) => s.id);
    },

    async set(input: { target: Target; secretName: string; versionId: string; credential: string; priorClientSecretIds?: string[] }): Promise<CognitoEvidence> {
      const t = input.target;
      const problems = checkCognitoSecret(input.credential);
      if (problems.length) {
        throw ApplicationFailure.nonRetryable(
          `secret ${input.secretName}: the new credential cannot be a Cognito client secret (${problems.join('; ')}); use a generator of letters and digits, 24–64 characters (the default for this target)`,
          'InvalidParameters',
        );
      }
      if (!input.priorClientSecretIds) throw ApplicationFailure.nonRetryable(`${where(t)}: setSecret needs the client's secret ids recorded before it (rotationCognitoClientSecrets)`, 'InvalidParameters');
      const before = new Set(input.priorClientSecretIds);
      let held = await secrets(t);
      let added = held.filter((s) => !before.has(s.id));
      if (added.length > 1) {
        throw ApplicationFailure.nonRetryable(`${where(t)} gained client secrets ${added.map((s) => s.id).join(', ')} since this rotation looked: something else is changing its secrets; adding none`, 'TargetConflict');
      }
      const changed = added.length === 0;
      if (changed) {
        if (held.length >= COGNITO_SECRETS_PER_CLIENT) throw full(t, held);
        let addedId: string | undefined;
        try {
          const r = await cognito.send(new AddUserPoolClientSecretCommand({ UserPoolId: t.userPoolId, ClientId: t.clientId, ClientSecret: input.credential }));
          addedId = r.ClientSecretDescriptor?.ClientSecretId;
        } catch (err) {
          if ((err as { name?: string }).name === 'LimitExceededException') throw full(t, await secrets(t));
          throw toFailure(err, 'AddUserPoolClientSecret', where(t));
        }
        held = await secrets(t);
        added = held.filter((s) => !before.has(s.id));
        if (added.length !== 1 || (addedId && added[0]!.id !== addedId)) throw notVerified(`${where(t)} does not list the client secret just added${addedId ? ` (${addedId})` : ''}`);
      }
      return { kind: 'cognito-app-client', clientId: t.clientId, clientSecretId: added[0]!.id, priorClientSecretIds: input.priorClientSecretIds, versionId: input.versionId, changed };
    },

    /**
     * Deletes one version's client secret(s): the one setSecret added when `versionId` is the
     * version it set (testSecret failed), else the ones the client held before (retiring).
     */
    async revoke(input: { target: Target; versionId: string; set?: { clientSecretId?: string; priorClientSecretIds?: string[]; versionId?: string } }): Promise<CognitoEvidence> {
      const t = input.target;
      const set = input.set;
      if (!set?.clientSecretId || !set.versionId) {
        throw ApplicationFailure.nonRetryable(`${where(t)}: which client secret holds version ${input.versionId} is known only from this rotation's setSecret evidence, which was not given`, 'InvalidParameters');
      }
      const held = await secrets(t);
      const have = new Set(held.map((s) => s.id));
      const abandoning = input.versionId === set.versionId;
      if (!abandoning && !have.has(set.clientSecretId)) {
        throw ApplicationFailure.nonRetryable(
          `${where(t)} no longer holds the new client secret ${set.clientSecretId}: not deleting the older ones, which would leave the client without the secret AWSCURRENT holds`,
          'TargetStateError',
        );
      }
      const doomed = (abandoning ? [set.clientSecretId] : (set.priorClientSecretIds ?? [])).filter((id) => have.has(id));
      if (doomed.length > 0 && doomed.length >= held.length) {
        throw ApplicationFailure.nonRetryable(`${where(t)}: deleting ${doomed.join(', ')} would leave the client without any secret; Cognito refuses that and so do we`, 'TargetStateError');
      }
      for (const id of doomed) {
        try {
          await cognito.send(new DeleteUserPoolClientSecretCommand({ UserPoolId: t.userPoolId, ClientId: t.clientId, ClientSecretId: id }));
        } catch (err) {
          // Gone already: a retry after a lost response.
          if ((err as { name?: string }).name !== 'ResourceNotFoundException') throw toFailure(err, 'DeleteUserPoolClientSecret', `${where(t)}, secret ${id}`);
        }
      }
      const left = new Set((await secrets(t)).map((s) => s.id));
      const still = doomed.filter((id) => left.has(id));
      if (still.length) throw notVerified(`${where(t)} still lists client secret(s) ${still.join(', ')} after deleting them`);
      return {
        kind: 'cognito-app-client',
        clientId: t.clientId,
        ...(abandoning ? { clientSecretId: set.clientSecretId } : {}),
        deletedClientSecretIds: doomed,
        versionId: input.versionId,
        changed: doomed.length > 0,
      };
    },
  };
}
