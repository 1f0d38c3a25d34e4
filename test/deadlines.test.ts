import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { addCalendarMonths, regimeTimeline, type StageState } from '../domain/regimes/deadlines.js';
import { parseDeadline } from '../domain/regimes/expression.js';
import type { OrganisationProfile } from '../domain/regimes/facts.js';
import { inForce } from '../domain/regimes/classify.js';
import { parseRegimeFile } from '../domain/regimes/load.js';
import type { Regime } from '../domain/regimes/schema.js';

/**
 * Deadlines from the shipped rule files. Every expected instant below was worked out by hand
 * (weekday, DST offset and holiday noted beside it), never by the engine.
 */
const dir = fileURLToPath(new URL('../regimes/', import.meta.url));
const regimes: Regime[] = readdirSync(dir)
  .filter((f) => f.endsWith('.yaml'))
  .map((f) => {
    const r = parseRegimeFile(readFileSync(join(dir, f), 'utf8'), f);
    if (!r.ok) throw new Error(`${f}: ${JSON.stringify(r.errors)}`);
    return r.regime;
  });

const profile = (entityType: string, extra: Partial<OrganisationProfile> = {}): OrganisationProfile => ({
  entityType,
  jurisdictions: ['EU'],
  flags: [],
  ...extra,
});
const PI_DE = profile('payment-institution', { memberState: 'DE' });
const CI_DE = profile('credit-institution', { memberState: 'DE' });
const CCP_DE = profile('central-counterparty', { memberState: 'DE' });
const PI_DE_NIS2 = profile('payment-institution', { memberState: 'DE', flags: ['nis2-essential'] });
const PI_FR = profile('payment-institution', { memberState: 'FR' });
const EMI_NL = profile('e-money-institution', { memberState: 'NL' });
const PI_NO_STATE = profile('payment-institution', { timeZone: 'Europe/Berlin' });
const US = profile('banking-organization', { jurisdictions: ['US', 'US-NY'], timeZone: 'America/New_York', flags: ['sec-registrant'] });
const UK = profile('investment-firm', { jurisdictions: ['UK'], timeZone: 'Europe/London' });

interface Case {
  name: string;
  regime: string;
  /** Pick the version in force at this instant (default: the first event). */
  at?: string;
  stage: string;
  profile: OrganisationProfile;
  events: Record<string, string>;
  now?: string;
  state: StageState;
  dueAt?: string;
  reliefFrom?: string;
  lateByMinutes?: number;
  waitingFor?: string[];
}

