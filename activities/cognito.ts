import { createHash } from 'node:crypto';
import {
  AdminUserGlobalSignOutCommand,
  CreateUserPoolClientCommand,
  DeleteUserPoolClientCommand,
  DescribeUserPoolClientCommand,
  ListUserPoolClientsCommand,
  UpdateUserPoolClientCommand,
  type CognitoIdentityProviderClient,
  type CreateUserPoolClientRequest,
  type ExplicitAuthFlowsType,
  type UserPoolClientType,
} from '@aws-sdk/client-cognito-identity-provider';
import { ApplicationFailure } from '@temporalio/common';
import { call, notFound, notVerified, toFailure } from './failures.js';
import { sendOnce } from './send-once.js';

/**
 * Amazon Cognito user-pool app clients whose secret is compromised.
 *
 * How the secret is "rotated": the classic Cognito API cannot regenerate an app client's secret,
 * so we create a replacement client with the same settings and a generated secret, then retire the
 * compromised client (delete it — what actually revokes the secret — or disable its OAuth flows).
 * The replacement has a new client id: the TPP must be given the new id and secret out of band
 * (the secret stays in Cognito; an authorised operator reads it with DescribeUserPoolClient). This
 * module never returns or logs a secret value.
 *
 * Limits, checked against moto 5.2.5 (the sandbox) and the SDK pinned here (3.1142.0):
 * - AWS added in-place secret rotation in 2025 (AddUserPoolClientSecret / DeleteUserPoolClientSecret,
 *   up to two secrets per client, same client id). Routine rotation uses it (the rotation engine's
 *   cognito-app-client target, activities/rotation-cognito.ts; moto lacks the calls, so the sandbox
 *   adds them in devstack/moto_sandbox.py). A *compromised* secret is different: the old secret
 *   must stop working now, and a client cannot drop to zero secrets, so this module replaces the
 *   client instead.
 * - App clients cannot be tagged, so a replacement is found again by name: the original name plus a
 *   suffix derived from (compromised client id, idempotency key). A retry after a crash finds its own
 *   replacement instead of creating another one; Temporal runs one attempt at a time, so two
 *   attempts never race to create.
 * - UpdateUserPoolClient resets every setting it is not given to its default (moto merges instead);
 *   we always send the full current settings so both behave the same.
 * - "disable" clears the client's OAuth flows, scopes and callback URLs and narrows its explicit auth
 *   flows to ALLOW_REFRESH_TOKEN_AUTH, which Cognito always keeps. Refresh tokens already issued to
 *   the client therefore keep working until they expire or are revoked — run globalSignOutUsers too,
 *   or use "delete", which invalidates the client and every token it issued.
 * - RevokeToken (single refresh-token revocation) is not implemented in moto; token revocation is
 *   covered by the generic RFC 7009 adapter in activities/oauth.ts, which also works against
 *   Cognito's /oauth2/revoke endpoint.
 * - AdminUserGlobalSignOut has no read-back API (Cognito shows no "signed out" state); the evidence
 *   is the call's success per user. Tests prove the effect by refreshing a token afterwards.
 */

export type RetireMode = 'delete' | 'disable';

export interface AppClientRotationEvidence {
  userPoolId: string;
  oldClientId: string;
  newClientId: string;
  newClientName: string;
  /** false when a replacement made by an earlier attempt with the same idempotency key was found. */
  created: boolean;
  /** Read back: the replacement has a generated secret (its value is not returned). */
  newClientHasSecret: true;
  /** What was done to the compromised client, read back (deleted: DescribeUserPoolClient says not found). */
  oldClient: 'deleted' | 'disabled';
  /** false when the compromised client was already deleted/disabled (a retry). */
  oldClientChanged: boolean;
  verifiedAt: string;
}

export interface GlobalSignOutEvidence {
  userPoolId: string;
  signedOut: { username: string; at: string }[];
  /** Users that do not exist in the pool (nothing to sign out); reported, not failed. */
  notFound: string[];
}

/** ClientName allows 1–128 of [\w\s+=,.@-]. */
const CLIENT_NAME_MAX = 128;

export function replacementSuffix(oldClientId: string, idempotencyKey: string): string {
  return `-rotated-${createHash('sha256').update(`${oldClientId}\n${idempotencyKey}`).digest('hex').slice(0, 12)}`;
}

export function replacementName(oldName: string, suffix: string): string {
  return `${oldName.slice(0, CLIENT_NAME_MAX - suffix.length)}${suffix}`;
}

