import type { IncomingMessage, ServerResponse } from 'node:http';
import { LocalHttpServer } from './local-http-server.js';

/**
 * The system a rotated credential is handed to: the `https` setSecret target of
 * activities/rotation-targets.ts (POST JSON `{ secret, versionId, username?, credential | publicKey }`
 * with the version id as Idempotency-Key), on 127.0.0.1 and a free port. It behaves like an
 * idempotent endpoint should, so a test can tell a harmless repeat from a double act:
 * - the first request for a (secret, version) stores the credential: 201;
 * - the same version with the same credential again: 409 (setSecret reads it as "already has it");
 * - the same version with a different credential: 422 and nothing stored (a retry that had
 *   regenerated the value);
 * - a body without secret/versionId/credential, or an Idempotency-Key other than the version: 400.
 * Every request is recorded with the status it got.
 */
export interface CredentialRequest {
  path: string;
  idempotencyKey?: string;
  secret?: string;
  versionId?: string;
  username?: string;
  credential?: string;
  status: number;
}

export class CredentialEndpoint extends LocalHttpServer {
  readonly requests: CredentialRequest[] = [];
  /** `${secret}\n${versionId}` → the credential it holds. */
  private readonly stored = new Map<string, { credential: string; username?: string }>();

  protected onRequest(req: IncomingMessage, body: string, res: ServerResponse): void {
    this.handle(req.url ?? '', req.method ?? '', req.headers['idempotency-key'], body, res);
  }

  /** Every request naming this secret, in arrival order. */
  requestsFor(secret: string): CredentialRequest[] {
    return this.requests.filter((r) => r.secret === secret);
  }

  /** The credential stored for one version of a secret, if any. */
  held(secret: string, versionId: string): { credential: string; username?: string } | undefined {
    return this.stored.get(`${secret}\n${versionId}`);
  }

  private handle(path: string, method: string, key: string | string[] | undefined, text: string, res: ServerResponse): void {
    const idempotencyKey = typeof key === 'string' ? key : undefined;
    let body: Record<string, unknown> = {};
    try {
      const parsed: unknown = JSON.parse(text);
      if (parsed && typeof parsed === 'object') body = parsed as Record<string, unknown>;
    } catch {
      // recorded below with the 400 it gets
    }
    const str = (k: string) => (typeof body[k] === 'string' ? (body[k] as string) : undefined);
    const request: CredentialRequest = {
      path,
      idempotencyKey,
      secret: str('secret'),
      versionId: str('versionId'),
      username: str('username'),
      credential: str('credential') ?? str('publicKey'),
      status: 0,
    };
    const answer = (status: number, json: unknown) => {
      request.status = status;
      this.requests.push(request);
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(json));
    };
    if (method !== 'POST') return answer(405, { error: 'POST only' });
    if (!request.secret || !request.versionId || !request.credential) return answer(400, { error: 'expected secret, versionId and credential (or publicKey)' });
    if (idempotencyKey !== request.versionId) return answer(400, { error: 'Idempotency-Key must be the version id' });
    const slot = `${request.secret}\n${request.versionId}`;
    const have = this.stored.get(slot);
    if (!have) {
      this.stored.set(slot, { credential: request.credential, username: request.username });
      return answer(201, { stored: request.versionId });
    }
    if (have.credential === request.credential && have.username === request.username) return answer(409, { stored: request.versionId, repeated: true });
    return answer(422, { error: `version ${request.versionId} already holds a different credential` });
  }
}
