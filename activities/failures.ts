import { ApplicationFailure } from '@temporalio/common';
import { classifyError } from '../domain/errors.js';

/**
 * Turns an error from AWS (or any HTTP dependency) into an ApplicationFailure that says whether a
 * retry can help. The message names the operation and resource, and only the error's own
 * name/message: request parameters (which could hold secret values) are never echoed.
 */
export function toFailure(err: unknown, operation: string, resource: string): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  const e = err as { name?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const name = e?.name ?? 'Error';
  const httpStatus = e?.$metadata?.httpStatusCode;
  const cls = classifyError({ name, code: e?.code, httpStatus });
  const message = `${operation} on ${resource} failed: ${name}${httpStatus ? ` (HTTP ${httpStatus})` : ''}: ${e?.message ?? String(err)}`;
  return cls === 'fatal'
    ? ApplicationFailure.nonRetryable(message, name)
    : ApplicationFailure.retryable(message, name);
}

/** Runs one external call and classifies what it throws. */
export async function call<T>(operation: string, resource: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toFailure(err, operation, resource);
  }
}

export function notFound(message: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(message, 'NotFound');
}

/** The end state read back from AWS is not what the step asked for: retrying may converge. */
export function notVerified(message: string): ApplicationFailure {
  return ApplicationFailure.retryable(message, 'NotVerified');
}
