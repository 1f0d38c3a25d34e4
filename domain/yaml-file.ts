import { isMap, isSeq, LineCounter, parseDocument, type Node } from 'yaml';
import type { z } from 'zod';

/**
 * YAML files validated by a zod schema — playbooks, regimes, approval policies — with every error
 * located so an editor can jump to it: `playbooks/x.yaml:14 steps[2].with.rateLimit: expected number`.
 */
export interface YamlFileError {
  file: string;
  line: number;
  /** Empty for a YAML syntax error when the caller asks for none. */
  field: string;
  message: string;
}

export const formatYamlError = (e: YamlFileError) => `${e.file}:${e.line} ${e.field ? `${e.field}: ` : ''}${e.message}`;

export interface YamlFileOptions {
  /** Field name for YAML syntax errors (default "(yaml)"). */
  yamlField?: string;
  /** Wording of YAML syntax errors (default: the parser's first line). */
  yamlMessage?: (message: string) => string;
  /** Field name for an issue about the whole document (default "(root)"). */
  rootField?: string;
  /** Keep zod's "Invalid input: " prefix (default: stripped, it says nothing). */
  keepInvalidInputPrefix?: boolean;
}

/** `steps[2].with.rateLimit` from zod's path. */
export function fieldPath(path: readonly PropertyKey[], rootField = '(root)'): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : `${out ? '.' : ''}${String(p)}`;
  return out || rootField;
}

/** Parses YAML and validates it with a zod schema; errors carry the file's line numbers. Pure. */
export function parseYamlFile<T>(text: string, file: string, schema: z.ZodType<T>, opts: YamlFileOptions = {}): { ok: true; data: T } | { ok: false; errors: YamlFileError[] } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      errors: doc.errors.map((e) => {
        const message = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
        return { file, line: e.linePos?.[0].line ?? 1, field: opts.yamlField ?? '(yaml)', message: opts.yamlMessage ? opts.yamlMessage(message) : message };
      }),
    };
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    // e.g. an alias without its anchor; the parser reports these only on conversion.
    return { ok: false, errors: [{ file, line: 1, field: opts.yamlField ?? '(yaml)', message: (err as Error).message }] };
  }
  const result = schema.safeParse(data);
  if (!result.success) return { ok: false, errors: issuesToErrors(result.error, file, doc.contents, lines, opts) };
  return { ok: true, data: result.data };
}

function issuesToErrors(error: z.ZodError, file: string, root: unknown, lines: LineCounter, opts: YamlFileOptions): YamlFileError[] {
  return error.issues.map((issue) => {
    const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
    return { file, line: lineOf(root, path, lines), field: fieldPath(path, opts.rootField), message: opts.keepInvalidInputPrefix ? issue.message : messageOf(issue) };
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
