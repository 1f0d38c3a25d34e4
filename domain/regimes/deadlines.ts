import { calendarFor, instantAt, localTime, type BusinessCalendar, type CalendarSpec } from './calendar.js';
import { anchorsOf, submittedEvent, type DeadlineExpr } from './expression.js';
import { profileTimeZone, type OrganisationProfile } from './facts.js';
import type { Regime, Stage } from './schema.js';

/**
 * The deadline engine: from a regime's stage expressions, the incident's events so far and "now",
 * when each stage is due and where it stands. Pure: the caller passes the clock.
 *
 * Hours are added to UTC instants, so DST never moves them; months are added to the UTC date and
 * clamped to the month's last day; business days are counted on local dates of a named calendar.
 */
export type StageState = 'not-started' | 'pending' | 'due-soon' | 'overdue' | 'submitted' | 'submitted-late';

/** Incident events by name (aware, classified, stage:initial.submitted, …) as ISO instants. */
export type IncidentEvents = Readonly<Record<string, string | undefined>>;

export interface DeadlineOptions {
  /** A pending stage is due-soon in the last fraction of its window (anchor → due). Default 0.25. */
  dueSoonFraction?: number;
}

export interface Due {
  dueMs: number;
  /** The anchor of the term that decided the deadline. */
  anchor: string;
  anchorMs: number;
  /** "immediately": there is no measurable window, only urgency. */
  immediate: boolean;
  /** Some capped term's anchor is still missing, so the deadline may yet move earlier. */
  provisional: boolean;
  waitingFor: string[];
  relief?: { fromMs: number; calendar: string };
  reliefNote?: string;
}

export type DueResult = { ok: true; due: Due } | { ok: false; waitingFor: string[] };

export interface StageTimeline {
  stage: string;
  title: string;
  deadline: string;
  state: StageState;
  dueAt?: string;
  anchor?: string;
  anchorAt?: string;
  waitingFor: string[];
  provisional: boolean;
  immediate: boolean;
  /** Set when weekend/holiday relief moved the deadline: the deadline before relief. */
  reliefFrom?: string;
  reliefNote?: string;
  submittedAt?: string;
  /** Minutes left until due (negative once overdue); absent when not started or submitted. */
  minutesLeft?: number;
  lateByMinutes?: number;
  reasonForDelayRequired: boolean;
  confidence: Stage['confidence'];
}

const HOUR_MS = 3_600_000;

export function toMs(iso: string, what: string): number {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) throw new Error(`${what}: "${iso}" is not an ISO instant`);
  return ms;
}

/** Adds calendar months to a UTC instant, clamping the day (31 Jan + 1 month = 28/29 Feb). */
export function addCalendarMonths(ms: number, months: number): number {
  const d = new Date(ms);
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth() + months;
  const lastDay = new Date(Date.UTC(y, m + 1, 0)).getUTCDate();
  return Date.UTC(y, m, Math.min(d.getUTCDate(), lastDay), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds(), d.getUTCMilliseconds());
}

/** N business days after the anchor's counting day, due at the calendar's cut-off that day. */
export function addBusinessDays(ms: number, days: number, cal: BusinessCalendar): number {
  const day = cal.addBusinessDays(cal.countingDay(ms), days);
  return instantAt(day, cal.spec.cutoff, cal.timeZone);
}

type CalendarLookup = (name: string) => BusinessCalendar;

