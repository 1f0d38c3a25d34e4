import { createHash } from 'node:crypto';
import type { Alert } from './alert.js';

/** Canonical JSON: object keys sorted, so equal subjects hash equally whatever order a sender used. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * The identity of "the same problem": the sender's dedupKey when it gives one, otherwise
 * source + type + subject. Severity, time and details are left out on purpose so repeats
 * of one finding attach to the open incident instead of opening new ones.
 */
export function fingerprint(alert: Pick<Alert, 'source' | 'type' | 'subject' | 'dedupKey'>): string {
  const basis = alert.dedupKey
    ? canonicalJson({ dedupKey: alert.dedupKey })
    : canonicalJson({ source: alert.source, type: alert.type, subject: alert.subject });
  return createHash('sha256').update(basis).digest('hex').slice(0, 24);
}

export const INCIDENT_PREFIX = 'incident-';

export function incidentWorkflowId(fp: string): string {
  return `${INCIDENT_PREFIX}${fp}`;
}

/** Accepts a workflow id or a bare fingerprint, as operators paste either. */
export function normaliseIncidentId(id: string): string {
  return id.startsWith(INCIDENT_PREFIX) ? id : `${INCIDENT_PREFIX}${id}`;
}
