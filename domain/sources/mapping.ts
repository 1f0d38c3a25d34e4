import { z } from 'zod';
import { isNode, LineCounter, parseDocument } from 'yaml';
import { Endpoint, fieldErrors, Subject, type FieldError } from '../alert.js';
import {
  Candidate,
  SEVERITY_WORDS,
  clip,
  collect,
  compactDetails,
  dedupKeyFor,
  fail,
  instant,
  own,
  scalarString,
  total,
  type NormaliseResult,
} from './common.js';

/**
 * Generic JSON → alert mappings for SIEMs bulwark has no normaliser for, configured in YAML:
 *
 * ```yaml
 * mappings:
 *   - name: acme-siem
 *     match: { "$.vendor": acme, "$.category": [credential, abuse] }   # optional; all must hold
 *     each: "$.events"                 # optional: one alert per array item ($ = item, $$ = whole payload)
 *     fields:
 *       type: "$.detail.kind"          # a string starting with $ is a path, anything else a literal
 *       severity: { path: "$.urgency", map: { P1: critical, P2: high }, default: medium }
 *       observedAt: "$.time"           # ISO-8601, or epoch seconds / milliseconds as a number
 *       dedupKey: "$.id"
 *       subject.clientId: "$.client.id"
 *       subject.endpoint.restApiId: "$.api.id"
 *       details.title: "$.title"
 * ```
 * Paths are dotted keys with `[n]` indexes and `['quoted key']` segments.
 */

// ── paths ────────────────────────────────────────────────────────────────────────────────────────
export type PathSegment = string | number;
export interface JsonPath {
  text: string;
  /** `$$` paths read the whole payload even inside `each`. */
  root: boolean;
  segments: PathSegment[];
}

