import { factValues, type FactValue, type IncidentFacts, type OrganisationProfile } from './facts.js';
import { confidenceFlags, type Condition, type FactCondition, type Regime, type Stage } from './schema.js';

/**
 * Classification: for each regime, does it apply to this organisation at this time, is the
 * incident reportable under it, and why: every criterion with its value and threshold. Facts may
 * be missing early in an incident; logic is three-valued so "unknown" is never read as "no".
 */
export type Tri = 'met' | 'not-met' | 'unknown';

export interface CriterionResult {
  id: string;
  title: string;
  status: Tri;
  reasons: string[];
  confidence: 'confirmed' | 'needs-legal-review';
}

export interface StageRequirement {
  stage: string;
  required: Tri;
  reason?: string;
}

export interface RegimeVerdict {
  regime: string;
  version: number;
  title: string;
  applicable: boolean;
  /** Why it applies or not: one line per test (in force, jurisdiction, entity type, flags, lex specialis). */
  applicability: string[];
  /** true / false, or "unknown" while facts the decision needs are missing. */
  reportable: boolean | 'unknown';
  /** The decision rule with each part's outcome, e.g. "all of [critical-service: met, …]: met". */
  decision?: string;
  criteria: CriterionResult[];
  stages: StageRequirement[];
  confidence: string[];
}

const fmt = (v: number) => String(Math.round(v * 100) / 100);

const OP_TEXT: Record<string, string> = {
  gt: '> (strictly greater than)',
  gte: '≥',
  lt: '< (strictly less than)',
  lte: '≤',
  eq: '=',
};

function evalFact(c: FactCondition, facts: Record<string, FactValue>): { status: Tri; reason: string } {
  const v = facts[c.fact];
  switch (c.op) {
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte':
    case 'eq': {
      const threshold = c.value!;
      const rule = `${OP_TEXT[c.op]} ${fmt(threshold)}`;
      if (typeof v !== 'number') return { status: 'unknown', reason: `${c.fact} unknown (needs ${rule})` };
      const ok = c.op === 'gt' ? v > threshold : c.op === 'gte' ? v >= threshold : c.op === 'lt' ? v < threshold : c.op === 'lte' ? v <= threshold : v === threshold;
      return { status: ok ? 'met' : 'not-met', reason: `${c.fact} ${fmt(v)} ${ok ? 'is' : 'is not'} ${rule}` };
    }
    case 'is-true':
    case 'is-false': {
      if (typeof v !== 'boolean') return { status: 'unknown', reason: `${c.fact} unknown` };
      const ok = c.op === 'is-true' ? v : !v;
      return { status: ok ? 'met' : 'not-met', reason: `${c.fact} is ${v}` };
    }
    case 'any-true': {
      if (v === undefined || typeof v !== 'object' || Array.isArray(v)) return { status: 'unknown', reason: `${c.fact} unknown` };
      const entries = Object.entries(v);
      const yes = entries.filter(([, b]) => b === true).map(([k]) => k);
      if (yes.length) return { status: 'met', reason: `${c.fact}: ${yes.join(', ')} impacted` };
      const unknown = entries.length === 0 || entries.some(([, b]) => b === undefined);
      return unknown ? { status: 'unknown', reason: `${c.fact}: none reported impacted, some unknown` } : { status: 'not-met', reason: `${c.fact}: none impacted` };
    }
  }
}

class Evaluator {
  private readonly memo = new Map<string, CriterionResult>();
  private readonly inProgress = new Set<string>();
  private readonly facts: Record<string, FactValue>;

  constructor(
    private readonly regime: Regime,
    facts: IncidentFacts,
  ) {
    this.facts = factValues(facts);
  }

  criterion(id: string): CriterionResult {
    const hit = this.memo.get(id);
    if (hit) return hit;
    const def = this.regime.classification.criteria.find((c) => c.id === id);
    if (!def || this.inProgress.has(id)) {
      return { id, title: id, status: 'unknown', reasons: [def ? 'criterion refers to itself' : 'no such criterion'], confidence: 'needs-legal-review' };
    }
    this.inProgress.add(id);
    const reasons: string[] = [];
    const status = this.condition(def.when, reasons);
    this.inProgress.delete(id);
    const result: CriterionResult = { id, title: def.title, status, reasons, confidence: def.confidence };
    this.memo.set(id, result);
    return result;
  }

  /** Three-valued: all/any/at_least decide as soon as the known parts decide them. */
  condition(c: Condition, reasons: string[]): Tri {
    if ('fact' in c) {
      const r = evalFact(c, this.facts);
      reasons.push(r.reason);
      return r.status;
    }
    if ('criterion' in c) {
      const r = this.criterion(c.criterion);
      reasons.push(...r.reasons);
      return r.status;
    }
    const parts = 'all' in c ? c.all : 'any' in c ? c.any : c.of;
    const results = parts.map((p) => this.condition(p, reasons));
    const met = results.filter((r) => r === 'met').length;
    const unknown = results.filter((r) => r === 'unknown').length;
    const need = 'all' in c ? parts.length : 'any' in c ? 1 : c.at_least;
    if (met >= need) return 'met';
    if (met + unknown < need) return 'not-met';
    return 'unknown';
  }

  /** The decision rule as text with every part's outcome, for "why is this reportable". */
  describe(c: Condition): string {
    if ('fact' in c) {
      const r = evalFact(c, this.facts);
      return `${r.reason}: ${r.status}`;
    }
    if ('criterion' in c) return `${c.criterion}: ${this.criterion(c.criterion).status}`;
    const outcome = this.condition(c, []);
    const [label, parts] = 'all' in c ? ['all of', c.all] : 'any' in c ? ['any of', c.any] : [`at least ${c.at_least} of`, c.of];
    return `${label} [${parts.map((p) => this.describe(p)).join(', ')}]: ${outcome}`;
  }
}

