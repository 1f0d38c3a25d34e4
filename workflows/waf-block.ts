import { ActivityFailure, allHandlersFinished, ApplicationFailure, condition, continueAsNew, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import { changeBetween, desiredEntries, isEmptyChange, msUntilNextExpiry, pruneExpired, type Holds } from '../domain/intel/holds.js';
import type { Activities } from '../activities/index.js';
import { AWS_ACTIVITY_OPTIONS } from './activity-options.js';
import { holdSignal, ledgerQuery, releaseUpdate, type LedgerInput, type LedgerState } from './waf-block-definitions.js';

// A full 10,000-entry set is a large Get/Update twice over; lock conflicts add rounds.
const aws = proxyActivities<Activities>({ ...AWS_ACTIVITY_OPTIONS, startToCloseTimeout: '60 seconds' });

/** History events before the ledger continues as new (it lives as long as blocks are held). */
const HISTORY_LIMIT = 2_000;
const HISTORY_BYTES = 4 * 1024 * 1024;

/**
 * The ledger of one IP-set pair: the only remover of entries bulwark added. Each owner (a playbook
 * step, a feed) holds entries until an expiry or until released; an entry leaves the sets when its
 * last live hold ends, so two incidents blocking the same address never unblock each other early.
 * Expiry is a durable timer: the loop sleeps until the earliest expiry or the next message.
 *
 * Why one long-lived workflow per set rather than a timer workflow per block: the question "does
 * anyone else still hold this address?" then has one deterministic answer, with no race between
 * two blocks expiring at the same moment and no ownership store outside Temporal (WAF tags cap at 50).
 */
export async function wafIpSetLedgerWorkflow(input: LedgerInput): Promise<void> {
  let holds: Holds = input.holds ?? {};
  let applied = new Map<string, 4 | 6>(input.applied ?? []);
  let dirty = true;
  let generation = 0;
  let appliedGeneration = -1;
  let lastChangeAt: string | undefined;
  let lastError: string | undefined;

  // Entries a hold names were put in the set by wafHold just before it signalled, so they count as
  // applied: a hold that arrives already expired (a slow first run) still gets its entries removed.
  // They are also re-asserted once, in case an expiry here removed them between wafHold's add and
  // this signal (another owner's hold ending on the same address).
  let reassert = new Set<string>();
  setHandler(holdSignal, (hold) => {
    for (const e of hold.entries) {
      applied.set(e.cidr, e.version);
      reassert.add(e.cidr);
    }
    if (hold.entries.length) holds[hold.owner] = hold.entries;
    else delete holds[hold.owner];
    dirty = true;
    generation++;
  });
  setHandler(releaseUpdate, async ({ owner }) => {
    const before = new Map(applied);
    delete holds[owner];
    dirty = true;
    const mine = ++generation;
    await condition(() => appliedGeneration >= mine);
    return { removed: [...before.keys()].filter((c) => !applied.has(c)) };
  });
  setHandler(ledgerQuery, (): LedgerState => ({ ipSetName: input.ipSetName, holds, applied: applied.size, lastChangeAt, lastError }));

  for (;;) {
    const wait = msUntilNextExpiry(holds, Date.now());
    if (wait === undefined) await condition(() => dirty);
    else if (wait > 0) await condition(() => dirty, wait);
    dirty = false;
    const seen = generation;
    const now = Date.now();
    holds = pruneExpired(holds, now);
    const desired = desiredEntries(holds, now);
    const change = changeBetween(applied, desired);
    for (const cidr of reassert) {
      const v = desired.get(cidr);
      if (v !== undefined) (v === 4 ? change.addIpv4 : change.addIpv6).push(cidr);
    }
    reassert = new Set();
    if (!isEmptyChange(change)) {
      try {
        await aws.wafApplyIpSetChange({ ipSetName: input.ipSetName, change });
        // Edited, not replaced: a hold signalled during the call has already added its entries.
        for (const c of [...change.removeIpv4, ...change.removeIpv6]) applied.delete(c);
        for (const c of change.addIpv4) applied.set(c, 4);
        for (const c of change.addIpv6) applied.set(c, 6);
        lastChangeAt = new Date(now).toISOString();
        lastError = undefined;
      } catch (err) {
        // Keep running: a set over its limit or a denied call must not stop every other expiry.
        lastError = reason(err);
        if (change.removeIpv4.length + change.removeIpv6.length > 0) {
          // Retry removals after a pause rather than leaving expired blocks in place.
          dirty = true;
          await condition(() => false, 30_000);
        }
      }
    }
    appliedGeneration = seen;
    // Feed holds carry up to 10,000 entries per signal, so size matters as much as event count.
    const info = workflowInfo();
    if (info.historyLength > HISTORY_LIMIT || info.historySize > HISTORY_BYTES || info.continueAsNewSuggested) {
      // A release arriving now must be applied first (its handler waits for the loop), then move on.
      await condition(() => allHandlersFinished() || dirty);
      if (!dirty) await continueAsNew<typeof wafIpSetLedgerWorkflow>({ ipSetName: input.ipSetName, holds, applied: [...applied] });
    }
  }
}

function reason(err: unknown): string {
  let e: unknown = err;
  while (e instanceof ActivityFailure && e.cause) e = e.cause;
  return e instanceof ApplicationFailure || e instanceof Error ? e.message : String(e);
}
