import { createHash } from 'node:crypto';
import { z } from 'zod';
import { parseAlert, type Alert, type FieldError, type Severity } from '../alert.js';

/**
 * Shared plumbing for the source normalisers. Everything here is pure and total: it inspects
 * `unknown` values defensively (typeof checks, own-property reads only) so no input can make a
 * normaliser throw.
 */
export type NormaliseResult = { ok: true; alerts: Alert[] } | { ok: false; errors: FieldError[] };

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type Rec = Record<string, unknown>;

export function isRecord(v: unknown): v is Rec {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Own enumerable property only, never the prototype chain (`constructor`, `__proto__` …). */
export function own(obj: unknown, key: string): unknown {
  if (!isRecord(obj) && !Array.isArray(obj)) return undefined;
  return Object.prototype.hasOwnProperty.call(obj, key) ? (obj as Rec)[key] : undefined;
}

/**
 * GuardDuty and ASFF are camelCase over EventBridge but PascalCase from the SDKs (GetFindings,
 * boto3 dumps, re-publishers): try the key as given, then with its first letter flipped.
 */
export function prop(obj: unknown, key: string): unknown {
  const direct = own(obj, key);
  if (direct !== undefined) return direct;
  const first = key.charAt(0);
  const flipped = (first === first.toUpperCase() ? first.toLowerCase() : first.toUpperCase()) + key.slice(1);
  return own(obj, flipped);
}

/** Follows `prop` through a dotted path of keys. */
export function dig(obj: unknown, path: string): unknown {
  let node = obj;
  for (const key of path.split('.')) {
    node = prop(node, key);
    if (node === undefined) return undefined;
  }
  return node;
}

export function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

/** Strings and finite numbers (ids sometimes arrive as numbers) as a string. */
export function scalarString(v: unknown): string | undefined {
  if (typeof v === 'string') return v.length > 0 ? v : undefined;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v === 'boolean') return String(v);
  return undefined;
}

export function num(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v.trim())) return Number(v.trim());
  return undefined;
}

export function clip(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

/**
 * A JSON-safe, size-bounded copy for `details` (it travels in workflow history): only strings,
 * finite numbers, booleans and null, nested objects/arrays to `depth`, long strings clipped.
 * Anything else (BigInt, functions, symbols, Dates, Maps …) is dropped.
 */
export function jsonSafe(v: unknown, depth = 3, budget = { left: 200 }): Json | undefined {
  if (budget.left <= 0) return undefined;
  budget.left--;
  if (v === null) return null;
  if (typeof v === 'string') return clip(v, 1024);
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'boolean') return v;
  if (depth <= 0) return undefined;
  if (Array.isArray(v)) {
    const out: Json[] = [];
    for (const item of v.slice(0, 20)) {
      const safe = jsonSafe(item, depth - 1, budget);
      if (safe !== undefined) out.push(safe);
    }
    return out;
  }
  if (isRecord(v) && (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null)) {
    const out: { [k: string]: Json } = {};
    for (const key of Object.keys(v).slice(0, 50)) {
      if (key === '__proto__') continue;
      const safe = jsonSafe(v[key], depth - 1, budget);
      if (safe !== undefined) out[clip(key, 128)] = safe;
    }
    return out;
  }
  return undefined;
}

/** Keeps only the defined, JSON-safe entries. */
export function compactDetails(entries: Record<string, unknown>): Record<string, Json> {
  const out: Record<string, Json> = {};
  for (const [k, v] of Object.entries(entries)) {
    if (v === undefined) continue;
    const safe = jsonSafe(v);
    if (safe !== undefined) out[k] = safe;
  }
  return out;
}

const isoInstant = z.iso.datetime({ offset: true });

/**
 * An ISO-8601 instant as the alert schema wants it. Already-valid strings are kept as sent
 * (Alertmanager's nanosecond precision included); other parseable date strings (e.g. GuardDuty's
 * occasional `2024-01-01 10:00:00` forms) are converted to UTC; anything else is undefined.
 */
export function instant(v: unknown): string | undefined {
  if (typeof v !== 'string' || v.length === 0 || v.length > 64) return undefined;
  if (isoInstant.safeParse(v).success) return v;
  if (!/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}/.test(v)) return undefined;
  const ms = Date.parse(v.replace(' ', 'T'));
  if (!Number.isFinite(ms)) return undefined;
  const iso = new Date(ms).toISOString();
  return isoInstant.safeParse(iso).success ? iso : undefined;
}

/** Go's zero time: what Alertmanager sends as `endsAt` of an alert that has not ended. */
export function isZeroTime(v: string): boolean {
  return v.startsWith('0001-01-01');
}

/** A dedup key within the schema's 256 characters: long ids (ASFF ARNs can be 512) are hashed. */
export function dedupKeyFor(source: string, id: string): string {
  const key = `${source}:${id}`;
  return key.length <= 256 ? key : `${source}:sha256:${createHash('sha256').update(id).digest('hex')}`;
}