/** The settings of an existing client as input for CreateUserPoolClient/UpdateUserPoolClient (no ids, secret or dates). */
function settingsOf(c: UserPoolClientType): Omit<CreateUserPoolClientRequest, 'UserPoolId' | 'ClientName' | 'GenerateSecret' | 'ClientSecret'> {
  return {
    RefreshTokenValidity: c.RefreshTokenValidity,
    AccessTokenValidity: c.AccessTokenValidity,
    IdTokenValidity: c.IdTokenValidity,
    TokenValidityUnits: c.TokenValidityUnits,
    ReadAttributes: c.ReadAttributes,
    WriteAttributes: c.WriteAttributes,
    ExplicitAuthFlows: c.ExplicitAuthFlows,
    SupportedIdentityProviders: c.SupportedIdentityProviders,
    CallbackURLs: c.CallbackURLs,
    LogoutURLs: c.LogoutURLs,
    DefaultRedirectURI: c.DefaultRedirectURI,
    AllowedOAuthFlows: c.AllowedOAuthFlows,
    AllowedOAuthScopes: c.AllowedOAuthScopes,
    AllowedOAuthFlowsUserPoolClient: c.AllowedOAuthFlowsUserPoolClient,
    AnalyticsConfiguration: c.AnalyticsConfiguration,
    PreventUserExistenceErrors: c.PreventUserExistenceErrors,
    EnableTokenRevocation: c.EnableTokenRevocation,
    EnablePropagateAdditionalUserContextData: c.EnablePropagateAdditionalUserContextData,
    AuthSessionValidity: c.AuthSessionValidity,
    RefreshTokenRotation: c.RefreshTokenRotation,
  };
}

const DISABLED_AUTH_FLOWS: ExplicitAuthFlowsType[] = ['ALLOW_REFRESH_TOKEN_AUTH'];

function isDisabled(c: UserPoolClientType): boolean {
  return (
    c.AllowedOAuthFlowsUserPoolClient !== true &&
    (c.AllowedOAuthFlows ?? []).length === 0 &&
    (c.AllowedOAuthScopes ?? []).length === 0 &&
    (c.CallbackURLs ?? []).length === 0 &&
    (c.ExplicitAuthFlows ?? []).every((f) => DISABLED_AUTH_FLOWS.includes(f))
  );
}

const sameSet = (a?: string[], b?: string[]) => {
  const x = [...(a ?? [])].sort();
  const y = [...(b ?? [])].sort();
  return x.length === y.length && x.every((v, i) => v === y[i]);
};

const isMissing = (err: unknown) => {
  const e = err as { name?: string; type?: string | null };
  return e?.name === 'ResourceNotFoundException' || e?.type === 'ResourceNotFoundException';
};

