import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { Hold, Holds } from '../domain/intel/holds.js';

/** The IP-set ledger's message surface, shared by the ledger workflow and the WAF activities. */
export interface LedgerInput {
  /** Base name of the IP-set pair (`<base>-ipv4`, `<base>-ipv6`). */
  ipSetName: string;
  holds?: Holds;
  /** Entries the ledger has put in (or confirmed in) the sets, carried over continue-as-new. */
  applied?: [string, 4 | 6][];
}

export interface LedgerState {
  ipSetName: string;
  holds: Holds;
  applied: number;
  lastChangeAt?: string;
  lastError?: string;
}

/** Adds or replaces one owner's hold (a playbook step's block, a feed's current indicators). */
export const holdSignal = defineSignal<[Hold]>('hold');
/** Drops one owner's hold now (compensation); answers with the entries that left the IP sets. */
export const releaseUpdate = defineUpdate<{ removed: string[] }, [{ owner: string }]>('release');
export const ledgerQuery = defineQuery<LedgerState>('ledger');

export const ledgerWorkflowId = (ipSetName: string) => `waf-ipset-ledger/${ipSetName}`;
