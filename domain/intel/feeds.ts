import { z } from 'zod';
import { parseCidr, type IpVersion } from './cidr.js';

/**
 * Threat-intelligence feed parsing: a plain IP/CIDR list and STIX 2.1 bundles. A feed either
 * parses completely or not at all: one malformed object fails the whole feed with errors naming
 * the line or `objects[i].field`, so a half-read feed never reaches a WAF IP set.
 */
export interface Indicator {
  /** Canonical CIDR (198.51.100.7/32). */
  value: string;
  version: IpVersion;
  feed: string;
  /** STIX indicator id, or `line:N` for plain lists. */
  ref: string;
  name?: string;
  /** 0-100 (STIX confidence); plain lists carry none. */
  confidence?: number;
  /** ISO instant after which the indicator no longer applies. */
  validUntil?: string;
}

export interface FeedError {
  field: string;
  message: string;
}

export type FeedParse =
  | { ok: true; indicators: Indicator[]; skipped: { ref: string; reason: string }[] }
  | { ok: false; errors: FeedError[] };

export const FEED_FORMATS = ['plain', 'stix'] as const;
export type FeedFormat = (typeof FEED_FORMATS)[number];

/** `# comment`, `; comment`, blank lines and trailing comments are ignored; one address or CIDR per line. */
export function parsePlainList(text: string, feed: string): FeedParse {
  const indicators: Indicator[] = [];
  const errors: FeedError[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/[#;].*$/, '').trim();
    if (!line) return;
    // Some lists (Spamhaus DROP) put an id after the CIDR: the first token is the network.
    const token = line.split(/\s+/)[0]!;
    try {
      const c = parseCidr(token);
      indicators.push({ value: c.cidr, version: c.version, feed, ref: `line:${i + 1}` });
    } catch (err) {
      errors.push({ field: `line ${i + 1}`, message: (err as Error).message });
    }
  });
  return errors.length ? { ok: false, errors } : { ok: true, indicators, skipped: [] };
}

const isoInstant = z.iso.datetime({ offset: true });

const StixIndicator = z.object({
  type: z.literal('indicator'),
  spec_version: z.literal('2.1', { error: 'expected spec_version "2.1"' }).optional(),
  id: z.string().regex(/^indicator--[0-9a-f-]{36}$/i, 'expected an id like indicator--<uuid>'),
  name: z.string().max(1024).optional(),
  pattern: z.string().min(1, 'expected a STIX pattern'),
  pattern_type: z.string().default('stix'),
  valid_from: isoInstant.optional(),
  valid_until: isoInstant.optional(),
  confidence: z.number().int().min(0).max(100).optional(),
  revoked: z.boolean().optional(),
});

const StixBundle = z.object({
  type: z.literal('bundle', { error: 'expected type "bundle"' }),
  id: z.string().regex(/^bundle--/, 'expected an id like bundle--<uuid>'),
  objects: z.array(z.looseObject({ type: z.string({ error: 'expected a STIX object type' }) })),
});