export function createCognitoActivities({ cognito }: { cognito: CognitoIdentityProviderClient }) {
  /** The client's settings, or undefined if it does not exist. The caller must not let ClientSecret escape. */
  async function describe(userPoolId: string, clientId: string): Promise<UserPoolClientType | undefined> {
    try {
      const r = await cognito.send(new DescribeUserPoolClientCommand({ UserPoolId: userPoolId, ClientId: clientId }));
      return r.UserPoolClient;
    } catch (err) {
      if (isMissing(err)) {
        // ResourceNotFoundException also covers a missing pool: tell the two apart only when it matters (below).
        return undefined;
      }
      throw toFailure(err, 'DescribeUserPoolClient', `app client ${clientId} in ${userPoolId}`);
    }
  }

  /** Ids and names only (ListUserPoolClients returns no settings; moto also returns secrets here — ignored). */
  async function listClients(userPoolId: string): Promise<{ clientId: string; clientName: string }[]> {
    const out: { clientId: string; clientName: string }[] = [];
    let NextToken: string | undefined;
    do {
      const page = await call('ListUserPoolClients', `user pool ${userPoolId}`, () =>
        cognito.send(new ListUserPoolClientsCommand({ UserPoolId: userPoolId, MaxResults: 60, NextToken })),
      );
      for (const c of page.UserPoolClients ?? []) if (c.ClientId) out.push({ clientId: c.ClientId, clientName: c.ClientName ?? '' });
      NextToken = page.NextToken;
    } while (NextToken);
    return out;
  }

  return {
    /**
     * Replaces a compromised app client by one with the same settings and a new generated secret,
     * then retires the old one (`retire`: 'delete' by default — irreversible, keep it behind
     * approval — or 'disable'). Idempotent per idempotencyKey; every end state is read back.
     */
    async rotateAppClientSecret(input: { userPoolId: string; clientId: string; idempotencyKey: string; retire?: RetireMode }): Promise<AppClientRotationEvidence> {
      const { userPoolId, clientId: oldClientId } = input;
      const retire = input.retire ?? 'delete';
      const resource = `app client ${oldClientId} in ${userPoolId}`;
      const suffix = replacementSuffix(oldClientId, input.idempotencyKey);

      // A pool that does not exist fails here, non-retryably, before anything else.
      const existing = (await listClients(userPoolId)).filter((c) => c.clientName.endsWith(suffix));
      if (existing.length > 1) {
        throw ApplicationFailure.nonRetryable(
          `${resource}: ${existing.length} replacement clients carry suffix ${suffix} (${existing.map((c) => c.clientId).join(', ')}); resolve by hand`,
          'AmbiguousReplacement',
        );
      }
      const old = await describe(userPoolId, oldClientId);
      if (!old && !existing[0]) throw notFound(`${resource} does not exist and no replacement made with this idempotency key was found`);
      if (old && !old.ClientSecret) {
        throw ApplicationFailure.nonRetryable(`${resource} is a public client without a secret: there is no secret to rotate`, 'NoClientSecret');
      }

      let created = false;
      let replacement = existing[0];
      if (!replacement) {
        const name = replacementName(old!.ClientName ?? oldClientId, suffix);
        const made = await call('CreateUserPoolClient', `replacement for ${resource}`, () =>
          sendOnce((c) => cognito.send(c), new CreateUserPoolClientCommand({ UserPoolId: userPoolId, ClientName: name, GenerateSecret: true, ...settingsOf(old!) })),
        );
        if (!made.UserPoolClient?.ClientId) throw notVerified(`CreateUserPoolClient for ${resource} returned no client id`);
        replacement = { clientId: made.UserPoolClient.ClientId, clientName: name };
        created = true;
      }

      // Read the replacement back: it must exist, have a secret and carry the old client's OAuth settings.
      const fresh = await describe(userPoolId, replacement.clientId);
      if (!fresh) throw notVerified(`replacement app client ${replacement.clientId} for ${resource} cannot be read back`);
      if (!fresh.ClientSecret) throw notVerified(`replacement app client ${replacement.clientId} for ${resource} has no client secret`);
      if (old && (!sameSet(fresh.AllowedOAuthFlows, old.AllowedOAuthFlows) || !sameSet(fresh.AllowedOAuthScopes, old.AllowedOAuthScopes) || !sameSet(fresh.CallbackURLs, old.CallbackURLs))) {
        // Unless the old client is already disabled (an earlier run): then its settings no longer describe the original.
        if (!isDisabled(old)) {
          throw notVerified(`replacement app client ${replacement.clientId} does not carry the OAuth settings of ${resource}`);
        }
      }

      let oldClientChanged = false;
      if (retire === 'delete') {
        if (old) {
          try {
            await cognito.send(new DeleteUserPoolClientCommand({ UserPoolId: userPoolId, ClientId: oldClientId }));
            oldClientChanged = true;
          } catch (err) {
            if (!isMissing(err)) throw toFailure(err, 'DeleteUserPoolClient', resource);
          }
        }
        if (await describe(userPoolId, oldClientId)) throw notVerified(`${resource} still exists after DeleteUserPoolClient`);
      } else {
        if (!old) throw notFound(`${resource} no longer exists, so it cannot be disabled (was it deleted?)`);
        if (!isDisabled(old)) {
          await call('UpdateUserPoolClient', resource, () =>
            cognito.send(
              new UpdateUserPoolClientCommand({
                UserPoolId: userPoolId,
                ClientId: oldClientId,
                ClientName: old.ClientName,
                ...settingsOf(old),
                AllowedOAuthFlowsUserPoolClient: false,
                AllowedOAuthFlows: [],
                AllowedOAuthScopes: [],
                CallbackURLs: [],
                DefaultRedirectURI: undefined,
                ExplicitAuthFlows: DISABLED_AUTH_FLOWS,
              }),
            ),
          );
          oldClientChanged = true;
        }
        const after = await describe(userPoolId, oldClientId);
        if (!after || !isDisabled(after)) throw notVerified(`${resource} does not read back as disabled`);
      }

      return {
        userPoolId,
        oldClientId,
        newClientId: replacement.clientId,
        newClientName: replacement.clientName,
        created,
        newClientHasSecret: true,
        oldClient: retire === 'delete' ? 'deleted' : 'disabled',
        oldClientChanged,
        verifiedAt: new Date().toISOString(),
      };
    },

    /**
     * Signs users out of every device: Cognito invalidates their refresh tokens (and, for tokens
     * issued with revocation enabled, their access and ID tokens). Naturally idempotent. Users that
     * do not exist are reported in notFound rather than failing the step.
     */
    async globalSignOutUsers(input: { userPoolId: string; usernames: string[] }): Promise<GlobalSignOutEvidence> {
      const { userPoolId } = input;
      const signedOut: GlobalSignOutEvidence['signedOut'] = [];
      const missing: string[] = [];
      for (const username of input.usernames) {
        try {
          await cognito.send(new AdminUserGlobalSignOutCommand({ UserPoolId: userPoolId, Username: username }));
          signedOut.push({ username, at: new Date().toISOString() });
        } catch (err) {
          const name = (err as { name?: string })?.name;
          if (name === 'UserNotFoundException') missing.push(username);
          else throw toFailure(err, 'AdminUserGlobalSignOut', `user ${username} in ${userPoolId}`);
        }
      }
      return { userPoolId, signedOut, notFound: missing };
    },
  };
}

export type CognitoActivities = ReturnType<typeof createCognitoActivities>;