const cases: Case[] = [
  // ── DORA initial: min(+4h after classified, +24h after aware) ─────────────────────────────
  { name: 'DORA initial: 4 h after classification', regime: 'dora', stage: 'initial', profile: PI_DE,
    events: { aware: '2026-03-10T08:00:00Z', classified: '2026-03-10T09:30:00Z' }, now: '2026-03-10T10:00:00Z',
    state: 'pending', dueAt: '2026-03-10T13:30:00.000Z' },
  { name: 'DORA initial: 24 h cap after awareness wins over late classification', regime: 'dora', stage: 'initial', profile: PI_DE,
    events: { aware: '2026-03-10T08:00:00Z', classified: '2026-03-11T06:00:00Z' }, now: '2026-03-11T06:00:00Z',
    state: 'due-soon', dueAt: '2026-03-11T08:00:00.000Z' },
  { name: 'DORA initial: before classification the 24 h cap already binds (provisional)', regime: 'dora', stage: 'initial', profile: PI_DE,
    events: { aware: '2026-03-10T08:00:00Z' }, now: '2026-03-10T09:00:00Z',
    state: 'pending', dueAt: '2026-03-11T08:00:00.000Z', waitingFor: ['classified'] },
  { name: 'DORA initial: no events at all is not-started', regime: 'dora', at: '2026-03-10T00:00:00Z', stage: 'initial', profile: PI_DE,
    events: {}, now: '2026-09-01T00:00:00Z', state: 'not-started', waitingFor: ['classified', 'aware'] },
  { name: 'DORA initial: overdue after 4 h without submission', regime: 'dora', stage: 'initial', profile: PI_DE,
    events: { aware: '2026-03-10T08:00:00Z', classified: '2026-03-10T09:30:00Z' }, now: '2026-03-10T14:00:00Z',
    state: 'overdue', dueAt: '2026-03-10T13:30:00.000Z' },
  { name: 'DORA initial: 45 min left of 4 h is due-soon', regime: 'dora', stage: 'initial', profile: PI_DE,
    events: { aware: '2026-03-10T08:00:00Z', classified: '2026-03-10T09:30:00Z' }, now: '2026-03-10T12:45:00Z',
    state: 'due-soon', dueAt: '2026-03-10T13:30:00.000Z' },
  { name: 'DORA initial: 61 min left of 4 h is still pending', regime: 'dora', stage: 'initial', profile: PI_DE,
    events: { aware: '2026-03-10T08:00:00Z', classified: '2026-03-10T09:30:00Z' }, now: '2026-03-10T12:29:00Z',
    state: 'pending', dueAt: '2026-03-10T13:30:00.000Z' },
  { name: 'DORA initial: exactly 25 % left is due-soon', regime: 'dora', stage: 'initial', profile: PI_DE,
    events: { aware: '2026-03-10T08:00:00Z', classified: '2026-03-10T09:30:00Z' }, now: '2026-03-10T12:30:00Z',
    state: 'due-soon', dueAt: '2026-03-10T13:30:00.000Z' },
  { name: 'DORA initial: submitted in time', regime: 'dora', stage: 'initial', profile: PI_DE,
    events: { aware: '2026-03-10T08:00:00Z', classified: '2026-03-10T09:30:00Z', 'stage:initial.submitted': '2026-03-10T13:00:00Z' },
    now: '2026-03-10T20:00:00Z', state: 'submitted', dueAt: '2026-03-10T13:30:00.000Z' },
  { name: 'DORA initial: submitted exactly at the deadline is in time', regime: 'dora', stage: 'initial', profile: PI_DE,
    events: { aware: '2026-03-10T08:00:00Z', classified: '2026-03-10T09:30:00Z', 'stage:initial.submitted': '2026-03-10T13:30:00Z' },
    now: '2026-03-10T20:00:00Z', state: 'submitted', dueAt: '2026-03-10T13:30:00.000Z' },
  { name: 'DORA initial: late notice 40 min after the deadline', regime: 'dora', stage: 'initial', profile: PI_DE,
    events: { aware: '2026-03-10T08:00:00Z', classified: '2026-03-10T09:30:00Z', 'stage:initial.submitted': '2026-03-10T14:10:00Z' },
    now: '2026-03-10T20:00:00Z', state: 'submitted-late', dueAt: '2026-03-10T13:30:00.000Z', lateByMinutes: 40 },
  // Europe DST ends Sun 25 Oct 2026 01:00 UTC; 04:30Z Sunday is a weekend in Germany.
  { name: 'DORA initial on the DST-end Sunday, payment institution: relief to Mon 12:00 CET', regime: 'dora', stage: 'initial', profile: PI_DE,
    events: { aware: '2026-10-24T23:30:00Z', classified: '2026-10-25T00:30:00Z' }, now: '2026-10-25T01:00:00Z',
    state: 'pending', dueAt: '2026-10-26T11:00:00.000Z', reliefFrom: '2026-10-25T04:30:00.000Z' },
  { name: 'DORA initial on the DST-end Sunday, credit institution: no relief', regime: 'dora', stage: 'initial', profile: CI_DE,
    events: { aware: '2026-10-24T23:30:00Z', classified: '2026-10-25T00:30:00Z' }, now: '2026-10-25T01:00:00Z',
    state: 'pending', dueAt: '2026-10-25T04:30:00.000Z' },

  // ── DORA intermediate: +72h after stage:initial.submitted ────────────────────────────────
  { name: 'DORA intermediate: 72 h after the initial notification (Fri)', regime: 'dora', stage: 'intermediate', profile: PI_DE,
    events: { aware: '2026-03-10T08:00:00Z', 'stage:initial.submitted': '2026-03-10T12:00:00Z' }, now: '2026-03-11T00:00:00Z',
    state: 'pending', dueAt: '2026-03-13T12:00:00.000Z' },
  { name: 'DORA intermediate: not-started while the initial notification is not submitted', regime: 'dora', stage: 'intermediate', profile: PI_DE,
    events: { aware: '2026-03-10T08:00:00Z', classified: '2026-03-10T09:00:00Z' }, now: '2026-09-01T00:00:00Z',
    state: 'not-started', waitingFor: ['stage:initial.submitted'] },
  { name: 'DORA intermediate on Saturday, payment institution: Mon 12:00 CET', regime: 'dora', stage: 'intermediate', profile: PI_DE,
    events: { 'stage:initial.submitted': '2026-03-11T10:00:00Z' }, state: 'pending', dueAt: '2026-03-16T11:00:00.000Z', reliefFrom: '2026-03-14T10:00:00.000Z' },
  { name: 'DORA intermediate on Saturday, credit institution: no relief', regime: 'dora', stage: 'intermediate', profile: CI_DE,
    events: { 'stage:initial.submitted': '2026-03-11T10:00:00Z' }, state: 'pending', dueAt: '2026-03-14T10:00:00.000Z' },
  { name: 'DORA intermediate on Saturday, central counterparty: no relief', regime: 'dora', stage: 'intermediate', profile: CCP_DE,
    events: { 'stage:initial.submitted': '2026-03-11T10:00:00Z' }, state: 'pending', dueAt: '2026-03-14T10:00:00.000Z' },
  { name: 'DORA intermediate on Saturday, NIS2 essential entity: no relief', regime: 'dora', stage: 'intermediate', profile: PI_DE_NIS2,
    events: { 'stage:initial.submitted': '2026-03-11T10:00:00Z' }, state: 'pending', dueAt: '2026-03-14T10:00:00.000Z' },
  { name: 'DORA intermediate on Saturday, no member state in profile: no relief', regime: 'dora', stage: 'intermediate', profile: PI_NO_STATE,
    events: { 'stage:initial.submitted': '2026-03-11T10:00:00Z' }, state: 'pending', dueAt: '2026-03-14T10:00:00.000Z' },
  // Fri 23:30Z is Sat 00:30 in Berlin: the local date decides.
  { name: 'DORA intermediate Fri 23:30Z = Sat 00:30 CET: relief applies', regime: 'dora', stage: 'intermediate', profile: PI_DE,
    events: { 'stage:initial.submitted': '2026-03-10T23:30:00Z' }, state: 'pending', dueAt: '2026-03-16T11:00:00.000Z', reliefFrom: '2026-03-13T23:30:00.000Z' },
  { name: 'DORA intermediate Sun 23:30Z = Mon 00:30 CET: a working day, no relief', regime: 'dora', stage: 'intermediate', profile: PI_DE,
    events: { 'stage:initial.submitted': '2026-03-12T23:30:00Z' }, state: 'pending', dueAt: '2026-03-15T23:30:00.000Z' },
  // Europe DST starts Sun 29 Mar 2026: Sat 28 Mar is CET, Mon 30 Mar noon is CEST (UTC+2).
  { name: 'DORA intermediate Sat before DST start: relief to Mon 12:00 CEST', regime: 'dora', stage: 'intermediate', profile: PI_DE,
    events: { 'stage:initial.submitted': '2026-03-25T09:00:00Z' }, state: 'pending', dueAt: '2026-03-30T10:00:00.000Z', reliefFrom: '2026-03-28T09:00:00.000Z' },
  { name: 'DORA intermediate across DST start: 72 h on UTC instants, not wall clock', regime: 'dora', stage: 'intermediate', profile: CI_DE,
    events: { 'stage:initial.submitted': '2026-03-27T20:00:00Z' }, state: 'pending', dueAt: '2026-03-30T20:00:00.000Z' },
  // Easter 2026: Good Friday 3 Apr and Easter Monday 6 Apr are German public holidays.
  { name: 'DORA intermediate on Good Friday: relief past Easter Monday to Tue 12:00 CEST', regime: 'dora', stage: 'intermediate', profile: PI_DE,
    events: { 'stage:initial.submitted': '2026-03-31T09:00:00Z' }, state: 'pending', dueAt: '2026-04-07T10:00:00.000Z', reliefFrom: '2026-04-03T09:00:00.000Z' },
  { name: 'DORA intermediate on Good Friday, credit institution: no relief', regime: 'dora', stage: 'intermediate', profile: CI_DE,
    events: { 'stage:initial.submitted': '2026-03-31T09:00:00Z' }, state: 'pending', dueAt: '2026-04-03T09:00:00.000Z' },
  { name: 'DORA intermediate on Christmas Day: relief to Mon 28 Dec 12:00 CET', regime: 'dora', stage: 'intermediate', profile: PI_DE,
    events: { 'stage:initial.submitted': '2026-12-22T15:00:00Z' }, state: 'pending', dueAt: '2026-12-28T11:00:00.000Z', reliefFrom: '2026-12-25T15:00:00.000Z' },
  { name: 'DORA intermediate on Ascension Day (DE): relief to Fri 12:00 CEST', regime: 'dora', stage: 'intermediate', profile: PI_DE,
    events: { 'stage:initial.submitted': '2026-05-11T06:00:00Z' }, state: 'pending', dueAt: '2026-05-15T10:00:00.000Z', reliefFrom: '2026-05-14T06:00:00.000Z' },
  // 8 May is a public holiday in France, not in Germany: the entity's member state decides.
  { name: 'DORA intermediate on 8 May, French entity: relief to Mon 11 May 12:00 CEST', regime: 'dora', stage: 'intermediate', profile: PI_FR,
    events: { 'stage:initial.submitted': '2026-05-05T08:00:00Z' }, state: 'pending', dueAt: '2026-05-11T10:00:00.000Z', reliefFrom: '2026-05-08T08:00:00.000Z' },
  { name: 'DORA intermediate on 8 May, German entity: an ordinary Friday', regime: 'dora', stage: 'intermediate', profile: PI_DE,
    events: { 'stage:initial.submitted': '2026-05-05T08:00:00Z' }, state: 'pending', dueAt: '2026-05-08T08:00:00.000Z' },
  { name: 'DORA intermediate on King\'s Day, Dutch e-money institution: Tue 12:00 CEST', regime: 'dora', stage: 'intermediate', profile: EMI_NL,
    events: { 'stage:initial.submitted': '2026-04-24T07:00:00Z' }, state: 'pending', dueAt: '2026-04-28T10:00:00.000Z', reliefFrom: '2026-04-27T07:00:00.000Z' },
  { name: 'DORA intermediate on 27 Apr, German entity: ordinary Monday', regime: 'dora', stage: 'intermediate', profile: PI_DE,
    events: { 'stage:initial.submitted': '2026-04-24T07:00:00Z' }, state: 'pending', dueAt: '2026-04-27T07:00:00.000Z' },
  { name: 'DORA intermediate relieved: submitted Mon 10:30Z is in time for a payment institution', regime: 'dora', stage: 'intermediate', profile: PI_DE,
    events: { 'stage:initial.submitted': '2026-03-11T10:00:00Z', 'stage:intermediate.submitted': '2026-03-16T10:30:00Z' },
    state: 'submitted', dueAt: '2026-03-16T11:00:00.000Z', reliefFrom: '2026-03-14T10:00:00.000Z' },
  { name: 'DORA intermediate: the same submission is 2 d 30 min late for a credit institution', regime: 'dora', stage: 'intermediate', profile: CI_DE,
    events: { 'stage:initial.submitted': '2026-03-11T10:00:00Z', 'stage:intermediate.submitted': '2026-03-16T10:30:00Z' },
    state: 'submitted-late', dueAt: '2026-03-14T10:00:00.000Z', lateByMinutes: 2910 },

  // ── DORA final: +1 calendar month after stage:intermediate.submitted ─────────────────────
  { name: 'DORA final: 31 Jan + 1 month clamps to Sat 28 Feb (credit institution)', regime: 'dora', stage: 'final', profile: CI_DE,
    events: { 'stage:intermediate.submitted': '2026-01-31T10:00:00Z' }, state: 'pending', dueAt: '2026-02-28T10:00:00.000Z' },
  { name: 'DORA final: 28 Feb is a Saturday, payment institution gets Mon 2 Mar 12:00 CET', regime: 'dora', stage: 'final', profile: PI_DE,
    events: { 'stage:intermediate.submitted': '2026-01-31T10:00:00Z' }, state: 'pending', dueAt: '2026-03-02T11:00:00.000Z', reliefFrom: '2026-02-28T10:00:00.000Z' },
  { name: 'DORA final: 31 Jan 2028 + 1 month is 29 Feb (leap year)', regime: 'dora', stage: 'final', profile: CI_DE,
    events: { 'stage:intermediate.submitted': '2028-01-31T10:00:00Z' }, state: 'pending', dueAt: '2028-02-29T10:00:00.000Z' },
  { name: 'DORA final: 31 Mar + 1 month is 30 Apr', regime: 'dora', stage: 'final', profile: PI_DE,
    events: { 'stage:intermediate.submitted': '2026-03-31T09:00:00Z' }, state: 'pending', dueAt: '2026-04-30T09:00:00.000Z' },
  { name: 'DORA final: 31 May + 1 month is 30 Jun', regime: 'dora', stage: 'final', profile: PI_DE,
    events: { 'stage:intermediate.submitted': '2026-05-31T12:00:00Z' }, state: 'pending', dueAt: '2026-06-30T12:00:00.000Z' },
  { name: 'DORA final: 31 Dec + 1 month crosses the year to Sun 31 Jan (credit institution)', regime: 'dora', stage: 'final', profile: CI_DE,
    events: { 'stage:intermediate.submitted': '2026-12-31T16:00:00Z' }, state: 'pending', dueAt: '2027-01-31T16:00:00.000Z' },
  { name: 'DORA final: Sun 31 Jan 2027, payment institution gets Mon 1 Feb 12:00 CET', regime: 'dora', stage: 'final', profile: PI_DE,
    events: { 'stage:intermediate.submitted': '2026-12-31T16:00:00Z' }, state: 'pending', dueAt: '2027-02-01T11:00:00.000Z', reliefFrom: '2027-01-31T16:00:00.000Z' },
  { name: 'DORA final: 15 Jan + 1 month is Sun 15 Feb (credit institution)', regime: 'dora', stage: 'final', profile: CI_DE,
    events: { 'stage:intermediate.submitted': '2026-01-15T10:00:00Z' }, state: 'pending', dueAt: '2026-02-15T10:00:00.000Z' },
  { name: 'DORA final across DST start keeps the UTC time of day', regime: 'dora', stage: 'final', profile: PI_DE,
    events: { 'stage:intermediate.submitted': '2026-03-10T12:00:00Z' }, state: 'pending', dueAt: '2026-04-10T12:00:00.000Z' },
  { name: 'DORA final: not-started before the intermediate report', regime: 'dora', stage: 'final', profile: PI_DE,
    events: { 'stage:initial.submitted': '2026-03-10T12:00:00Z' }, now: '2026-12-01T00:00:00Z', state: 'not-started', waitingFor: ['stage:intermediate.submitted'] },

  // ── GDPR Art. 33 / 34 ────────────────────────────────────────────────────────────────────
  { name: 'GDPR Art. 33: 72 h across the EU DST start', regime: 'gdpr', stage: 'supervisory-authority', profile: PI_DE,
    events: { aware: '2026-03-27T10:00:00Z' }, state: 'pending', dueAt: '2026-03-30T10:00:00.000Z' },
  { name: 'GDPR Art. 33: 72 h across the EU DST end', regime: 'gdpr', stage: 'supervisory-authority', profile: PI_DE,
    events: { aware: '2026-10-23T18:00:00Z' }, state: 'pending', dueAt: '2026-10-26T18:00:00.000Z' },
  { name: 'GDPR Art. 33: no holiday relief on Christmas Day', regime: 'gdpr', stage: 'supervisory-authority', profile: PI_DE,
    events: { aware: '2026-12-22T12:00:00Z' }, state: 'pending', dueAt: '2026-12-25T12:00:00.000Z' },
  { name: 'GDPR Art. 33: late notice 60 min after 72 h', regime: 'gdpr', stage: 'supervisory-authority', profile: PI_DE,
    events: { aware: '2026-03-27T10:00:00Z', 'stage:supervisory-authority.submitted': '2026-03-30T11:00:00Z' },
    state: 'submitted-late', dueAt: '2026-03-30T10:00:00.000Z', lateByMinutes: 60 },
  { name: 'GDPR Art. 33: overdue 4 days on', regime: 'gdpr', stage: 'supervisory-authority', profile: PI_DE,
    events: { aware: '2026-03-27T10:00:00Z' }, now: '2026-03-31T10:00:00Z', state: 'overdue', dueAt: '2026-03-30T10:00:00.000Z' },
  { name: 'GDPR Art. 34: "immediately" stays urgent until sent', regime: 'gdpr', stage: 'data-subjects', profile: PI_DE,
    events: { aware: '2026-03-01T10:00:00Z' }, now: '2026-03-05T10:00:00Z', state: 'due-soon', dueAt: '2026-03-01T10:00:00.000Z' },
  { name: 'GDPR Art. 34: sent is submitted, not late', regime: 'gdpr', stage: 'data-subjects', profile: PI_DE,
    events: { aware: '2026-03-01T10:00:00Z', 'stage:data-subjects.submitted': '2026-03-01T15:00:00Z' }, state: 'submitted', dueAt: '2026-03-01T10:00:00.000Z' },

  // ── NIS2 ─────────────────────────────────────────────────────────────────────────────────
  { name: 'NIS2 early warning: 24 h across the DST end', regime: 'nis2', stage: 'early-warning', profile: PI_DE,
    events: { aware: '2026-10-24T22:00:00Z' }, state: 'pending', dueAt: '2026-10-25T22:00:00.000Z' },
  { name: 'NIS2 incident notification: 72 h', regime: 'nis2', stage: 'incident-notification', profile: PI_DE,
    events: { aware: '2026-10-24T22:00:00Z' }, state: 'pending', dueAt: '2026-10-27T22:00:00.000Z' },
  { name: 'NIS2 final: 30 Jan + 1 month clamps to 28 Feb', regime: 'nis2', stage: 'final', profile: PI_DE,
    events: { aware: '2026-01-27T09:00:00Z', 'stage:incident-notification.submitted': '2026-01-30T09:00:00Z' }, state: 'pending', dueAt: '2026-02-28T09:00:00.000Z' },
  { name: 'NIS2 final: not-started without the incident notification', regime: 'nis2', stage: 'final', profile: PI_DE,
    events: { aware: '2026-01-27T09:00:00Z' }, now: '2026-06-01T00:00:00Z', state: 'not-started', waitingFor: ['stage:incident-notification.submitted'] },

  // ── PCI DSS card brands ──────────────────────────────────────────────────────────────────
  { name: 'PCI Visa: 3 days after discovery', regime: 'pci-card-brands', stage: 'visa', profile: US,
    events: { aware: '2026-11-26T15:00:00Z' }, state: 'pending', dueAt: '2026-11-29T15:00:00.000Z' },
  { name: 'PCI Mastercard: 24 h after discovery', regime: 'pci-card-brands', stage: 'mastercard', profile: US,
    events: { aware: '2026-11-26T15:00:00Z' }, state: 'pending', dueAt: '2026-11-27T15:00:00.000Z' },

  // ── NYDFS 500.17 ─────────────────────────────────────────────────────────────────────────
  // US DST starts Sun 8 Mar 2026: 20:00Z is 15:00 EST on Fri and 16:00 EDT on Mon, still 72 h.
  { name: 'NYDFS incident: 72 h across the US DST start', regime: 'nydfs-500-17', stage: 'incident-notice', profile: US,
    events: { classified: '2026-03-06T20:00:00Z' }, state: 'pending', dueAt: '2026-03-09T20:00:00.000Z' },
  { name: 'NYDFS ransom notice: 24 h across the US DST end (Sun 1 Nov 06:00Z)', regime: 'nydfs-500-17', stage: 'ransom-notice', profile: US,
    events: { 'payment-made': '2026-11-01T05:30:00Z' }, state: 'pending', dueAt: '2026-11-02T05:30:00.000Z' },
  { name: 'NYDFS ransom explanation: 30 days', regime: 'nydfs-500-17', stage: 'ransom-explanation', profile: US,
    events: { 'payment-made': '2026-11-01T05:30:00Z' }, state: 'pending', dueAt: '2026-12-01T05:30:00.000Z' },
  { name: 'NYDFS ransom explanation: 30 days through February', regime: 'nydfs-500-17', stage: 'ransom-explanation', profile: US,
    events: { 'payment-made': '2026-01-31T12:00:00Z' }, state: 'pending', dueAt: '2026-03-02T12:00:00.000Z' },
  { name: 'NYDFS ransom notice: not-started without a payment', regime: 'nydfs-500-17', stage: 'ransom-notice', profile: US,
    events: { classified: '2026-03-06T20:00:00Z' }, now: '2026-04-01T00:00:00Z', state: 'not-started', waitingFor: ['payment-made'] },

  // ── SEC 8-K Item 1.05: 4 EDGAR business days, due 17:30 America/New_York ───────────────────
  // Thanksgiving Thu 26 Nov 2026 is skipped: Tue 24, Wed 25, Fri 27, Mon 30 → 17:30 EST = 22:30Z.
  { name: 'SEC 8-K: Mon 23 Nov, Thanksgiving skipped, due Mon 30 Nov 17:30 EST', regime: 'sec-8k-105', stage: 'form-8k', profile: US,
    events: { 'determined-material': '2026-11-23T15:00:00Z' }, now: '2026-11-25T12:00:00Z', state: 'pending', dueAt: '2026-11-30T22:30:00.000Z' },
  { name: 'SEC 8-K: determination at 18:00 ET counts from its own day (shipped rule)', regime: 'sec-8k-105', stage: 'form-8k', profile: US,
    events: { 'determined-material': '2026-11-23T23:00:00Z' }, state: 'pending', dueAt: '2026-11-30T22:30:00.000Z' },
  { name: 'SEC 8-K: 03:00Z Tue is still Mon 22:00 EST', regime: 'sec-8k-105', stage: 'form-8k', profile: US,
    events: { 'determined-material': '2026-11-24T03:00:00Z' }, state: 'pending', dueAt: '2026-11-30T22:30:00.000Z' },
  { name: 'SEC 8-K: filed 17:29 ET on the due day is in time', regime: 'sec-8k-105', stage: 'form-8k', profile: US,
    events: { 'determined-material': '2026-11-23T15:00:00Z', 'stage:form-8k.submitted': '2026-11-30T22:29:00Z' }, state: 'submitted', dueAt: '2026-11-30T22:30:00.000Z' },
  { name: 'SEC 8-K: filed 17:31 ET on the due day counts as the next day: late', regime: 'sec-8k-105', stage: 'form-8k', profile: US,
    events: { 'determined-material': '2026-11-23T15:00:00Z', 'stage:form-8k.submitted': '2026-11-30T22:31:00Z' },
    state: 'submitted-late', dueAt: '2026-11-30T22:30:00.000Z', lateByMinutes: 1 },
  { name: 'SEC 8-K: Christmas Friday skipped, due Tue 29 Dec 17:30 EST', regime: 'sec-8k-105', stage: 'form-8k', profile: US,
    events: { 'determined-material': '2026-12-22T14:00:00Z' }, state: 'pending', dueAt: '2026-12-29T22:30:00.000Z' },
  { name: 'SEC 8-K: across the US DST start, due Wed 11 Mar 17:30 EDT', regime: 'sec-8k-105', stage: 'form-8k', profile: US,
    events: { 'determined-material': '2026-03-05T15:00:00Z' }, state: 'pending', dueAt: '2026-03-11T21:30:00.000Z' },
  { name: 'SEC 8-K: across the US DST end, due Tue 3 Nov 17:30 EST', regime: 'sec-8k-105', stage: 'form-8k', profile: US,
    events: { 'determined-material': '2026-10-28T14:00:00Z' }, state: 'pending', dueAt: '2026-11-03T22:30:00.000Z' },
  { name: 'SEC 8-K: determined on a Saturday, Mon is day 1, due Fri 27 Nov', regime: 'sec-8k-105', stage: 'form-8k', profile: US,
    events: { 'determined-material': '2026-11-21T15:00:00Z' }, state: 'pending', dueAt: '2026-11-27T22:30:00.000Z' },
  { name: 'SEC 8-K: Independence Day observed Fri 3 Jul skipped, due Tue 7 Jul', regime: 'sec-8k-105', stage: 'form-8k', profile: US,
    events: { 'determined-material': '2026-06-30T14:00:00Z' }, state: 'pending', dueAt: '2026-07-07T21:30:00.000Z' },
  { name: 'SEC 8-K: overdue the morning after', regime: 'sec-8k-105', stage: 'form-8k', profile: US,
    events: { 'determined-material': '2026-11-23T15:00:00Z' }, now: '2026-12-01T14:00:00Z', state: 'overdue', dueAt: '2026-11-30T22:30:00.000Z' },

  // ── US banking, FTC ──────────────────────────────────────────────────────────────────────
  { name: 'US banking: 36 h across the US DST end', regime: 'us-banking-36h', stage: 'primary-regulator', profile: US,
    events: { classified: '2026-11-01T01:00:00Z' }, state: 'pending', dueAt: '2026-11-02T13:00:00.000Z' },
  { name: 'US bank service provider: notify customers immediately', regime: 'us-bank-service-provider', stage: 'bank-customers', profile: US,
    events: { classified: '2026-05-05T10:00:00Z' }, now: '2026-05-05T10:30:00Z', state: 'due-soon', dueAt: '2026-05-05T10:00:00.000Z' },
  { name: 'FTC Safeguards: 30 days after discovery', regime: 'ftc-safeguards', stage: 'ftc', profile: US,
    events: { aware: '2026-10-15T16:00:00Z' }, state: 'pending', dueAt: '2026-11-14T16:00:00.000Z' },
  { name: 'FTC Safeguards: 30 days through February', regime: 'ftc-safeguards', stage: 'ftc', profile: US,
    events: { aware: '2026-02-10T00:00:00Z' }, state: 'pending', dueAt: '2026-03-12T00:00:00.000Z' },
  { name: 'FTC Safeguards: late by one day', regime: 'ftc-safeguards', stage: 'ftc', profile: US,
    events: { aware: '2026-02-10T00:00:00Z', 'stage:ftc.submitted': '2026-03-13T00:00:00Z' }, state: 'submitted-late', dueAt: '2026-03-12T00:00:00.000Z', lateByMinutes: 1440 },

  // ── UK FCA/PRA: "immediately" until 18 Mar 2027, then 24 h ───────────────────────────────
  { name: 'UK before 18 Mar 2027: immediately after awareness', regime: 'uk-fca-pra', at: '2027-03-17T12:00:00Z', stage: 'notification', profile: UK,
    events: { aware: '2027-03-17T12:00:00Z' }, now: '2027-03-17T13:00:00Z', state: 'due-soon', dueAt: '2027-03-17T12:00:00.000Z' },
  { name: 'UK from 18 Mar 2027: initial report 24 h after the threshold is met', regime: 'uk-fca-pra', at: '2027-03-20T10:00:00Z', stage: 'initial', profile: UK,
    events: { 'threshold-met': '2027-03-20T10:00:00Z' }, state: 'pending', dueAt: '2027-03-21T10:00:00.000Z' },
];

