import { lookup } from './template.js';

/**
 * `when:` conditions, a deliberately small language so a reviewer can read every playbook:
 *   inputs.secretId                         (present and not empty/false)
 *   alert.severity in [high, critical]
 *   steps.disable-keys.status == succeeded and not inputs.dryRun
 *   steps.rotate.output.rotations > 0       (numbers and, for arrays, their length)
 * Operators: and, or, not, ==, !=, >, >=, <, <=, in, parentheses. Values: paths, numbers,
 * quoted or bare words, [lists]. Parsed at load time (errors point at the playbook line) and
 * evaluated deterministically inside the workflow.
 */
export type Expr =
  | { op: 'and' | 'or'; left: Expr; right: Expr }
  | { op: 'not'; expr: Expr }
  | { op: 'cmp'; cmp: '==' | '!=' | '>' | '>=' | '<' | '<=' | 'in'; left: Operand; right: Operand }
  | { op: 'truthy'; value: Operand };

export type Operand = { path: string } | { literal: string | number | boolean } | { list: (string | number)[] };

const ROOTS = new Set(['alert', 'inputs', 'steps', 'incident', 'settings']);
const TOKEN = /\s*(\(|\)|\[|\]|,|==|!=|>=|<=|>|<|"[^"]*"|'[^']*'|[A-Za-z0-9_.:@/*+-]+)/y;

function tokenize(text: string): string[] {
  const tokens: string[] = [];
  TOKEN.lastIndex = 0;
  let pos = 0;
  while (pos < text.length) {
    if (/^\s*$/.test(text.slice(pos))) break;
    TOKEN.lastIndex = pos;
    const m = TOKEN.exec(text);
    if (!m) throw new Error(`unexpected character at position ${pos + 1}: "${text.slice(pos).trim().slice(0, 12)}"`);
    tokens.push(m[1]!);
    pos = TOKEN.lastIndex;
  }
  return tokens;
}

export function parseCondition(text: string): Expr {
  const tokens = tokenize(text);
  let i = 0;
  const peek = () => tokens[i];
  const next = () => {
    const t = tokens[i++];
    if (t === undefined) throw new Error('condition ends too early');
    return t;
  };
  const expect = (t: string) => {
    if (next() !== t) throw new Error(`expected "${t}"`);
  };

  function or(): Expr {
    let left = and();
    while (peek() === 'or') {
      i++;
      left = { op: 'or', left, right: and() };
    }
    return left;
  }
  function and(): Expr {
    let left = unary();
    while (peek() === 'and') {
      i++;
      left = { op: 'and', left, right: unary() };
    }
    return left;
  }
  function unary(): Expr {
    if (peek() === 'not') {
      i++;
      return { op: 'not', expr: unary() };
    }
    if (peek() === '(') {
      i++;
      const e = or();
      expect(')');
      return e;
    }
    const left = operand();
    const t = peek();
    if (t === '==' || t === '!=' || t === '>' || t === '>=' || t === '<' || t === '<=' || t === 'in') {
      i++;
      const right = t === 'in' ? list() : operand();
      return { op: 'cmp', cmp: t, left, right };
    }
    return { op: 'truthy', value: left };
  }
  function list(): Operand {
    expect('[');
    const items: (string | number)[] = [];
    while (peek() !== ']') {
      const o = operand();
      if (!('literal' in o) || typeof o.literal === 'boolean') throw new Error('lists hold plain values only');
      items.push(o.literal);
      if (peek() === ',') i++;
      else if (peek() !== ']') throw new Error('expected "," or "]" in list');
    }
    i++;
    return { list: items };
  }
  function operand(): Operand {
    const t = next();
    if (/^["']/.test(t)) return { literal: t.slice(1, -1) };
    if (/^-?\d+(\.\d+)?$/.test(t)) return { literal: Number(t) };
    if (t === 'true' || t === 'false') return { literal: t === 'true' };
    if (['(', ')', '[', ']', ',', 'and', 'or', 'not', 'in'].includes(t) || /^[=!<>]/.test(t)) throw new Error(`unexpected "${t}"`);
    const root = t.split('.')[0]!;
    return ROOTS.has(root) && t.includes('.') ? { path: t } : { literal: t };
  }

  if (tokens.length === 0) throw new Error('condition is empty');
  const expr = or();
  if (i < tokens.length) throw new Error(`unexpected "${tokens[i]}"`);
  return expr;
}

/** Paths a condition reads, so the loader can check that referenced steps run earlier. */
export function conditionPaths(expr: Expr): string[] {
  switch (expr.op) {
    case 'and':
    case 'or':
      return [...conditionPaths(expr.left), ...conditionPaths(expr.right)];
    case 'not':
      return conditionPaths(expr.expr);
    case 'truthy':
      return 'path' in expr.value ? [expr.value.path] : [];
    case 'cmp':
      return [expr.left, expr.right].flatMap((o) => ('path' in o ? [o.path] : []));
  }
}

function value(o: Operand, ctx: unknown): unknown {
  if ('path' in o) {
    const v = lookup(ctx, o.path);
    return Array.isArray(v) ? v.length : v;
  }
  return 'literal' in o ? o.literal : o.list;
}

function truthy(v: unknown): boolean {
  return !(v === undefined || v === null || v === false || v === '' || v === 0);
}

export function evaluate(expr: Expr, ctx: unknown): boolean {
  switch (expr.op) {
    case 'and':
      return evaluate(expr.left, ctx) && evaluate(expr.right, ctx);
    case 'or':
      return evaluate(expr.left, ctx) || evaluate(expr.right, ctx);
    case 'not':
      return !evaluate(expr.expr, ctx);
    case 'truthy':
      return truthy(value(expr.value, ctx));
    case 'cmp': {
      const l = value(expr.left, ctx);
      const r = value(expr.right, ctx);
      switch (expr.cmp) {
        case '==':
          return String(l) === String(r);
        case '!=':
          return String(l) !== String(r);
        case 'in':
          return Array.isArray(r) && r.some((x) => String(x) === String(l));
        default: {
          if (typeof l !== 'number' || typeof r !== 'number') return false;
          return expr.cmp === '>' ? l > r : expr.cmp === '>=' ? l >= r : expr.cmp === '<' ? l < r : l <= r;
        }
      }
    }
  }
}
