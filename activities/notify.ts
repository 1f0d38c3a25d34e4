import type { Logger } from '../telemetry/logger.js';

/**
 * Telling operators. Today: the worker log (and the step's timeline entry). The Slack integration
 * will post to the incident channel from here.
 */
export function createNotifyActivities({ logger }: { logger: Logger }) {
  return {
    async notifyOperators({ incidentId, step, message }: { incidentId: string; step: string; message: string }): Promise<{ channel: 'log'; at: string }> {
      logger.warn({ incidentId, step }, `operators: ${message}`);
      return { channel: 'log', at: new Date().toISOString() };
    },
  };
}