export function parsePath(text: string): JsonPath | { error: string } {
  let i: number;
  let root = false;
  if (text.startsWith('$$')) {
    root = true;
    i = 2;
  } else if (text.startsWith('$')) i = 1;
  else return { error: 'a path starts with $ (or $$ for the whole payload inside each)' };
  const segments: PathSegment[] = [];
  while (i < text.length) {
    const ch = text[i];
    if (ch === '.') {
      const m = /^[^.[\]'"\s]+/.exec(text.slice(i + 1));
      if (!m) return { error: `expected a key after "." at character ${i + 1}` };
      segments.push(m[0]);
      i += 1 + m[0].length;
    } else if (ch === '[') {
      const rest = text.slice(i);
      const index = /^\[(\d{1,6})\]/.exec(rest);
      const quoted = /^\[(['"])((?:(?!\1).)*)\1\]/.exec(rest);
      if (index) {
        segments.push(Number(index[1]));
        i += index[0].length;
      } else if (quoted) {
        segments.push(quoted[2]!);
        i += quoted[0].length;
      } else return { error: `expected [n] or ['key'] at character ${i + 1}` };
    } else return { error: `unexpected "${ch}" at character ${i + 1}: use .key, [n] or ['key']` };
  }
  if (segments.length > 32) return { error: 'paths are limited to 32 segments' };
  return { text, root, segments };
}

/** Reads a path; own properties and real array indexes only. */
export function readPath(path: JsonPath, item: unknown, whole: unknown = item): unknown {
  let node = path.root ? whole : item;
  for (const seg of path.segments) {
    if (typeof seg === 'number') node = Array.isArray(node) ? node[seg] : undefined;
    else node = Array.isArray(node) ? undefined : own(node, seg);
    if (node === undefined) return undefined;
  }
  return node;
}

// ── schema ───────────────────────────────────────────────────────────────────────────────────────
const pathString = z.string().transform((text, ctx): JsonPath => {
  const p = parsePath(text);
  if ('error' in p) {
    ctx.addIssue({ code: 'custom', message: `bad path "${clip(text, 80)}": ${p.error}` });
    return z.NEVER;
  }
  return p;
});
const scalar = z.union([z.string(), z.number(), z.boolean()]);

const LiteralSpec = z.strictObject({ value: scalar });
const PathSpec = z.strictObject({
  path: pathString,
  map: z.record(z.string(), scalar).optional(),
  default: scalar.optional(),
});
type ParsedSpec = { kind: 'literal'; value: string | number | boolean } | ({ kind: 'path' } & z.output<typeof PathSpec>);

/** A field is a path string ("$.a.b"), a literal string, { value } or { path, map?, default? }; dispatched by shape so errors are specific. */
const FieldSpec = z.unknown().transform((v, ctx): ParsedSpec => {
  const sub = <T>(schema: z.ZodType<T>, value: unknown): T => {
    const r = schema.safeParse(value);
    if (r.success) return r.data;
    for (const issue of r.error.issues) ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path as (string | number)[] });
    return z.NEVER as T;
  };
  if (typeof v === 'string') {
    if (!v.startsWith('$')) return { kind: 'literal', value: v };
    const p = parsePath(v);
    if ('error' in p) {
      ctx.addIssue({ code: 'custom', message: `bad path "${clip(v, 80)}": ${p.error}` });
      return z.NEVER;
    }
    return { kind: 'path', path: p };
  }
  if (typeof v === 'number' || typeof v === 'boolean') return { kind: 'literal', value: v };
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
    if ('value' in v) return { kind: 'literal', value: sub(LiteralSpec, v).value };
    return { kind: 'path', ...sub(PathSpec, v) };
  }
  ctx.addIssue({ code: 'custom', message: 'expected a path ("$.a.b"), a literal, { value } or { path, map?, default? }' });
  return z.NEVER;
});
export type FieldSpec = ParsedSpec;

const SUBJECT_KEYS = Object.keys(Subject.shape).filter((k) => k !== 'endpoint');
const ENDPOINT_KEYS = Object.keys(Endpoint.shape);
export const MAPPABLE_FIELDS = [
  'source',
  'type',
  'severity',
  'observedAt',
  'dedupKey',
  'status',
  ...SUBJECT_KEYS.map((k) => `subject.${k}`),
  ...ENDPOINT_KEYS.map((k) => `subject.endpoint.${k}`),
  'details.<name>',
];

function mappableField(key: string): boolean {
  return (key !== 'details.<name>' && MAPPABLE_FIELDS.includes(key)) || /^details\.[A-Za-z0-9_-]{1,64}$/.test(key);
}

export const SourceMapping = z
  .strictObject({
    name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'expected a lower-case name (letters, digits, - and _), used in /v1/alerts/mapped/<name>'),
    description: z.string().optional(),
    match: z.record(z.string(), z.union([scalar, z.array(scalar).min(1)])).optional(),
    each: pathString.optional(),
    fields: z.record(
      z.string().refine(mappableField, { error: (iss) => `unknown alert field "${String(iss.input)}"; expected one of ${MAPPABLE_FIELDS.join(', ')}` }),
      FieldSpec,
    ),
  })
  .superRefine((m, ctx) => {
    for (const required of ['type', 'severity']) {
      if (!m.fields[required]) ctx.addIssue({ code: 'custom', path: ['fields', required], message: `${required} must be mapped (a path or a literal)` });
    }
    for (const key of Object.keys(m.match ?? {})) {
      const p = parsePath(key);
      if ('error' in p) ctx.addIssue({ code: 'custom', path: ['match', key], message: `bad path: ${p.error}` });
    }
  })
  .transform((m) => ({
    ...m,
    matchPaths: Object.entries(m.match ?? {}).map(([k, v]) => ({ path: parsePath(k) as JsonPath, allowed: (Array.isArray(v) ? v : [v]).map(String) })),
  }));
export type SourceMapping = z.output<typeof SourceMapping>;

