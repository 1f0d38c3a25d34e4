import { createHash } from 'node:crypto';
import { canonicalJson } from '../fingerprint.js';
import { formatYamlError, parseYamlFile, type YamlFileError } from '../yaml-file.js';
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
  const digest = createHash('sha256').update(canonicalJson(r.data)).digest('hex').slice(0, 16);
  return { ok: true, playbook: { file, doc: r.data, digest } };
}
