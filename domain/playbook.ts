import type { Alert, Severity } from './alert.js';
import type { Plan, PlannedStep } from './playbooks/plan.js';

import { shortDigest } from './canonical.js';

export type { Plan, PlannedStep } from './playbooks/plan.js';

/** What an approver is shown and approves: the step's action and parameters (workflow-safe). */
export function stepDigest(step: Pick<PlannedStep, 'id' | 'action' | 'with'>): string {
  return shortDigest({ id: step.id, action: step.action, with: step.with });
}

export interface ThrottleLimits {
  rateLimit: number;
  burstLimit: number;
}

/** The organisation's defaults, from config; playbooks read them as `${settings.…}`. */
export interface PlaybookDefaults {
  throttle: ThrottleLimits;
  throttleTtlSeconds: number;
  /** Present only when a consent store is configured (issue 9): playbooks gate consent steps on it. */
  consents?: { batchSize: number };
}

export const DEFAULT_PLAYBOOK_SETTINGS: PlaybookDefaults = {
  throttle: { rateLimit: 10, burstLimit: 5 },
  throttleTtlSeconds: 30 * 60,
};

const SEVERITY_RANK: Record<Severity, number> = { low: 0, medium: 1, high: 2, critical: 3 };

export function maxSeverity(a: Severity, b: Severity): Severity {
  return SEVERITY_RANK[a] >= SEVERITY_RANK[b] ? a : b;
}

export const severityBelow = (s: Severity, threshold: Severity) => SEVERITY_RANK[s] < SEVERITY_RANK[threshold];

/**
 * The plan of incidents started before playbooks became data (their input carries no plan).
 * Kept so those workflows replay and finish exactly as they began; new incidents are planned from
 * `playbooks/*.yaml` by intake. Produces the same steps, in the same order, as the old code did.
 */
export function legacyPlanFor(alert: Alert, defaults: PlaybookDefaults = DEFAULT_PLAYBOOK_SETTINGS): Plan {
  const gated = severityBelow(alert.severity, 'high');
  const { subject } = alert;
  const base = { onFailure: 'stop' as const, group: 0 };
  const steps: PlannedStep[] = [];
  if (alert.type === 'endpoint.abuse' && subject.endpoint) {
    steps.push({
      ...base,
      id: 'throttle-endpoint',
      title: 'Lower throttling on the abused endpoint',
      action: 'apigateway.throttle',
      with: { endpoint: subject.endpoint, ...defaults.throttle, ttl: `${defaults.throttleTtlSeconds}s` },
      effect: 'reversible',
      reversible: true,
      gate: gated ? 'contain' : undefined,
    });
    return { playbook: 'endpoint-abuse', operatorBelow: 'high', steps };
  }
  if (subject.apiKeyId || subject.clientId) {
    steps.push({
      ...base,
      id: 'disable-api-keys',
      title: 'Disable the client’s API Gateway API keys',
      action: 'apigateway.disableApiKey',
      with: { apiKeyId: subject.apiKeyId, clientId: subject.clientId },
      effect: 'containment',
      reversible: false,
    });
  }
  if (subject.secretId || subject.clientId) {
    steps.push({
      ...base,
      group: steps.length,
      id: 'rotate-secret',
      title: 'Rotate the client’s credentials in Secrets Manager',
      action: 'secrets.rotate',
      with: { secretId: subject.secretId, clientId: subject.clientId },
      effect: 'containment',
      reversible: false,
    });
  }
  if (gated && steps[0]) steps[0].gate = 'contain';
  return { playbook: 'credential-compromise', operatorBelow: 'high', steps };
}
