import ipaddr from 'ipaddr.js';

/**
 * IP/CIDR normalisation for blocking. Everything that reaches a WAF IP set goes through here:
 * one canonical text per network (host bits cleared, IPv6 compressed), special-purpose ranges
 * refused unless a caller allows their category, and sets merged into the fewest CIDRs.
 * Addresses are handled as bigint intervals so merging is exact for both families.
 */
export type IpVersion = 4 | 6;

export interface Cidr {
  version: IpVersion;
  /** Canonical text, always with a prefix length: 198.51.100.0/24, 2001:db8::/32. */
  cidr: string;
  start: bigint;
  end: bigint;
}

/** Categories of special-purpose ranges (RFC 6890 and successors) refused unless allowed. */
export const SPECIAL_CATEGORIES = ['private', 'loopback', 'link-local', 'multicast', 'documentation', 'reserved'] as const;
export type SpecialCategory = (typeof SPECIAL_CATEGORIES)[number];

const SPECIAL: Record<IpVersion, [string, SpecialCategory][]> = {
  4: [
    ['0.0.0.0/8', 'reserved'],
    ['10.0.0.0/8', 'private'],
    ['100.64.0.0/10', 'private'],
    ['127.0.0.0/8', 'loopback'],
    ['169.254.0.0/16', 'link-local'],
    ['172.16.0.0/12', 'private'],
    ['192.0.0.0/24', 'reserved'],
    ['192.0.2.0/24', 'documentation'],
    ['192.88.99.0/24', 'reserved'],
    ['192.168.0.0/16', 'private'],
    ['198.18.0.0/15', 'reserved'],
    ['198.51.100.0/24', 'documentation'],
    ['203.0.113.0/24', 'documentation'],
    ['224.0.0.0/4', 'multicast'],
    ['240.0.0.0/4', 'reserved'],
  ],
  6: [
    // Everything outside global unicast 2000::/3 (::1, ::ffff:0:0/96, fc00::/7, fe80::/10, ff00::/8
    // and unassigned space) is split below so each part reports its own category.
    ['::/128', 'reserved'],
    ['::1/128', 'loopback'],
    ['::ffff:0:0/96', 'reserved'],
    ['100::/64', 'reserved'],
    ['2001::/23', 'reserved'],
    ['2001:db8::/32', 'documentation'],
    ['2002::/16', 'reserved'],
    ['3fff::/20', 'documentation'],
    ['fc00::/7', 'private'],
    ['fe80::/10', 'link-local'],
    ['ff00::/8', 'multicast'],
  ],
};

const BITS: Record<IpVersion, number> = { 4: 32, 6: 128 };
const DOTTED = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$/;

function toBigInt(bytes: number[]): bigint {
  return bytes.reduce((acc, b) => (acc << 8n) | BigInt(b), 0n);
}

function fromBigInt(value: bigint, version: IpVersion): string {
  if (version === 4) {
    const n = Number(value);
    return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
  }
  const bytes: number[] = [];
  for (let i = 0; i < BITS[version] / 8; i++) bytes.unshift(Number((value >> BigInt(i * 8)) & 0xffn));
  return ipaddr.fromByteArray(bytes).toString();
}

function make(version: IpVersion, start: bigint, prefix: number): Cidr {
  const size = 1n << BigInt(BITS[version] - prefix);
  return { version, start, end: start + size - 1n, cidr: `${fromBigInt(start, version)}/${prefix}` };
}

/** Parses an address or CIDR; throws with what was expected. Host bits are cleared (10.1.2.3/8 → 10.0.0.0/8). */
export function parseCidr(text: string): Cidr {
  const value = text.trim();
  const [addr, len, ...rest] = value.split('/');
  if (!addr || rest.length > 0) throw new Error(`"${value}" is not an IP address or CIDR`);
  let version: IpVersion;
  let ip: ipaddr.IPv4 | ipaddr.IPv6;
  const dotted = DOTTED.exec(addr);
  if (dotted) {
    // Fast path for the common case (feeds of 10,000 addresses): strict dotted decimal, no leading zeros.
    const octets = dotted.slice(1, 5).map(Number);
    if (octets.some((o) => o > 255)) throw new Error(`"${value}" is not an IP address or CIDR (expected e.g. 198.51.100.7, 198.51.100.0/24 or 2001:db8::/32)`);
    version = 4;
    ip = new ipaddr.IPv4(octets);
  } else if (ipaddr.IPv6.isValid(addr) && !addr.includes('%')) {
    const v6 = ipaddr.IPv6.parse(addr);
    // An IPv4-mapped address is the IPv4 address: block it in the IPv4 set.
    if (v6.isIPv4MappedAddress() && len === undefined) {
      version = 4;
      ip = v6.toIPv4Address();
    } else {
      version = 6;
      ip = v6;
    }
  } else {
    throw new Error(`"${value}" is not an IP address or CIDR (expected e.g. 198.51.100.7, 198.51.100.0/24 or 2001:db8::/32)`);
  }
  const bits = BITS[version];
  let prefix = bits;
  if (len !== undefined) {
    if (!/^\d{1,3}$/.test(len) || Number(len) > bits) throw new Error(`"${value}" has an invalid prefix length (expected 0-${bits})`);
    prefix = Number(len);
  }
  const raw = toBigInt(ip.toByteArray());
  const hostBits = BigInt(bits - prefix);
  return make(version, (raw >> hostBits) << hostBits, prefix);
}

