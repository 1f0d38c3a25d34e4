import { ApplicationFailure, proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type { TimelineEntry } from '../domain/incident.js';
import type { PlannedStep } from '../domain/playbook.js';
import type { ConsentFailure } from '../activities/consents.js';
import type { Activities } from '../activities/index.js';
import { CONSENT_ACTIVITY_OPTIONS } from './activity-options.js';
import type { StepOutcome } from './steps.js';

/**
 * The consent steps (issue 9): `consents.list` counts what a provider holds; `consents.revoke`
 * revokes it in batches. The activity works through a few batches per call (heartbeating each, so a
 * retried call resumes rather than starting over) and the workflow records a `step.progress` entry
 * between calls; at the end the client's active consents are listed again and must be none.
 */

type Recorder = (entry: Omit<TimelineEntry, 'at'>) => void;

/** At most about this many progress entries per step, however many batches. */
const PROGRESS_ENTRIES = 20;
const MIN_BATCHES_PER_CALL = 5;
/** Revocation passes before consents still listed as active fail the step (a second pass catches stragglers). */
const PASSES = 2;

function consentActivities(step: PlannedStep) {
  const options: ActivityOptions = {
    ...CONSENT_ACTIVITY_OPTIONS,
    ...(step.timeoutSeconds ? { startToCloseTimeout: step.timeoutSeconds * 1000 } : {}),
    retry: {
      ...CONSENT_ACTIVITY_OPTIONS.retry,
      ...(step.retry?.maxAttempts ? { maximumAttempts: step.retry.maxAttempts } : {}),
      ...(step.retry?.initialIntervalSeconds ? { initialInterval: step.retry.initialIntervalSeconds * 1000 } : {}),
      ...(step.retry?.backoff ? { backoffCoefficient: step.retry.backoff } : {}),
    },
  };
  return proxyActivities<Pick<Activities, 'listConsents' | 'revokeConsents'>>(options);
}

function clientIdOf(params: { clientId?: string }): string {
  if (!params.clientId) throw ApplicationFailure.nonRetryable("parameter clientId is missing after resolving the playbook's references", 'InvalidParameters');
  return params.clientId;
}

export async function listConsentsStep(step: PlannedStep, params: { clientId?: string }): Promise<StepOutcome> {
  const clientId = clientIdOf(params);
  const inv = await consentActivities(step).listConsents({ clientId });
  return {
    output: { clientId, consentStore: inv.consentStore, counts: { active: inv.active }, clientsAffected: inv.clientsAffected, consentsWithoutPsu: inv.consentsWithoutPsu, listedAt: inv.listedAt },
    resources: [`${inv.consentStore}/clients/${clientId}`],
    message: `${inv.active} active consent(s) of ${clientId} in the consent store, held for ${inv.clientsAffected} PSU(s)`,
  };
}

export async function revokeConsentsStep(step: PlannedStep, params: { clientId?: string; batchSize?: number }, record: Recorder, idempotencyKeyPrefix: string): Promise<StepOutcome> {
  const clientId = clientIdOf(params);
  const act = consentActivities(step);
  const inventory = await act.listConsents({ clientId });
  const { batchSize } = params;
  const expectedBatches = batchSize ? Math.ceil(inventory.active / batchSize) : undefined;
  const maxBatches = Math.max(MIN_BATCHES_PER_CALL, Math.ceil((expectedBatches ?? 0) / PROGRESS_ENTRIES));
  record({
    kind: 'step.progress',
    step: step.id,
    message: `${inventory.active} active consent(s) of ${clientId} held for ${inventory.clientsAffected} PSU(s); revoking in batches${batchSize ? ` of ${batchSize}` : ''}`,
  });

  const counts = { revoked: 0, alreadyRevoked: 0, failed: 0 };
  let failures: ConsentFailure[] = [];
  let batches = 0;
  let remaining = inventory.active;
  for (let pass = 1; pass <= PASSES && remaining > 0; pass++) {
    let cursor: string | undefined;
    for (;;) {
      const r = await act.revokeConsents({ clientId, idempotencyKeyPrefix, cursor, batchSize, maxBatches });
      counts.revoked += r.counts.revoked;
      counts.alreadyRevoked += r.counts.alreadyRevoked;
      counts.failed += r.counts.failed;
      failures = [...failures, ...r.failures].slice(0, 20);
      batches += r.batches;
      cursor = r.nextCursor;
      if (r.batches > 0 || r.resumedFromBatch !== undefined) {
        record({
          kind: 'step.progress',
          step: step.id,
          message: `batch ${batches}${expectedBatches && pass === 1 ? `/${expectedBatches}` : ''}: ${counts.revoked} revoked, ${counts.alreadyRevoked} already revoked, ${counts.failed} failed${r.resumedFromBatch !== undefined ? ` (resumed from batch ${r.resumedFromBatch + 1} of this call after a retry)` : ''}`,
        });
      }
      if (r.done) break;
    }
    // Verification: read the end state back from the store, not from our counts.
    remaining = (await act.listConsents({ clientId })).active;
    if (remaining > 0 && pass < PASSES) record({ kind: 'step.progress', step: step.id, message: `${remaining} consent(s) still active after pass ${pass}: another pass` });
  }
  if (remaining > 0) {
    throw ApplicationFailure.nonRetryable(
      `${remaining} consent(s) of ${clientId} are still active after ${PASSES} revocation passes (${counts.revoked} revoked, ${counts.failed} failed${failures[0] ? `, e.g. ${failures[0].consentId}: ${failures[0].reason}` : ''})`,
      'NotVerified',
    );
  }
  return {
    output: {
      clientId,
      consentStore: inventory.consentStore,
      counts: { active: inventory.active, ...counts },
      // For regulator classification (IncidentFacts.clientsAffected): see domain/consents.ts.
      clientsAffected: inventory.clientsAffected,
      consentsWithoutPsu: inventory.consentsWithoutPsu,
      batches,
      verified: { active: 0 },
      failures,
    },
    resources: [`${inventory.consentStore}/clients/${clientId}`],
    message: `revoked ${counts.revoked} of ${inventory.active} active consent(s) of ${clientId} in ${batches} batch(es) (${counts.alreadyRevoked} already revoked, ${counts.failed} failed); ${inventory.clientsAffected} PSU(s) affected; re-listed: 0 active`,
  };
}