function evaluate(expr: DeadlineExpr, events: ReadonlyMap<string, number>, calendars: CalendarLookup): DueResult {
  if (expr.kind === 'after') {
    const anchorMs = events.get(expr.anchor);
    if (anchorMs === undefined) return { ok: false, waitingFor: [expr.anchor] };
    const o = expr.offset;
    const dueMs =
      o.kind === 'hours' ? anchorMs + o.hours * HOUR_MS
      : o.kind === 'calendar-months' ? addCalendarMonths(anchorMs, o.months)
      : o.kind === 'business-days' ? addBusinessDays(anchorMs, o.days, calendars(o.calendar))
      : anchorMs;
    return { ok: true, due: { dueMs, anchor: expr.anchor, anchorMs, immediate: o.kind === 'immediately', provisional: false, waitingFor: [] } };
  }
  const results = expr.args.map((a) => evaluate(a, events, calendars));
  const waitingFor = [...new Set(results.flatMap((r) => (r.ok ? r.due.waitingFor : r.waitingFor)))];
  const known = results.flatMap((r) => (r.ok ? [r.due] : []));
  // max() needs every term; min() is already bounded by the terms it knows (a cap such as
  // "no later than 24 h after aware" holds before classification), but stays provisional.
  if (known.length === 0 || (expr.kind === 'max' && known.length < results.length)) return { ok: false, waitingFor };
  // The terms' results are fresh objects, so the chosen one may be updated in place.
  const pick = known.reduce((a, b) => ((expr.kind === 'min' ? b.dueMs < a.dueMs : b.dueMs > a.dueMs) ? b : a));
  pick.provisional = waitingFor.length > 0;
  pick.waitingFor = waitingFor;
  return { ok: true, due: pick };
}

const compiled = new WeakMap<Regime, Map<string, BusinessCalendar>>();

function regimeCalendars(regime: Regime): CalendarLookup {
  let cals = compiled.get(regime);
  if (!cals) {
    cals = new Map(Object.entries(regime.calendars).map(([name, spec]) => [name, calendarFor(spec)]));
    compiled.set(regime, cals);
  }
  const found = cals;
  return (name) => {
    const cal = found.get(name);
    // The schema refuses files naming undefined calendars; reaching this is a programming error.
    if (!cal) throw new Error(`regime ${regime.id}: calendar "${name}" is not defined`);
    return cal;
  };
}

/** The organisation's own working-day calendar: its member state's public holidays and time zone. */
export function entityCalendarSpec(profile: OrganisationProfile): CalendarSpec | undefined {
  if (!profile.memberState) return undefined;
  return {
    country: profile.memberState,
    holiday_types: ['public'],
    time_zone: profileTimeZone(profile),
    weekend: [0, 6],
    cutoff: '24:00',
    events_after_cutoff: 'same-day',
  };
}

/** Why relief does or does not apply to this organisation and stage; undefined when it applies. */
function reliefRefusal(regime: Regime, stage: Stage, profile: OrganisationProfile): string | undefined {
  const relief = regime.relief;
  if (!relief) return 'no weekend/holiday relief in this regime';
  if (relief.stages && !relief.stages.includes(stage.id)) return `relief does not cover stage ${stage.id}`;
  if (relief.excluded_entity_types.includes(profile.entityType)) return `relief not available to ${profile.entityType}`;
  const flag = relief.excluded_flags.find((f) => profile.flags.includes(f));
  if (flag) return `relief not available to ${flag} entities`;
  return undefined;
}

/** Updates the freshly evaluated `due` in place with any weekend/holiday relief. */
function applyRelief(due: Due, regime: Regime, stage: Stage, profile: OrganisationProfile, calendars: CalendarLookup): Due {
  const relief = regime.relief;
  if (!relief) return due;
  const refusal = reliefRefusal(regime, stage, profile);
  if (refusal) {
    due.reliefNote = refusal;
    return due;
  }
  if (due.immediate) return due;
  let cal: BusinessCalendar;
  if (relief.calendar === 'entity') {
    const entity = entityCalendar(profile);
    if (!entity) {
      due.reliefNote = 'relief not applied: the profile names no memberState';
      return due;
    }
    cal = entity;
  } else cal = calendars(relief.calendar);
  const { day } = localTime(due.dueMs, cal.timeZone);
  if (cal.isBusinessDay(day)) return due;
  const relieved = instantAt(cal.nextBusinessDay(day), relief.until, cal.timeZone);
  if (relieved > due.dueMs) {
    due.relief = { fromMs: due.dueMs, calendar: relief.calendar === 'entity' ? profile.memberState! : relief.calendar };
    due.dueMs = relieved;
  }
  return due;
}

const entityCalendars = new WeakMap<OrganisationProfile, BusinessCalendar | null>();

