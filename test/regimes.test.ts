import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { registerRegulatorCommands, type WhatIfResult } from '../cli/commands/regulators.js';
import { CliError } from '../cli/errors.js';
import { classifyIncident, inForce, type RegimeVerdict } from '../domain/regimes/classify.js';
import { parseFacts, parseProfile, type IncidentFacts, type OrganisationProfile } from '../domain/regimes/facts.js';
import { checkRegimeSet, formatRegimeError, parseRegimeFile } from '../domain/regimes/load.js';
import { confidenceFlags, type Regime } from '../domain/regimes/schema.js';

const regimeDir = fileURLToPath(new URL('../regimes/', import.meta.url));
const fixtureDir = fileURLToPath(new URL('./fixtures/regimes/', import.meta.url));
const shipped = readdirSync(regimeDir).filter((f) => f.endsWith('.yaml'));

function loadShipped(): { file: string; regime: Regime }[] {
  return shipped.map((f) => {
    const r = parseRegimeFile(readFileSync(join(regimeDir, f), 'utf8'), `regimes/${f}`);
    if (!r.ok) throw new Error(r.errors.map(formatRegimeError).join('\n'));
    return { file: `regimes/${f}`, regime: r.regime };
  });
}

describe('shipped rule files', () => {
  it.each(shipped)('%s parses', (f) => {
    const r = parseRegimeFile(readFileSync(join(regimeDir, f), 'utf8'), `regimes/${f}`);
    expect(r.ok ? [] : r.errors.map(formatRegimeError)).toEqual([]);
  });

  it('ship every regime the reference lists, UK in two versions', () => {
    const ids = loadShipped().map((x) => `${x.regime.id}@${x.regime.version}`).sort();
    expect(ids).toEqual([
      'dora@1', 'ftc-safeguards@1', 'gdpr@1', 'nis2@1', 'nydfs-500-17@1', 'pci-card-brands@1', 'sec-8k-105@1',
      'uk-fca-pra@1', 'uk-fca-pra@2', 'us-bank-service-provider@1', 'us-banking-36h@1',
    ]);
  });

  it('are consistent as a set (no overlapping versions, known lex specialis)', () => {
    expect(checkRegimeSet(loadShipped()).map(formatRegimeError)).toEqual([]);
  });

  it('flag the facts the reference says to verify', () => {
    const byId = (id: string, version = 1) => loadShipped().find((x) => x.regime.id === id && x.regime.version === version)!.regime;
    expect(byId('pci-card-brands').confidence).toBe('needs-legal-review');
    expect(byId('pci-card-brands').stages.map((s) => s.confidence)).toEqual(['needs-legal-review', 'needs-legal-review']);
    expect(byId('uk-fca-pra', 2).confidence).toBe('needs-legal-review');
    expect(byId('uk-fca-pra', 2).effective_from).toBe('2027-03-18');
    expect(byId('uk-fca-pra', 1).effective_to).toBe('2027-03-18');
    expect(byId('dora').relief?.confidence).toBe('needs-legal-review');
    expect(confidenceFlags(byId('dora'))).toEqual([expect.stringMatching(/^dora relief: needs-legal-review/)]);
    expect(confidenceFlags(byId('gdpr'))).toEqual([]);
  });
});

