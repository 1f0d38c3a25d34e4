import type { ActivityOptions } from '@temporalio/workflow';

// AWS calls are short (the SDK retries inside one attempt too); 10 s also bounds how long a crashed
// worker's activity stays claimed. A bounded number of attempts means a persistent outage ends in
// needs-attention with a reason instead of retrying forever.
export const AWS_ACTIVITY_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '10 seconds',
  retry: { initialInterval: '500 milliseconds', backoffCoefficient: 2, maximumInterval: '10 seconds', maximumAttempts: 6 },
};
