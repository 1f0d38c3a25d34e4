import { createHash } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { Logger } from '../telemetry/logger.js';

/** Keyword search attribute naming (by hash) the client an incident is about; set when intake starts it. */
export const CLIENT_ID_ATTRIBUTE = defineSearchAttributeKey('BulwarkClientId', SearchAttributeType.KEYWORD);

/**
 * Search attributes are never encrypted by the payload codec, so the attribute holds a hash of the
 * client id, not the id itself: visibility can match on it without showing who the client is.
 */
export const clientAttributeValue = (clientId: string) => `sha256:${createHash('sha256').update(clientId).digest('hex').slice(0, 32)}`;

/**
 * Finds the open incident for a client so alerts of other types join it (an abuse alert for a
 * client whose credentials are being revoked belongs to that incident). Uses Temporal visibility,
 * so every intake instance sees the same answer, plus a short local cache for bursts.
 *
 * Needs the `BulwarkClientId` Keyword search attribute on the namespace (the dev stack creates it;
 * elsewhere: `temporal operator search-attribute create --name BulwarkClientId --type Keyword`).
 * Without it correlation switches itself off with one warning, and alerts go by fingerprint only.
 * Visibility is eventually consistent: two first alerts for one client within a moment of each
 * other can still open two incidents.
 */
export class ClientCorrelator {
  private available?: Promise<boolean>;
  private readonly recent = new Map<string, { workflowId: string; startedAt: number }>();
  /** Clients just looked up with no open incident: a storm of one client's alerts asks visibility once per interval. */
  private readonly misses = new Map<string, number>();
  static readonly MISS_CACHE_MS = 2000;

  constructor(
    private readonly client: Client,
    private readonly namespace: string,
    readonly windowSeconds: number,
    private readonly logger?: Logger,
  ) {}

  enabled(): Promise<boolean> {
    if (this.windowSeconds <= 0) return Promise.resolve(false);
    this.available ??= this.client.connection.operatorService
      .listSearchAttributes({ namespace: this.namespace })
      .then((r: { customAttributes?: Record<string, unknown> | null }) => {
        const ok = Object.keys(r.customAttributes ?? {}).includes(CLIENT_ID_ATTRIBUTE.name);
        if (!ok) this.logger?.warn(`correlation by client is off: search attribute ${CLIENT_ID_ATTRIBUTE.name} (Keyword) does not exist in namespace ${this.namespace}`);
        return ok;
      })
      .catch((err: unknown) => {
        this.logger?.warn({ err: (err as Error).message }, 'correlation by client is off: cannot list search attributes');
        return false;
      });
    return this.available;
  }

  /** The open incident for this client started within the window, other than `own`. */
  async findOpen(clientId: string, own: string): Promise<string | undefined> {
    if (!(await this.enabled())) return undefined;
    const since = Date.now() - this.windowSeconds * 1000;
    const cached = this.recent.get(clientId);
    if (cached && cached.startedAt >= since) return cached.workflowId !== own ? cached.workflowId : undefined;
    if ((this.misses.get(clientId) ?? 0) > Date.now()) return undefined;
    const query = `WorkflowType = 'incidentWorkflow' AND ExecutionStatus = 'Running' AND ${CLIENT_ID_ATTRIBUTE.name} = '${clientAttributeValue(clientId)}' AND StartTime >= '${new Date(since).toISOString()}'`;
    for await (const wf of this.client.workflow.list({ query, pageSize: 5 })) {
      if (wf.workflowId === own) continue;
      this.recent.set(clientId, { workflowId: wf.workflowId, startedAt: wf.startTime.getTime() });
      return wf.workflowId;
    }
    this.misses.set(clientId, Date.now() + ClientCorrelator.MISS_CACHE_MS);
    if (this.misses.size > 10_000) this.misses.clear();
    return undefined;
  }

  remember(clientId: string, workflowId: string): void {
    this.misses.delete(clientId);
    this.recent.set(clientId, { workflowId, startedAt: Date.now() });
  }

  forget(clientId: string): void {
    this.recent.delete(clientId);
  }
}