describe('deadline engine on the shipped rule files', () => {
  it('has at least 60 hand-computed cases', () => expect(cases.length).toBeGreaterThanOrEqual(60));

  it.each(cases)('$name', (c) => {
    const firstEvent = Object.values(c.events).sort()[0];
    const at = Date.parse(c.at ?? firstEvent ?? '2026-01-01T00:00:00Z');
    const regime = inForce(regimes, c.regime, at);
    expect(regime, `no ${c.regime} in force`).toBeDefined();
    const now = c.now ?? firstEvent!;
    const stage = regimeTimeline(regime!, { events: c.events, now, profile: c.profile }).find((s) => s.stage === c.stage);
    expect(stage, `stage ${c.stage}`).toBeDefined();
    expect(stage!.state).toBe(c.state);
    expect(stage!.dueAt).toBe(c.dueAt);
    expect(stage!.reliefFrom).toBe(c.reliefFrom);
    if (c.lateByMinutes !== undefined) expect(stage!.lateByMinutes).toBe(c.lateByMinutes);
    if (c.waitingFor) expect(stage!.waitingFor).toEqual(c.waitingFor);
    if (c.state === 'overdue' || c.state === 'submitted-late') expect(stage!.reasonForDelayRequired).toBe(true);
    if (c.state === 'submitted' || c.state === 'pending') expect(stage!.reasonForDelayRequired).toBe(false);
  });
});

