import { ApplicationFailure, workflowInfo } from '@temporalio/workflow';
import { parseDurationSeconds } from '../domain/duration.js';
import { normaliseCidrs, type SpecialCategory } from '../domain/intel/cidr.js';
import type { HeldEntry } from '../domain/intel/holds.js';
import type { Activities } from '../activities/index.js';

type Act = Pick<Activities, 'wafHold' | 'wafRelease'>;

export interface BlockIpsParams {
  ips?: string | string[];
  ttl?: string;
  ipSetName?: string;
  allow?: SpecialCategory[];
}

export interface BlockIpsOutput {
  owner: string;
  ipSetName?: string;
  entries: HeldEntry[];
  expiresAt: string;
}

/**
 * `waf.blockIps`: the entries are blocked now and held by this step (owner = incident + step, so a
 * retried step re-sends the same hold rather than adding a second) until the ttl ends; the IP-set
 * ledger's durable timer then removes them unless another live hold still blocks them.
 */
export async function blockIps(act: Act, stepId: string, params: BlockIpsParams) {
  const list = (Array.isArray(params.ips) ? params.ips : [params.ips]).filter((x): x is string => typeof x === 'string' && x.length > 0);
  if (list.length === 0) throw ApplicationFailure.nonRetryable('parameter ips is empty after resolving the playbook\'s references (is alert.subject.sourceIp set?)', 'InvalidParameters');
  const n = normaliseCidrs(list, { allow: params.allow });
  if (n.rejected.length) {
    throw ApplicationFailure.nonRetryable(`parameter ips: ${n.rejected.map((r) => r.reason).join('; ')}; nothing was blocked`, 'InvalidParameters');
  }
  const ttlSeconds = parseDurationSeconds(params.ttl ?? '');
  const expiresAt = new Date(Date.now() + ttlSeconds * 1000).toISOString();
  const entries: HeldEntry[] = [...n.ipv4.map((cidr) => ({ cidr, version: 4 as const, expiresAt })), ...n.ipv6.map((cidr) => ({ cidr, version: 6 as const, expiresAt }))];
  const owner = `${workflowInfo().workflowId}/${stepId}`;
  const r = await act.wafHold({ ipSetName: params.ipSetName, owner, entries });
  const sets = [r.evidence.ipv4, r.evidence.ipv6].filter((e) => e !== undefined);
  const added = sets.reduce((k, e) => k + e.added.length, 0);
  const output: BlockIpsOutput = { owner, ...(params.ipSetName ? { ipSetName: params.ipSetName } : {}), entries, expiresAt };
  return {
    output: { ...output, evidence: r.evidence, ledgerId: r.ledgerId },
    resources: sets.map((e) => e.arn),
    message: `blocked ${entries.map((e) => e.cidr).join(', ')} until ${expiresAt} (${added} added, ${entries.length - added} already blocked)`,
  };
}

/** Compensation: drops this step's hold now; entries another live hold keeps stay blocked. */
export async function unblockIps(act: Act, recorded: BlockIpsOutput) {
  const r = await act.wafRelease({ ipSetName: recorded.ipSetName, owner: recorded.owner });
  return {
    output: { restored: r },
    resources: [],
    message: `released the block of ${recorded.entries.map((e) => e.cidr).join(', ')}: ${r.removed.length} removed from the IP set${r.removed.length < recorded.entries.length ? ', the rest stay held by other blocks' : ''}`,
  };
}
