/**
 * The rotation bench (bench/rotation.ts) at a handful of secrets on the run's shared servers, so
 * `npm run bench` cannot rot unnoticed: all three sides rotate every secret, and the figures it
 * reports are the ones it measured. Speed is not asserted here; that is the bench's job.
 */
import { describe, expect, inject, it } from 'vitest';
import { runRotationBench } from '../bench/rotation.js';

describe('rotation bench', () => {
  it('rotates every secret on all three sides (bulwark, plain script, bare-workflow floor) and reports their rates', { timeout: 120_000 }, async () => {
    const lines: string[] = [];
    const r = await runRotationBench({ n: 6, concurrency: 3, temporalAddress: inject('temporalAddress'), awsEndpoint: inject('awsEndpoint'), log: (m) => lines.push(m) });
    expect([r.bulwarkFailed, r.baselineFailed, r.floorFailed]).toEqual([0, 0, 0]);
    // Read back from Secrets Manager by the bench: a new AWSCURRENT with the old one as AWSPREVIOUS.
    expect([r.verifiedRotated, r.floorVerified]).toEqual([6, 6]);
    for (const [rate, seconds] of [[r.bulwarkPerSecond, r.bulwarkSeconds], [r.baselinePerSecond, r.baselineSeconds], [r.floorPerSecond, r.floorSeconds]] as const) {
      // Both are rounded to 2 decimals from the same measured time: the rate lies within what the
      // rounded seconds allow (a short side's seconds can be off by several per cent of itself).
      expect(rate).toBeGreaterThan(0);
      expect(rate).toBeGreaterThanOrEqual(6 / (seconds + 0.005) - 0.005);
      if (seconds > 0.005) expect(rate).toBeLessThanOrEqual(6 / (seconds - 0.005) + 0.005);
    }
    expect(r.ratio).toBeCloseTo(r.bulwarkPerSecond / r.baselinePerSecond, 1);
    expect(r.floorRatio).toBeCloseTo(r.floorPerSecond / r.baselinePerSecond, 1);
    expect(r.ofFloor).toBeCloseTo(r.bulwarkPerSecond / r.floorPerSecond, 1);
    expect(lines.join('\n')).toMatch(/floor: a bare workflow per secret/);
  });
});
