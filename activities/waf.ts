import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { WorkflowNotFoundError } from '@temporalio/client';
import {
  CreateIPSetCommand,
  CreateWebACLCommand,
  GetIPSetCommand,
  GetWebACLCommand,
  ListIPSetsCommand,
  ListWebACLsCommand,
  UpdateIPSetCommand,
  UpdateWebACLCommand,
  type IPSetSummary,
  type Rule,
  type WAFV2Client,
} from '@aws-sdk/client-wafv2';
import { canonicalCidr, normaliseCidrs, type SpecialCategory } from '../domain/intel/cidr.js';
import type { HeldEntry, IpSetChange } from '../domain/intel/holds.js';
import { holdSignal, ledgerQuery, ledgerWorkflowId, releaseUpdate, type LedgerState } from '../workflows/waf-block-definitions.js';
import { call, notFound, notVerified, toFailure } from './failures.js';

export type WafScope = 'REGIONAL' | 'CLOUDFRONT';

export interface WafSettings {
  scope: WafScope;
  /** Default base name: the sets are `<base>-ipv4` and `<base>-ipv6`. */
  ipSetName: string;
  /** Web ACL whose blocking rules reference the sets; none = the sets are managed but not attached here. */
  webAclName?: string;
  /** Create missing IP sets (and the web ACL and its rules) instead of failing. */
  createIfMissing: boolean;
  /** AWS allows 10,000 entries per IP set; a lower quota can be configured. */
  maxEntries: number;
  /** Attempts of one Get→Update when others keep changing the set (WAFOptimisticLockException). */
  lockRetries: number;
}

export const DEFAULT_WAF_SETTINGS: WafSettings = { scope: 'REGIONAL', ipSetName: 'bulwark-blocklist', createIfMissing: true, maxEntries: 10_000, lockRetries: 8 };

type Version = 4 | 6;
const SUFFIX: Record<Version, string> = { 4: 'ipv4', 6: 'ipv6' };
const setName = (base: string, v: Version) => `${base}-${SUFFIX[v]}`;

export interface IpSetEvidence {
  name: string;
  arn: string;
  /** Entries in the set after the change, read back. */
  entries: number;
  added: string[];
  removed: string[];
  /** Requested additions that were already there (idempotent no-ops). */
  alreadyPresent: string[];
  /** How many Get→Update rounds the lock token needed (1 = no conflict). */
  attempts: number;
}

export interface BlockEvidence {
  ipv4?: IpSetEvidence;
  ipv6?: IpSetEvidence;
}

const isLockConflict = (err: unknown) => (err as { name?: string })?.name === 'WAFOptimisticLockException';

function limitExceeded(name: string, current: number, adding: number, max: number): ApplicationFailure {
  return ApplicationFailure.nonRetryable(
    `IP set ${name} would hold ${current + adding} entries (${current} now + ${adding} new), over its limit of ${max}; nothing was changed. Raise waf.maxEntries (AWS's hard limit is 10,000), merge ranges, or block fewer addresses.`,
    'IpSetLimitExceeded',
  );
}

