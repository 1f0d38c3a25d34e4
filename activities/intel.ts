import { readFile } from 'node:fs/promises';
import { ApplicationFailure } from '@temporalio/common';
import type { FeedConfig } from '../domain/intel/config.js';
import { parseDurationSeconds } from '../domain/duration.js';
import { entriesFromIndicators } from '../domain/intel/entries.js';
import { formatFeedErrors, parseFeed, type Indicator } from '../domain/intel/feeds.js';
import type { HeldEntry } from '../domain/intel/holds.js';

/** Feeds larger than this are refused rather than buffered (a 10,000-indicator STIX bundle is ~5 MB). */
const MAX_FEED_BYTES = 32 * 1024 * 1024;
const FETCH_TIMEOUT_MS = 20_000;

/** Reads a feed from a file path or an http(s) URL. Network trouble is retryable; a 4xx is not. */
export async function readFeedSource(source: string): Promise<string> {
  if (!/^https?:\/\//i.test(source)) {
    try {
      return await readFile(source.replace(/^file:\/\//, ''), 'utf8');
    } catch (err) {
      throw ApplicationFailure.nonRetryable(`cannot read feed file ${source}: ${(err as Error).message}`, 'FeedUnreadable');
    }
  }
  const display = redactUrl(source);
  let res: Response;
  try {
    res = await fetch(source, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS), headers: { accept: 'application/json, text/plain' } });
  } catch (err) {
    throw ApplicationFailure.retryable(`fetching feed ${display} failed: ${(err as Error).message}`, 'FeedUnavailable');
  }
  if (!res.ok) {
    const retry = res.status >= 500 || res.status === 429;
    const msg = `fetching feed ${display} answered HTTP ${res.status}`;
    throw retry ? ApplicationFailure.retryable(msg, 'FeedUnavailable') : ApplicationFailure.nonRetryable(msg, 'FeedUnreadable');
  }
  const length = Number(res.headers.get('content-length') ?? 0);
  if (length > MAX_FEED_BYTES) throw ApplicationFailure.nonRetryable(`feed ${display} is ${length} bytes, over the ${MAX_FEED_BYTES}-byte limit`, 'FeedTooLarge');
  const text = await res.text();
  if (text.length > MAX_FEED_BYTES) throw ApplicationFailure.nonRetryable(`feed ${display} is over the ${MAX_FEED_BYTES}-byte limit`, 'FeedTooLarge');
  return text;
}

/** Feed URLs may carry an API key in the query: never echo it. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}${u.search ? '?…' : ''}`;
  } catch {
    return '(invalid URL)';
  }
}

export interface LoadedFeed {
  feed: string;
  fetchedAt: string;
  indicators: Indicator[];
  entries: HeldEntry[];
  skipped: { ref: string; reason: string }[];
  rejected: { value: string; ref: string; reason: string }[];
}

/** Reads, parses and normalises one feed. A malformed feed fails whole, naming each bad line/object. */
export async function loadFeed(feed: FeedConfig, now: Date = new Date()): Promise<LoadedFeed> {
  const text = await readFeedSource(feed.source);
  const parsed = parseFeed(text, feed.name, feed.format, now);
  if (!parsed.ok) {
    const shown = parsed.errors.slice(0, 20);
    throw ApplicationFailure.nonRetryable(
      `feed ${feed.name} is invalid; nothing was applied:\n${formatFeedErrors(shown)}${parsed.errors.length > shown.length ? `\n  … and ${parsed.errors.length - shown.length} more` : ''}`,
      'FeedInvalid',
    );
  }
  const defaultExpiresAt = feed.ttl ? new Date(now.getTime() + parseDurationSeconds(feed.ttl) * 1000).toISOString() : undefined;
  const { entries, rejected } = entriesFromIndicators(parsed.indicators, { allow: feed.allow, defaultExpiresAt });
  return { feed: feed.name, fetchedAt: now.toISOString(), indicators: parsed.indicators, entries, skipped: parsed.skipped, rejected };
}

export function createIntelActivities({ feeds }: { feeds: readonly FeedConfig[] }) {
  const byName = (name: string) => {
    const f = feeds.find((x) => x.name === name);
    if (!f) throw ApplicationFailure.nonRetryable(`no feed named ${name} is configured (BULWARK_INTEL_FEEDS); configured: ${feeds.map((x) => x.name).join(', ') || 'none'}`, 'NotFound');
    return f;
  };
  return {
    /**
     * The feed's IP-set entries (not its raw indicators: they stay out of workflow history).
     * A feed passed inline (CLI `intel sync <file>`) wins over the configured one of that name.
     */
    async intelLoadFeed(input: { feed: string; inline?: FeedConfig }): Promise<Omit<LoadedFeed, 'indicators'> & { indicatorCount: number; ipSetName?: string }> {
      const cfg = input.inline ?? byName(input.feed);
      const { indicators, ...rest } = await loadFeed(cfg);
      return { ...rest, indicatorCount: indicators.length, ipSetName: cfg.ipSetName };
    },
  };
}
