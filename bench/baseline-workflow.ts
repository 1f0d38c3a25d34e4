import { condition, defineQuery, defineSignal, proxyActivities, setHandler } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';

// Same activity code and options as the incident workflow (workflows/steps.ts), minus everything else.
const aws = proxyActivities<Activities>({
  startToCloseTimeout: '10 seconds',
  retry: { initialInterval: '500 milliseconds', backoffCoefficient: 2, maximumInterval: '10 seconds', maximumAttempts: 6 },
});

/** The baseline for containment: a bare workflow that disables one API key. */
export async function baselineDisableKey(apiKeyId: string): Promise<void> {
  await aws.disableApiKeys({ apiKeyId });
}

export const hitSignal = defineSignal('hit');
export const hitsQuery = defineQuery<number>('hits');

/** The baseline for the storm: one signal per alert into a workflow that only counts them. */
export async function baselineCounter(): Promise<void> {
  let hits = 0;
  setHandler(hitSignal, () => void hits++);
  setHandler(hitsQuery, () => hits);
  await condition(() => false, '1 hour');
}
