import { createHash } from 'node:crypto';
import { isMap, isSeq, LineCounter, parseDocument, type Node } from 'yaml';
import type { z } from 'zod';
import { canonicalJson } from '../fingerprint.js';
import { PlaybookDoc } from './schema.js';

/** One problem in a playbook file, located so an editor can jump to it. */
export interface PlaybookError {
  file: string;
  line: number;
  field: string;
  message: string;
}

export const formatPlaybookError = (e: PlaybookError) => `${e.file}:${e.line} ${e.field}: ${e.message}`;

export interface LoadedPlaybook {
  file: string;
  doc: PlaybookDoc;
  /** sha256 of the canonical document: shows exactly which text an incident ran. */
  digest: string;
}

export type PlaybookLoad = { ok: true; playbook: LoadedPlaybook } | { ok: false; errors: PlaybookError[] };

/** `steps[2].with.rateLimit` from zod's path. */
export function fieldPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : `${out ? '.' : ''}${String(p)}`;
  return out || '(root)';
}

/** Parses YAML and validates it with a zod schema; errors carry the file's line numbers. Pure. */
export function parseYamlFile<T>(text: string, file: string, schema: z.ZodType<T>): { ok: true; data: T } | { ok: false; errors: PlaybookError[] } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      errors: doc.errors.map((e) => ({ file, line: e.linePos?.[0].line ?? 1, field: '(yaml)', message: e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '') })),
    };
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    // e.g. an alias without its anchor; the parser reports these only on conversion.
    return { ok: false, errors: [{ file, line: 1, field: '(yaml)', message: (err as Error).message }] };
  }
  const result = schema.safeParse(data);
  if (!result.success) return { ok: false, errors: issuesToErrors(result.error, file, doc.contents, lines) };
  return { ok: true, data: result.data };
}

/** Parses and validates one playbook file's text. Pure: the caller reads the file. */
export function parsePlaybook(text: string, file: string): PlaybookLoad {
  const r = parseYamlFile(text, file, PlaybookDoc);
  if (!r.ok) return r;
  const digest = createHash('sha256').update(canonicalJson(r.data)).digest('hex').slice(0, 16);
  return { ok: true, playbook: { file, doc: r.data, digest } };
}

function issuesToErrors(error: z.ZodError, file: string, root: unknown, lines: LineCounter): PlaybookError[] {
  return error.issues.map((issue) => {
    const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
    return { file, line: lineOf(root, path, lines), field: fieldPath(path), message: messageOf(issue) };
  });
}

function messageOf(issue: z.core.$ZodIssue): string {
  // zod's "Invalid input: expected number, received string" reads better without its prefix.
  return issue.message.replace(/^Invalid input: /, '');
}

/** The line of the deepest YAML node that exists along the path (the parent when a key is missing). */
function lineOf(root: unknown, path: (string | number)[], lines: LineCounter): number {
  let node = root as Node | undefined;
  let offset = node?.range?.[0] ?? 0;
  for (const key of path) {
    let child: unknown;
    if (isMap(node)) {
      const pair = node.items.find((p) => (p.key as { value?: unknown } | null)?.value === key);
      if (pair) {
        offset = (pair.key as Node).range?.[0] ?? offset;
        child = pair.value;
      }
    } else if (isSeq(node) && typeof key === 'number') {
      child = node.items[key];
    }
    if (!child || typeof child !== 'object') break;
    node = child as Node;
    if (!isMap(node) && !isSeq(node)) offset = node.range?.[0] ?? offset;
    else if (isSeq(node) || (typeof key === 'number')) offset = node.range?.[0] ?? offset;
  }
  return lines.linePos(offset).line;
}