const sleepMs = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function createWafActivities({ waf, settings = DEFAULT_WAF_SETTINGS }: { waf: WAFV2Client; settings?: WafSettings }) {
  const { scope } = settings;
  const ids = new Map<string, IPSetSummary>();

  async function findIpSet(name: string): Promise<IPSetSummary | undefined> {
    const cached = ids.get(name);
    if (cached) return cached;
    let marker: string | undefined;
    do {
      const page = await call('ListIPSets', `scope ${scope}`, () => waf.send(new ListIPSetsCommand({ Scope: scope, NextMarker: marker, Limit: 100 })));
      for (const s of page.IPSets ?? []) if (s.Name) ids.set(s.Name, s);
      marker = page.IPSets?.length ? page.NextMarker : undefined;
    } while (marker && !ids.has(name));
    return ids.get(name);
  }

  async function ensureIpSet(base: string, v: Version): Promise<IPSetSummary> {
    const name = setName(base, v);
    const found = await findIpSet(name);
    if (found) return found;
    if (!settings.createIfMissing) throw notFound(`WAF IP set ${name} (${scope}) does not exist and waf.createIfMissing is off`);
    try {
      const created = await waf.send(
        new CreateIPSetCommand({ Name: name, Scope: scope, IPAddressVersion: v === 4 ? 'IPV4' : 'IPV6', Addresses: [], Description: 'Managed by bulwark: blocked addresses with expiry' }),
      );
      ids.set(name, created.Summary!);
      return created.Summary!;
    } catch (err) {
      // Another worker created it between our list and create.
      if ((err as { name?: string }).name === 'WAFDuplicateItemException') {
        ids.delete(name);
        const again = await findIpSet(name);
        if (again) return again;
      }
      throw toFailure(err, 'CreateIPSet', name);
    }
  }

  /** Makes the configured web ACL block both sets (creating it or the rules when allowed). */
  async function ensureBlockingRules(sets: Record<Version, IPSetSummary>, base: string): Promise<void> {
    const aclName = settings.webAclName;
    if (!aclName) return;
    const ruleFor = (v: Version, priority: number): Rule => ({
      Name: `${base}-block-${SUFFIX[v]}`,
      Priority: priority,
      Action: { Block: {} },
      Statement: { IPSetReferenceStatement: { ARN: sets[v].ARN! } },
      VisibilityConfig: { SampledRequestsEnabled: true, CloudWatchMetricsEnabled: true, MetricName: `${base}-block-${SUFFIX[v]}`.replace(/[^\w-]/g, '') },
    });
    for (let attempt = 1; attempt <= settings.lockRetries; attempt++) {
      let summary;
      let marker: string | undefined;
      do {
        const page = await call('ListWebACLs', `scope ${scope}`, () => waf.send(new ListWebACLsCommand({ Scope: scope, NextMarker: marker, Limit: 100 })));
        summary = page.WebACLs?.find((a) => a.Name === aclName);
        marker = page.WebACLs?.length ? page.NextMarker : undefined;
      } while (!summary && marker);
      if (!summary) {
        if (!settings.createIfMissing) throw notFound(`web ACL ${aclName} (${scope}) does not exist and waf.createIfMissing is off`);
        await call('CreateWebACL', aclName, () =>
          waf.send(
            new CreateWebACLCommand({
              Name: aclName,
              Scope: scope,
              DefaultAction: { Allow: {} },
              Rules: [ruleFor(4, 0), ruleFor(6, 1)],
              VisibilityConfig: { SampledRequestsEnabled: true, CloudWatchMetricsEnabled: true, MetricName: aclName.replace(/[^\w-]/g, '') },
              Description: 'Created by bulwark for threat-intel blocking',
            }),
          ),
        );
        return;
      }
      const got = await call('GetWebACL', aclName, () => waf.send(new GetWebACLCommand({ Name: aclName, Scope: scope, Id: summary.Id! })));
      const acl = got.WebACL!;
      const rules = acl.Rules ?? [];
      const referenced = (v: Version) => rules.some((r) => r.Statement?.IPSetReferenceStatement?.ARN === sets[v].ARN && r.Action?.Block);
      const missing = ([4, 6] as const).filter((v) => !referenced(v));
      if (missing.length === 0) return;
      if (!settings.createIfMissing) throw notFound(`web ACL ${aclName} has no blocking rule for ${missing.map((v) => setName(base, v)).join(' and ')} and waf.createIfMissing is off`);
      let next = Math.max(-1, ...rules.map((r) => r.Priority ?? 0)) + 1;
      try {
        await waf.send(
          new UpdateWebACLCommand({
            Name: aclName,
            Scope: scope,
            Id: acl.Id!,
            LockToken: got.LockToken!,
            DefaultAction: acl.DefaultAction!,
            VisibilityConfig: acl.VisibilityConfig!,
            Rules: [...rules, ...missing.map((v) => ruleFor(v, next++))],
          }),
        );
        return;
      } catch (err) {
        if (!isLockConflict(err)) throw toFailure(err, 'UpdateWebACL', aclName);
        await sleepMs(backoff(attempt));
      }
    }
    throw ApplicationFailure.retryable(`web ACL ${aclName} kept changing under us (${settings.lockRetries} lock conflicts)`, 'WAFOptimisticLockException');
  }

  async function ensureSets(base: string): Promise<Record<Version, IPSetSummary>> {
    const sets = { 4: await ensureIpSet(base, 4), 6: await ensureIpSet(base, 6) };
    await ensureBlockingRules(sets, base);
    return sets;
  }

  async function read(name: string, summary: IPSetSummary) {
    const got = await call('GetIPSet', name, () => waf.send(new GetIPSetCommand({ Name: name, Scope: scope, Id: summary.Id! })));
    return { addresses: got.IPSet?.Addresses ?? [], lockToken: got.LockToken! };
  }

  /**
   * One IP set: Get (entries + lock token) → compute → Update with that token. A concurrent writer
   * makes the token stale (WAFOptimisticLockException): read again, recompute from the fresh
   * entries (so their change is kept) and retry with backoff. Then read back to verify.
   */
  async function modify(name: string, summary: IPSetSummary, add: string[], remove: string[]): Promise<IpSetEvidence> {
    const toRemove = new Set(remove.map(canonicalCidr));
    for (let attempt = 1; ; attempt++) {
      const { addresses, lockToken } = await read(name, summary);
      // AWS keeps the text it was given; compare canonical forms so "1.2.3.4/32" and our form agree.
      const current = new Map(addresses.map((a) => [safeCanonical(a), a]));
      const added = [...new Set(add.map(canonicalCidr))].filter((a) => !current.has(a));
      const alreadyPresent = add.map(canonicalCidr).filter((a) => current.has(a));
      const removed = [...toRemove].filter((a) => current.has(a));
      if (added.length === 0 && removed.length === 0) {
        return { name, arn: summary.ARN!, entries: addresses.length, added, removed, alreadyPresent, attempts: attempt };
      }
      const nextSize = addresses.length + added.length - removed.length;
      if (nextSize > settings.maxEntries) throw limitExceeded(name, addresses.length - removed.length, added.length, settings.maxEntries);
      const next = [...[...current].filter(([c]) => !toRemove.has(c)).map(([, raw]) => raw), ...added];
      try {
        await waf.send(new UpdateIPSetCommand({ Name: name, Scope: scope, Id: summary.Id!, LockToken: lockToken, Addresses: next }));
      } catch (err) {
        if (isLockConflict(err) && attempt < settings.lockRetries) {
          await sleepMs(backoff(attempt));
          continue;
        }
        throw toFailure(err, 'UpdateIPSet', name);
      }
      const after = new Set((await read(name, summary)).addresses.map(safeCanonical));
      const missing = add.map(canonicalCidr).filter((a) => !after.has(a));
      const lingering = removed.filter((a) => after.has(a));
      if (missing.length || lingering.length) {
        throw notVerified(`IP set ${name} read back ${missing.length ? `without ${missing.slice(0, 5).join(', ')}` : ''}${lingering.length ? ` still holding ${lingering.slice(0, 5).join(', ')}` : ''}`);
      }
      return { name, arn: summary.ARN!, entries: after.size, added, removed, alreadyPresent, attempts: attempt };
    }
  }

  /** Checks both sets' limits before changing either, so an over-limit request changes nothing. */
  async function apply(base: string, change: IpSetChange): Promise<BlockEvidence> {
    const sets = await ensureSets(base);
    const plan = ([4, 6] as const).map((v) => ({ v, add: v === 4 ? change.addIpv4 : change.addIpv6, remove: v === 4 ? change.removeIpv4 : change.removeIpv6 }));
    for (const p of plan) {
      if (p.add.length === 0) continue;
      const name = setName(base, p.v);
      const { addresses } = await read(name, sets[p.v]);
      const current = new Set(addresses.map(safeCanonical));
      const adding = new Set(p.add.map(canonicalCidr).filter((a) => !current.has(a))).size;
      const removing = new Set(p.remove.map(canonicalCidr).filter((a) => current.has(a))).size;
      if (current.size - removing + adding > settings.maxEntries) throw limitExceeded(name, current.size - removing, adding, settings.maxEntries);
    }
    const evidence: BlockEvidence = {};
    for (const p of plan) {
      if (p.add.length === 0 && p.remove.length === 0) continue;
      evidence[p.v === 4 ? 'ipv4' : 'ipv6'] = await modify(setName(base, p.v), sets[p.v], p.add, p.remove);
    }
    return evidence;
  }

  const split = (entries: HeldEntry[]) => ({
    addIpv4: entries.filter((e) => e.version === 4).map((e) => e.cidr),
    addIpv6: entries.filter((e) => e.version === 6).map((e) => e.cidr),
    removeIpv4: [],
    removeIpv6: [],
  });

  return {
    /** Adds and removes entries (the ledger's changes). Idempotent; verified by reading back. */
    async wafApplyIpSetChange(input: { ipSetName?: string; change: IpSetChange }): Promise<BlockEvidence> {
      return apply(input.ipSetName ?? settings.ipSetName, input.change);
    },

    /**
     * Blocks entries now (checked against the size limit, verified by reading back), then records
     * the owner's hold in the IP set's ledger workflow, which removes them when they expire and no
     * other hold keeps them. The ledger is signalled with start: a retry re-sends the same hold.
     */
    async wafHold(input: { ipSetName?: string; owner: string; entries: HeldEntry[] }): Promise<{ evidence: BlockEvidence; ledgerId: string }> {
      const base = input.ipSetName ?? settings.ipSetName;
      const evidence = await apply(base, split(input.entries));
      const ctx = Context.current();
      const ledgerId = ledgerWorkflowId(base);
      try {
        await ctx.client.workflow.signalWithStart('wafIpSetLedgerWorkflow', {
          workflowId: ledgerId,
          taskQueue: ctx.info.taskQueue,
          args: [{ ipSetName: base }],
          signal: holdSignal,
          signalArgs: [{ owner: input.owner, entries: input.entries }],
        });
      } catch (err) {
        throw ApplicationFailure.retryable(`recording the hold of ${input.owner} in ${ledgerId} failed: ${(err as Error).message}`, 'LedgerUnavailable');
      }
      return { evidence, ledgerId };
    },

    /** Drops an owner's hold now (compensation); entries another live hold keeps stay blocked. */
    async wafRelease(input: { ipSetName?: string; owner: string }): Promise<{ removed: string[]; ledgerId: string }> {
      const ledgerId = ledgerWorkflowId(input.ipSetName ?? settings.ipSetName);
      try {
        const r = await Context.current().client.workflow.getHandle(ledgerId).executeUpdate(releaseUpdate, { args: [{ owner: input.owner }] });
        return { ...r, ledgerId };
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return { removed: [], ledgerId };
        throw ApplicationFailure.retryable(`releasing ${input.owner} in ${ledgerId} failed: ${(err as Error).message}`, 'LedgerUnavailable');
      }
    },

    /** The sets' current entries (read-only), for dry runs and `bulwark intel list`. */
    async wafDescribeIpSets(input: { ipSetName?: string }): Promise<{ ipv4: string[]; ipv6: string[]; exists: boolean }> {
      const base = input.ipSetName ?? settings.ipSetName;
      const out = { ipv4: [] as string[], ipv6: [] as string[], exists: false };
      for (const v of [4, 6] as const) {
        const s = await findIpSet(setName(base, v));
        if (!s) continue;
        out.exists = true;
        out[v === 4 ? 'ipv4' : 'ipv6'] = (await read(setName(base, v), s)).addresses.map(safeCanonical);
      }
      return out;
    },
  };
}

