import { wildcardMatch, type PolicyDocument, type PolicyStatement } from './iam-policy.js';

/**
 * A small evaluator for the `Condition` blocks of the policies domain/iam-policy.ts generates, so
 * the least-privilege proof (test/iam-policy.test.ts) judges each recorded call the way IAM would,
 * tag and alias conditions included, instead of on Action and Resource alone. Pure: the caller
 * supplies the request context (a resource's tags as `aws:ResourceTag/<key>`, a KMS key's aliases
 * as `kms:ResourceAliases`, …), read from the real resources.
 *
 * The subset of IAM semantics evaluated — anything outside it is refused (fail closed), never guessed:
 *  - Allow statements only (the generated policies have no Deny); a call is allowed when some
 *    statement matches its action (case-insensitive wildcards), its resource (wildcards) and all
 *    of its conditions.
 *  - Operators: StringEquals, StringNotEquals, StringEqualsIgnoreCase, StringNotEqualsIgnoreCase,
 *    StringLike, StringNotLike (`*` and `?`), and Null; each String operator may carry `IfExists`
 *    and a `ForAnyValue:` / `ForAllValues:` set qualifier. No policy variables (`${aws:…}`), no
 *    numeric, date, ARN, IP or Bool operators, no NotAction / NotResource / Deny.
 *  - Everything in a Condition is ANDed: every operator block, and every key within a block. The
 *    values listed for one key are ORed (for negated operators: the context value must match none).
 *  - Condition key names compare case-insensitively (as in IAM), values case-sensitively (except
 *    the IgnoreCase operators).
 *  - A key absent from the context: positive operators and ForAnyValue fail; negated operators,
 *    ForAllValues and `…IfExists` pass; Null checks presence (`"true"` = must be absent).
 *  - A multi-valued context key (e.g. kms:ResourceAliases) needs a set qualifier; without one the
 *    condition is refused rather than given IAM's single-value reading.
 */

export type ConditionValue = string | readonly string[];
/** The request context: condition key → value(s). Keys compare case-insensitively. */
export type RequestContext = Readonly<Record<string, ConditionValue | undefined>>;

export type Verdict = { allowed: true; statement: string } | { allowed: false; reason: string };
export type ConditionVerdict = { ok: true } | { ok: false; reason: string };

const STRING_OPERATORS = new Set(['StringEquals', 'StringNotEquals', 'StringEqualsIgnoreCase', 'StringNotEqualsIgnoreCase', 'StringLike', 'StringNotLike']);

function lookup(context: RequestContext, key: string): ConditionValue | undefined {
  const wanted = key.toLowerCase();
  for (const [k, v] of Object.entries(context)) if (k.toLowerCase() === wanted) return v;
  return undefined;
}

const asList = (v: ConditionValue): readonly string[] => (typeof v === 'string' ? [v] : v);

function matchOne(base: string, policyValue: string, contextValue: string): boolean {
  switch (base) {
    case 'StringEquals':
    case 'StringNotEquals':
      return policyValue === contextValue;
    case 'StringEqualsIgnoreCase':
    case 'StringNotEqualsIgnoreCase':
      return policyValue.toLowerCase() === contextValue.toLowerCase();
    default: // StringLike, StringNotLike
      return wildcardMatch(policyValue, contextValue);
  }
}

/** One `Operator: { key: values }` entry for one key. */
function evaluateKey(operator: string, key: string, policyValues: readonly string[], context: RequestContext): ConditionVerdict {
  const fail = (why: string): ConditionVerdict => ({ ok: false, reason: `${operator} ${key}: ${why}` });
  const present = lookup(context, key);
  const shown = present === undefined ? 'absent' : JSON.stringify(present);
  if (operator === 'Null') {
    if (policyValues.length !== 1 || !['true', 'false'].includes(policyValues[0]!)) return fail(`expected "true" or "false", got ${JSON.stringify(policyValues)}`);
    const mustBeAbsent = policyValues[0] === 'true';
    return (present === undefined) === mustBeAbsent ? { ok: true } : fail(mustBeAbsent ? `must be absent, is ${shown}` : 'must be present, is absent');
  }
  const [qualifier, rest] = operator.includes(':') ? (operator.split(':', 2) as [string, string]) : [undefined, operator];
  if (qualifier !== undefined && qualifier !== 'ForAnyValue' && qualifier !== 'ForAllValues') return fail(`unsupported set qualifier ${qualifier} (evaluated: ForAnyValue, ForAllValues)`);
  const ifExists = rest.endsWith('IfExists');
  const base = ifExists ? rest.slice(0, -'IfExists'.length) : rest;
  if (!STRING_OPERATORS.has(base)) return fail(`unsupported operator (evaluated: ${[...STRING_OPERATORS].join(', ')}, Null, with IfExists and ForAnyValue/ForAllValues)`);
  if (policyValues.some((v) => v.includes('${'))) return fail('policy variables are not evaluated');
  const negated = base.includes('Not');
  const anyPolicyValue = (c: string) => policyValues.some((p) => matchOne(base, p, c));
  // A negated operator holds when the context value matches none of the listed values.
  const holds = (c: string) => (negated ? !anyPolicyValue(c) : anyPolicyValue(c));

  if (present === undefined) {
    if (ifExists || qualifier === 'ForAllValues' || (negated && qualifier === undefined)) return { ok: true };
    return fail('the request has no value for this key');
  }
  const values = asList(present);
  if (qualifier === 'ForAnyValue') return values.some(holds) ? { ok: true } : fail(`no value of ${shown} matches ${JSON.stringify(policyValues)}`);
  if (qualifier === 'ForAllValues') return values.every(holds) ? { ok: true } : fail(`not every value of ${shown} matches ${JSON.stringify(policyValues)}`);
  if (typeof present !== 'string') return fail(`the key is multi-valued (${shown}): a ForAnyValue/ForAllValues qualifier is needed`);
  return holds(present) ? { ok: true } : fail(`${shown} ${negated ? 'matches one of' : 'matches none of'} ${JSON.stringify(policyValues)}`);
}

/** Every operator block and every key in it must hold; the first that does not is the reason. */
export function evaluateCondition(condition: PolicyStatement['Condition'] | undefined, context: RequestContext): ConditionVerdict {
  for (const [operator, keys] of Object.entries(condition ?? {})) {
    for (const [key, values] of Object.entries(keys)) {
      const v = evaluateKey(operator, key, asList(values), context);
      if (!v.ok) return v;
    }
  }
  return { ok: true };
}

/**
 * Whether the policy allows the call: some Allow statement matches its action, its resource and
 * (in this request context) its conditions. A denial says why: no statement names the action and
 * resource, or the conditions of each statement that does, and which key failed.
 */
export function authorize(policy: PolicyDocument, call: { action: string; resource: string; context?: RequestContext }): Verdict {
  const candidates = policy.Statement.filter(
    (s) => s.Effect === 'Allow' && s.Action.some((a) => wildcardMatch(a, call.action, true)) && s.Resource.some((r) => wildcardMatch(r, call.resource)),
  );
  if (candidates.length === 0) return { allowed: false, reason: `no statement allows ${call.action} on ${call.resource}` };
  const refused: string[] = [];
  for (const s of candidates) {
    const v = evaluateCondition(s.Condition, call.context ?? {});
    if (v.ok) return { allowed: true, statement: s.Sid };
    refused.push(`${s.Sid}: ${v.reason}`);
  }
  return { allowed: false, reason: `${call.action} on ${call.resource}: condition not met (${refused.join('; ')})` };
}