describe('invalid rule files are rejected with file:line field messages', () => {
  const table: [string, string][] = [
    ['bad-deadline.yaml', 'bad-deadline.yaml:24 stages[1].deadline: cannot parse "+4x after aware"'],
    ['bad-channel.yaml', 'bad-channel.yaml:29 recipients[0].channel: Invalid option: expected one of "email"|"webhook"'],
    ['effective-backwards.yaml', 'effective-backwards.yaml:6 effective_to: must be after effective_from (2025-01-01)'],
    ['stage-cycle.yaml', 'stage-cycle.yaml:20 stages[0].deadline: stage "initial" depends on itself through other stages'],
    ['threshold-without-value.yaml', 'threshold-without-value.yaml:15 classification.criteria[0].when.value: op "gt" needs a numeric value'],
    ['undefined-calendar.yaml', 'undefined-calendar.yaml:20 stages[0].deadline: business-day calendar "XX-NONE" is not defined under calendars'],
    ['unknown-anchor-stage.yaml', 'unknown-anchor-stage.yaml:24 stages[1].deadline: anchor "stage:interim.submitted" names no stage of this regime'],
    ['unknown-criterion.yaml', 'unknown-criterion.yaml:16 classification.reportable_when.criterion: unknown criterion "breech"'],
    ['unknown-fact.yaml', 'unknown-fact.yaml:15 classification.criteria[0].when.fact: unknown fact "personalDataBrech"'],
    ['missing-approvers.yaml', 'missing-approvers.yaml:1 approvers: '],
    ['bad-yaml.yaml', 'bad-yaml.yaml:20 invalid YAML: '],
  ];
  it.each(table)('%s', (file, expected) => {
    const text = readFileSync(join(fixtureDir, file), 'utf8');
    const r = parseRegimeFile(text, file);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const messages = r.errors.map(formatRegimeError);
    expect(messages.some((m) => m.startsWith(expected)), messages.join('\n')).toBe(true);
    // The line named must be the one holding the offending key (checked on the text itself).
    const err = r.errors.find((e) => formatRegimeError(e).startsWith(expected))!;
    // A missing key is reported on its parent's line, so either of the last two names will do.
    const names = err.field.split(/[.[\]]/).filter((s) => s && !/^\d+$/.test(s)).slice(-2);
    if (names.length && err.line > 1) {
      const line = text.split('\n')[err.line - 1]!;
      expect(names.some((n) => line.includes(`${n}:`)), `line ${err.line} "${line}" should hold ${names.join(' or ')}`).toBe(true);
    }
  });

  it('the valid base of those fixtures parses (each fixture differs in one place)', () => {
    const r = parseRegimeFile(readFileSync(join(fixtureDir, 'valid-base.yaml'), 'utf8'), 'valid-base.yaml');
    expect(r.ok).toBe(true);
  });

  it('refuses two versions of one regime in force at once', () => {
    const base = readFileSync(join(fixtureDir, 'valid-base.yaml'), 'utf8');
    const v1 = parseRegimeFile(base, 'a.yaml');
    const v2 = parseRegimeFile(base.replace('version: 1', 'version: 2').replace('"2025-01-01"', '"2026-01-01"'), 'b.yaml');
    if (!v1.ok || !v2.ok) throw new Error('fixture did not parse');
    expect(checkRegimeSet([{ file: 'a.yaml', regime: v1.regime }, { file: 'b.yaml', regime: v2.regime }]).map(formatRegimeError)).toEqual([
      'b.yaml:1 effective_from: fixture v2 from 2026-01-01 overlaps v1 (a.yaml, until open)',
    ]);
    const closed = parseRegimeFile(base.replace('effective_from: "2025-01-01"', 'effective_from: "2025-01-01"\neffective_to: "2026-01-01"'), 'a.yaml');
    if (!closed.ok) throw new Error('fixture did not parse');
    expect(checkRegimeSet([{ file: 'a.yaml', regime: closed.regime }, { file: 'b.yaml', regime: v2.regime }])).toEqual([]);
  });
});

