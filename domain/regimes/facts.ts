import { z } from 'zod';
import { isValidTimeZone, MEMBER_STATE_TIME_ZONES } from './calendar.js';

/**
 * What is known about an incident, as the classification rules read it. Every fact is optional:
 * an unknown fact makes a criterion "unknown" rather than "not met", so a missing number never
 * silently turns a major incident into a minor one. Facts are updated during an incident and
 * classified again.
 */
const Count = z.number().int('expected a whole number').nonnegative('expected a number ≥ 0');
const Pct = z.number().min(0, 'expected a percentage 0–100').max(100, 'expected a percentage 0–100');
const Hours = z.number().nonnegative('expected hours ≥ 0');

export const IncidentFacts = z.strictObject({
  // DORA classification (Del. Reg. 2024/1772)
  criticalService: z.boolean().optional(),
  clientsAffected: Count.optional(),
  clientsTotal: Count.positive('expected a number > 0').optional(),
  financialCounterpartsPct: Pct.optional(),
  transactionsValuePct: Pct.optional(),
  reputationalImpact: z.boolean().optional(),
  durationHours: Hours.optional(),
  downtimeHours: Hours.optional(),
  memberStates: z.array(z.string().regex(/^[A-Z]{2}$/, 'expected ISO country codes like "DE"')).optional(),
  dataImpact: z
    .strictObject({
      availability: z.boolean().optional(),
      authenticity: z.boolean().optional(),
      integrity: z.boolean().optional(),
      confidentiality: z.boolean().optional(),
    })
    .optional(),
  economicImpactEur: z.number().nonnegative().optional(),
  maliciousAccess: z.boolean().optional(),
  // GDPR
  personalDataBreach: z.boolean().optional(),
  highRiskToDataSubjects: z.boolean().optional(),
  // NIS2
  significantIncident: z.boolean().optional(),
  // PCI DSS
  cardholderDataCompromised: z.boolean().optional(),
  // US
  cybersecurityIncident: z.boolean().optional(),
  ransomPaid: z.boolean().optional(),
  materialityDetermined: z.boolean().optional(),
  notificationIncident: z.boolean().optional(),
  serviceDisruptionHours: Hours.optional(),
  consumersAffected: Count.optional(),
  // UK
  thresholdMet: z.boolean().optional(),
});
export type IncidentFacts = z.infer<typeof IncidentFacts>;

/** Facts the rules may name: the ones above plus a few derived in code (see derivedFacts). */
export const FACT_NAMES = [...Object.keys(IncidentFacts.shape), 'clientsAffectedPct', 'memberStatesCount'] as const;

export type FactValue = number | boolean | string[] | Record<string, boolean | undefined> | undefined;

/** Derived facts are arithmetic on the given ones, so rule files can state thresholds plainly. */
export function factValues(facts: IncidentFacts): Record<string, FactValue> {
  const out: Record<string, FactValue> = { ...facts };
  if (facts.clientsAffected !== undefined && facts.clientsTotal !== undefined) {
    out.clientsAffectedPct = (facts.clientsAffected / facts.clientsTotal) * 100;
  }
  if (facts.memberStates !== undefined) out.memberStatesCount = new Set(facts.memberStates).size;
  return out;
}

/**
 * The organisation, as configured: what it is, where, and which flags select optional regimes
 * (sec-registrant, pci-dss, card-brand:visa, nis2-essential, …).
 */
export const OrganisationProfile = z
  .strictObject({
    name: z.string().optional(),
    entityType: z.string().regex(/^[a-z][a-z0-9-]*$/, 'expected a kebab-case entity type like "payment-institution"'),
    jurisdictions: z.array(z.string().regex(/^[A-Z]{2}(-[A-Z]{2})?$/, 'expected codes like "EU", "US", "US-NY", "UK"')).min(1),
    memberState: z.string().regex(/^[A-Z]{2}$/, 'expected an ISO country code like "DE"').optional(),
    timeZone: z.string().refine(isValidTimeZone, 'expected an IANA time zone like "Europe/Berlin"').optional(),
    flags: z.array(z.string()).default([]),
  })
  .superRefine((p, ctx) => {
    if (!p.timeZone && !(p.memberState && MEMBER_STATE_TIME_ZONES[p.memberState])) {
      ctx.addIssue({ code: 'custom', path: ['timeZone'], message: 'needed when memberState is not set or not a known European state' });
    }
  });
export type OrganisationProfile = z.infer<typeof OrganisationProfile>;

/** The profile's local time zone: its own, else its member state's. */
export function profileTimeZone(p: OrganisationProfile): string {
  return p.timeZone ?? MEMBER_STATE_TIME_ZONES[p.memberState ?? ''] ?? 'UTC';
}

export interface FieldError {
  field: string;
  message: string;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; errors: FieldError[] };

function fieldErrors(error: z.ZodError): FieldError[] {
  return error.issues.map((i) => ({ field: i.path.length ? i.path.map(String).join('.') : '(root)', message: i.message }));
}

export function parseFacts(input: unknown): Parsed<IncidentFacts> {
  const r = IncidentFacts.safeParse(input);
  return r.success ? { ok: true, value: r.data } : { ok: false, errors: fieldErrors(r.error) };
}

export function parseProfile(input: unknown): Parsed<OrganisationProfile> {
  const r = OrganisationProfile.safeParse(input);
  return r.success ? { ok: true, value: r.data } : { ok: false, errors: fieldErrors(r.error) };
}
