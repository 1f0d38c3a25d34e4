import { z } from 'zod';
import { parseCidr, type Cidr } from './cidr.js';
import type { Indicator } from './feeds.js';

/** What an alert carries once its source IP matched an indicator (`alert.details.intel`). */
export interface IntelMatch {
  indicator: string;
  ref: string;
  feed: string;
  confidence?: number;
  name?: string;
  validUntil?: string;
}

/**
 * Indicators indexed for "which indicator covers this IP". The most specific (longest prefix)
 * indicator wins, then the most confident, so an alert names the narrowest evidence.
 * Expired indicators never match.
 */
export class IndicatorMatcher {
  private readonly entries: { cidr: Cidr; prefix: number; ind: Indicator }[];

  constructor(indicators: readonly Indicator[]) {
    this.entries = indicators.map((ind) => {
      const cidr = parseCidr(ind.value);
      return { cidr, prefix: Number(cidr.cidr.split('/')[1]), ind };
    });
  }

  get size(): number {
    return this.entries.length;
  }

  match(ip: string, now: Date = new Date()): IntelMatch | undefined {
    let addr: Cidr;
    try {
      addr = parseCidr(ip);
    } catch {
      return undefined;
    }
    let best: (typeof this.entries)[number] | undefined;
    for (const e of this.entries) {
      if (e.cidr.version !== addr.version || addr.start < e.cidr.start || addr.end > e.cidr.end) continue;
      if (e.ind.validUntil && Date.parse(e.ind.validUntil) <= now.getTime()) continue;
      if (!best || e.prefix > best.prefix || (e.prefix === best.prefix && (e.ind.confidence ?? -1) > (best.ind.confidence ?? -1))) best = e;
    }
    if (!best) return undefined;
    const { ind } = best;
    return {
      indicator: ind.value,
      ref: ind.ref,
      feed: ind.feed,
      ...(ind.confidence !== undefined ? { confidence: ind.confidence } : {}),
      ...(ind.name ? { name: ind.name } : {}),
      ...(ind.validUntil ? { validUntil: ind.validUntil } : {}),
    };
  }
}

/** Playbook `match.intel`: the alert's source IP matched an indicator (optionally: from these feeds, this confident). */
export interface IntelCondition {
  feeds?: string[];
  minConfidence?: number;
}

export function intelMatches(cond: IntelCondition, details: Record<string, unknown> | undefined): boolean {
  const intel = details?.intel as IntelMatch | undefined;
  if (!intel || typeof intel !== 'object' || typeof intel.feed !== 'string') return false;
  if (cond.feeds && !cond.feeds.includes(intel.feed)) return false;
  if (cond.minConfidence !== undefined && (intel.confidence ?? 0) < cond.minConfidence) return false;
  return true;
}

/** The `match.intel` schema of a playbook (domain/playbooks/schema.ts). */
export const IntelMatchCondition = z.strictObject({
  feeds: z.array(z.string().min(1)).min(1).optional(),
  minConfidence: z.number().int().min(0).max(100).optional(),
});
