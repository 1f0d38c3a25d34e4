/**
 * Sends a non-idempotent AWS call without the SDK's own retries. The SDK retries a call whose answer
 * was lost (connection reset, timeout, 5xx) by sending it again; for RotateKeyOnDemand or
 * CreateUserPoolClient that acts twice. Here the first failure ends the call, unchanged; the
 * activity's Temporal retry then reads the real state first (its idempotency check) before acting
 * again. Found by the chaos suite's dropped-answer faults (docs/chaos.md).
 */
interface MiddlewareStackLike {
  add(middleware: unknown, options: { step: 'finalizeRequest'; priority: 'low'; name: string; override: boolean }): void;
}

/** Wraps an attempt's error so the SDK's retry strategy sees a client error and stops; unwrapped below. */
class SentOnce extends Error {
  constructor(readonly original: unknown) {
    super('sent once');
    this.name = 'SentOnce';
  }
}

export async function sendOnce<C extends { middlewareStack: MiddlewareStackLike }, O>(send: (command: C) => Promise<O>, command: C): Promise<O> {
  // finalizeRequest at low priority runs inside the SDK's retry middleware, once per attempt.
  command.middlewareStack.add(
    (next: (args: unknown) => Promise<unknown>) => async (args: unknown) => {
      try {
        return await next(args);
      } catch (err) {
        throw new SentOnce(err);
      }
    },
    { step: 'finalizeRequest', priority: 'low', name: 'bulwarkSendOnce', override: true },
  );
  try {
    return await send(command);
  } catch (err) {
    throw err instanceof SentOnce ? err.original : err;
  }
}
