import { z } from 'zod';
import { OrganisationProfile, type FieldError, type Parsed } from './facts.js';
import type { Regime, Stage } from './schema.js';

/**
 * The organisation's regulator profile, as configured (BULWARK_REGULATOR_PROFILE, a JSON file): the
 * organisation itself (what `regulators classify --profile` has always read) plus where each
 * regime's reports go and who signs them off. A plain organisation profile is a valid regulator
 * profile, so the what-if command keeps reading the same files.
 */
const localHost = (u: URL) => u.hostname === '127.0.0.1' || u.hostname === 'localhost' || u.hostname === '[::1]';

/** Where one recipient's reports go. Webhooks must be HTTPS; plain HTTP only to this machine (tests, local relays). */
export const RegulatorChannel = z.discriminatedUnion('channel', [
  z.strictObject({
    channel: z.literal('email'),
    to: z.array(z.email('expected an e-mail address')).min(1, 'list at least one recipient address'),
    /** A verified SES identity. */
    from: z.email('expected an e-mail address (a verified SES identity)'),
    cc: z.array(z.email('expected an e-mail address')).default([]),
  }),
  z.strictObject({
    channel: z.literal('webhook'),
    url: z.url({ protocol: /^https?$/, error: 'expected an https:// URL' }).refine((s) => {
      const u = new URL(s);
      return u.protocol === 'https:' || localHost(u);
    }, 'expected an https:// URL (http:// only to localhost)'),
  }),
]);
export type RegulatorChannel = z.infer<typeof RegulatorChannel>;

const RoleOrUser = z.string().regex(/^[A-Za-z0-9._@+-]+$/, 'expected a role or user name without spaces');

export const RegulatorProfile = OrganisationProfile.safeExtend({
  /** Legal entity identifier, for reports that ask for it. */
  lei: z.string().regex(/^[A-Z0-9]{20}$/, 'expected a 20-character LEI').optional(),
  /** Who the regulator should call back; copied into the reports' contact fields. */
  reportingContact: z.strictObject({ name: z.string().min(1), email: z.email().optional(), phone: z.string().optional() }).optional(),
  /** Regime id → recipient id (as in the rule file) → channel. "*" is any recipient of that regime. */
  contacts: z.record(z.string().regex(/^[a-z][a-z0-9-]*$/, 'expected a regime id'), z.record(z.string(), RegulatorChannel)).default({}),
  /** Approver role of the rule files (compliance-officer, dpo, ciso, …) → the people who hold it. */
  approvers: z.record(RoleOrUser, z.array(RoleOrUser).min(1, 'name at least one person for this role')).default({}),
});
export type RegulatorProfile = z.infer<typeof RegulatorProfile>;

export function parseRegulatorProfile(input: unknown): Parsed<RegulatorProfile> {
  const r = RegulatorProfile.safeParse(input);
  if (r.success) return { ok: true, value: r.data };
  const errors: FieldError[] = r.error.issues.map((i) => ({ field: i.path.length ? i.path.map(String).join('.') : '(root)', message: i.message }));
  return { ok: false, errors };
}

/** The part the classifier and deadline engine read. */
export function organisationOf(p: RegulatorProfile): OrganisationProfile {
  return { name: p.name, entityType: p.entityType, jurisdictions: p.jurisdictions, memberState: p.memberState, timeZone: p.timeZone, flags: p.flags };
}

/** The people who may approve a regime's reports: every holder of one of its approver roles. */
export function approversFor(profile: RegulatorProfile, regime: Pick<Regime, 'approvers'>): string[] {
  return [...new Set(regime.approvers.flatMap((role) => profile.approvers[role] ?? []))].sort();
}

export type ContactLookup = { ok: true; recipient: string; channel: RegulatorChannel } | { ok: false; error: string };

/** Where a stage's report goes: the stage's recipient (else the regime's first), as the profile configures it. */
export function contactFor(profile: RegulatorProfile, regime: Regime, stage: Stage): ContactLookup {
  const recipient = stage.recipient ?? regime.recipients[0]!.id;
  const byRegime = profile.contacts[regime.id];
  const channel = byRegime?.[recipient] ?? byRegime?.['*'];
  if (!channel) return { ok: false, error: `the regulator profile has no contact for ${regime.id}/${recipient} (set contacts.${regime.id}.${recipient} to an e-mail or webhook channel)` };
  return { ok: true, recipient, channel };
}

/** A channel as it may appear in history and output: where, never credentials in a URL. */
export function describeChannel(c: RegulatorChannel): string {
  if (c.channel === 'email') return `e-mail to ${c.to.join(', ')}`;
  const u = new URL(c.url);
  return `webhook ${u.protocol}//${u.host}${u.pathname}`;
}
