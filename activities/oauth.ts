import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ApplicationFailure } from '@temporalio/common';
import { call, notVerified } from './failures.js';
import { formEncode, retryAfterMs, scrubQuoted, sendRequest, type HttpAnswer } from './http-answer.js';

/**
 * Generic OAuth 2.0 adapters for authorization servers we do not run: token revocation (RFC 7009,
 * optionally verified with token introspection, RFC 7662) and a client-disable webhook.
 *
 * Tokens and client secrets never travel through workflow history: inputs carry references
 * (a Secrets Manager secret id + JSON field), resolved here, inside the activity. Results and error
 * messages carry only references, HTTP statuses, OAuth error codes and timestamps; any text taken
 * from a server's answer is scrubbed of the secret values used in the request before it is quoted.
 */

/** Where a secret value lives: a Secrets Manager secret (ARN or name), optionally one field of its JSON. */
export interface SecretValueRef {
  secretId: string;
  jsonField?: string;
  /** Defaults to AWSCURRENT (never a bare GetSecretValue: it can be stale after labels move). */
  versionStage?: string;
}

export type ResolveSecretRef = (ref: SecretValueRef) => Promise<string>;

export type TokenTypeHint = 'access_token' | 'refresh_token' | (string & {});

export interface ClientAuth {
  /** A client id is an identifier, not a secret; give it directly or as a reference. */
  clientId?: string;
  clientIdRef?: SecretValueRef;
  /** Absent for a public client: then client_id is sent in the body (RFC 7009 §2.1). */
  clientSecretRef?: SecretValueRef;
  /** RFC 6749 §2.3.1: HTTP Basic (default; every server must support it) or credentials in the body. */
  method?: 'client_secret_basic' | 'client_secret_post';
}

export interface RevokeTokensInput {
  endpoint: string;
  clientAuth?: ClientAuth;
  tokens: { tokenRef: SecretValueRef; hint?: TokenTypeHint }[];
  /** With an RFC 7662 introspection endpoint, each token is read back and must be inactive. */
  introspectionEndpoint?: string;
}

export interface RevokeTokensEvidence {
  endpoint: string;
  revoked: {
    tokenRef: SecretValueRef;
    hint?: string;
    /** 200: revoked, or the token was already invalid — RFC 7009 answers both the same way. */
    httpStatus: number;
    /** 'introspection' when the server read it back as inactive; 'none' when no endpoint was given. */
    verified: 'introspection' | 'none';
    at: string;
  }[];
}

export interface DisableClientInput {
  url: string;
  clientId: string;
  /** Sent as the Idempotency-Key header: the same key twice must not disable twice (or conflict). */
  idempotencyKey: string;
  reason?: string;
  /** A bearer token for the webhook, by reference. */
  authorizationRef?: SecretValueRef;
  /** GET endpoint answering {"status": …} for the client; "{clientId}" is replaced. Used to read the end state back. */
  statusUrl?: string;
}

export interface DisableClientEvidence {
  url: string;
  clientId: string;
  httpStatus: number;
  /** The status read back ('disabled' or 'revoked'), or the one the webhook answered with. */
  status?: string;
  /** How the end state was established: a GET of statusUrl, the webhook's own answer, or not at all (e.g. 202 Accepted). */
  verified: 'status-endpoint' | 'response' | 'none';
  at: string;
}

export interface OAuthActivityOptions {
  fetch?: typeof fetch;
  /** How references are resolved; by default from Secrets Manager with `sm`. */
  resolveSecretRef?: ResolveSecretRef;
  sm?: SecretsManagerClient;
  /** Per HTTP request; default 10 s. */
  timeoutMs?: number;
  /** Plain http is refused except to loopback addresses (tokens must not cross a network in clear). */
  allowInsecureHttp?: boolean;
}

const describeRef = (ref: SecretValueRef) => `${ref.secretId}${ref.jsonField ? `#${ref.jsonField}` : ''}`;

