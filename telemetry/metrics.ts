import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** One registry per process: in `bulwark dev` the worker and intake share it, so /metrics shows both. */
export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'bulwark_process_' });

export const alertsReceived = new Counter({
  name: 'bulwark_alerts_received_total',
  help: 'Alerts accepted by intake (202), by whether they attached to an open incident.',
  labelNames: ['deduplicated'] as const,
  registers: [registry],
});

export const alertsRejected = new Counter({
  name: 'bulwark_alerts_rejected_total',
  help: 'Alerts refused by intake, by reason (unauthorized, stale, too-large, invalid-json, invalid-alert, unavailable).',
  labelNames: ['reason'] as const,
  registers: [registry],
});

export const incidentsOpened = new Counter({
  name: 'bulwark_incidents_opened_total',
  help: 'Incidents started (a new incident workflow).',
  registers: [registry],
});

export const intakeSeconds = new Histogram({
  name: 'bulwark_intake_request_seconds',
  help: 'Time from request received to response sent for POST /v1/alerts.',
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  registers: [registry],
});

export const stepSeconds = new Histogram({
  name: 'bulwark_activity_seconds',
  help: 'Duration of each activity execution (one AWS step), by activity and outcome.',
  labelNames: ['activity', 'outcome'] as const,
  buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  registers: [registry],
});

/** Wraps every activity so its duration and outcome are measured without touching its code. */
export function instrumentActivities<T extends Record<string, (...args: never[]) => Promise<unknown>>>(activities: T): T {
  const wrapped: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(activities)) {
    wrapped[name] = async (...args: never[]) => {
      const end = stepSeconds.startTimer({ activity: name });
      try {
        const result = await fn(...args);
        end({ outcome: 'ok' });
        return result;
      } catch (err) {
        end({ outcome: 'error' });
        throw err;
      }
    };
  }
  return wrapped as T;
}