// One comparison: [ipv4-addr:value = '198.51.100.7'] or ipv6-addr:value = '2001:db8::/32' inside brackets.
const COMPARISON = /^(ipv4-addr|ipv6-addr):value\s*=\s*'([^'\\]*)'$/;
const OTHER_OBJECT = /^[a-z0-9-]+:[\w.'[\]*-]+\s*(=|!=|MATCHES|LIKE|IN|>|<|>=|<=)/i;

/**
 * The addresses of a STIX pattern built only from `ipv4-addr:value =` / `ipv6-addr:value =`
 * comparisons joined by OR (inside or between brackets). Returns undefined for patterns about
 * other objects (domains, hashes): those are not for an IP set. Throws for malformed IP patterns
 * and for AND/qualifiers, whose meaning a block list cannot express.
 */
export function addressesOfPattern(pattern: string): { version: IpVersion; value: string }[] | undefined {
  const text = pattern.trim();
  if (!/(ipv4-addr|ipv6-addr):/.test(text)) {
    if (!/^\[.*\]$/s.test(text) || !OTHER_OBJECT.test(text.slice(1).trim())) throw new Error('expected a STIX pattern like [ipv4-addr:value = \'198.51.100.7\']');
    return undefined;
  }
  if (/\b(AND|FOLLOWEDBY|WITHIN|REPEATS|START|STOP)\b/.test(text.replace(/'[^']*'/g, "''"))) {
    throw new Error('only OR-combined ipv4-addr/ipv6-addr value comparisons can become a block list (found AND or a qualifier)');
  }
  const out: { version: IpVersion; value: string }[] = [];
  const groups = text.split(/\]\s*OR\s*\[/);
  groups.forEach((group, gi) => {
    let g = group.trim();
    if (gi === 0) {
      if (!g.startsWith('[')) throw new Error('expected the pattern to start with "["');
      g = g.slice(1);
    }
    if (gi === groups.length - 1) {
      if (!g.endsWith(']')) throw new Error('expected the pattern to end with "]"');
      g = g.slice(0, -1);
    }
    for (const part of g.split(/\s+OR\s+/)) {
      const m = COMPARISON.exec(part.trim());
      if (!m) throw new Error(`cannot read "${part.trim().slice(0, 80)}": expected ipv4-addr:value = '…' or ipv6-addr:value = '…'`);
      const c = parseCidr(m[2]!);
      const want: IpVersion = m[1] === 'ipv4-addr' ? 4 : 6;
      if (c.version !== want) throw new Error(`${m[1]} holds "${m[2]}", which is an IPv${c.version} value`);
      out.push({ version: c.version, value: c.cidr });
    }
  });
  return out;
}

/**
 * STIX 2.1 bundle → indicators. Non-indicator objects and indicators about other object types
 * are skipped (listed); revoked and expired (valid_until ≤ now) indicators are skipped too.
 */
export function parseStixBundle(text: string, feed: string, now: Date = new Date()): FeedParse {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { ok: false, errors: [{ field: '(root)', message: `not JSON: ${(err as Error).message}` }] };
  }
  const bundle = StixBundle.safeParse(json);
  if (!bundle.success) return { ok: false, errors: bundle.error.issues.map((i) => ({ field: i.path.length ? i.path.map(String).join('.') : '(root)', message: i.message })) };
  const indicators: Indicator[] = [];
  const skipped: { ref: string; reason: string }[] = [];
  const errors: FeedError[] = [];
  bundle.data.objects.forEach((obj, i) => {
    if (obj.type !== 'indicator') return;
    const r = StixIndicator.safeParse(obj);
    if (!r.success) {
      for (const issue of r.error.issues) errors.push({ field: `objects[${i}]${issue.path.map((p) => `.${String(p)}`).join('')}`, message: issue.message });
      return;
    }
    const ind = r.data;
    if (ind.pattern_type !== 'stix') {
      skipped.push({ ref: ind.id, reason: `pattern_type ${ind.pattern_type}` });
      return;
    }
    let addresses: ReturnType<typeof addressesOfPattern>;
    try {
      addresses = addressesOfPattern(ind.pattern);
    } catch (err) {
      errors.push({ field: `objects[${i}].pattern`, message: (err as Error).message });
      return;
    }
    if (ind.valid_from && ind.valid_until && Date.parse(ind.valid_until) <= Date.parse(ind.valid_from)) {
      errors.push({ field: `objects[${i}].valid_until`, message: 'must be later than valid_from' });
      return;
    }
    if (!addresses) return void skipped.push({ ref: ind.id, reason: 'not an IP address pattern' });
    if (ind.revoked) return void skipped.push({ ref: ind.id, reason: 'revoked' });
    if (ind.valid_until && Date.parse(ind.valid_until) <= now.getTime()) return void skipped.push({ ref: ind.id, reason: `expired at ${ind.valid_until}` });
    for (const a of addresses) {
      indicators.push({
        value: a.value,
        version: a.version,
        feed,
        ref: ind.id,
        ...(ind.name ? { name: ind.name } : {}),
        ...(ind.confidence !== undefined ? { confidence: ind.confidence } : {}),
        ...(ind.valid_until ? { validUntil: new Date(ind.valid_until).toISOString() } : {}),
      });
    }
  });
  return errors.length ? { ok: false, errors } : { ok: true, indicators, skipped };
}

/** Picks the parser from an explicit format, else from the content (a JSON object → STIX). */
export function parseFeed(text: string, feed: string, format?: FeedFormat, now?: Date): FeedParse {
  const fmt = format ?? (text.trimStart().startsWith('{') ? 'stix' : 'plain');
  return fmt === 'stix' ? parseStixBundle(text, feed, now) : parsePlainList(text, feed);
}

export const formatFeedErrors = (errors: FeedError[]) => errors.map((e) => `  ${e.field}: ${e.message}`).join('\n');
