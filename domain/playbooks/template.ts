/**
 * `${alert.subject.clientId}`-style references in playbook inputs and step parameters.
 * A value that is exactly one reference takes the referenced value as is (an endpoint object, a
 * number); references inside longer text are interpolated as strings. Unknown paths resolve to
 * undefined so a step can be skipped by its `when` instead of failing on a missing field.
 */
const WHOLE = /^\$\{\s*([A-Za-z_][\w-]*(?:\.[\w-]+)*)\s*\}$/;
const EMBEDDED = /\$\{\s*([A-Za-z_][\w-]*(?:\.[\w-]+)*)\s*\}/g;

export const TEMPLATE_ROOTS = ['alert', 'inputs', 'steps', 'incident', 'settings'] as const;

export function isTemplate(value: unknown): value is string {
  return typeof value === 'string' && value.includes('${');
}

/** Every path a value references, for load-time checks (known roots, steps that exist earlier). */
export function referencedPaths(value: unknown): string[] {
  if (typeof value === 'string') return [...value.matchAll(EMBEDDED)].map((m) => m[1]!);
  if (Array.isArray(value)) return value.flatMap(referencedPaths);
  if (value && typeof value === 'object') return Object.values(value).flatMap(referencedPaths);
  return [];
}

export function lookup(context: unknown, path: string): unknown {
  let cur: unknown = context;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

/**
 * Resolves references against `context`. With `only`, references to other roots are left as text
 * (a plan resolves alert and inputs up front; step outputs exist only once the steps have run).
 */
export function resolveTemplates(value: unknown, context: unknown, only?: readonly string[]): unknown {
  const deferred = (path: string) => only !== undefined && !only.includes(path.split('.')[0]!);
  if (typeof value === 'string') {
    const whole = WHOLE.exec(value);
    if (whole) return deferred(whole[1]!) ? value : lookup(context, whole[1]!);
    if (!value.includes('${')) return value;
    if (referencedPaths(value).some(deferred)) return value;
    let missing = false;
    const text = value.replace(EMBEDDED, (_, path: string) => {
      const v = lookup(context, path);
      if (v === undefined || v === null) missing = true;
      return typeof v === 'object' ? JSON.stringify(v) : String(v);
    });
    return missing ? undefined : text;
  }
  if (Array.isArray(value)) return value.map((v) => resolveTemplates(v, context, only));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const r = resolveTemplates(v, context, only);
      if (r !== undefined) out[k] = r;
    }
    return out;
  }
  return value;
}
