import type { IncidentState } from './incident.js';

/**
 * Regulator facts from an incident's consent steps. DORA's classification (Del. Reg. 2024/1772)
 * counts "clients affected"; when a compromised provider's consents are revoked, the PSUs that held
 * them are affected. Each succeeded `consents.revoke` (or, failing that, `consents.list`) step
 * carries `output.clientsAffected`: distinct PSUs of the consents that were active when the step
 * began, plus one per consent naming no PSU (an unknown PSU is counted rather than dropped, so the
 * figure errs high, never low).
 *
 * Playbooks can pass it to `regulators.assess` directly:
 *   facts: { clientsAffected: "${steps.revoke-consents.output.clientsAffected}" }
 * and code holding the incident state can use `consentFacts(state)`.
 */
export function consentFacts(state: Pick<IncidentState, 'steps' | 'plan'>): { clientsAffected?: number } {
  const byClient = new Map<string, number>();
  for (const action of ['consents.list', 'consents.revoke'] as const) {
    for (const planned of state.plan.steps.filter((s) => s.action === action)) {
      const s = state.steps.find((x) => x.id === planned.id);
      const out = s?.status === 'succeeded' ? (s.output as { clientId?: unknown; clientsAffected?: unknown } | undefined) : undefined;
      if (typeof out?.clientsAffected !== 'number' || typeof out.clientId !== 'string') continue;
      // A revoke step's figure replaces a list step's for the same provider (same PSUs, counted later).
      byClient.set(out.clientId, action === 'consents.revoke' ? out.clientsAffected : Math.max(byClient.get(out.clientId) ?? 0, out.clientsAffected));
    }
  }
  if (byClient.size === 0) return {};
  // Different providers' consents can belong to the same PSU; without PSU ids the sum is an upper bound.
  return { clientsAffected: [...byClient.values()].reduce((a, b) => a + b, 0) };
}
