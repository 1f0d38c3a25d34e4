import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { z } from 'zod';
import { classifyIncident, inForce, type RegimeVerdict } from '../../domain/regimes/classify.js';
import { regimeTimeline, type IncidentEvents, type StageTimeline } from '../../domain/regimes/deadlines.js';
import { stageOfAnchor, submittedEvent } from '../../domain/regimes/expression.js';
import { IncidentFacts, OrganisationProfile, profileTimeZone } from '../../domain/regimes/facts.js';
import { formatRegimeError, type RegimeFileError } from '../../domain/regimes/load.js';
import { confidenceFlags, type Regime } from '../../domain/regimes/schema.js';
import { organisationOf, RegulatorProfile } from '../../domain/regimes/profile.js';
import { CliError, usageError } from '../errors.js';
import { registerRegulatorNotificationCommands } from './regulator-notifications.js';
import { RegulatorSetupError, scanRegimeDir } from '../../activities/regulators.js';
import { plainTable } from '../render.js';

/** The shipped rule files, found from this module so the command works from any directory. */
export const DEFAULT_REGIME_DIR = fileURLToPath(new URL('../../regimes/', import.meta.url));

export interface LoadedRegimes {
  files: { file: string; regime: Regime }[];
  errors: RegimeFileError[];
}

/** Reads every *.yaml / *.yml in a directory; file names in errors are relative to the cwd. */
export function loadRegimeDir(dir: string): LoadedRegimes {
  try {
    return scanRegimeDir(dir);
  } catch (err) {
    throw err instanceof RegulatorSetupError ? usageError(err.message) : err;
  }
}

function loadOrFail(dir: string): Regime[] {
  const { files, errors } = loadRegimeDir(dir);
  if (errors.length) throw new CliError(`invalid rule files:\n${errors.map(formatRegimeError).join('\n')}`);
  if (!files.length) throw usageError(`no rule files (*.yaml) in ${dir}`);
  return files.map((f) => f.regime);
}

