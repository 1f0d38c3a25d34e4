import type { ActivityOptions } from '@temporalio/workflow';

// AWS calls are short (the SDK retries inside one attempt too); 10 s also bounds how long a crashed
// worker's activity stays claimed. A bounded number of attempts means a persistent outage ends in
// needs-attention with a reason instead of retrying forever.
export const AWS_ACTIVITY_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '10 seconds',
  retry: { initialInterval: '500 milliseconds', backoffCoefficient: 2, maximumInterval: '10 seconds', maximumAttempts: 6 },
};

// Consent revocation (issue 9): one call works through several batches of HTTP requests and may wait
// out a Retry-After, so it gets minutes, and a heartbeat timeout so a crashed worker's attempt is
// retried within seconds, resuming from its last heartbeat.
export const CONSENT_ACTIVITY_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: '10 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 8 },
};
