import { TZDate } from '@date-fns/tz';
import Holidays, { type HolidaysTypes } from 'date-holidays';

/**
 * Working days in one place: a country's (or exchange's) holidays from date-holidays, a weekend,
 * a time zone, and a cut-off time of day. Day arithmetic is on local calendar dates; instants only
 * appear at the edges (which local day does an instant fall on, which instant is 12:00 that day).
 */
export interface CalendarSpec {
  country: string;
  region?: string;
  holiday_types: HolidaysTypes.HolidayType[];
  time_zone: string;
  /** 0 = Sunday … 6 = Saturday. */
  weekend: number[];
  /** "HH:MM" local: business-day deadlines fall due at this time; "24:00" is the end of the day. */
  cutoff: string;
  /** An anchor event after the cut-off either counts from its own day or from the next business day. */
  events_after_cutoff: 'same-day' | 'next-business-day';
}

export interface LocalDay {
  y: number;
  /** 1–12 */
  m: number;
  d: number;
}

const DAY_MS = 86_400_000;

const dayKey = (day: LocalDay) => `${day.y}-${String(day.m).padStart(2, '0')}-${String(day.d).padStart(2, '0')}`;

/** Calendar-date arithmetic on a proleptic calendar; time zones play no part here. */
export function addDays(day: LocalDay, n: number): LocalDay {
  const t = new Date(Date.UTC(day.y, day.m - 1, day.d) + n * DAY_MS);
  return { y: t.getUTCFullYear(), m: t.getUTCMonth() + 1, d: t.getUTCDate() };
}

const weekdayOf = (day: LocalDay) => new Date(Date.UTC(day.y, day.m - 1, day.d)).getUTCDay();

export function parseClock(text: string): { h: number; min: number } {
  const m = /^(\d{2}):(\d{2})$/.exec(text);
  if (!m) throw new Error(`expected HH:MM, got "${text}"`);
  return { h: Number(m[1]), min: Number(m[2]) };
}

export function isValidTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

let countries: Set<string> | undefined;
export function isKnownCountry(code: string): boolean {
  countries ??= new Set(Object.keys(new Holidays().getCountries()));
  return countries.has(code);
}

/** The local date and minutes past midnight of an instant in a time zone. */
export function localTime(ms: number, timeZone: string): { day: LocalDay; minutes: number } {
  const t = new TZDate(ms, timeZone);
  return { day: { y: t.getFullYear(), m: t.getMonth() + 1, d: t.getDate() }, minutes: t.getHours() * 60 + t.getMinutes() };
}

/** The instant of a local wall-clock time; "24:00" is midnight at the end of that day. */
export function instantAt(day: LocalDay, clock: string, timeZone: string): number {
  const { h, min } = parseClock(clock);
  const target = h === 24 ? addDays(day, 1) : day;
  return new TZDate(target.y, target.m - 1, target.d, h === 24 ? 0 : h, min, 0, 0, timeZone).getTime();
}

export class BusinessCalendar {
  private readonly holidays: Holidays;
  private readonly byYear = new Map<number, Set<string>>();
  private readonly weekend: Set<number>;
  readonly cutoffMinutes: number;

  constructor(readonly spec: CalendarSpec) {
    this.holidays = spec.region
      ? new Holidays(spec.country, spec.region, { types: spec.holiday_types })
      : new Holidays(spec.country, { types: spec.holiday_types });
    this.weekend = new Set(spec.weekend);
    const { h, min } = parseClock(spec.cutoff);
    this.cutoffMinutes = h * 60 + min;
  }

  get timeZone(): string {
    return this.spec.time_zone;
  }

  private holidaySet(year: number): Set<string> {
    let set = this.byYear.get(year);
    if (!set) {
      // date-holidays gives local dates as "YYYY-MM-DD hh:mm:ss"; the date part is what counts.
      set = new Set(this.holidays.getHolidays(year).map((h) => h.date.slice(0, 10)));
      this.byYear.set(year, set);
    }
    return set;
  }

  isHoliday(day: LocalDay): boolean {
    return this.holidaySet(day.y).has(dayKey(day));
  }

  isBusinessDay(day: LocalDay): boolean {
    return !this.weekend.has(weekdayOf(day)) && !this.isHoliday(day);
  }

  /** The first business day strictly after `day`. */
  nextBusinessDay(day: LocalDay): LocalDay {
    let d = addDays(day, 1);
    // A year has far fewer than 30 consecutive non-business days; the bound guards bad data.
    for (let i = 0; i < 30 && !this.isBusinessDay(d); i++) d = addDays(d, 1);
    return d;
  }

  /** The day `n` business days after `day` (day itself is day 0 and need not be a business day). */
  addBusinessDays(day: LocalDay, n: number): LocalDay {
    let d = day;
    for (let i = 0; i < n; i++) d = this.nextBusinessDay(d);
    return d;
  }

  /** The business day an event counts from: its own local day, or the next one after the cut-off. */
  countingDay(ms: number): LocalDay {
    const { day, minutes } = localTime(ms, this.timeZone);
    if (this.spec.events_after_cutoff === 'next-business-day' && this.isBusinessDay(day) && minutes >= this.cutoffMinutes) {
      return this.nextBusinessDay(day);
    }
    return day;
  }
}

/** Member-state time zones, so an organisation profile may name only its member state. */
export const MEMBER_STATE_TIME_ZONES: Readonly<Record<string, string>> = {
  AT: 'Europe/Vienna', BE: 'Europe/Brussels', BG: 'Europe/Sofia', HR: 'Europe/Zagreb', CY: 'Asia/Nicosia',
  CZ: 'Europe/Prague', DK: 'Europe/Copenhagen', EE: 'Europe/Tallinn', FI: 'Europe/Helsinki', FR: 'Europe/Paris',
  DE: 'Europe/Berlin', GR: 'Europe/Athens', HU: 'Europe/Budapest', IE: 'Europe/Dublin', IT: 'Europe/Rome',
  LV: 'Europe/Riga', LT: 'Europe/Vilnius', LU: 'Europe/Luxembourg', MT: 'Europe/Malta', NL: 'Europe/Amsterdam',
  PL: 'Europe/Warsaw', PT: 'Europe/Lisbon', RO: 'Europe/Bucharest', SK: 'Europe/Bratislava', SI: 'Europe/Ljubljana',
  ES: 'Europe/Madrid', SE: 'Europe/Stockholm', GB: 'Europe/London', NO: 'Europe/Oslo', IS: 'Atlantic/Reykjavik', LI: 'Europe/Vaduz',
};

const cache = new Map<string, BusinessCalendar>();

/** Building a date-holidays instance is costly; calendars are immutable, so share them by spec. */
export function calendarFor(spec: CalendarSpec): BusinessCalendar {
  const key = JSON.stringify(spec);
  let cal = cache.get(key);
  if (!cal) {
    cal = new BusinessCalendar(spec);
    cache.set(key, cal);
  }
  return cal;
}