/** Resolves references from Secrets Manager: the AWSCURRENT (or named) version, whole or one JSON field. */
export function secretsManagerResolver(sm: SecretsManagerClient): ResolveSecretRef {
  return async (ref) => {
    const v = await call('GetSecretValue', `secret ${ref.secretId}`, () =>
      sm.send(new GetSecretValueCommand({ SecretId: ref.secretId, VersionStage: ref.versionStage ?? 'AWSCURRENT' })),
    );
    const raw = v.SecretString;
    if (raw === undefined) throw ApplicationFailure.nonRetryable(`secret ${ref.secretId} has no string value`, 'SecretRefInvalid');
    if (!ref.jsonField) return raw;
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      throw ApplicationFailure.nonRetryable(`secret ${ref.secretId} is not JSON, so field ${ref.jsonField} cannot be read`, 'SecretRefInvalid');
    }
    const field = (parsed as Record<string, unknown> | null)?.[ref.jsonField];
    if (typeof field !== 'string' || field === '') {
      throw ApplicationFailure.nonRetryable(`secret ${ref.secretId} has no non-empty string field ${ref.jsonField}`, 'SecretRefInvalid');
    }
    return field;
  };
}

export { formEncode };

/** RFC 6749 §2.3.1: client id and secret are form-encoded before joining with ":" and base64. */
export function basicAuth(clientId: string, clientSecret: string): string {
  return `Basic ${Buffer.from(`${formEncode(clientId)}:${formEncode(clientSecret)}`).toString('base64')}`;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

function checkUrl(raw: string, field: string, allowInsecureHttp: boolean): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw ApplicationFailure.nonRetryable(`${field} is not a URL`, 'InvalidEndpoint');
  }
  if (url.username || url.password) throw ApplicationFailure.nonRetryable(`${field} must not carry credentials in the URL`, 'InvalidEndpoint');
  if (url.protocol === 'http:' && !allowInsecureHttp && !LOOPBACK.has(url.hostname)) {
    throw ApplicationFailure.nonRetryable(`${field} ${url.origin} is plain http; credentials are only sent over https`, 'InvalidEndpoint');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw ApplicationFailure.nonRetryable(`${field} must be http(s)`, 'InvalidEndpoint');
  return url;
}


