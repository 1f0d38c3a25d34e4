import type { CriterionResult } from './classify.js';
import type { IncidentFacts } from './facts.js';
import type { RegulatorProfile } from './profile.js';
import { confidenceFlags, type Regime } from './schema.js';

/**
 * A report draft for one regime and stage: every field the rule file requires, pre-filled from
 * what bulwark knows (facts, incident events, classification, profile, operator-supplied values),
 * with the ones still missing listed. Pure: the workflow's activity and the CLI both call it.
 */
export interface DraftInput {
  incidentId: string;
  facts: IncidentFacts;
  /** Operator-supplied values by field name; they win over derived ones. */
  fields?: Record<string, string>;
  events: Record<string, string | undefined>;
  criteria?: CriterionResult[];
  profile?: Pick<RegulatorProfile, 'name' | 'lei' | 'reportingContact'>;
  summary?: string;
  severity?: string;
  /** Reason for delay of a late submission. */
  reason?: string;
  classifications?: { at: string; reportable: boolean | 'unknown' }[];
}

export interface DraftField {
  name: string;
  value?: string;
  source?: 'operator' | 'facts' | 'events' | 'classification' | 'profile' | 'incident';
}

export interface ReportDraft {
  regime: string;
  version: number;
  regimeTitle: string;
  stage: string;
  stageTitle: string;
  incidentId: string;
  recipient?: string;
  deadline: string;
  fields: DraftField[];
  missing: string[];
  flags: string[];
  markdown: string;
}

type Derive = (i: DraftInput) => { value: string; source: NonNullable<DraftField['source']> } | undefined;

const fromEvent = (...names: string[]): Derive => (i) => {
  const at = names.map((n) => i.events[n]).find(Boolean);
  return at ? { value: at, source: 'events' } : undefined;
};
const fromFact = (f: (x: IncidentFacts) => string | undefined): Derive => (i) => {
  const v = f(i.facts);
  return v === undefined ? undefined : { value: v, source: 'facts' };
};
const yesNo = (b: boolean | undefined) => (b === undefined ? undefined : b ? 'yes' : 'no');
const contact: Derive = (i) => {
  const c = i.profile?.reportingContact;
  if (!c) return undefined;
  return { value: [c.name, c.email, c.phone].filter(Boolean).join(', '), source: 'profile' };
};
const summary: Derive = (i) => (i.summary ? { value: i.summary, source: 'incident' } : undefined);

