import { z } from 'zod';
import { isKnownCountry, isValidTimeZone } from './calendar.js';
import { anchorsOf, calendarsOf, parseDeadline, stageOfAnchor, type DeadlineExpr } from './expression.js';
import { FACT_NAMES } from './facts.js';

/**
 * One regulator notification regime as a rule file (regimes/*.yaml). Keys are snake_case because
 * they are the file format: a zod path is then exactly the path in the YAML, which is how the
 * loader points errors at a line.
 */
const Id = z.string().regex(/^[a-z][a-z0-9-]*$/, 'expected a kebab-case id like "dora" or "initial"');
const Confidence = z.enum(['confirmed', 'needs-legal-review']);
const Clock = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$|^24:00$/, 'expected a local time "HH:MM"');
const IsoDate = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'expected a date "YYYY-MM-DD"')
  .refine((s) => !Number.isNaN(Date.parse(`${s}T00:00:00Z`)) && new Date(`${s}T00:00:00Z`).toISOString().startsWith(s), 'not a real date');

const FactName = z.enum(FACT_NAMES as unknown as [string, ...string[]], { error: (i) => `unknown fact ${JSON.stringify(i.input)} (known: ${FACT_NAMES.join(', ')})` });

/** A test on one fact. "gt" is strictly greater than, as the rules word their thresholds. */
const FactCondition = z
  .strictObject({
    fact: FactName,
    op: z.enum(['gt', 'gte', 'lt', 'lte', 'eq', 'is-true', 'is-false', 'any-true']),
    value: z.number().optional(),
  })
  .superRefine((c, ctx) => {
    const numeric = ['gt', 'gte', 'lt', 'lte', 'eq'].includes(c.op);
    if (numeric && c.value === undefined) ctx.addIssue({ code: 'custom', path: ['value'], message: `op "${c.op}" needs a numeric value` });
    if (!numeric && c.value !== undefined) ctx.addIssue({ code: 'custom', path: ['value'], message: `op "${c.op}" takes no value` });
  });
export type FactCondition = z.infer<typeof FactCondition>;

export type Condition =
  | FactCondition
  | { criterion: string }
  | { all: Condition[] }
  | { any: Condition[] }
  | { at_least: number; of: Condition[] };

const Nested = z.array(z.lazy(() => Condition)).min(1);
const CONDITION_SHAPES = [
  ['fact', FactCondition],
  ['criterion', z.strictObject({ criterion: Id })],
  ['all', z.strictObject({ all: Nested })],
  ['any', z.strictObject({ any: Nested })],
  ['at_least', z.strictObject({ at_least: z.number().int().positive(), of: Nested })],
] as const;

/**
 * Chooses the condition's shape by its key rather than trying each in a union, so an error says
 * "unknown fact …" at the field instead of "invalid input" at the whole condition.
 */
export const Condition: z.ZodType<Condition> = z.unknown().transform((value, ctx): Condition => {
  const shape = value && typeof value === 'object' ? CONDITION_SHAPES.find(([key]) => key in value) : undefined;
  if (!shape) {
    ctx.addIssue({ code: 'custom', message: 'expected a condition: {fact, op, value?}, {criterion}, {all: […]}, {any: […]} or {at_least, of: […]}' });
    return z.NEVER;
  }
  const r = shape[1].safeParse(value);
  if (!r.success) {
    for (const issue of r.error.issues) ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path });
    return z.NEVER;
  }
  return r.data as Condition;
});

const Criterion = z.strictObject({
  id: Id,
  title: z.string().min(1),
  when: Condition,
  confidence: Confidence.default('confirmed'),
  note: z.string().optional(),
});

const Deadline = z.string().transform((text, ctx): { text: string; expr: DeadlineExpr } => {
  const parsed = parseDeadline(text);
  if (!parsed.ok) {
    ctx.addIssue({ code: 'custom', message: parsed.error });
    return z.NEVER;
  }
  return { text, expr: parsed.expr };
});