function entityCalendar(profile: OrganisationProfile): BusinessCalendar | undefined {
  let cal = entityCalendars.get(profile);
  if (cal === undefined) {
    const spec = entityCalendarSpec(profile);
    cal = spec ? calendarFor(spec) : null;
    entityCalendars.set(profile, cal);
  }
  return cal ?? undefined;
}

function eventMap(events: IncidentEvents): Map<string, number> {
  const map = new Map<string, number>();
  for (const [name, iso] of Object.entries(events)) if (iso !== undefined) map.set(name, toMs(iso, `event ${name}`));
  return map;
}

/** When one stage is due given the events so far, with relief applied where the regime allows it. */
export function stageDue(regime: Regime, stage: Stage, events: IncidentEvents | ReadonlyMap<string, number>, profile: OrganisationProfile): DueResult {
  const map = events instanceof Map ? events : eventMap(events as IncidentEvents);
  const calendars = regimeCalendars(regime);
  const r = evaluate(stage.deadline.expr, map, calendars);
  return r.ok ? { ok: true, due: applyRelief(r.due, regime, stage, profile, calendars) } : r;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** Every stage of a regime: its deadline and state at `now`. */
export function regimeTimeline(
  regime: Regime,
  input: { events: IncidentEvents; now: string | number; profile: OrganisationProfile },
  options: DeadlineOptions = {},
): StageTimeline[] {
  const events = eventMap(input.events);
  const nowMs = typeof input.now === 'number' ? input.now : toMs(input.now, 'now');
  const fraction = options.dueSoonFraction ?? 0.25;
  // Built field by field rather than with object spreads: this is the hot path of the benchmark.
  return regime.stages.map((stage): StageTimeline => {
    const t: StageTimeline = {
      stage: stage.id,
      title: stage.title,
      deadline: stage.deadline.text,
      state: 'not-started',
      waitingFor: [],
      provisional: false,
      immediate: false,
      reasonForDelayRequired: false,
      confidence: stage.confidence,
    };
    const submittedMs = events.get(submittedEvent(stage.id));
    if (submittedMs !== undefined) t.submittedAt = iso(submittedMs);
    const r = stageDue(regime, stage, events, input.profile);
    if (!r.ok) {
      // A stage cannot be late before its anchor exists; a stage submitted early is just submitted.
      t.waitingFor = r.waitingFor;
      if (submittedMs !== undefined) t.state = 'submitted';
      return t;
    }
    const d = r.due;
    t.dueAt = iso(d.dueMs);
    t.anchor = d.anchor;
    t.anchorAt = iso(d.anchorMs);
    t.waitingFor = d.waitingFor;
    t.provisional = d.provisional;
    t.immediate = d.immediate;
    if (d.relief) t.reliefFrom = iso(d.relief.fromMs);
    if (d.reliefNote) t.reliefNote = d.reliefNote;
    if (submittedMs !== undefined) {
      const late = !d.immediate && submittedMs > d.dueMs;
      t.state = late ? 'submitted-late' : 'submitted';
      if (late) {
        t.lateByMinutes = Math.ceil((submittedMs - d.dueMs) / 60_000);
        t.reasonForDelayRequired = stage.late_notice.reason_required;
      }
      return t;
    }
    // "Immediately" has no window to be late against: it stays urgent until submitted.
    if (d.immediate) {
      t.state = 'due-soon';
      t.minutesLeft = 0;
      return t;
    }
    t.minutesLeft = Math.floor((d.dueMs - nowMs) / 60_000);
    if (nowMs > d.dueMs) {
      t.state = 'overdue';
      t.reasonForDelayRequired = stage.late_notice.reason_required;
    } else {
      t.state = d.dueMs - nowMs <= (d.dueMs - d.anchorMs) * fraction ? 'due-soon' : 'pending';
    }
    return t;
  });
}

/** The stages that wait on `stageId`'s submission, for callers that re-plan when it is submitted. */
export function dependentStages(regime: Regime, stageId: string): string[] {
  return regime.stages.filter((s) => anchorsOf(s.deadline.expr).includes(submittedEvent(stageId))).map((s) => s.id);
}
