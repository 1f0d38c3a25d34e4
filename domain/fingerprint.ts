import { createHash } from 'node:crypto';
import type { Alert } from './alert.js';
import { canonicalJson } from './canonical.js';

export { canonicalJson } from './canonical.js';

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
