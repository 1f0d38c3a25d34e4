import { condition, defineQuery, defineSignal, proxyActivities, proxyLocalActivities, setHandler } from '@temporalio/workflow';
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

/** The activities of the rotation floor's worker (bench/rotation.ts): the plain script's rotation, as one activity. */
export interface FloorActivities {
  plainRotation(secretArn: string): Promise<void>;
}

const floor = proxyLocalActivities<FloorActivities>(AWS_ACTIVITY_OPTIONS);

/**
 * The Temporal floor for rotation (bench (d)): the least a durable workflow per secret can do, one
 * local activity making the plain script's four calls. What separates it from the plain script is
 * the cost of Temporal itself on the same cores; what separates bulwark from it is bulwark's.
 */
export async function baselineRotateSecret(secretArn: string): Promise<void> {
  await floor.plainRotation(secretArn);
}