describe('classification', () => {
  const regimes = loadShipped().map((x) => x.regime);
  const profile = (p: Partial<OrganisationProfile> & { entityType: string }): OrganisationProfile => ({ jurisdictions: ['EU'], flags: [], ...p });
  const PI_DE = profile({ entityType: 'payment-institution', memberState: 'DE' });
  const AT = '2026-03-10T12:00:00Z';
  const verdict = (facts: IncidentFacts, p: OrganisationProfile, id: string, at = AT): RegimeVerdict => classifyIncident(regimes, facts, p, at).find((v) => v.regime === id)!;
  const criterion = (v: RegimeVerdict, id: string) => v.criteria.find((c) => c.id === id)!;

  // Every DORA threshold known and not met, so a single change decides.
  const quiet: IncidentFacts = {
    criticalService: true,
    maliciousAccess: false,
    clientsAffected: 100,
    clientsTotal: 10_000,
    financialCounterpartsPct: 0,
    transactionsValuePct: 0,
    reputationalImpact: false,
    durationHours: 1,
    downtimeHours: 0.5,
    memberStates: ['DE'],
    dataImpact: { availability: false, authenticity: false, integrity: false, confidentiality: false },
    economicImpactEur: 1_000,
  };

  const dora: [string, IncidentFacts, boolean | 'unknown'][] = [
    ['nothing over a threshold: not major', quiet, false],
    ['malicious access alone: major', { ...quiet, maliciousAccess: true }, true],
    ['exactly 10 % of clients and exactly EUR 100,000 are not "strictly greater than"', { ...quiet, clientsAffected: 1_000, economicImpactEur: 100_000 }, false],
    ['10.01 % of clients and EUR 100,001: two thresholds, major', { ...quiet, clientsAffected: 1_001, economicImpactEur: 100_001 }, true],
    ['one threshold only (> 100,000 clients): not major', { ...quiet, clientsAffected: 150_000, clientsTotal: 10_000_000 }, false],
    ['critical-service downtime > 2 h and two Member States: major', { ...quiet, downtimeHours: 2.5, memberStates: ['DE', 'FR'] }, true],
    ['downtime exactly 2 h and two Member States: not major', { ...quiet, downtimeHours: 2, memberStates: ['DE', 'FR'] }, false],
    ['the same Member State twice is one Member State', { ...quiet, downtimeHours: 2.5, memberStates: ['DE', 'DE'] }, false],
    ['integrity loss and reputational impact: major', { ...quiet, dataImpact: { integrity: true }, reputationalImpact: true }, true],
    ['counterparts 31 % and transactions 11 %: major', { ...quiet, financialCounterpartsPct: 31, transactionsValuePct: 11 }, true],
    ['duration 25 h and economic impact: major', { ...quiet, durationHours: 25, economicImpactEur: 250_000 }, true],
    ['precondition not met: malicious access on a non-critical service is not major', { ...quiet, criticalService: false, maliciousAccess: true }, false],
    ['precondition not met with every threshold exceeded: not major', { ...quiet, criticalService: false, clientsAffected: 9_000, economicImpactEur: 1e6, reputationalImpact: true }, false],
    ['one threshold met, the rest unknown: undetermined', { criticalService: true, clientsAffected: 5_000, clientsTotal: 10_000 }, 'unknown'],
    ['precondition unknown but malicious access: undetermined', { maliciousAccess: true }, 'unknown'],
    ['no facts at all: undetermined', {}, 'unknown'],
  ];
  it.each(dora)('DORA: %s', (_name, facts, expected) => {
    const v = verdict(facts, PI_DE, 'dora');
    expect(v.applicable).toBe(true);
    expect(v.reportable).toBe(expected);
  });

  it('DORA explains each criterion with value and threshold', () => {
    const v = verdict({ ...quiet, clientsAffected: 1_000, economicImpactEur: 100_001 }, PI_DE, 'dora');
    expect(criterion(v, 'clients').status).toBe('not-met');
    expect(criterion(v, 'clients').reasons).toContain('clientsAffectedPct 10 is not > (strictly greater than) 10');
    expect(criterion(v, 'economic')).toMatchObject({ status: 'met', reasons: ['economicImpactEur 100001 is > (strictly greater than) 100000'] });
    expect(criterion(v, 'critical-service').status).toBe('met');
    expect(v.decision).toMatch(/^all of \[critical-service: met, any of \[malicious-access: not-met, at least 2 of \[.*economic: met\]: not-met\]: not-met\]: not-met$/);
  });

  it('DORA does not apply outside the EU or to other entity types', () => {
    expect(verdict({ maliciousAccess: true, criticalService: true }, profile({ entityType: 'non-bank-financial-institution' }), 'dora')).toMatchObject({ applicable: false, reportable: false });
    const us = verdict({ maliciousAccess: true, criticalService: true }, profile({ entityType: 'payment-institution', jurisdictions: ['US'], timeZone: 'America/New_York' }), 'dora');
    expect(us.applicable).toBe(false);
    expect(us.applicability.at(-1)).toMatch(/^jurisdiction: organisation in US, regime covers EU/);
  });

  it('DORA is not in force before 17 Jan 2025', () => {
    const v = verdict({ ...quiet, maliciousAccess: true }, PI_DE, 'dora', '2025-01-16T23:00:00Z');
    expect(v).toMatchObject({ applicable: false, reportable: false });
    expect(verdict({ ...quiet, maliciousAccess: true }, PI_DE, 'dora', '2025-01-17T00:00:00Z').reportable).toBe(true);
  });

  it('GDPR: a breach is reportable; Art. 34 only with high risk', () => {
    const low = verdict({ personalDataBreach: true, highRiskToDataSubjects: false }, PI_DE, 'gdpr');
    expect(low.reportable).toBe(true);
    expect(low.stages).toEqual([
      { stage: 'supervisory-authority', required: 'met' },
      { stage: 'data-subjects', required: 'not-met', reason: 'highRiskToDataSubjects is false' },
    ]);
    expect(verdict({ personalDataBreach: true, highRiskToDataSubjects: true }, PI_DE, 'gdpr').stages[1]!.required).toBe('met');
    expect(verdict({ personalDataBreach: false }, PI_DE, 'gdpr').reportable).toBe(false);
  });

  it('NIS2 gives way to DORA for financial entities (lex specialis) but applies to others', () => {
    const fin = verdict({ significantIncident: true }, { ...PI_DE, flags: ['nis2-essential'] }, 'nis2');
    expect(fin.applicable).toBe(false);
    expect(fin.applicability.at(-1)).toBe('superseded: dora applies instead (lex specialis)');
    const cloud = verdict({ significantIncident: true }, profile({ entityType: 'cloud-provider', memberState: 'IE', flags: ['nis2-important'] }), 'nis2');
    expect(cloud).toMatchObject({ applicable: true, reportable: true });
    expect(verdict({ significantIncident: true }, profile({ entityType: 'cloud-provider', memberState: 'IE' }), 'nis2').applicable).toBe(false);
  });

  const NY = profile({ entityType: 'banking-organization', jurisdictions: ['US', 'US-NY'], timeZone: 'America/New_York' });
  it('NYDFS: a ransom payment alone is reportable and owes the 24 h and 30-day notices only', () => {
    const v = verdict({ ransomPaid: true, cybersecurityIncident: false }, NY, 'nydfs-500-17');
    expect(v.reportable).toBe(true);
    expect(v.stages.map((s) => [s.stage, s.required])).toEqual([
      ['incident-notice', 'not-met'],
      ['ransom-notice', 'met'],
      ['ransom-explanation', 'met'],
    ]);
    expect(verdict({ ransomPaid: false, cybersecurityIncident: false }, NY, 'nydfs-500-17').reportable).toBe(false);
    expect(verdict({ ransomPaid: true }, { ...NY, jurisdictions: ['US'] }, 'nydfs-500-17').applicable).toBe(false);
  });

  const NBFI = profile({ entityType: 'non-bank-financial-institution', jurisdictions: ['US'], timeZone: 'America/Chicago' });
  it.each([
    [499, false],
    [500, true],
    [12_000, true],
  ] as const)('FTC Safeguards: %i consumers → reportable %s (at least 500)', (consumersAffected, expected) => {
    expect(verdict({ personalDataBreach: true, consumersAffected }, NBFI, 'ftc-safeguards').reportable).toBe(expected);
  });

  it('SEC 8-K applies only to registrants', () => {
    expect(verdict({ materialityDetermined: true }, NY, 'sec-8k-105').applicable).toBe(false);
    expect(verdict({ materialityDetermined: true }, { ...NY, flags: ['sec-registrant'] }, 'sec-8k-105')).toMatchObject({ applicable: true, reportable: true });
  });

  it.each([
    [3.9, false],
    [4, true],
  ] as const)('bank service provider: %s h of disruption → reportable %s', (serviceDisruptionHours, expected) => {
    const bsp = profile({ entityType: 'bank-service-provider', jurisdictions: ['US'], timeZone: 'America/New_York' });
    expect(verdict({ serviceDisruptionHours }, bsp, 'us-bank-service-provider').reportable).toBe(expected);
    expect(verdict({ serviceDisruptionHours }, bsp, 'us-banking-36h').applicable).toBe(false);
  });

  it('PCI: only the brands the organisation accepts are owed', () => {
    const merchant = { ...NY, flags: ['pci-dss', 'card-brand:visa'] };
    const v = verdict({ cardholderDataCompromised: true }, merchant, 'pci-card-brands');
    expect(v.reportable).toBe(true);
    expect(v.stages.map((s) => [s.stage, s.required])).toEqual([
      ['visa', 'met'],
      ['mastercard', 'not-met'],
    ]);
    expect(v.confidence.length).toBeGreaterThan(0);
  });

  it('UK: the version in force changes on 18 Mar 2027', () => {
    const uk = regimes.filter((r) => r.id === 'uk-fca-pra');
    expect(inForce(uk, 'uk-fca-pra', Date.parse('2027-03-17T23:59:59Z'))?.version).toBe(1);
    expect(inForce(uk, 'uk-fca-pra', Date.parse('2027-03-18T00:00:00Z'))?.version).toBe(2);
    const p = profile({ entityType: 'investment-firm', jurisdictions: ['UK'], timeZone: 'Europe/London' });
    expect(verdict({ thresholdMet: true }, p, 'uk-fca-pra', '2027-03-18T09:00:00Z')).toMatchObject({ version: 2, reportable: true });
    expect(verdict({ thresholdMet: true }, p, 'uk-fca-pra', '2026-03-18T09:00:00Z')).toMatchObject({ version: 1, reportable: true });
  });
});

