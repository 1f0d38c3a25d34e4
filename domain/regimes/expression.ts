/**
 * The deadline expression language of regime files, parsed once when a file is loaded:
 *
 *   +4h after classified                          hours on UTC instants
 *   +3d after aware                               d = 24 h on UTC instants (not local calendar days)
 *   +1 calendar month after stage:intermediate.submitted   month arithmetic, clamped to month end
 *   +4 business days(US-SEC) after determined-material     a named calendar of the regime file
 *   immediately after aware                       no measurable window ("immediately", "promptly")
 *   min(+4h after classified, +24h after aware)   the earliest of several (a cap)
 *   +4h after classified, cap +24h after aware    the same as the min() above
 *   max(a, b)                                     the latest of several
 *
 * Anchors are incident events (aware, classified, determined-material, payment-made, …) or another
 * stage's submission (stage:<id>.submitted), which is how reports chain.
 */

export type Offset =
  | { kind: 'hours'; hours: number }
  | { kind: 'calendar-months'; months: number }
  | { kind: 'business-days'; days: number; calendar: string }
  | { kind: 'immediately' };

export type DeadlineExpr =
  | { kind: 'after'; offset: Offset; anchor: string }
  | { kind: 'min' | 'max'; args: DeadlineExpr[] };

export type ParsedDeadline = { ok: true; expr: DeadlineExpr } | { ok: false; error: string };

const ANCHOR = String.raw`(stage:[a-z][a-z0-9-]*\.submitted|[a-z][a-z0-9-]*)`;
const HOURS = new RegExp(String.raw`^\+\s*(\d+)\s*(h|hours?|d|days?)\s+after\s+${ANCHOR}$`);
const MONTHS = new RegExp(String.raw`^\+\s*(\d+)\s+calendar\s+months?\s+after\s+${ANCHOR}$`);
const BUSINESS = new RegExp(String.raw`^\+\s*(\d+)\s+business\s+days?\s*\(\s*([A-Za-z0-9_-]+)\s*\)\s+after\s+${ANCHOR}$`);
const IMMEDIATELY = new RegExp(String.raw`^immediately\s+after\s+${ANCHOR}$`);

const EXAMPLE = 'expected e.g. "+4h after classified", "+1 calendar month after stage:initial.submitted", "+4 business days(US-SEC) after determined-material" or "min(a, b)"';

/** Splits on commas that are not inside parentheses; null when parentheses do not balance. */
function splitTopLevel(text: string): string[] | null {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '(') depth++;
    else if (c === ')') {
      depth--;
      if (depth < 0) return null;
    } else if (c === ',' && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  if (depth !== 0) return null;
  parts.push(text.slice(start));
  return parts.map((p) => p.trim());
}

function parseTerm(text: string): DeadlineExpr | string {
  let m = HOURS.exec(text);
  if (m) {
    const n = Number(m[1]);
    const perUnit = m[2]!.startsWith('d') ? 24 : 1;
    return { kind: 'after', offset: { kind: 'hours', hours: n * perUnit }, anchor: m[3]! };
  }
  if ((m = MONTHS.exec(text))) return { kind: 'after', offset: { kind: 'calendar-months', months: Number(m[1]) }, anchor: m[2]! };
  if ((m = BUSINESS.exec(text))) {
    return { kind: 'after', offset: { kind: 'business-days', days: Number(m[1]), calendar: m[2]! }, anchor: m[3]! };
  }
  if ((m = IMMEDIATELY.exec(text))) return { kind: 'after', offset: { kind: 'immediately' }, anchor: m[1]! };
  return `cannot parse "${text}" (${EXAMPLE})`;
}

function parseExpr(raw: string): DeadlineExpr | string {
  const text = raw.trim().replace(/\s+/g, ' ');
  if (!text) return `cannot parse an empty deadline (${EXAMPLE})`;
  const fn = /^(min|max)\s*\((.*)\)$/.exec(text);
  if (fn) {
    const parts = splitTopLevel(fn[2]!);
    if (!parts) return `cannot parse "${text}": unbalanced parentheses`;
    if (parts.length < 2) return `cannot parse "${text}": ${fn[1]}() needs at least two deadlines`;
    const args: DeadlineExpr[] = [];
    for (const p of parts) {
      const e = parseExpr(p);
      if (typeof e === 'string') return e;
      args.push(e);
    }
    return { kind: fn[1] as 'min' | 'max', args };
  }
  const parts = splitTopLevel(text);
  if (parts && parts.length > 1) {
    // "A, cap B, cap C" reads as the reference phrases it and means min(A, B, C).
    const [first, ...caps] = parts;
    const args: DeadlineExpr[] = [];
    for (const [i, p] of [first!, ...caps].entries()) {
      const body = i === 0 ? p : /^cap\s+(.*)$/.exec(p)?.[1];
      if (body === undefined) return `cannot parse "${text}": expected "cap <deadline>" after the comma`;
      const e = parseExpr(body);
      if (typeof e === 'string') return e;
      args.push(e);
    }
    return { kind: 'min', args };
  }
  return parseTerm(text);
}

export function parseDeadline(text: string): ParsedDeadline {
  const r = parseExpr(text);
  return typeof r === 'string' ? { ok: false, error: r } : { ok: true, expr: r };
}

/** Every anchor an expression refers to, in order of appearance. */
export function anchorsOf(expr: DeadlineExpr): string[] {
  return expr.kind === 'after' ? [expr.anchor] : expr.args.flatMap(anchorsOf);
}

/** Every business-day calendar an expression refers to. */
export function calendarsOf(expr: DeadlineExpr): string[] {
  if (expr.kind === 'after') return expr.offset.kind === 'business-days' ? [expr.offset.calendar] : [];
  return expr.args.flatMap(calendarsOf);
}

/** The stage id in "stage:<id>.submitted", or undefined for an incident event. */
export function stageOfAnchor(anchor: string): string | undefined {
  return /^stage:([a-z][a-z0-9-]*)\.submitted$/.exec(anchor)?.[1];
}

export const submittedEvent = (stageId: string) => `stage:${stageId}.submitted`;
