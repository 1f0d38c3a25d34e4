/** An error the CLI reports as one line, with the exit code it implies (1 failure, 2 usage). */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: 1 | 2 = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export const usageError = (message: string) => new CliError(message, 2);

/** Maps well-known failures to a sentence an operator can act on. */
export function explain(err: unknown, context: { temporalAddress?: string } = {}): string {
  const e = err as { name?: string; message?: string; cause?: { message?: string }; code?: number | string };
  const msg = e?.message ?? String(err);
  if (e?.name === 'WorkflowNotFoundError' || /workflow not found|not found for ID/i.test(msg)) return 'no such incident (check the id with `bulwark incident list`)';
  if (e?.name === 'WorkflowUpdateFailedError' || e?.name === 'WorkflowUpdateRPCTimeoutOrCancelledError') {
    return `refused: ${e.cause?.message ?? msg}`;
  }
  if (/DEADLINE_EXCEEDED|query timed out/i.test(msg + (e?.cause?.message ?? ''))) {
    return 'no worker answered in time: is `bulwark worker` (or `npm start`) running on this task queue?';
  }
  if (/ECONNREFUSED|Failed to connect|UNAVAILABLE|failed to connect|TransportError/i.test(msg)) {
    return `cannot reach Temporal${context.temporalAddress ? ` at ${context.temporalAddress}` : ''}: is the stack running? (\`npm start\`, or set TEMPORAL_ADDRESS)`;
  }
  return msg;
}
