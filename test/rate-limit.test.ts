import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateSecretCommand, DescribeSecretCommand } from '@aws-sdk/client-secrets-manager';
import { TokenBucket } from '../activities/rate-limit.js';
import { rotateMany } from '../cli/commands/rotate.js';
import { ConfigError, loadConfig } from '../temporal.config.js';
import { startHarness, testConfig, uniqueId, type Harness } from './support.js';

/** The most requests seen in any one-second window. */
function peakPerSecond(times: number[]): number {
  const t = [...times].sort((a, b) => a - b);
  let peak = 0;
  for (let i = 0, j = 0; i < t.length; i++) {
    while (t[i]! - t[j]! >= 1000) j++;
    peak = Math.max(peak, i - j + 1);
  }
  return peak;
}

describe('token bucket', () => {
  it('lets a burst through, then no more than the rate per second', async () => {
    const bucket = new TokenBucket(20, 5);
    const times: number[] = [];
    await Promise.all(Array.from({ length: 45 }, () => bucket.take().then(() => times.push(performance.now()))));
    // 5 at once, then 20 per second: any one-second window holds at most 5 + 20.
    expect(peakPerSecond(times)).toBeLessThanOrEqual(25);
    expect(Math.max(...times) - Math.min(...times)).toBeGreaterThanOrEqual(1900);
  });

  it.each([
    ['secretsmanager=40,kms=5', { secretsmanager: 40, kms: 5 }],
    [' kms=2.5 ', { kms: 2.5 }],
  ])('BULWARK_AWS_RATE_LIMITS=%s', (text, expected) => {
    expect(loadConfig({ BULWARK_AWS_RATE_LIMITS: text }).aws.rateLimits).toEqual(expected);
  });
  it.each(['secrets=5', 'kms=0', 'kms', 'kms=fast'])('refuses BULWARK_AWS_RATE_LIMITS=%s naming the variable', (text) => {
    expect(() => loadConfig({ BULWARK_AWS_RATE_LIMITS: text })).toThrow(ConfigError);
    expect(() => loadConfig({ BULWARK_AWS_RATE_LIMITS: text })).toThrow(/BULWARK_AWS_RATE_LIMITS.*expected service=requestsPerSecond with service one of secretsmanager, kms/);
  });
});

describe('a bulk rotation under a Secrets Manager budget', () => {
  let h: Harness;
  const sent: number[] = [];
  beforeAll(async () => {
    h = await startHarness({ config: testConfig({ aws: { rateLimits: { secretsmanager: 10 } } }) });
    // Added after the limiter at the same step: sees each attempt as it leaves for moto.
    h.aws.sm.middlewareStack.add((next) => async (args) => {
      sent.push(performance.now());
      return next(args);
    }, { step: 'finalizeRequest', name: 'testRecorder', priority: 'low' });
  });
  afterAll(() => h?.close());

  it('stays within 10 requests/s (+ burst) and rotates every secret', async () => {
    const arns = await Promise.all(Array.from({ length: 12 }, async (_, i) => (await h.aws.sm.send(new CreateSecretCommand({ Name: `test/${uniqueId(`budget${i}`)}`, SecretString: 'initial-token-value-1234567890' }))).ARN!));
    sent.length = 0;
    const outcomes = await rotateMany(h.client, h.config.temporal.taskQueue, arns.map((secretId) => ({ secretId, strategy: 'single-user' as const })), { concurrency: 12 });
    expect(outcomes.filter((o) => o.status !== 'rotated')).toEqual([]);
    for (const arn of arns) {
      const stages = (await h.aws.sm.send(new DescribeSecretCommand({ SecretId: arn }))).VersionIdsToStages ?? {};
      expect(Object.values(stages).some((l) => l.includes('AWSPREVIOUS'))).toBe(true);
    }
    // Dozens of calls for 12 rotations, never more than burst (10) + rate (10) in any second.
    expect(sent.length).toBeGreaterThan(40);
    expect(peakPerSecond(sent)).toBeLessThanOrEqual(20);
  });
});
