import { proxyActivities } from '@temporalio/workflow';
import type { FeedConfig } from '../domain/intel/config.js';
import type { Activities } from '../activities/index.js';
import { AWS_ACTIVITY_OPTIONS } from './activity-options.js';

// Fetching a feed and writing up to 10,000 entries per set take longer than one plain AWS call.
const act = proxyActivities<Activities>({ ...AWS_ACTIVITY_OPTIONS, startToCloseTimeout: '2 minutes' });

export interface IntelSyncInput {
  feed: string;
  /** A feed given on the command line rather than configured (its config travels in the input). */
  inline?: FeedConfig;
}

export interface IntelSyncResult {
  feed: string;
  ipSetName?: string;
  fetchedAt: string;
  indicators: number;
  entries: number;
  added: number;
  alreadyPresent: number;
  skipped: number;
  rejected: { value: string; ref: string; reason: string }[];
  ledgerId: string;
}

export const intelSyncWorkflowId = (feed: string) => `intel-sync/${feed}`;

/**
 * One feed sync: read and validate the whole feed (a malformed feed fails here, before any
 * change), then make the feed's hold in the IP-set ledger exactly its current entries: new ones
 * are added now, dropped ones and ones past their valid_until are removed by the ledger.
 */
export async function intelSyncWorkflow(input: IntelSyncInput): Promise<IntelSyncResult> {
  const loaded = await act.intelLoadFeed({ feed: input.feed, inline: input.inline });
  const held = await act.wafHold({ ipSetName: loaded.ipSetName, owner: `feed:${input.feed}`, entries: loaded.entries });
  const sets = [held.evidence.ipv4, held.evidence.ipv6].filter((e) => e !== undefined);
  return {
    feed: input.feed,
    ipSetName: loaded.ipSetName,
    fetchedAt: loaded.fetchedAt,
    indicators: loaded.indicatorCount,
    entries: loaded.entries.length,
    added: sets.reduce((n, e) => n + e.added.length, 0),
    alreadyPresent: sets.reduce((n, e) => n + e.alreadyPresent.length, 0),
    skipped: loaded.skipped.length,
    rejected: loaded.rejected,
    ledgerId: held.ledgerId,
  };
}
