import { mergeCidrs, parseCidr, specialCategory, type Cidr, type SpecialCategory } from './cidr.js';
import type { Indicator } from './feeds.js';
import type { HeldEntry } from './holds.js';

export interface FeedEntries {
  entries: HeldEntry[];
  /** Indicators refused (special-purpose ranges not allowed for this feed). */
  rejected: { value: string; ref: string; reason: string }[];
}

/**
 * A feed's indicators as IP-set entries: special ranges refused unless allowed, duplicates
 * collapsed (the latest expiry wins; no expiry beats any), then overlapping and adjacent CIDRs
 * merged among entries that expire together, so a merge never extends a block past its expiry.
 */
export function entriesFromIndicators(indicators: readonly Indicator[], opts: { allow?: readonly SpecialCategory[]; defaultExpiresAt?: string } = {}): FeedEntries {
  const rejected: FeedEntries['rejected'] = [];
  const expiry = new Map<string, { cidr: Cidr; expiresAt?: string }>();
  for (const ind of indicators) {
    const cidr = parseCidr(ind.value);
    const category = specialCategory(cidr, opts.allow);
    if (category) {
      rejected.push({ value: ind.value, ref: ind.ref, reason: `${category} range` });
      continue;
    }
    const expiresAt = ind.validUntil ?? opts.defaultExpiresAt;
    const prev = expiry.get(cidr.cidr);
    if (!prev) expiry.set(cidr.cidr, { cidr, expiresAt });
    else if (prev.expiresAt !== undefined && (expiresAt === undefined || Date.parse(expiresAt) > Date.parse(prev.expiresAt))) prev.expiresAt = expiresAt;
  }
  const groups = new Map<string, Cidr[]>();
  for (const { cidr, expiresAt } of expiry.values()) {
    const key = expiresAt ?? '';
    const group = groups.get(key);
    if (group) group.push(cidr);
    else groups.set(key, [cidr]);
  }
  const entries: HeldEntry[] = [];
  for (const [key, cidrs] of [...groups].sort(([a], [b]) => a.localeCompare(b))) {
    for (const c of mergeCidrs(cidrs)) entries.push({ cidr: c.cidr, version: c.version, ...(key ? { expiresAt: key } : {}) });
  }
  return { entries, rejected };
}