function readJson(path: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw usageError(`cannot read ${what} ${path}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw usageError(`${what} ${path} is not JSON: ${(err as Error).message}`);
  }
}

const Instant = z.iso.datetime({ offset: true, error: 'expected an ISO instant like 2026-03-10T09:30:00Z' });
const Events = z.record(z.string(), Instant);

/** A what-if file holds either bare facts, or { facts, events?, profile? }. */
const WhatIf = z.strictObject({ facts: z.unknown(), events: z.unknown().optional(), profile: z.unknown().optional() });

function validated<T>(schema: z.ZodType<T>, input: unknown, what: string): T {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const issues = r.error.issues;
  // A single value (like --at) has no fields to list: one line says it all.
  if (issues.length === 1 && issues[0]!.path.length === 0 && (input === null || typeof input !== 'object')) throw usageError(`invalid ${what}: ${issues[0]!.message}`);
  const lines = issues.map((i) => `  ${i.path.length ? i.path.map(String).join('.') : '(root)'}: ${i.message}`);
  throw usageError(`invalid ${what}:\n${lines.join('\n')}`);
}

/** Trigger events the what-if assumes all happen at `at` unless the file says otherwise. */
const ASSUMED_EVENTS = ['aware', 'classified', 'determined-material', 'threshold-met'] as const;

export interface WhatIfResult {
  at: string;
  timeZone: string;
  verdicts: (RegimeVerdict & { timeline: (StageTimeline & { required: string; projected: boolean; dueLocal?: string })[] })[];
}

/**
 * Classifies and projects deadlines. Chained stages are projected as if each earlier stage were
 * submitted exactly at its deadline, so the what-if shows the whole timeline (marked projected).
 */
export function whatIf(regimes: Regime[], facts: IncidentFacts, profile: OrganisationProfile, at: string, given: IncidentEvents = {}): WhatIfResult {
  const tz = profileTimeZone(profile);
  const base: Record<string, string> = {};
  for (const e of ASSUMED_EVENTS) base[e] = at;
  if (facts.ransomPaid) base['payment-made'] = at;
  const verdicts = classifyIncident(regimes, facts, profile, at).map((v) => {
    const regime = inForce(regimes, v.regime, Date.parse(at));
    if (!regime || !v.applicable || v.reportable === false) return { ...v, timeline: [] };
    const events: Record<string, string> = { ...base, ...given } as Record<string, string>;
    // Stage id → its state just before its submission was assumed.
    const projected = new Map<string, StageTimeline['state']>();
    let timeline = regimeTimeline(regime, { events, now: at, profile });
    // Each pass can unlock one more link of a chain; a regime has only a handful of stages.
    for (let pass = 0; pass < regime.stages.length; pass++) {
      const next = timeline.find((s) => s.state !== 'submitted' && s.dueAt && !events[submittedEvent(s.stage)] && timeline.some((t) => t.waitingFor.includes(submittedEvent(s.stage))));
      if (!next?.dueAt) break;
      events[submittedEvent(next.stage)] = next.dueAt;
      projected.set(next.stage, next.state);
      timeline = regimeTimeline(regime, { events, now: at, profile });
    }
    return {
      ...v,
      timeline: timeline.map((s) => {
        const before = projected.get(s.stage);
        const anchorStage = s.anchor ? stageOfAnchor(s.anchor) : undefined;
        return {
          ...s,
          // A projected submission is an assumption, not a fact: show the stage as still owed.
          state: before ?? s.state,
          submittedAt: before ? undefined : s.submittedAt,
          required: v.stages.find((r) => r.stage === s.stage)?.required ?? 'met',
          projected: anchorStage !== undefined && projected.has(anchorStage),
          dueLocal: s.dueAt ? formatLocal(s.dueAt, tz) : undefined,
        };
      }),
    };
  });
  return { at, timeZone: tz, verdicts };
}

export function formatLocal(iso: string, timeZone: string): string {
  const d = new Date(iso);
  const date = new Intl.DateTimeFormat('sv-SE', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(d);
  const zone = new Intl.DateTimeFormat('en-US', { timeZone, timeZoneName: 'short' }).formatToParts(d).find((p) => p.type === 'timeZoneName')?.value ?? timeZone;
  return `${date} ${zone}`;
}


function reportableText(v: RegimeVerdict): string {
  if (!v.applicable) return 'not applicable';
  return v.reportable === 'unknown' ? 'UNDETERMINED' : v.reportable ? 'REPORTABLE' : 'not reportable';
}

function whyText(v: RegimeVerdict): string {
  if (!v.applicable) return v.applicability.at(-1) ?? '';
  const met = v.criteria.filter((c) => c.status === 'met').map((c) => `✓ ${c.id}: ${c.reasons.join('; ')}`);
  const unknown = v.criteria.filter((c) => c.status === 'unknown').map((c) => `? ${c.id}: ${c.reasons.join('; ')}`);
  const notMet = v.criteria.filter((c) => c.status === 'not-met').map((c) => `✗ ${c.id}: ${c.reasons.join('; ')}`);
  return [...met, ...unknown, ...notMet].join('\n');
}

export function renderWhatIf(r: WhatIfResult): string {
  const summary = plainTable(['regime', 'verdict', 'why (criteria: value vs threshold)'], { wordWrap: true, colWidths: [26, 16, 90] });
  for (const v of r.verdicts) summary.push([`${v.regime} v${v.version}`, reportableText(v), whyText(v)]);
  const deadlines = plainTable(['regime', 'stage', 'deadline rule', `due (UTC)`, `due (${r.timeZone})`, 'state', 'notes'], { wordWrap: true });
  for (const v of r.verdicts) {
    for (const s of v.timeline) {
      if (s.required === 'not-met') continue;
      const notes = [
        s.required === 'unknown' ? 'owed if facts confirm' : '',
        s.immediate ? 'immediately: no fixed window' : '',
        s.projected ? 'assumes the previous stage is submitted at its deadline' : '',
        s.provisional ? `may move earlier once ${s.waitingFor.join(', ')} happens` : '',
        s.reliefFrom ? `relief from ${s.reliefFrom}` : s.reliefNote ?? '',
        s.confidence === 'needs-legal-review' ? 'needs-legal-review' : '',
        !s.dueAt && s.waitingFor.length ? `waiting for ${s.waitingFor.join(', ')}` : '',
      ].filter(Boolean);
      deadlines.push([v.regime, s.stage, s.deadline, s.dueAt ?? '—', s.dueLocal ?? '—', s.state, notes.join('\n')]);
    }
  }
  const flags = [...new Set(r.verdicts.filter((v) => v.applicable).flatMap((v) => v.confidence))];
  return [
    `what-if at ${r.at} (trigger events assumed at that instant unless given)`,
    summary.toString(),
    deadlines.length ? deadlines.toString() : 'no reportable regime: no deadlines',
    ...(flags.length ? ['', 'needs legal review:', ...flags.map((f) => `  ${f}`)] : []),
  ].join('\n');
}

function resolveDir(o: { regimes?: string }, positional?: string): string {
  return resolve(positional ?? o.regimes ?? DEFAULT_REGIME_DIR);
}

interface ClassifyOptions {
  profile?: string;
  at?: string;
  events?: string;
  json?: boolean;
  regimes?: string;
}

export function registerRegulatorCommands(program: Command): void {
  const regulators = program.command('regulators').description('regulator notifications: what-if classification, rule files, live status, drafts, approval and submission');
  registerRegulatorNotificationCommands(regulators, program);

  regulators
    .command('classify <facts.json>')
    .description('what-if: which regimes make this incident reportable, why, and every stage deadline')
    .option('--profile <profile.json>', 'organisation profile: entityType, jurisdictions, memberState, timeZone, flags (or "profile" inside the facts file)')
    .option('--at <iso>', 'when the trigger events (aware, classified, determined-material…) happen (default: now)')
    .option('--events <events.json>', 'actual event instants, e.g. {"aware": "…", "stage:initial.submitted": "…"}')
    .option('--regimes <dir>', 'rule file directory (default: the shipped regimes/)')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  bulwark regulators classify facts.json --profile profile.json\n  bulwark regulators classify facts.json --profile profile.json --at 2026-03-14T09:00:00Z --json\n\nfacts.json holds incident facts ({"criticalService": true, "maliciousAccess": true, …})\nor {"facts": {…}, "events": {…}, "profile": {…}}.',
    )
    .action((factsPath: string, o: ClassifyOptions) => {
      const raw = readJson(factsPath, 'facts file');
      const wrapped = raw && typeof raw === 'object' && 'facts' in raw ? validated(WhatIf, raw, `facts file ${factsPath}`) : { facts: raw };
      const facts = validated(IncidentFacts, wrapped.facts, `facts in ${factsPath}`);
      // The configured regulator profile (BULWARK_REGULATOR_PROFILE) is the default; a plain organisation profile is one too.
      const profilePath = o.profile ?? (wrapped.profile === undefined ? process.env.BULWARK_REGULATOR_PROFILE || undefined : undefined);
      const profileInput = profilePath ? readJson(profilePath, 'profile') : wrapped.profile;
      if (profileInput === undefined) throw usageError('an organisation profile is needed: --profile <profile.json> (entityType, jurisdictions, memberState or timeZone, flags) or BULWARK_REGULATOR_PROFILE');
      const profile = organisationOf(validated(RegulatorProfile, profileInput, `profile${profilePath ? ` ${profilePath}` : ''}`));
      const given = validated(Events, o.events ? readJson(o.events, 'events file') : wrapped.events ?? {}, 'events');
      const at = o.at === undefined ? new Date().toISOString() : validated(Instant, o.at, '--at');
      const result = whatIf(loadOrFail(resolveDir(o)), facts, profile, new Date(at).toISOString(), given);
      console.log(o.json ? JSON.stringify(result, null, 2) : renderWhatIf(result));
    });

  regulators
    .command('rules')
    .description('list the loaded regimes: id, version, effective dates, confidence flags')
    .option('--regimes <dir>', 'rule file directory (default: the shipped regimes/)')
    .option('--json', 'print JSON')
    .action((o: { regimes?: string; json?: boolean }) => {
      const regimes = loadOrFail(resolveDir(o));
      const rows = regimes.map((r) => ({
        id: r.id,
        version: r.version,
        title: r.title,
        effectiveFrom: r.effective_from,
        effectiveTo: r.effective_to ?? null,
        confidence: r.confidence,
        flags: confidenceFlags(r),
        stages: r.stages.map((s) => ({ id: s.id, deadline: s.deadline.text })),
        legalSource: r.legal_source,
      }));
      if (o.json) {
        console.log(JSON.stringify(rows, null, 2));
        return;
      }
      const t = plainTable(['regime', 'v', 'in force', 'confidence', 'stages'], { wordWrap: true });
      for (const r of rows) {
        t.push([`${r.id}\n${r.title}`, r.version, `${r.effectiveFrom} –\n${r.effectiveTo ?? 'open'}`, r.flags.length ? r.flags.join('\n') : r.confidence, r.stages.map((s) => `${s.id}: ${s.deadline}`).join('\n')]);
      }
      console.log(t.toString());
    });

  regulators
    .command('validate [dir]')
    .description('check rule files: schema, deadline expressions, references, overlapping versions')
    .option('--regimes <dir>', 'rule file directory (same as [dir])')
    .action((dir: string | undefined, o: { regimes?: string }) => {
      const { files, errors } = loadRegimeDir(resolveDir(o, dir));
      if (errors.length) throw new CliError(`${errors.length} problem(s):\n${errors.map(formatRegimeError).join('\n')}`);
      console.log(`${files.length} rule file(s) OK: ${files.map((f) => `${f.regime.id}@${f.regime.version}`).join(', ')}`);
    });
}