export const MappingFile = z
  .strictObject({ mappings: z.array(SourceMapping) })
  .superRefine((f, ctx) => {
    const seen = new Set<string>();
    f.mappings.forEach((m, i) => {
      if (seen.has(m.name)) ctx.addIssue({ code: 'custom', path: ['mappings', i, 'name'], message: `duplicate mapping name "${m.name}"` });
      seen.add(m.name);
    });
  });

/**
 * Parses and validates a mappings YAML file. Errors name file, line and field:
 * `mappings.yaml:7 mappings[0].fields.severity.map: expected record`.
 */
export function parseMappingsYaml(text: string, file = 'mappings.yaml'): { ok: true; mappings: SourceMapping[] } | { ok: false; errors: FieldError[] } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length) {
    return {
      ok: false,
      errors: doc.errors.map((e) => ({ field: `${file}:${e.linePos?.[0]?.line ?? lines.linePos(e.pos[0]).line}`, message: e.message.split('\n')[0]! })),
    };
  }
  const result = MappingFile.safeParse(doc.toJS());
  if (result.success) return { ok: true, mappings: result.data.mappings };
  return {
    ok: false,
    errors: result.error.issues.map((issue) => {
      // Point at the deepest node of the path that exists in the document.
      let line: number | undefined;
      for (let n = issue.path.length; n >= 0 && line === undefined; n--) {
        const node = doc.getIn(issue.path.slice(0, n) as (string | number)[], true);
        if (isNode(node) && node.range) line = lines.linePos(node.range[0]).line;
      }
      const field = fieldErrors(new z.ZodError([issue]))[0]!.field.replace(/\.(\d+)(?=\.|$)/g, '[$1]');
      // zod reports a bad record key as invalid_key with the key schema's own issues nested.
      const message = issue.code === 'invalid_key' ? issue.issues.map((i) => i.message).join('; ') : issue.message;
      return { field: `${file}${line ? `:${line}` : ''} ${field}`, message };
    }),
  };
}

// ── normalising ─────────────────────────────────────────────────────────────────────────────────
export function mappingMatches(mapping: SourceMapping, input: unknown): boolean {
  return mapping.matchPaths.every(({ path, allowed }) => {
    const v = scalarString(readPath(path, input));
    return v !== undefined && allowed.includes(v);
  });
}

/** The field's value; `unmapped` when a present value has no entry in `map` and there is no default. */
function resolveField(spec: FieldSpec, item: unknown, whole: unknown): { value: unknown } | { unmapped: string } {
  if (spec.kind === 'literal') return { value: spec.value };
  let v = readPath(spec.path, item, whole);
  if (spec.map) {
    const key = scalarString(v);
    const hit = key !== undefined && Object.prototype.hasOwnProperty.call(spec.map, key) ? spec.map[key] : undefined;
    if (hit === undefined && key !== undefined && spec.default === undefined) return { unmapped: key };
    v = hit;
  }
  if ((v === undefined || v === null || v === '') && spec.default !== undefined) v = spec.default;
  return { value: v };
}

function toTimestamp(v: unknown): string | undefined {
  if (typeof v === 'number' && Number.isFinite(v) && v > 0) {
    const ms = v < 1e11 ? v * 1000 : v;
    const d = new Date(ms);
    return Number.isFinite(d.getTime()) ? instant(d.toISOString()) : undefined;
  }
  return instant(v);
}

export interface MappedOptions {
  /** Used as observedAt when the mapping has none or the payload lacks it (the intake's receive time). */
  receivedAt?: string;
}

