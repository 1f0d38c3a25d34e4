import { z } from 'zod';
import { DurationText } from '../schemas.js';
import { SPECIAL_CATEGORIES } from './cidr.js';
import { FEED_FORMATS } from './feeds.js';

/** One threat-intelligence feed: where it is, how to read it, how its entries are blocked. */
export const FeedConfig = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'expected a feed name of lower-case letters, digits and -'),
  /** A file path, or an http(s) URL (http only for local test servers). */
  source: z.string().min(1),
  format: z.enum(FEED_FORMATS).optional(),
  /** Special-purpose ranges this feed may block (default: none; they are skipped and reported). */
  allow: z.array(z.enum(SPECIAL_CATEGORIES)).default([]),
  /** Entries without valid_until expire this long after each sync (default: held until a sync drops them). */
  ttl: DurationText.optional(),
  /** IP-set pair to sync into (default: waf.ipSetName). */
  ipSetName: z.string().regex(/^[\w-]{1,100}$/).optional(),
  /** Schedule interval for `bulwark intel schedule` when --every is not given. */
  every: DurationText.optional(),
  /** Whether alerts are enriched from this feed at intake (default yes). */
  enrich: z.boolean().default(true),
});
export type FeedConfig = z.infer<typeof FeedConfig>;

/** BULWARK_INTEL_FEEDS: `name=source[,name=source]` or a JSON array of feed objects. */
export const FeedList = z.union([
  z.array(FeedConfig),
  z.string().transform((text, ctx) => {
    const t = text.trim();
    if (t.startsWith('[')) {
      try {
        return z.array(FeedConfig).parse(JSON.parse(t));
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: `invalid feed list JSON: ${(err as Error).message}` });
        return z.NEVER;
      }
    }
    const feeds = [];
    for (const part of t.split(',').map((p) => p.trim()).filter(Boolean)) {
      const eq = part.indexOf('=');
      const r = FeedConfig.safeParse({ name: part.slice(0, eq), source: part.slice(eq + 1) });
      if (eq < 1 || !r.success) {
        ctx.addIssue({ code: 'custom', message: `expected name=source, got "${part}"` });
        return z.NEVER;
      }
      feeds.push(r.data);
    }
    return feeds;
  }),
]);

export const WafConfig = z.object({
  scope: z.enum(['REGIONAL', 'CLOUDFRONT']).default('REGIONAL'),
  ipSetName: z.string().regex(/^[\w-]{1,100}$/, 'expected letters, digits, _ and -').default('bulwark-blocklist'),
  webAclName: z.string().regex(/^[\w-]{1,128}$/, 'expected letters, digits, _ and -').optional(),
  createIfMissing: z.union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')]).default(true),
  maxEntries: z.coerce.number().int().min(1).max(10_000, 'AWS allows at most 10,000 entries per IP set').default(10_000),
  lockRetries: z.coerce.number().int().min(1).max(20).default(8),
});
export const WAF_DEFAULTS = { scope: 'REGIONAL', ipSetName: 'bulwark-blocklist', createIfMissing: true, maxEntries: 10_000, lockRetries: 8 } as const;

export const IntelConfig = z.object({
  feeds: FeedList.default([]),
  /** How often the intake re-reads the feeds for enrichment (0: only at start). */
  refreshSeconds: z.coerce.number().int().min(0).default(900),
});