describe('facts and profile validation', () => {
  it('names the field and what was expected', () => {
    const r = parseFacts({ clientsAffected: -1, clientsAffectd: 3, memberStates: ['Germany'] });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const fields = r.errors.map((e) => e.field).sort();
    expect(fields).toEqual(['(root)', 'clientsAffected', 'memberStates.0']);
    expect(r.errors.find((e) => e.field === '(root)')!.message).toMatch(/clientsAffectd/);
  });

  it('accepts a well-formed profile and derives nothing it was not told', () => {
    const r = parseProfile({ entityType: 'payment-institution', jurisdictions: ['EU'], memberState: 'DE' });
    expect(r).toEqual({ ok: true, value: { entityType: 'payment-institution', jurisdictions: ['EU'], memberState: 'DE', flags: [] } });
  });

  it('needs a time zone when the member state does not give one', () => {
    const r = parseProfile({ entityType: 'banking-organization', jurisdictions: ['US'] });
    expect(r.ok ? [] : r.errors.map((e) => e.field)).toEqual(['timeZone']);
    expect(parseProfile({ entityType: 'banking-organization', jurisdictions: ['US'], timeZone: 'Mars/Olympus' }).ok).toBe(false);
  });
});

describe('bulwark regulators (CLI)', () => {
  afterEach(() => vi.restoreAllMocks());
  const scratch = mkdtempSync(join(tmpdir(), 'bulwark-regimes-'));
  const file = (name: string, value: unknown) => {
    const path = join(scratch, name);
    writeFileSync(path, JSON.stringify(value));
    return path;
  };
  async function run(...args: string[]): Promise<string> {
    const out: string[] = [];
    vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.map(String).join(' ')));
    const program = new Command('bulwark').exitOverride();
    registerRegulatorCommands(program);
    for (const c of program.commands.flatMap((x) => [x, ...x.commands])) c.exitOverride();
    await program.parseAsync(args, { from: 'user' });
    return out.join('\n');
  }
  const facts = file('facts.json', { criticalService: true, maliciousAccess: true, personalDataBreach: false });
  const profile = file('profile.json', { entityType: 'payment-institution', jurisdictions: ['EU'], memberState: 'DE' });

  it('classify --json: DORA reportable with the chained deadlines projected', async () => {
    const r = JSON.parse(await run('regulators', 'classify', facts, '--profile', profile, '--at', '2026-03-10T09:30:00Z', '--json')) as WhatIfResult;
    const dora = r.verdicts.find((v) => v.regime === 'dora')!;
    expect(dora.reportable).toBe(true);
    // Tue 09:30Z + 4 h; then +72 h (Fri); then +1 month (Mon 13 Apr, after Easter Monday 6 Apr).
    expect(dora.timeline.map((s) => [s.stage, s.dueAt, s.state, s.projected])).toEqual([
      ['initial', '2026-03-10T13:30:00.000Z', 'pending', false],
      ['intermediate', '2026-03-13T13:30:00.000Z', 'pending', true],
      ['final', '2026-04-13T13:30:00.000Z', 'pending', true],
    ]);
    expect(dora.timeline[0]!.dueLocal).toBe('2026-03-10 14:30 GMT+1');
    expect(r.verdicts.find((v) => v.regime === 'gdpr')!.reportable).toBe(false);
    expect(r.verdicts.find((v) => v.regime === 'sec-8k-105')!.applicable).toBe(false);
  });

  it('classify prints a table naming the regime, verdict and deadline', async () => {
    const text = await run('regulators', 'classify', facts, '--profile', profile, '--at', '2026-03-10T09:30:00Z');
    expect(text).toMatch(/dora v1\s+│ REPORTABLE/);
    expect(text).toContain('2026-03-10T13:30:00.000Z');
    expect(text).toContain('needs legal review:');
  });

  it('classify refuses bad input with a usage error naming the field', async () => {
    const bad = file('bad.json', { clientsAffected: 'many' });
    await expect(run('regulators', 'classify', bad, '--profile', profile)).rejects.toMatchObject({ exitCode: 2, message: expect.stringContaining('clientsAffected') });
    await expect(run('regulators', 'classify', facts)).rejects.toMatchObject({ exitCode: 2, message: expect.stringContaining('--profile') });
  });

  it('rules --json lists every loaded regime with its flags', async () => {
    const rows = JSON.parse(await run('regulators', 'rules', '--json')) as { id: string; version: number; flags: string[] }[];
    expect(rows).toHaveLength(11);
    expect(rows.find((r) => r.id === 'uk-fca-pra' && r.version === 2)!.flags[0]).toMatch(/needs-legal-review/);
  });

  it('validate passes the shipped files and fails the fixtures with file:line messages', async () => {
    expect(await run('regulators', 'validate')).toMatch(/^11 rule file\(s\) OK/);
    const err = await run('regulators', 'validate', fixtureDir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).exitCode).toBe(1);
    expect((err as CliError).message).toMatch(/bad-deadline\.yaml:24 stages\[1\]\.deadline: cannot parse "\+4x after aware"/);
  });
});