function itemCandidate(mapping: SourceMapping, item: unknown, whole: unknown, at: string, opts: MappedOptions): Candidate | FieldError {
  const c = new Candidate(at || 'payload');
  c.set('source', `mapped:${mapping.name}`);
  let dedupId: string | undefined;
  const origins: Record<string, string> = {};
  for (const [field, spec] of Object.entries(mapping.fields)) {
    // Paths inside `each` are named from the payload root: `$.notables[1].src_ip`.
    const origin =
      spec.kind === 'literal' ? `mapping ${mapping.name}: fields.${field}` : at && !spec.path.root ? `${at}${spec.path.text.slice(1)}` : spec.path.text.replace(/^\$\$/, '$');
    origins[field] = origin;
    const resolved = resolveField(spec, item, whole);
    if ('unmapped' in resolved) {
      const keys = spec.kind === 'path' && spec.map ? Object.keys(spec.map) : [];
      return { field: origin, message: `"${clip(resolved.unmapped, 40)}" is not in the map of fields.${field} (expected ${keys.slice(0, 12).join(', ')})` };
    }
    const raw = resolved.value;
    if (raw === undefined || raw === null) continue;
    if (field === 'observedAt') {
      const ts = toTimestamp(raw);
      if (!ts) return { field: origin, message: 'expected an ISO-8601 timestamp or epoch seconds/milliseconds (alert field observedAt)' };
      c.set(field, ts, origin);
      continue;
    }
    if (field.startsWith('details.')) {
      const safe = compactDetails({ v: raw }).v;
      if (safe !== undefined) c.set(field, safe, origin);
      continue;
    }
    const s = scalarString(raw);
    if (s === undefined) return { field: origin, message: `expected a string or number (alert field ${field})` };
    if (field === 'severity') c.set(field, SEVERITY_WORDS[s.trim().toLowerCase()] ?? s, origin);
    else if (field === 'subject.endpoint.httpMethod') c.set(field, s.toUpperCase(), origin);
    else if (field === 'dedupKey') dedupId = s;
    else c.set(field, s, origin);
  }
  // Prefixed by the source like the native normalisers' keys, so ids of different SIEMs never collide.
  if (dedupId !== undefined) c.set('dedupKey', dedupKeyFor(String(c.value.source), dedupId), origins.dedupKey);
  if (c.value.observedAt === undefined) {
    if (!opts.receivedAt) return { field: 'observedAt', message: `mapping ${mapping.name} yields no observedAt and no receive time was given` };
    c.set('observedAt', opts.receivedAt);
  }
  return c;
}

/** Applies one mapping. A payload its `match` does not fit is refused with the conditions that failed. */
export function normaliseMapped(mapping: SourceMapping, input: unknown, opts: MappedOptions = {}): NormaliseResult {
  return normaliseMappedTotal(mapping, input, opts);
}

const normaliseMappedTotal = total((mapping: SourceMapping, input: unknown, opts: MappedOptions): NormaliseResult => {
  const misses = mapping.matchPaths.filter(({ path, allowed }) => {
    const v = scalarString(readPath(path, input));
    return v === undefined || !allowed.includes(v);
  });
  if (misses.length) {
    return { ok: false, errors: misses.map(({ path, allowed }) => ({ field: path.text, message: `mapping ${mapping.name} needs ${allowed.map((a) => JSON.stringify(a)).join(' or ')}` })) };
  }
  let items: { item: unknown; at: string }[];
  if (mapping.each) {
    const list = readPath(mapping.each, input);
    if (!Array.isArray(list)) return fail(mapping.each.text, `expected an array (mapping ${mapping.name} each)`);
    if (list.length === 0) return fail(mapping.each.text, 'expected at least one item');
    if (list.length > 500) return fail(mapping.each.text, 'expected at most 500 items per payload');
    items = Array.from(list, (item, i) => ({ item, at: `${mapping.each!.text}[${i}]` }));
  } else items = [{ item: input, at: '' }];
  return collect(items.map(({ item, at }) => itemCandidate(mapping, item, input, at, opts)));
});

/** The first mapping whose `match` fits the payload (mappings without `match` fit anything). */
export function normaliseWithMappings(mappings: readonly SourceMapping[], input: unknown, opts: MappedOptions = {}): NormaliseResult {
  const mapping = mappings.find((m) => mappingMatches(m, input));
  if (!mapping) return fail('(root)', `no mapping matches this payload (tried ${mappings.map((m) => m.name).join(', ') || 'none'})`);
  return normaliseMapped(mapping, input, opts);
}
