import { z } from 'zod';
import { DurationText as duration } from './schemas.js';
import { parseDurationSeconds } from './duration.js';
import type { ResolvedPolicy } from './approval-rules.js';

export type { Approval, ResolvedPolicy } from './approval-rules.js';
export { approvalRefusal } from './approval-rules.js';

/**
 * Approval policies: who may approve a step, how many distinct people, for how long, and what
 * happens when nobody decides. Loaded from `approvals.yaml` (BULWARK_APPROVALS_FILE) and resolved
 * into each step's plan at intake, so the workflow's Update validator can check them without I/O.
 *
 * Principals are strings: `alice` (CLI `--as alice`), `slack:U123` (a Slack user), and
 * `group:<name>`, expanded from the file's `groups` map (e.g. a Slack user group mirrored there).
 */
const principal = z.string().regex(/^(group:)?[\w.@:+-]{1,128}$/, 'expected a user (alice, slack:U123) or group:<name>');

export const ApprovalPolicyDoc = z.strictObject({
  description: z.string().optional(),
  /** Empty: anyone but the incident's opener. */
  approvers: z.array(principal).default([]),
  required: z.number().int().min(1).max(10).default(1),
  expiry: duration.default('15m'),
  escalation: z.array(z.strictObject({ after: duration, notify: z.array(principal).min(1) })).default([]),
  /** What happens at expiry. `proceed` is honoured only for containment steps. */
  onExpiry: z.enum(['reject', 'proceed']).default('reject'),
});

export const ApprovalsFile = z.strictObject({
  groups: z.record(z.string().regex(/^[\w.-]+$/), z.array(principal)).default({}),
  policies: z.record(z.string().regex(/^[a-z0-9][a-z0-9-]*$/), ApprovalPolicyDoc).default({}),
});
export type ApprovalsFile = z.infer<typeof ApprovalsFile>;

const expand = (file: ApprovalsFile, principals: string[], seen = new Set<string>()): string[] =>
  principals.flatMap((p) => {
    if (!p.startsWith('group:')) return [p];
    const name = p.slice(6);
    if (seen.has(name)) return [];
    seen.add(name);
    return expand(file, file.groups[name] ?? [], seen);
  });

export function resolvePolicy(file: ApprovalsFile, name: string, stepEffect: string): ResolvedPolicy {
  const doc = file.policies[name];
  if (!doc) return { name, approvers: [], required: 1, expirySeconds: 15 * 60, escalation: [], onExpiry: 'reject', undefinedPolicy: true };
  return {
    name,
    approvers: [...new Set(expand(file, doc.approvers))],
    required: doc.required,
    expirySeconds: parseDurationSeconds(doc.expiry),
    escalation: doc.escalation.map((e) => ({ afterSeconds: parseDurationSeconds(e.after), notify: [...new Set(expand(file, e.notify))] })),
    // Proceeding without a human is only ever allowed for containment (it stops harm, it does not destroy).
    onExpiry: doc.onExpiry === 'proceed' && stepEffect === 'containment' ? 'proceed' : 'reject',
  };
}