const ipAddress = z.union([z.ipv4(), z.ipv6()]);
export function ipOrUndefined(v: unknown): string | undefined {
  return typeof v === 'string' && ipAddress.safeParse(v).success ? v : undefined;
}

export const ACCESS_KEY_ID = /^(AKIA|ASIA)[A-Z0-9]{12,124}$/;
export const ACCOUNT_ID = /^\d{12}$/;

/**
 * An alert under construction, remembering where each field came from in the native payload so
 * schema errors name the vendor's field (`detail.resource.accessKeyDetails.accessKeyId`) rather
 * than ours alone.
 */
export class Candidate {
  readonly value: Rec = { subject: {} };
  private readonly origins = new Map<string, string>();

  constructor(private readonly at: string) {}

  /** Sets an alert field (`severity`, `subject.clientId`, `subject.endpoint.stage`) from a native path. */
  set(field: string, value: unknown, origin?: string): this {
    if (value === undefined) return this;
    const parts = field.split('.');
    let node = this.value;
    for (const part of parts.slice(0, -1)) {
      if (!isRecord(node[part])) node[part] = {};
      node = node[part] as Rec;
    }
    node[parts[parts.length - 1]!] = value;
    if (origin !== undefined) this.origins.set(field, origin);
    return this;
  }

  origin(field: string): string | undefined {
    return this.origins.get(field);
  }

  /** Validates against the alert schema; errors are named by native path where one is known. */
  finish(): { ok: true; alert: Alert } | { ok: false; errors: FieldError[] } {
    const parsed = parseAlert(this.value);
    if (parsed.ok) return { ok: true, alert: parsed.value };
    return {
      ok: false,
      errors: parsed.errors.map((e) => {
        const from = this.originFor(e.field);
        if (from) return { field: from, message: `${e.message} (alert field ${e.field})` };
        return { field: e.field, message: this.at ? `${e.message} (in ${this.at})` : e.message };
      }),
    };
  }

  private originFor(field: string): string | undefined {
    // The longest recorded alert field that is a prefix of the error's field.
    for (let f = field; f.length > 0; f = f.includes('.') ? f.slice(0, f.lastIndexOf('.')) : '') {
      const o = this.origins.get(f);
      if (o) return o;
    }
    return undefined;
  }
}

/**
 * All-or-nothing: one bad entry refuses the whole payload, so nothing is half-applied. Every
 * entry is still checked, so the refusal lists the errors of all of them, in payload order.
 */
export function collect(items: (Candidate | FieldError)[]): NormaliseResult {
  const alerts: Alert[] = [];
  const errors: FieldError[] = [];
  for (const item of items) {
    if (!(item instanceof Candidate)) {
      errors.push(item);
      continue;
    }
    const r = item.finish();
    if (r.ok) alerts.push(r.alert);
    else errors.push(...r.errors);
  }
  return errors.length ? { ok: false, errors } : { ok: true, alerts };
}

export function fail(field: string, message: string): NormaliseResult {
  return { ok: false, errors: [{ field, message }] };
}

/**
 * Last line of defence for `NormaliseResult`-returning functions. The property tests assert the
 * message below never appears, i.e. that the normalisers are total without relying on it.
 */
export const INTERNAL_ERROR = 'normaliser failed unexpectedly';
export function total<A extends unknown[]>(fn: (...args: A) => NormaliseResult): (...args: A) => NormaliseResult {
  return (...args: A) => {
    try {
      return fn(...args);
    } catch (err) {
      return fail('(root)', `${INTERNAL_ERROR}: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
}

export const SEVERITY_WORDS: Record<string, Severity> = {
  low: 'low',
  informational: 'low',
  info: 'low',
  none: 'low',
  medium: 'medium',
  moderate: 'medium',
  warning: 'medium',
  warn: 'medium',
  high: 'high',
  error: 'high',
  major: 'high',
  critical: 'critical',
  page: 'critical',
  emergency: 'critical',
};

/** Where a payload's findings are, each with its path for error messages; or why it has none. */
export type LocatedFindings = { findings: { value: unknown; at: string }[] } | { error: NormaliseResult };

/** Findings listed under `key` (e.g. `findings`), or the payload itself as the one finding. */
export function findingsListOrSelf(input: Rec, key: string, what: string): LocatedFindings {
  const list = prop(input, key);
  if (list !== undefined) {
    if (!Array.isArray(list)) return { error: fail(key, `expected an array of ${what}`) };
    return { findings: Array.from(list, (value, i) => ({ value, at: `${key}[${i}]` })) };
  }
  return { findings: [{ value: input, at: '' }] };
}

/** 1–100 findings, each normalised; every entry's errors are reported, none half-accepted. */
export function normaliseFindings(located: LocatedFindings, field: string, candidate: (value: unknown, at: string) => Candidate | FieldError): NormaliseResult {
  if ('error' in located) return located.error;
  if (located.findings.length === 0) return fail(field, 'expected at least one finding');
  if (located.findings.length > 100) return fail(field, 'expected at most 100 findings per payload');
  return collect(located.findings.map(({ value, at }) => candidate(value, at)));
}