/** Reads the ledger's holds (for the CLI); undefined when no ledger runs for the set. */
export async function readLedger(client: import('@temporalio/client').Client, ipSetName: string): Promise<LedgerState | undefined> {
  try {
    return await client.workflow.getHandle(ledgerWorkflowId(ipSetName)).query(ledgerQuery);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
}

function safeCanonical(a: string): string {
  try {
    return canonicalCidr(a);
  } catch {
    return a;
  }
}

/** Exponential backoff with jitter: concurrent writers must not retry in lockstep. */
function backoff(attempt: number): number {
  const base = Math.min(2000, 50 * 2 ** (attempt - 1));
  return base / 2 + Math.random() * (base / 2);
}

export type WafActivities = ReturnType<typeof createWafActivities>;

/** `bulwark playbook test`: what a waf.blockIps step would add, read-only. */
export async function previewBlockIps(waf: WAFV2Client, p: Record<string, unknown>, settings: WafSettings = DEFAULT_WAF_SETTINGS): Promise<{ changes: string[]; problems: string[] }> {
  const list = (Array.isArray(p.ips) ? p.ips : [p.ips]).filter((x): x is string => typeof x === 'string' && x.length > 0);
  if (list.length === 0) return { changes: [], problems: ['ips is empty after resolving references (does the alert carry subject.sourceIp?)'] };
  const n = normaliseCidrs(list, { allow: Array.isArray(p.allow) ? (p.allow as SpecialCategory[]) : [] });
  if (n.rejected.length) return { changes: [], problems: n.rejected.map((r) => `ips: ${r.reason}`) };
  const base = typeof p.ipSetName === 'string' ? p.ipSetName : settings.ipSetName;
  const current = await createWafActivities({ waf, settings }).wafDescribeIpSets({ ipSetName: base });
  const present = new Set([...current.ipv4, ...current.ipv6]);
  const all = [...n.ipv4, ...n.ipv6];
  const adding = all.filter((c) => !present.has(c));
  return {
    changes: [`block ${all.join(', ')} in ${base}-ipv4/-ipv6 for ${String(p.ttl)} (${adding.length} new, ${all.length - adding.length} already blocked${current.exists ? '' : '; the IP sets would be created'})`],
    problems: [],
  };
}
