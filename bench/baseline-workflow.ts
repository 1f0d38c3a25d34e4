import { condition, defineQuery, defineSignal, proxyActivities, setHandler } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { AWS_ACTIVITY_OPTIONS } from '../workflows/activity-options.js';

// Same activity code and options as the incident workflow, minus everything else.
const aws = proxyActivities<Activities>(AWS_ACTIVITY_OPTIONS);

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
