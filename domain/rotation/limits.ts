/**
 * AWS limits the rotation engine respects, and the sentences that explain them. Pure functions:
 * activities read the dates and counts from AWS and ask these what to do.
 */

/** AWS advises against writing a new secret version more often than every 10 minutes. */
export const MIN_SECRET_WRITE_INTERVAL_SECONDS = 600;

export type IntervalCheck = { ok: true } | { ok: false; message: string; retryAfter: string };

/**
 * Refuses a write within `minIntervalSeconds` of the last one unless forced. `lastWrittenAt` is
 * when the current value replaced an earlier one (undefined for a secret never rotated or
 * updated since creation: its first rotation is always allowed).
 */
export function checkWriteInterval(input: { secret: string; lastWrittenAt?: Date; now: Date; minIntervalSeconds?: number; force?: boolean }): IntervalCheck {
  const min = input.minIntervalSeconds ?? MIN_SECRET_WRITE_INTERVAL_SECONDS;
  if (input.force || !input.lastWrittenAt || min <= 0) return { ok: true };
  const ageSeconds = Math.floor((input.now.getTime() - input.lastWrittenAt.getTime()) / 1000);
  if (ageSeconds >= min) return { ok: true };
  const retryAfter = new Date(input.lastWrittenAt.getTime() + min * 1000).toISOString();
  return {
    ok: false,
    retryAfter,
    message:
      `secret ${input.secret} was last written ${ageSeconds}s ago (${input.lastWrittenAt.toISOString()}); AWS advises at most one new version every ` +
      `${Math.round(min / 60)} minutes (more frequent writes create versions faster than Secrets Manager removes them, until the version quota is hit). ` +
      `Retry after ${retryAfter}, or pass force to rotate anyway`,
  };
}

/** EnableKeyRotation accepts 90–2560 days. */
export function checkRotationPeriodDays(days: number): string | undefined {
  if (!Number.isInteger(days) || days < 90 || days > 2560) return `periodDays must be a whole number of days between 90 and 2560 (AWS's range for automatic key rotation), got ${days}`;
  return undefined;
}

/** ScheduleKeyDeletion accepts a waiting period of 7–30 days. Checked here: the sandbox does not enforce it. */
export function checkDeletionWindowDays(days: number): string | undefined {
  if (!Number.isInteger(days) || days < 7 || days > 30) return `deletionWindowDays must be a whole number of days between 7 and 30 (AWS's waiting period for key deletion), got ${days}`;
  return undefined;
}

/**
 * Why an on-demand rotation was refused for the per-key cap. The cap is AWS's (a fixed number of
 * on-demand rotations per key over its lifetime); the count used is read from ListKeyRotations
 * rather than compared against a hard-coded number.
 */
export function explainOnDemandCap(keyId: string, onDemandUsed: number, awsMessage: string): string {
  return (
    `RotateKeyOnDemand on KMS key ${keyId} was refused: AWS caps on-demand rotations per key and this key has used ${onDemandUsed} ` +
    `(ListKeyRotations, RotationType ON_DEMAND). AWS said: ${awsMessage}. Use automatic rotation (bulwark rotate key ${keyId} --mode enable-automatic --period-days N) ` +
    `or, for an emergency, replace the key behind its alias (bulwark rotate key <alias> --replace --emergency)`
  );
}
