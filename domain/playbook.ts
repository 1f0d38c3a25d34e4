import type { Alert, Endpoint, Severity } from './alert.js';

/**
 * The two built-in playbooks as a plan: an ordered list of steps the incident workflow executes.
 * Each step names an action, its parameters (identifiers only, never secret values), an optional
 * gate that must be opened before it runs, and whether it can be undone.
 */
export interface ThrottleLimits {
  rateLimit: number;
  burstLimit: number;
}

export type StepAction =
  | { kind: 'apigateway.disableApiKeys'; apiKeyId?: string; clientId?: string }
  | { kind: 'secrets.rotate'; secretId?: string; clientId?: string }
  | { kind: 'apigateway.throttle'; endpoint: Endpoint; limits: ThrottleLimits; ttlSeconds: number };

export type Gate = 'contain';

export interface PlannedStep {
  id: string;
  title: string;
  action: StepAction;
  /** Set when an operator must open the gate before the step may run. */
  gate?: Gate;
  /** Reversible steps are undone (restored) when the incident ends or their TTL expires. */
  reversible: boolean;
}

export interface Plan {
  playbook: 'credential-compromise' | 'endpoint-abuse';
  steps: PlannedStep[];
}

export interface PlaybookDefaults {
  throttle: ThrottleLimits;
  throttleTtlSeconds: number;
}

export const DEFAULT_PLAYBOOK_SETTINGS: PlaybookDefaults = {
  throttle: { rateLimit: 10, burstLimit: 5 },
  throttleTtlSeconds: 30 * 60,
};

/** High and critical alerts contain at once; low and medium wait for an operator's `contain`. */
export function needsContainGate(severity: Severity): boolean {
  return severity === 'low' || severity === 'medium';
}

const SEVERITY_RANK: Record<Severity, number> = { low: 0, medium: 1, high: 2, critical: 3 };
export function maxSeverity(a: Severity, b: Severity): Severity {
  return SEVERITY_RANK[a] >= SEVERITY_RANK[b] ? a : b;
}

export function planFor(alert: Alert, defaults: PlaybookDefaults = DEFAULT_PLAYBOOK_SETTINGS): Plan {
  const gate: Gate | undefined = needsContainGate(alert.severity) ? 'contain' : undefined;
  const { subject } = alert;
  switch (alert.type) {
    case 'credential.compromised': {
      const steps: PlannedStep[] = [];
      if (subject.apiKeyId || subject.clientId) {
        steps.push({
          id: 'disable-api-keys',
          title: 'Disable the client’s API Gateway API keys',
          action: { kind: 'apigateway.disableApiKeys', apiKeyId: subject.apiKeyId, clientId: subject.clientId },
          reversible: false,
        });
      }
      if (subject.secretId || subject.clientId) {
        steps.push({
          id: 'rotate-secret',
          title: 'Rotate the client’s credentials in Secrets Manager',
          action: { kind: 'secrets.rotate', secretId: subject.secretId, clientId: subject.clientId },
          reversible: false,
        });
      }
      if (gate && steps[0]) steps[0].gate = gate;
      return { playbook: 'credential-compromise', steps };
    }
    case 'endpoint.abuse': {
      // The schema guarantees an endpoint for this type; the guard keeps the types honest.
      if (!subject.endpoint) return { playbook: 'endpoint-abuse', steps: [] };
      return {
        playbook: 'endpoint-abuse',
        steps: [
          {
            id: 'throttle-endpoint',
            title: 'Lower throttling on the abused endpoint',
            action: {
              kind: 'apigateway.throttle',
              endpoint: subject.endpoint,
              limits: defaults.throttle,
              ttlSeconds: defaults.throttleTtlSeconds,
            },
            gate,
            reversible: true,
          },
        ],
      };
    }
  }
}
