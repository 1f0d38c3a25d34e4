import { actionSpec, resolvedParams } from './playbooks/actions.js';

/**
 * "Approve with changes": an approver may adjust a step's tuning parameters (how hard to throttle,
 * for how long) while approving it. Only tuning parameters: which key, endpoint or user a step acts
 * on is what the incident is about — changing that is a different step, not an approval.
 *
 * Pure (zod on plain values, no I/O), so the workflow's Update validator, the CLI and the Slack
 * modal share one rule.
 */
export const TUNABLE_PARAMS: Record<string, readonly string[]> = {
  'apigateway.throttle': ['rateLimit', 'burstLimit', 'ttl'],
  wait: ['duration'],
};

export type ParamValue = string | number | boolean;
export type ParamChanges = Record<string, ParamValue>;

export const tunableParams = (action: string): readonly string[] => TUNABLE_PARAMS[action] ?? [];

/**
 * The step's parameters with `changes` applied, or why the changes are refused (naming the field and
 * what was expected). `resolve` fills `${…}` references the way the step will when it runs, so the
 * action's run-time schema checks the values the step would really use.
 */
export function applyParamChanges(
  step: { id: string; action: string; with: Record<string, unknown> },
  changes: unknown,
  resolve: (params: Record<string, unknown>) => Record<string, unknown> = (p) => p,
): { ok: true; with: Record<string, unknown>; changed: { param: string; from: unknown; to: ParamValue }[] } | { ok: false; message: string } {
  if (!changes || typeof changes !== 'object' || Array.isArray(changes)) return { ok: false, message: 'changes must be an object of parameter: value' };
  const tunable = tunableParams(step.action);
  const entries = Object.entries(changes as Record<string, unknown>);
  if (entries.length === 0) return { ok: false, message: 'changes name no parameter' };
  if (tunable.length === 0) return { ok: false, message: `step ${step.id} (${step.action}) has no parameters that can be changed on approval` };
  for (const [k, v] of entries) {
    if (!tunable.includes(k)) return { ok: false, message: `${k}: not a parameter of step ${step.id} that can be changed on approval (expected one of ${tunable.join(', ')})` };
    if (!['string', 'number', 'boolean'].includes(typeof v)) return { ok: false, message: `${k}: expected a number or text` };
  }
  const spec = actionSpec(step.action);
  if (!spec) return { ok: false, message: `step ${step.id}: unknown action ${step.action}` };
  const merged = { ...step.with, ...(changes as ParamChanges) };
  const parsed = resolvedParams(spec).safeParse(resolve(merged));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return { ok: false, message: `${issue.path.join('.') || 'parameters'}: ${issue.message}` };
  }
  const changed = entries.filter(([k, v]) => step.with[k] !== v).map(([param, to]) => ({ param, from: step.with[param], to: to as ParamValue }));
  return { ok: true, with: merged, changed };
}

/**
 * `--set rateLimit=5` values as typed: numbers and true/false become those, anything else stays text.
 * The action's schema then decides whether the type fits.
 */
export function parseSetting(text: string): { param: string; value: ParamValue } | { error: string } {
  const eq = text.indexOf('=');
  if (eq <= 0) return { error: `--set ${text}: expected name=value (e.g. rateLimit=5)` };
  const param = text.slice(0, eq).trim();
  const raw = text.slice(eq + 1).trim();
  if (raw === '') return { error: `--set ${param}: a value is needed` };
  const value: ParamValue = /^-?\d+(\.\d+)?$/.test(raw) ? Number(raw) : raw === 'true' ? true : raw === 'false' ? false : raw;
  return { param, value };
}

/** A value typed into a form field, coerced to the type the parameter has now (a number stays a number). */
export function coerceLike(current: unknown, typed: string): ParamValue {
  const t = typed.trim();
  if (typeof current === 'number' && /^-?\d+(\.\d+)?$/.test(t)) return Number(t);
  if (typeof current === 'boolean' && (t === 'true' || t === 'false')) return t === 'true';
  return t;
}

export const describeChanges = (changed: { param: string; from: unknown; to: ParamValue }[]) =>
  changed.map((c) => `${c.param} ${c.from === undefined ? '(unset)' : JSON.stringify(c.from)} → ${JSON.stringify(c.to)}`).join(', ');
