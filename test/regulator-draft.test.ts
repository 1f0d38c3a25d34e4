import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { draftReport } from '../domain/regimes/draft.js';
import { parseRegimeFile } from '../domain/regimes/load.js';
import { displayState, reminderInstants, submissionRefusal, type NotificationStage, type NotificationState } from '../domain/regimes/notification.js';
import { approversFor, contactFor, describeChannel, parseRegulatorProfile } from '../domain/regimes/profile.js';
import type { Regime } from '../domain/regimes/schema.js';

const load = (path: string): Regime => {
  const r = parseRegimeFile(readFileSync(fileURLToPath(new URL(path, import.meta.url)), 'utf8'), path);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.regime;
};
const dora = load('../regimes/dora.yaml');
const testNotice = load('./fixtures/regimes-notification/test-notice.yaml');
const testHook = load('./fixtures/regimes-notification/test-hook.yaml');

const profileInput = {
  name: 'Example Payments GmbH',
  entityType: 'payment-institution',
  jurisdictions: ['EU'],
  memberState: 'DE',
  lei: '529900T8BM49AURSDO55',
  reportingContact: { name: 'Carol Compliance', email: 'carol@example.com' },
  contacts: { dora: { nca: { channel: 'email', to: ['incidents@bafin.example'], from: 'reports@example.com' } }, 'test-hook': { '*': { channel: 'webhook', url: 'https://portal.example/api/reports?token=s3cret' } } },
  approvers: { 'compliance-officer': ['carol'], ciso: ['dave', 'carol'] },
};
const profile = (() => {
  const p = parseRegulatorProfile(profileInput);
  if (!p.ok) throw new Error(JSON.stringify(p.errors));
  return p.value;
})();

describe('report drafts', () => {
  const base = {
    incidentId: 'incident/abc',
    facts: { criticalService: true, maliciousAccess: true, clientsAffected: 1200, clientsTotal: 10000, memberStates: ['DE', 'AT'] },
    events: { aware: '2026-03-10T08:00:00.000Z', classified: '2026-03-10T09:00:00.000Z' },
    profile,
    summary: 'Leaked TPP credentials used against the payments API',
  };

  it.each([
    // [regime, stage, field, expected value or undefined when it must be listed missing]
    [dora, 'initial', 'incident_reference', 'incident/abc'],
    [dora, 'initial', 'detected_at', '2026-03-10T08:00:00.000Z'],
    [dora, 'initial', 'classified_at', '2026-03-10T09:00:00.000Z'],
    [dora, 'initial', 'entity_lei', '529900T8BM49AURSDO55'],
    [dora, 'initial', 'description', 'Leaked TPP credentials used against the payments API'],
    [dora, 'initial', 'member_states_affected', 'DE, AT'],
    [dora, 'initial', 'contact_person', 'Carol Compliance, carol@example.com'],
    [dora, 'initial', 'affected_services', undefined],
    [dora, 'intermediate', 'clients_affected', '1200 of 10000'],
    [dora, 'intermediate', 'root_cause_status', undefined],
    [dora, 'final', 'economic_impact_eur', undefined],
    [testHook, 'notice', 'suspected_unlawful_or_malicious', 'yes'],
  ] as const)('%#: %s/%s field %s', (regime, stage, field, expected) => {
    const d = draftReport(regime, stage, base);
    expect(d.fields.map((f) => f.name)).toEqual(regime.stages.find((s) => s.id === stage)!.fields);
    expect(d.fields.find((f) => f.name === field)?.value).toBe(expected);
    if (expected === undefined) {
      expect(d.missing).toContain(field);
      expect(d.markdown).toContain(`| ${field} | **MISSING** |`);
    } else expect(d.missing).not.toContain(field);
  });

  it('operator-supplied values win over derived ones and fill missing fields; the reason for delay is carried', () => {
    const d = draftReport(testNotice, 'update', { ...base, fields: { root_cause: 'token leaked in CI logs', incident_reference: 'REF-1' }, reason: 'forensics pending' });
    expect(d.fields).toEqual([
      { name: 'incident_reference', value: 'REF-1', source: 'operator' },
      { name: 'root_cause', value: 'token leaked in CI logs', source: 'operator' },
      { name: 'reason_for_delay', value: 'forensics pending', source: 'operator' },
    ]);
    expect(d.missing).toEqual([]);
  });

  it('keeps needs-legal-review flags: the regime-wide relief flag for DORA, the stage flag for the stage', () => {
    expect(draftReport(dora, 'initial', base).flags).toEqual([expect.stringMatching(/^dora relief: needs-legal-review/)]);
    const hook = draftReport(testHook, 'notice', base);
    expect(hook.flags).toEqual(['test-hook stage notice: needs-legal-review (test flag)']);
    expect(hook.markdown).toContain('**needs-legal-review:**');
  });

  it('an unknown stage is an error naming the stages', () => {
    expect(() => draftReport(dora, 'nope', base)).toThrow('stage "nope" is not a stage of dora (stages: initial, intermediate, final)');
  });

  it('report text cannot break the Markdown table', () => {
    fc.assert(
      fc.property(fc.string(), (summary) => {
        const d = draftReport(dora, 'initial', { ...base, summary: summary || 'x' });
        const row = d.markdown.split('\n').find((l) => l.startsWith('| description |'))!;
        expect(row.replace(/\\\|/g, '').split('|').length).toBe(5);
      }),
    );
  });
});