describe('business-day cut-off for anchor events', () => {
  // A calendar that counts an event after 17:30 ET from the next business day, as some filing
  // rules do when the anchor is itself a filing.
  const yaml = (eventsAfterCutoff: string) => `
id: cutoff-test
version: 1
title: Cut-off test
legal_source: [test]
effective_from: "2020-01-01"
confidence: confirmed
applicability: { jurisdictions: [US], entity_types: any }
trigger: aware
calendars:
  EDGAR:
    country: US
    time_zone: America/New_York
    cutoff: "17:30"
    events_after_cutoff: ${eventsAfterCutoff}
classification:
  criteria: [{ id: x, title: X, when: { fact: materialityDetermined, op: is-true } }]
  reportable_when: { criterion: x }
stages:
  - id: filing
    title: Filing
    deadline: +4 business days(EDGAR) after aware
    fields: [a]
recipients: [{ id: sec, name: SEC, channel: webhook, to: placeholder }]
approvers: [cfo]
`;
  const due = (mode: string, aware: string) => {
    const r = parseRegimeFile(yaml(mode), 'cutoff-test.yaml');
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    return regimeTimeline(r.regime, { events: { aware }, now: aware, profile: US })[0]!.dueAt;
  };
  const table: [string, string, string][] = [
    // Mon 23 Nov 18:00 EST is after the cut-off: counts from Tue 24 → Wed 25, Fri 27, Mon 30, Tue 1 Dec.
    ['next-business-day', '2026-11-23T23:00:00Z', '2026-12-01T22:30:00.000Z'],
    // 17:29 EST is before it: counts from Mon 23 → due Mon 30 Nov.
    ['next-business-day', '2026-11-23T22:29:00Z', '2026-11-30T22:30:00.000Z'],
    // Exactly 17:30 is at the cut-off and counts as after it.
    ['next-business-day', '2026-11-23T22:30:00Z', '2026-12-01T22:30:00.000Z'],
    // Wed 25 Nov 19:00 EST: next business day is Fri 27 (Thanksgiving) → Mon 30, Tue 1, Wed 2, Thu 3.
    ['next-business-day', '2026-11-26T00:00:00Z', '2026-12-03T22:30:00.000Z'],
    ['same-day', '2026-11-23T23:00:00Z', '2026-11-30T22:30:00.000Z'],
  ];
  it.each(table)('%s, event %s → due %s', (mode, aware, expected) => expect(due(mode, aware)).toBe(expected));
});

