import { createHash } from 'node:crypto';
import { canonicalJson } from '../fingerprint.js';
import { fieldPath, formatYamlError, parseYamlFile, type YamlFileError } from '../yaml-file.js';
import { PlaybookDoc } from './schema.js';

/** One problem in a playbook file, located so an editor can jump to it. */
export type PlaybookError = YamlFileError;
export const formatPlaybookError = formatYamlError;

export interface LoadedPlaybook {
  file: string;
  doc: PlaybookDoc;
  /** sha256 of the canonical document: shows exactly which text an incident ran. */
  digest: string;
}

export type PlaybookLoad = { ok: true; playbook: LoadedPlaybook } | { ok: false; errors: PlaybookError[] };

/** Parses and validates one playbook file's text. Pure: the caller reads the file. */
export function parsePlaybook(text: string, file: string): PlaybookLoad {
  const r = parseYamlFile(text, file, PlaybookDoc);
  if (!r.ok) return r;
  // YAML's .inf/.nan pass the schema where a value is free-form, but have no JSON form to digest
  // (found by the chaos suite's fuzzing, docs/chaos.md): refuse them by field instead of throwing.
  const bad = nonFinitePath(r.data);
  if (bad) {
    const line = text.split('\n').findIndex((l) => /(^|[\s:[,-])[-+]?\.(inf|Inf|INF|nan|NaN|NAN)\b/.test(l)) + 1;
    return { ok: false, errors: [{ file, line: line || 1, field: fieldPath(bad), message: 'expected a finite number (.inf and .nan are not allowed)' }] };
  }
  const digest = createHash('sha256').update(canonicalJson(r.data)).digest('hex').slice(0, 16);
  return { ok: true, playbook: { file, doc: r.data, digest } };
}

function nonFinitePath(value: unknown, path: (string | number)[] = []): (string | number)[] | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : path;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = nonFinitePath(value[i], [...path, i]);
      if (found) return found;
    }
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      const found = nonFinitePath(v, [...path, k]);
      if (found) return found;
    }
  }
  return undefined;
}
