import { ActivityFailure, ApplicationFailure } from '@temporalio/workflow';

/** The operator-facing reason of a failed activity: the root ApplicationFailure's message. */
export function failureReason(err: unknown): string {
  let e: unknown = err;
  while (e instanceof ActivityFailure && e.cause) e = e.cause;
  if (e instanceof ApplicationFailure) return e.message;
  return e instanceof Error ? e.message : String(e);
}