describe('regulator profile', () => {
  it.each([
    [{ ...profileInput, contacts: { dora: { nca: { channel: 'webhook', url: 'http://portal.example/hook' } } } }, 'contacts.dora.nca.url', 'expected an https:// URL (http:// only to localhost)'],
    [{ ...profileInput, contacts: { dora: { nca: { channel: 'email', to: ['not-an-address'], from: 'reports@example.com' } } } }, 'contacts.dora.nca.to.0', 'expected an e-mail address'],
    [{ ...profileInput, contacts: { dora: { nca: { channel: 'fax', to: '+49' } } } }, 'contacts.dora.nca.channel', ''],
    [{ ...profileInput, approvers: { 'compliance-officer': [] } }, 'approvers.compliance-officer', 'name at least one person for this role'],
    [{ ...profileInput, lei: 'short' }, 'lei', 'expected a 20-character LEI'],
    [{ ...profileInput, entityType: 'Payment Institution' }, 'entityType', 'expected a kebab-case entity type'],
    [{ ...profileInput, extra: true }, '(root)', ''],
  ])('%# rejects with the field named', (input, field, message) => {
    const r = parseRegulatorProfile(input);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors.map((e) => e.field)).toContain(field);
    expect(r.errors.find((e) => e.field === field)!.message).toContain(message);
  });

  it('the shipped example profile is valid and covers the roles of DORA and GDPR', () => {
    const r = parseRegulatorProfile(JSON.parse(readFileSync(fileURLToPath(new URL('../regimes/profile.example.json', import.meta.url)), 'utf8')));
    expect(r.ok ? [] : r.errors).toEqual([]);
    if (!r.ok) return;
    expect(approversFor(r.value, dora)).toEqual(['carol', 'erik']);
    expect(contactFor(r.value, dora, dora.stages[2]!).ok).toBe(true);
  });

  it('a plain organisation profile is a regulator profile (what-if files keep working)', () => {
    const r = parseRegulatorProfile({ entityType: 'payment-institution', jurisdictions: ['EU'], memberState: 'DE' });
    expect(r.ok && r.value.contacts).toEqual({});
  });

  it('resolves approvers from roles, contacts by recipient (or *), and never shows a URL query', () => {
    expect(approversFor(profile, dora)).toEqual(['carol', 'dave']);
    expect(approversFor(profile, { approvers: ['dpo'] })).toEqual([]);
    const c = contactFor(profile, dora, dora.stages[0]!);
    expect(c.ok && describeChannel(c.channel)).toBe('e-mail to incidents@bafin.example');
    const h = contactFor(profile, testHook, testHook.stages[0]!);
    expect(h.ok && describeChannel(h.channel)).toBe('webhook https://portal.example/api/reports');
    expect(contactFor(profile, testNotice, testNotice.stages[0]!)).toEqual({ ok: false, error: expect.stringContaining('no contact for test-notice/authority') });
  });
});