const Stage = z.strictObject({
  id: Id,
  title: z.string().min(1),
  deadline: Deadline,
  /** The stage is owed only when this holds for the incident's facts (e.g. a ransom was paid). */
  when: Condition.optional(),
  /** The stage is owed only by organisations with all these profile flags (e.g. card-brand:visa). */
  requires_flags: z.array(z.string()).default([]),
  recipient: z.string().optional(),
  fields: z.array(z.string().min(1)).min(1, 'list the report fields this stage must contain'),
  late_notice: z.strictObject({ reason_required: z.boolean() }).default({ reason_required: true }),
  confidence: Confidence.default('confirmed'),
  note: z.string().optional(),
});
export type Stage = z.infer<typeof Stage>;

const CalendarDef = z.strictObject({
  country: z.string().refine(isKnownCountry, 'unknown country code for date-holidays'),
  region: z.string().optional(),
  holiday_types: z.array(z.enum(['public', 'bank', 'optional', 'school', 'observance'])).min(1).default(['public']),
  time_zone: z.string().refine(isValidTimeZone, 'expected an IANA time zone like "America/New_York"'),
  weekend: z.array(z.number().int().min(0).max(6)).default([0, 6]),
  cutoff: Clock.default('24:00'),
  events_after_cutoff: z.enum(['same-day', 'next-business-day']).default('same-day'),
});

const Relief = z.strictObject({
  kind: z.literal('next-working-day'),
  /** Local time on the next working day by which the report may then be submitted. */
  until: Clock,
  /** "entity" is the organisation's member-state calendar; otherwise a calendar of this file. */
  calendar: z.string().default('entity'),
  stages: z.array(Id).optional(),
  excluded_entity_types: z.array(z.string()).default([]),
  excluded_flags: z.array(z.string()).default([]),
  confidence: Confidence.default('confirmed'),
  note: z.string().optional(),
});
export type Relief = z.infer<typeof Relief>;

const Recipient = z.strictObject({
  id: Id,
  name: z.string().min(1),
  channel: z.enum(['email', 'webhook']),
  /** A placeholder until the organisation's config names the real address. */
  to: z.string().min(1),
});

