/**
 * The block ledger of one WAF IP set: who holds which entry until when. Several incidents and
 * feeds can block the same address; an entry leaves the IP set only when no unexpired hold on it
 * remains. Pure, so the ledger workflow stays deterministic and this logic is table-tested.
 */
export interface HeldEntry {
  /** Canonical CIDR. */
  cidr: string;
  version: 4 | 6;
  /** ISO instant; absent = until released. */
  expiresAt?: string;
}

export interface Hold {
  /** `incident-…/step-id` for a playbook step, `feed:<name>` for a feed. */
  owner: string;
  entries: HeldEntry[];
}

export type Holds = Record<string, HeldEntry[]>;

const live = (e: HeldEntry, nowMs: number) => e.expiresAt === undefined || Date.parse(e.expiresAt) > nowMs;

/** Drops expired entries and holds left empty. */
export function pruneExpired(holds: Holds, nowMs: number): Holds {
  const out: Holds = {};
  for (const [owner, entries] of Object.entries(holds)) {
    const kept = entries.filter((e) => live(e, nowMs));
    if (kept.length) out[owner] = kept;
  }
  return out;
}

/** Every entry some live hold keeps in the IP set, with its version. */
export function desiredEntries(holds: Holds, nowMs: number): Map<string, 4 | 6> {
  const out = new Map<string, 4 | 6>();
  for (const entries of Object.values(holds)) for (const e of entries) if (live(e, nowMs)) out.set(e.cidr, e.version);
  return out;
}

/**
 * Ms until the earliest expiry; 0 when an entry is already past it (a hold can arrive after its
 * own expiry, or expire while an activity runs); undefined when nothing expires.
 */
export function msUntilNextExpiry(holds: Holds, nowMs: number): number | undefined {
  let next: number | undefined;
  for (const entries of Object.values(holds)) {
    for (const e of entries) {
      if (e.expiresAt === undefined) continue;
      const t = Date.parse(e.expiresAt);
      if (next === undefined || t < next) next = t;
    }
  }
  return next === undefined ? undefined : Math.max(0, next - nowMs);
}

export interface IpSetChange {
  addIpv4: string[];
  addIpv6: string[];
  removeIpv4: string[];
  removeIpv6: string[];
}

/** What to change so the set holds `desired`, given what the ledger last applied. */
export function changeBetween(applied: Map<string, 4 | 6>, desired: Map<string, 4 | 6>): IpSetChange {
  const c: IpSetChange = { addIpv4: [], addIpv6: [], removeIpv4: [], removeIpv6: [] };
  for (const [cidr, v] of desired) if (!applied.has(cidr)) (v === 4 ? c.addIpv4 : c.addIpv6).push(cidr);
  for (const [cidr, v] of applied) if (!desired.has(cidr)) (v === 4 ? c.removeIpv4 : c.removeIpv6).push(cidr);
  return c;
}

export const isEmptyChange = (c: IpSetChange) => c.addIpv4.length + c.addIpv6.length + c.removeIpv4.length + c.removeIpv6.length === 0;
