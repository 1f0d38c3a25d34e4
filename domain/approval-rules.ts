/** The approval checks the workflow's Update validator runs: pure, no zod, safe in workflow code. */

/** A policy as the workflow sees it: groups expanded, durations in seconds. */
export interface ResolvedPolicy {
  name: string;
  approvers: string[];
  required: number;
  expirySeconds: number;
  escalation: { afterSeconds: number; notify: string[] }[];
  onExpiry: 'reject' | 'proceed';
  /** Set when the name is not in the approvals file: the conservative default applied. */
  undefinedPolicy?: boolean;
}

export interface Approval {
  by: string;
  at: string;
  comment?: string;
}

/**
 * Why `by` may not approve now, or undefined. Pure, so the Update validator and tests share it.
 * `opener` is the incident's `openedBy` (e.g. `operator:alice`).
 */
export function approvalRefusal(p: { policy: ResolvedPolicy; by: string; opener: string; approvals: Approval[]; expiresAt?: string; now: number }): string | undefined {
  const { policy, by } = p;
  if (p.opener === `operator:${by}` || p.opener === by) return `${by} opened this incident and cannot also approve its steps (four-eyes)`;
  if (p.approvals.some((a) => a.by === by)) return `${by} has already approved this step; it needs ${policy.required} different people`;
  if (policy.approvers.length > 0 && !policy.approvers.includes(by)) return `${by} is not an approver under policy ${policy.name}`;
  if (p.expiresAt && p.now > Date.parse(p.expiresAt)) return `the approval window closed at ${p.expiresAt}`;
  return undefined;
}