/**
 * The first special-purpose category a CIDR overlaps that is not allowed, if any (a wide CIDR
 * such as 0.0.0.0/0 overlaps several: allowing one of them does not let the others through).
 */
export function specialCategory(c: Cidr, allow: readonly SpecialCategory[] = []): SpecialCategory | undefined {
  for (const [range, category] of SPECIAL[c.version]) {
    if (allow.includes(category)) continue;
    const r = parseCidrUnchecked(range);
    if (c.start <= r.end && r.start <= c.end) return category;
  }
  if (c.version === 6 && !allow.includes('reserved')) {
    const global = parseCidrUnchecked('2000::/3');
    if (c.start < global.start || c.end > global.end) return 'reserved';
  }
  return undefined;
}

const specialCache = new Map<string, Cidr>();
function parseCidrUnchecked(text: string): Cidr {
  let c = specialCache.get(text);
  if (!c) specialCache.set(text, (c = parseCidr(text)));
  return c;
}

export function containsAddress(c: Cidr, ip: string): boolean {
  let a: Cidr;
  try {
    a = parseCidr(ip);
  } catch {
    return false;
  }
  return a.version === c.version && a.start >= c.start && a.end <= c.end;
}

/** The fewest CIDRs covering exactly [start, end]. */
function rangeToCidrs(version: IpVersion, start: bigint, end: bigint): Cidr[] {
  const out: Cidr[] = [];
  const bits = BITS[version];
  let cur = start;
  while (cur <= end) {
    // Largest block aligned at cur that does not pass end.
    let size = bits;
    while (size > 0) {
      const block = 1n << BigInt(bits - size + 1);
      if (cur % block !== 0n || cur + block - 1n > end) break;
      size--;
    }
    const c = make(version, cur, size);
    out.push(c);
    cur = c.end + 1n;
  }
  return out;
}

/**
 * Merges overlapping and adjacent CIDRs of one family into the fewest CIDRs covering exactly the
 * same addresses, sorted by address. Idempotent: merging a merged list returns it unchanged.
 */
export function mergeCidrs(cidrs: readonly Cidr[]): Cidr[] {
  const out: Cidr[] = [];
  for (const version of [4, 6] as const) {
    const sorted = cidrs.filter((c) => c.version === version).sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
    // `only`: the run is one input CIDR unchanged, which is already its own minimal form.
    let run: { start: bigint; end: bigint; only?: Cidr } | undefined;
    const flush = () => run && out.push(...(run.only ? [run.only] : rangeToCidrs(version, run.start, run.end)));
    for (const c of sorted) {
      if (run && c.start <= run.end + 1n) {
        if (c.end > run.end) {
          run.end = c.end;
          run.only = undefined;
        }
      } else {
        flush();
        run = { start: c.start, end: c.end, only: c };
      }
    }
    flush();
  }
  return out;
}

export interface Normalised {
  ipv4: string[];
  ipv6: string[];
  rejected: { value: string; reason: string }[];
}

/**
 * Parses, refuses special-purpose ranges (unless their category is allowed) and merges.
 * Rejected entries are listed with the reason; callers decide whether that fails the whole input.
 */
export function normaliseCidrs(values: readonly string[], opts: { allow?: readonly SpecialCategory[]; merge?: boolean } = {}): Normalised {
  const ok: Cidr[] = [];
  const rejected: Normalised['rejected'] = [];
  for (const value of values) {
    let c: Cidr;
    try {
      c = parseCidr(value);
    } catch (err) {
      rejected.push({ value, reason: (err as Error).message });
      continue;
    }
    const category = specialCategory(c, opts.allow);
    if (category) {
      rejected.push({ value, reason: `${c.cidr} is in a ${category} range (allow it explicitly to block it)` });
      continue;
    }
    ok.push(c);
  }
  const merged = opts.merge === false ? dedupe(ok) : mergeCidrs(ok);
  return {
    ipv4: merged.filter((c) => c.version === 4).map((c) => c.cidr),
    ipv6: merged.filter((c) => c.version === 6).map((c) => c.cidr),
    rejected,
  };
}

function dedupe(cidrs: Cidr[]): Cidr[] {
  const seen = new Map<string, Cidr>();
  for (const c of cidrs) seen.set(c.cidr, c);
  return [...seen.values()];
}

/** Canonical text of one entry as WAF stores it; throws for invalid text. */
export function canonicalCidr(text: string): string {
  return parseCidr(text).cidr;
}

/** Number of addresses covered, for reports (bigint: a /0 IPv6 does not fit a number). */
export function addressCount(cidrs: readonly Cidr[]): bigint {
  return mergeCidrs(cidrs).reduce((n, c) => n + (c.end - c.start + 1n), 0n);
}