describe('expression language', () => {
  it.each([
    ['+4h after classified', { kind: 'after', offset: { kind: 'hours', hours: 4 }, anchor: 'classified' }],
    ['+3d after aware', { kind: 'after', offset: { kind: 'hours', hours: 72 }, anchor: 'aware' }],
    ['+1 calendar month after stage:intermediate.submitted', { kind: 'after', offset: { kind: 'calendar-months', months: 1 }, anchor: 'stage:intermediate.submitted' }],
    ['+4 business days(US-SEC) after determined-material', { kind: 'after', offset: { kind: 'business-days', days: 4, calendar: 'US-SEC' }, anchor: 'determined-material' }],
    ['immediately after aware', { kind: 'after', offset: { kind: 'immediately' }, anchor: 'aware' }],
  ])('parses %s', (text, expr) => expect(parseDeadline(text)).toEqual({ ok: true, expr }));

  it('reads "A, cap B" as min(A, B)', () => {
    expect(parseDeadline('+4h after classified, cap +24h after aware')).toEqual(parseDeadline('min(+4h after classified, +24h after aware)'));
  });

  it.each(['+4x after aware', '4h after aware', '+4h before aware', 'min(+4h after aware)', 'min(+4h after aware, +2h after x', '+4h after Aware', '', '+1 month after aware'])(
    'rejects %j',
    (text) => {
      const r = parseDeadline(text);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error).toMatch(/cannot parse/);
    },
  );

  it('clamps calendar months to the month end', () => {
    expect(new Date(addCalendarMonths(Date.parse('2026-01-29T00:00:00Z'), 1)).toISOString()).toBe('2026-02-28T00:00:00.000Z');
    expect(new Date(addCalendarMonths(Date.parse('2026-08-31T23:59:00Z'), 1)).toISOString()).toBe('2026-09-30T23:59:00.000Z');
    expect(new Date(addCalendarMonths(Date.parse('2026-10-31T08:00:00Z'), 4)).toISOString()).toBe('2027-02-28T08:00:00.000Z');
  });
});