export function createOAuthActivities(options: OAuthActivityOptions = {}) {
  const doFetch = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const allowInsecureHttp = options.allowInsecureHttp ?? false;
  const resolve: ResolveSecretRef =
    options.resolveSecretRef ??
    (options.sm
      ? secretsManagerResolver(options.sm)
      : async (ref) => {
          throw ApplicationFailure.nonRetryable(`no secret resolver is configured to read ${describeRef(ref)}`, 'NoSecretResolver');
        });

  const send = (what: string, url: URL, init: RequestInit, secrets: string[]) => sendRequest(doFetch, what, url, init, secrets, timeoutMs);

  /** Classifies a non-success answer: 429/5xx retryable (honouring Retry-After), anything else not. */
  function failure(what: string, a: HttpAnswer, secrets: string[], opts: { extra?: string; oauthErrorType?: boolean } = {}): ApplicationFailure {
    const extra = opts.extra ?? '';
    const code = typeof a.json?.error === 'string' ? scrubQuoted(a.json.error, secrets) : undefined;
    const description = typeof a.json?.error_description === 'string' ? scrubQuoted(a.json.error_description, secrets) : undefined;
    const message = `${what}: HTTP ${a.status}${code ? ` ${code}` : ''}${description ? ` (${description})` : ''}${extra}`;
    if (a.status === 429 || a.status >= 500) {
      const delay = retryAfterMs(a.headers.get('retry-after'));
      return ApplicationFailure.create({
        message: `${message}${delay ? `; retry after ${Math.round(delay / 1000)} s` : ''}`,
        type: a.status === 503 ? 'ServiceUnavailable' : a.status === 429 ? 'TooManyRequests' : `HTTP${a.status}`,
        nonRetryable: false,
        nextRetryDelay: delay,
      });
    }
    if (a.status >= 300 && a.status < 400) return ApplicationFailure.nonRetryable(`${message}: redirects are not followed`, 'UnexpectedRedirect');
    // At OAuth endpoints, RFC 6749 §5.2 / RFC 7009 §2.2.1 error codes (invalid_client, unsupported_token_type, …) become the failure type.
    const oauthCode = opts.oauthErrorType && code && /^[a-z_]{1,64}$/.test(code) ? code : undefined;
    return ApplicationFailure.nonRetryable(message, oauthCode ?? `HTTP${a.status}`);
  }

  async function clientCredentials(auth: ClientAuth | undefined): Promise<{ clientId?: string; clientSecret?: string; method: 'client_secret_basic' | 'client_secret_post' }> {
    const method = auth?.method ?? 'client_secret_basic';
    if (!auth) return { method };
    const clientId = auth.clientId ?? (auth.clientIdRef ? await resolve(auth.clientIdRef) : undefined);
    if (!clientId) throw ApplicationFailure.nonRetryable('clientAuth needs clientId or clientIdRef', 'InvalidInput');
    const clientSecret = auth.clientSecretRef ? await resolve(auth.clientSecretRef) : undefined;
    return { clientId, clientSecret, method };
  }

  /** The form body and headers of a client-authenticated token request (revocation, introspection). */
  function tokenRequest(token: string, hint: string | undefined, c: Awaited<ReturnType<typeof clientCredentials>>): RequestInit {
    const form = new URLSearchParams([['token', token]]);
    if (hint) form.set('token_type_hint', hint);
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
    if (c.clientId && c.clientSecret && c.method === 'client_secret_basic') headers.authorization = basicAuth(c.clientId, c.clientSecret);
    else if (c.clientId) {
      form.set('client_id', c.clientId);
      if (c.clientSecret) form.set('client_secret', c.clientSecret);
    }
    return { method: 'POST', headers, body: form.toString() };
  }

  return {
    /**
     * RFC 7009 token revocation, one request per token. A 200 means revoked — also for a token the
     * server does not know or already revoked — so the step is safe to repeat. 503/429/5xx and
     * network errors are retryable; 400 unsupported_token_type, 401 invalid_client and other 4xx are
     * not, with the OAuth error code as the failure type.
     */
    async revokeTokens(input: RevokeTokensInput): Promise<RevokeTokensEvidence> {
      const endpoint = checkUrl(input.endpoint, 'revocation endpoint', allowInsecureHttp);
      const introspection = input.introspectionEndpoint ? checkUrl(input.introspectionEndpoint, 'introspection endpoint', allowInsecureHttp) : undefined;
      if (input.tokens.length === 0) throw ApplicationFailure.nonRetryable('no tokens to revoke were given', 'InvalidInput');
      const creds = await clientCredentials(input.clientAuth);
      const secrets = [creds.clientSecret].filter((s): s is string => Boolean(s));
      const revoked: RevokeTokensEvidence['revoked'] = [];
      for (const [i, t] of input.tokens.entries()) {
        const token = await resolve(t.tokenRef);
        secrets.push(token);
        const what = `RFC 7009 revocation at ${endpoint.origin}${endpoint.pathname} of token ${i + 1}/${input.tokens.length} (${describeRef(t.tokenRef)})`;
        const progress = revoked.length > 0 ? `; ${revoked.length} earlier token(s) were revoked` : '';
        const a = await send(what, endpoint, tokenRequest(token, t.hint, creds), secrets);
        if (a.status !== 200) throw failure(what, a, secrets, { extra: progress, oauthErrorType: true });
        let verified: 'introspection' | 'none' = 'none';
        if (introspection) {
          const check = `RFC 7662 introspection at ${introspection.origin}${introspection.pathname} of token ${i + 1} (${describeRef(t.tokenRef)})`;
          const r = await send(check, introspection, tokenRequest(token, t.hint, creds), secrets);
          if (r.status !== 200) throw failure(check, r, secrets, { extra: progress, oauthErrorType: true });
          if (r.json?.active !== false) throw notVerified(`${check}: the token still reads as active after revocation`);
          verified = 'introspection';
        }
        revoked.push({ tokenRef: { ...t.tokenRef }, hint: t.hint, httpStatus: a.status, verified, at: new Date().toISOString() });
      }
      return { endpoint: `${endpoint.origin}${endpoint.pathname}`, revoked };
    },

    /**
     * Asks a provider's client-management webhook to disable an OAuth client: POST JSON
     * {clientId, action: "disable", reason} with an Idempotency-Key header, so a retried or replayed
     * step is answered from the provider's record instead of acting twice. 409 (same key still in
     * flight), 429 and 5xx are retryable; 422 (key reused for a different request) and other 4xx are
     * not. With statusUrl the end state is read back and must be disabled/revoked.
     */
    async disableOAuthClient(input: DisableClientInput): Promise<DisableClientEvidence> {
      const url = checkUrl(input.url, 'client-disable webhook', allowInsecureHttp);
      const statusUrl = input.statusUrl
        ? checkUrl(input.statusUrl.replaceAll('{clientId}', encodeURIComponent(input.clientId)), 'status URL', allowInsecureHttp)
        : undefined;
      if (!input.idempotencyKey) throw ApplicationFailure.nonRetryable('an idempotencyKey is required', 'InvalidInput');
      const bearer = input.authorizationRef ? await resolve(input.authorizationRef) : undefined;
      const secrets = bearer ? [bearer] : [];
      const auth: Record<string, string> = bearer ? { authorization: `Bearer ${bearer}` } : {};
      const what = `client-disable webhook ${url.origin}${url.pathname} for client ${input.clientId}`;
      const a = await send(
        what,
        url,
        {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json', 'idempotency-key': input.idempotencyKey, ...auth },
          body: JSON.stringify({ clientId: input.clientId, action: 'disable', ...(input.reason ? { reason: input.reason } : {}) }),
        },
        secrets,
      );
      if (a.status === 409) {
        throw ApplicationFailure.retryable(`${what}: HTTP 409: a request with the same Idempotency-Key is still being processed`, 'IdempotencyConflict');
      }
      if (a.status === 422) {
        throw ApplicationFailure.nonRetryable(`${what}: HTTP 422: the Idempotency-Key was already used for a different request`, 'IdempotencyKeyReused');
      }
      if (a.status < 200 || a.status >= 300) throw failure(what, a, secrets);
      const answered = typeof a.json?.status === 'string' ? a.json.status : undefined;
      const done = (s?: string) => s === 'disabled' || s === 'revoked';
      if (answered !== undefined && !done(answered) && a.status !== 202) {
        throw notVerified(`${what}: the webhook answered status ${scrubQuoted(answered, secrets)}`);
      }
      if (statusUrl) {
        const check = `client status ${statusUrl.origin}${statusUrl.pathname}`;
        const r = await send(check, statusUrl, { method: 'GET', headers: { accept: 'application/json', ...auth } }, secrets);
        if (r.status !== 200) throw failure(check, r, secrets);
        const status = typeof r.json?.status === 'string' ? r.json.status : undefined;
        if (!done(status)) throw notVerified(`${check}: client ${input.clientId} reads back as ${status ? scrubQuoted(status, secrets) : '(no status)'}`);
        return { url: `${url.origin}${url.pathname}`, clientId: input.clientId, httpStatus: a.status, status, verified: 'status-endpoint', at: new Date().toISOString() };
      }
      return {
        url: `${url.origin}${url.pathname}`,
        clientId: input.clientId,
        httpStatus: a.status,
        status: answered,
        verified: done(answered) ? 'response' : 'none',
        at: new Date().toISOString(),
      };
    },
  };
}

export type OAuthActivities = ReturnType<typeof createOAuthActivities>;