describe('notification decisions', () => {
  const t0 = Date.parse('2026-03-10T09:00:00Z');
  const H = 3_600_000;
  const stage = (over: Partial<NotificationStage> = {}): NotificationStage => ({
    id: 'initial',
    title: 'Initial',
    required: 'met',
    remindersSent: [],
    needsLegalReview: false,
    timeline: { stage: 'initial', title: 'Initial', deadline: '+4h after classified', state: 'pending', dueAt: new Date(t0 + 4 * H).toISOString(), anchor: 'classified', anchorAt: new Date(t0).toISOString(), waitingFor: [], provisional: false, immediate: false, reasonForDelayRequired: false, confidence: 'confirmed' },
    ...over,
  });
  const state = (stages: NotificationStage[], over: Partial<NotificationState> = {}): NotificationState => ({
    incidentId: 'incident/abc', regime: 'dora', status: 'reportable', why: [], facts: {}, fields: {}, events: {}, approvers: ['carol'], timeZone: 'UTC', confidence: [], timeScale: 1, clock: { realStartMs: t0, virtualStartMs: t0 }, stages, classifications: [], log: [], openedBy: 'operator:alice', ...over,
  });
  const notStarted = stage({ id: 'update', timeline: { ...stage().timeline, stage: 'update', dueAt: undefined, anchorAt: undefined, waitingFor: ['stage:initial.submitted'] } });
  const submitted = stage({ submission: { id: 'ses:1', key: 'k', at: new Date(t0 + H).toISOString(), channel: 'x', approvedBy: 'carol', late: false } });

  it.each([
    ['a holder of the role, in time', state([stage()]), { stage: 'initial', by: 'carol' }, t0 + H, undefined],
    ['someone without the role', state([stage()]), { stage: 'initial', by: 'mallory' }, t0 + H, 'mallory is not an approver under policy regulators:dora'],
    ['the incident opener (four-eyes)', state([stage()], { approvers: ['alice'] }), { stage: 'initial', by: 'alice' }, t0 + H, 'alice opened this incident and cannot also approve its steps (four-eyes)'],
    ['late without a reason', state([stage()]), { stage: 'initial', by: 'carol' }, t0 + 5 * H, 'a late submission needs a reason for delay'],
    ['late with a blank reason', state([stage()]), { stage: 'initial', by: 'carol', reason: '  ' }, t0 + 5 * H, 'a late submission needs a reason for delay'],
    ['late with a reason', state([stage()]), { stage: 'initial', by: 'carol', reason: 'forensics' }, t0 + 5 * H, undefined],
    ['a stage whose anchor is missing', state([submitted, notStarted]), { stage: 'update', by: 'carol' }, t0 + H, 'stage update has not started: waiting for stage:initial.submitted'],
    ['an already submitted stage', state([submitted]), { stage: 'initial', by: 'carol' }, t0 + H, 'stage initial was already submitted'],
    ['an unknown stage', state([stage()]), { stage: 'final', by: 'carol' }, t0, 'stage "final" is not a stage of dora (stages: initial)'],
    ['a stage not owed', state([stage({ required: 'not-met' })]), { stage: 'initial', by: 'carol' }, t0, 'stage initial is not owed for this incident'],
    ['no approvers configured', state([stage()], { approvers: [] }), { stage: 'initial', by: 'carol' }, t0, 'no compliance approvers are configured for dora'],
    ['a regime that is not reportable', state([stage()], { status: 'not-reportable' }), { stage: 'initial', by: 'carol' }, t0, 'dora is not-reportable: nothing to submit'],
    ['no approver name', state([stage()]), { stage: 'initial', by: '' }, t0, "by: expected the approver's name"],
  ])('%s', (_name, s, req, now, expected) => {
    const r = submissionRefusal(s, req, now);
    if (expected === undefined) expect(r).toBeUndefined();
    else expect(r).toContain(expected);
  });

  it.each([
    [stage(), t0 + H, 'pending'],
    [stage(), t0 + 3.5 * H, 'due-soon'],
    [stage(), t0 + 4 * H + 1, 'overdue'],
    [notStarted, t0 + 100 * H, 'not-started'],
    [submitted, t0 + 100 * H, 'submitted'],
    [stage({ submission: { ...submitted.submission!, late: true, reason: 'r' } }), t0, 'late'],
    [stage({ required: 'not-met' }), t0, 'not-required'],
  ] as const)('%# display state %s', (s, now, expected) => {
    expect(displayState(s, now)).toBe(expected);
  });

  it('reminders fall at 50/80/95 % of every window, in order, inside it', () => {
    expect(reminderInstants(t0, t0 + 4 * H).map((r) => (r.atMs - t0) / H)).toEqual([2, 3.2, 3.8]);
    expect(reminderInstants(t0, t0)).toEqual([]);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2e12 }), fc.integer({ min: 1, max: 1e10 }), (a, w) => {
        const r = reminderInstants(a, a + w).map((x) => x.atMs);
        expect([...r].sort((x, y) => x - y)).toEqual(r);
        for (const x of r) expect(x >= a && x <= a + w).toBe(true);
      }),
    );
  });
});