export const Regime = z
  .strictObject({
    id: Id,
    version: z.number().int().positive(),
    title: z.string().min(1),
    legal_source: z.array(z.string().min(1)).min(1),
    effective_from: IsoDate,
    effective_to: IsoDate.optional(),
    confidence: Confidence,
    note: z.string().optional(),
    applicability: z.strictObject({
      /** Jurisdiction codes; "US" covers "US-NY"; "GLOBAL" covers every organisation. */
      jurisdictions: z.array(z.string()).min(1),
      /** "any" or a list of entity types. */
      entity_types: z.union([z.literal('any'), z.array(z.string()).min(1)]),
      requires_flags: z.array(z.string()).default([]),
      /** At least one of these profile flags, e.g. NIS2's essential or important entities. */
      requires_any_flag: z.array(z.string()).default([]),
      /** Lex specialis: not applicable when one of these regimes applies to the organisation. */
      superseded_by: z.array(Id).default([]),
    }),
    trigger: Id,
    calendars: z.record(z.string().regex(/^[A-Za-z0-9_-]+$/), CalendarDef).default({}),
    classification: z.strictObject({
      criteria: z.array(Criterion).min(1),
      reportable_when: Condition,
    }),
    stages: z.array(Stage).min(1),
    relief: Relief.optional(),
    recipients: z.array(Recipient).min(1),
    approvers: z.array(z.string().min(1)).min(1),
  })
  .superRefine((r, ctx) => {
    if (r.effective_to && r.effective_to <= r.effective_from) {
      ctx.addIssue({ code: 'custom', path: ['effective_to'], message: `must be after effective_from (${r.effective_from})` });
    }
    const criteria = new Set<string>();
    r.classification.criteria.forEach((c, i) => {
      if (criteria.has(c.id)) ctx.addIssue({ code: 'custom', path: ['classification', 'criteria', i, 'id'], message: `duplicate criterion "${c.id}"` });
      criteria.add(c.id);
    });
    const checkRefs = (c: Condition, path: (string | number)[]) => {
      if ('criterion' in c) {
        if (!criteria.has(c.criterion)) ctx.addIssue({ code: 'custom', path: [...path, 'criterion'], message: `unknown criterion "${c.criterion}"` });
      } else if ('all' in c) c.all.forEach((x, i) => checkRefs(x, [...path, 'all', i]));
      else if ('any' in c) c.any.forEach((x, i) => checkRefs(x, [...path, 'any', i]));
      else if ('of' in c) {
        c.of.forEach((x, i) => checkRefs(x, [...path, 'of', i]));
        if (c.at_least > c.of.length) ctx.addIssue({ code: 'custom', path: [...path, 'at_least'], message: `at_least ${c.at_least} of only ${c.of.length}` });
      }
    };
    checkRefs(r.classification.reportable_when, ['classification', 'reportable_when']);
    r.classification.criteria.forEach((c, i) => checkRefs(c.when, ['classification', 'criteria', i, 'when']));

    const stageIds = new Map<string, number>();
    r.stages.forEach((s, i) => {
      if (stageIds.has(s.id)) ctx.addIssue({ code: 'custom', path: ['stages', i, 'id'], message: `duplicate stage "${s.id}"` });
      stageIds.set(s.id, i);
    });
    r.stages.forEach((s, i) => {
      if (s.when) checkRefs(s.when, ['stages', i, 'when']);
      for (const anchor of anchorsOf(s.deadline.expr)) {
        const ref = stageOfAnchor(anchor);
        if (ref !== undefined && !stageIds.has(ref)) {
          ctx.addIssue({ code: 'custom', path: ['stages', i, 'deadline'], message: `anchor "${anchor}" names no stage of this regime` });
        }
        if (ref === s.id) ctx.addIssue({ code: 'custom', path: ['stages', i, 'deadline'], message: `stage "${s.id}" cannot be anchored on its own submission` });
      }
      for (const cal of calendarsOf(s.deadline.expr)) {
        if (!r.calendars[cal]) ctx.addIssue({ code: 'custom', path: ['stages', i, 'deadline'], message: `business-day calendar "${cal}" is not defined under calendars` });
      }
      if (s.recipient && !r.recipients.some((x) => x.id === s.recipient)) {
        ctx.addIssue({ code: 'custom', path: ['stages', i, 'recipient'], message: `unknown recipient "${s.recipient}"` });
      }
    });
    // A cycle of stages waiting on each other would never start; refuse it at load time.
    const deps = (id: string) => anchorsOf(r.stages[stageIds.get(id)!]!.deadline.expr).map(stageOfAnchor).filter((x): x is string => !!x && stageIds.has(x));
    for (const [id, i] of stageIds) {
      const seen = new Set<string>();
      const stack = deps(id);
      while (stack.length) {
        const next = stack.pop()!;
        if (next === id) {
          ctx.addIssue({ code: 'custom', path: ['stages', i, 'deadline'], message: `stage "${id}" depends on itself through other stages` });
          break;
        }
        if (!seen.has(next)) {
          seen.add(next);
          stack.push(...deps(next));
        }
      }
    }
    if (r.relief) {
      if (r.relief.calendar !== 'entity' && !r.calendars[r.relief.calendar]) {
        ctx.addIssue({ code: 'custom', path: ['relief', 'calendar'], message: `calendar "${r.relief.calendar}" is not defined under calendars` });
      }
      r.relief.stages?.forEach((s, i) => {
        if (!stageIds.has(s)) ctx.addIssue({ code: 'custom', path: ['relief', 'stages', i], message: `unknown stage "${s}"` });
      });
    }
  });
export type Regime = z.infer<typeof Regime>;
export type RegimeInput = z.input<typeof Regime>;

/** Where a regime flags facts the reference says to verify; the product shows every one. */
export function confidenceFlags(r: Regime): string[] {
  const flags: string[] = [];
  if (r.confidence === 'needs-legal-review') flags.push(`${r.id}: needs-legal-review${r.note ? ` (${r.note})` : ''}`);
  for (const c of r.classification.criteria) if (c.confidence === 'needs-legal-review') flags.push(`${r.id} criterion ${c.id}: needs-legal-review`);
  for (const s of r.stages) if (s.confidence === 'needs-legal-review') flags.push(`${r.id} stage ${s.id}: needs-legal-review${s.note ? ` (${s.note})` : ''}`);
  if (r.relief?.confidence === 'needs-legal-review') flags.push(`${r.id} relief: needs-legal-review${r.relief.note ? ` (${r.relief.note})` : ''}`);
  return flags;
}