/** How each known report field is derived. Fields not listed here come only from operators. */
const DERIVED: Record<string, Derive> = {
  incident_reference: (i) => ({ value: i.incidentId, source: 'incident' }),
  detected_at: fromEvent('aware'),
  discovery_date: fromEvent('aware'),
  date_or_range_of_event: fromEvent('aware'),
  classified_at: fromEvent('classified'),
  determined_at: fromEvent('determined-material', 'classified'),
  date_determined: fromEvent('determined-material', 'classified'),
  threshold_met_at: fromEvent('threshold-met'),
  payment_date: fromEvent('payment-made'),
  classification_criteria_met: (i) => {
    const met = i.criteria?.filter((c) => c.status === 'met');
    return met?.length ? { value: met.map((c) => `${c.id} (${c.reasons.join('; ')})`).join('; '), source: 'classification' } : undefined;
  },
  reclassification: (i) =>
    i.classifications && i.classifications.length > 1
      ? { value: i.classifications.map((c) => `${c.at}: ${c.reportable === 'unknown' ? 'undetermined' : c.reportable ? 'reportable' : 'not reportable'}`).join('; '), source: 'classification' }
      : undefined,
  clients_affected: fromFact((f) => (f.clientsAffected === undefined ? undefined : `${f.clientsAffected}${f.clientsTotal ? ` of ${f.clientsTotal}` : ''}`)),
  number_of_consumers: fromFact((f) => (f.consumersAffected === undefined ? undefined : String(f.consumersAffected))),
  transactions_affected: fromFact((f) => (f.transactionsValuePct === undefined ? undefined : `${f.transactionsValuePct}% of average daily value`)),
  duration: fromFact((f) => (f.durationHours === undefined ? undefined : `${f.durationHours} h${f.downtimeHours !== undefined ? ` (downtime ${f.downtimeHours} h)` : ''}`)),
  member_states_affected: fromFact((f) => f.memberStates?.join(', ')),
  cross_border_impact: fromFact((f) => (f.memberStates ? (new Set(f.memberStates).size > 1 ? `yes: ${f.memberStates.join(', ')}` : 'no') : undefined)),
  data_losses: fromFact((f) => {
    if (!f.dataImpact) return undefined;
    const hit = Object.entries(f.dataImpact).filter(([, v]) => v).map(([k]) => k);
    return hit.length ? hit.join(', ') : 'none';
  }),
  economic_impact_eur: fromFact((f) => (f.economicImpactEur === undefined ? undefined : String(f.economicImpactEur))),
  suspected_unlawful_or_malicious: fromFact((f) => yesNo(f.maliciousAccess)),
  entity_lei: (i) => (i.profile?.lei ? { value: i.profile.lei, source: 'profile' } : undefined),
  contact_person: contact,
  contact,
  dpo_contact: contact,
  institution_name_contact: (i) => {
    const c = contact(i);
    const name = i.profile?.name;
    return name || c ? { value: [name, c?.value].filter(Boolean).join(' — '), source: 'profile' } : undefined;
  },
  severity: (i) => (i.severity ? { value: i.severity, source: 'incident' } : undefined),
  incident_summary: summary,
  description: summary,
  incident_description: summary,
  reason_for_delay: (i) => (i.reason ? { value: i.reason, source: 'operator' } : undefined),
};

/** Markdown-safe single line: report text comes from alerts and operators. */
const cell = (s: string) => s.replace(/\r?\n/g, ' ').replace(/\|/g, '\\|');

export function draftReport(regime: Regime, stageId: string, input: DraftInput): ReportDraft {
  const stage = regime.stages.find((s) => s.id === stageId);
  if (!stage) throw new Error(`stage "${stageId}" is not a stage of ${regime.id} (stages: ${regime.stages.map((s) => s.id).join(', ')})`);
  const fields: DraftField[] = stage.fields.map((name) => {
    const given = input.fields?.[name];
    if (given !== undefined && given.trim() !== '') return { name, value: given, source: 'operator' };
    const derived = DERIVED[name]?.(input);
    return derived ? { name, ...derived } : { name };
  });
  const missing = fields.filter((f) => f.value === undefined).map((f) => f.name);
  const flags = confidenceFlags(regime).filter((f) => !f.includes(' stage ') || f.includes(` stage ${stage.id}:`));
  const recipient = regime.recipients.find((r) => r.id === (stage.recipient ?? regime.recipients[0]!.id));
  const lines = [
    `# ${regime.title} — ${stage.title}`,
    '',
    `- Incident: ${cell(input.incidentId)}`,
    `- Regime: ${regime.id} v${regime.version} (${regime.legal_source.join('; ')})`,
    `- Recipient: ${recipient ? recipient.name : 'unspecified'}`,
    `- Deadline rule: ${stage.deadline.text}`,
    '',
    '| field | value | source |',
    '|---|---|---|',
    ...fields.map((f) => `| ${f.name} | ${f.value === undefined ? '**MISSING**' : cell(f.value)} | ${f.source ?? ''} |`),
  ];
  if (missing.length) lines.push('', `**Missing required fields (${missing.length}):** ${missing.join(', ')}`);
  if (flags.length) lines.push('', '**needs-legal-review:**', ...flags.map((f) => `- ${f}`));
  return {
    regime: regime.id,
    version: regime.version,
    regimeTitle: regime.title,
    stage: stage.id,
    stageTitle: stage.title,
    incidentId: input.incidentId,
    recipient: recipient?.name,
    deadline: stage.deadline.text,
    fields,
    missing,
    flags,
    markdown: `${lines.join('\n')}\n`,
  };
}