const toTri = (b: boolean): Tri => (b ? 'met' : 'not-met');
const fromTri = (t: Tri): boolean | 'unknown' => (t === 'unknown' ? 'unknown' : t === 'met');

function dayOf(at: number): string {
  return new Date(at).toISOString().slice(0, 10);
}

/** The version of a regime in force at `at` (effective_from inclusive, effective_to exclusive). */
export function inForce(regimes: readonly Regime[], id: string, at: number): Regime | undefined {
  const day = dayOf(at);
  return regimes.find((r) => r.id === id && r.effective_from <= day && (!r.effective_to || day < r.effective_to));
}

const jurisdictionMatches = (profileJ: string, regimeJ: string) => regimeJ === 'GLOBAL' || profileJ === regimeJ || profileJ.startsWith(`${regimeJ}-`);

function applicability(r: Regime, profile: OrganisationProfile, all: readonly Regime[], at: number, depth = 0): { applicable: boolean; reasons: string[] } {
  const reasons: string[] = [`in force ${r.effective_from} – ${r.effective_to ?? 'open'} (version ${r.version})`];
  const a = r.applicability;
  const j = profile.jurisdictions.filter((pj) => a.jurisdictions.some((rj) => jurisdictionMatches(pj, rj)));
  if (!j.length) return { applicable: false, reasons: [...reasons, `jurisdiction: organisation in ${profile.jurisdictions.join(', ')}, regime covers ${a.jurisdictions.join(', ')}`] };
  reasons.push(`jurisdiction ${j.join(', ')}`);
  if (a.entity_types !== 'any' && !a.entity_types.includes(profile.entityType)) {
    return { applicable: false, reasons: [...reasons, `entity type ${profile.entityType} is not one of ${a.entity_types.join(', ')}`] };
  }
  reasons.push(`entity type ${profile.entityType}${a.entity_types === 'any' ? ' (any)' : ''}`);
  const missing = a.requires_flags.filter((f) => !profile.flags.includes(f));
  if (missing.length) return { applicable: false, reasons: [...reasons, `organisation lacks flag ${missing.join(', ')}`] };
  if (a.requires_flags.length) reasons.push(`flags ${a.requires_flags.join(', ')}`);
  const anyFlag = a.requires_any_flag.find((f) => profile.flags.includes(f));
  if (a.requires_any_flag.length && !anyFlag) return { applicable: false, reasons: [...reasons, `organisation has none of the flags ${a.requires_any_flag.join(', ')}`] };
  if (anyFlag) reasons.push(`flag ${anyFlag}`);
  // Depth guards a file set where two regimes supersede each other.
  for (const id of depth < 3 ? a.superseded_by : []) {
    const other = inForce(all, id, at);
    if (other && applicability(other, profile, all, at, depth + 1).applicable) {
      return { applicable: false, reasons: [...reasons, `superseded: ${id} applies instead (lex specialis)`] };
    }
  }
  return { applicable: true, reasons };
}

function stageRequirement(stage: Stage, ev: Evaluator, profile: OrganisationProfile): StageRequirement {
  const missing = stage.requires_flags.filter((f) => !profile.flags.includes(f));
  if (missing.length) return { stage: stage.id, required: 'not-met', reason: `organisation lacks flag ${missing.join(', ')}` };
  if (!stage.when) return { stage: stage.id, required: 'met' };
  const reasons: string[] = [];
  const required = ev.condition(stage.when, reasons);
  return { stage: stage.id, required, reason: reasons.join('; ') };
}

/** Classifies one regime version (already chosen as in force) for one incident. */
export function classifyRegime(regime: Regime, facts: IncidentFacts, profile: OrganisationProfile, all: readonly Regime[], at: number): RegimeVerdict {
  const app = applicability(regime, profile, all, at);
  const ev = new Evaluator(regime, facts);
  const criteria = regime.classification.criteria.map((c) => ev.criterion(c.id));
  const outcome = ev.condition(regime.classification.reportable_when, []);
  return {
    regime: regime.id,
    version: regime.version,
    title: regime.title,
    applicable: app.applicable,
    applicability: app.reasons,
    reportable: app.applicable ? fromTri(outcome) : false,
    decision: ev.describe(regime.classification.reportable_when),
    criteria,
    stages: regime.stages.map((s) => (app.applicable ? stageRequirement(s, ev, profile) : { stage: s.id, required: toTri(false), reason: 'regime not applicable' })),
    confidence: confidenceFlags(regime),
  };
}

/** Every regime id in the set, each classified with the version in force at `at`. */
export function classifyIncident(regimes: readonly Regime[], facts: IncidentFacts, profile: OrganisationProfile, at: string | number): RegimeVerdict[] {
  const atMs = typeof at === 'number' ? at : Date.parse(at);
  if (Number.isNaN(atMs)) throw new Error(`classification time "${String(at)}" is not an ISO instant`);
  const ids = [...new Set(regimes.map((r) => r.id))];
  return ids.map((id) => {
    const regime = inForce(regimes, id, atMs);
    if (regime) return classifyRegime(regime, facts, profile, regimes, atMs);
    const versions = regimes.filter((r) => r.id === id);
    const latest = versions[versions.length - 1]!;
    return {
      regime: id,
      version: latest.version,
      title: latest.title,
      applicable: false,
      applicability: [`no version in force on ${dayOf(atMs)} (${versions.map((v) => `v${v.version} ${v.effective_from} – ${v.effective_to ?? 'open'}`).join('; ')})`],
      reportable: false,
      criteria: [],
      stages: [],
      confidence: confidenceFlags(latest),
    };
  });
}
