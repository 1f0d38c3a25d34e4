/**
 * Client-side AWS request budgets. AWS throttles per account and region (Secrets Manager's
 * RotateSecret family shares 50 requests/s, KMS control-plane calls are about 5/s), and a fleet
 * rotation that hits those limits slows every other caller in the account, including production
 * services. A token bucket per service, in front of every attempt (SDK retries included), keeps
 * this process under the configured rate instead of leaning on throttling errors.
 *
 * The budget is per process: with several workers, divide the account's budget between them.
 */

export class TokenBucket {
  private tokens: number;
  private last: number;
  private queue: (() => void)[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly perSecond: number,
    readonly burst = Math.max(1, Math.floor(perSecond)),
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = burst;
    this.last = now();
  }

  /** Resolves when a request may be sent; first come, first served. */
  take(): Promise<void> {
    return new Promise((resolve) => {
      this.queue.push(resolve);
      this.drain();
    });
  }

  private refill() {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.perSecond);
    this.last = t;
  }

  private drain() {
    this.refill();
    while (this.queue.length && this.tokens >= 1) {
      this.tokens -= 1;
      this.queue.shift()!();
    }
    if (this.queue.length && !this.timer) {
      const wait = Math.ceil(((1 - this.tokens) / this.perSecond) * 1000);
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.drain();
      }, wait);
      // A process waiting only for a token must still be able to exit.
      this.timer.unref?.();
    }
  }
}

/** The part of an SDK v3 client this needs (every generated client has it). */
interface WithMiddleware {
  middlewareStack: {
    add(middleware: (next: (args: unknown) => Promise<unknown>) => (args: unknown) => Promise<unknown>, options: { step: 'finalizeRequest'; name: string; priority: 'low' }): void;
  };
}

/** Every attempt of every request through `client` waits for a token of `bucket`. */
export function limitClient(client: WithMiddleware, bucket: TokenBucket): void {
  client.middlewareStack.add(
    (next) => async (args) => {
      await bucket.take();
      return next(args);
    },
    // finalizeRequest/low runs after the SDK's retry middleware: each retry attempt pays too.
    { step: 'finalizeRequest', name: 'bulwarkRateLimit', priority: 'low' },
  );
}
