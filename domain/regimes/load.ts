import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml';
import { Regime } from './schema.js';

/**
 * Rule files are parsed from text here and read from disk by the CLI, so the domain stays free of
 * I/O. Every error names the file, the line and the field, like
 *   regimes/dora.yaml:14 stages[1].deadline: cannot parse "+4x after aware" (…)
 */
export interface RegimeFileError {
  file: string;
  line: number;
  field: string;
  message: string;
}

export type RegimeFileResult = { ok: true; regime: Regime } | { ok: false; errors: RegimeFileError[] };

export function formatRegimeError(e: RegimeFileError): string {
  return `${e.file}:${e.line} ${e.field ? `${e.field}: ` : ''}${e.message}`;
}

/** `stages[1].deadline` from a zod path. */
export function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((out, seg) => (typeof seg === 'number' ? `${out}[${seg}]` : out ? `${out}.${String(seg)}` : String(seg)), '');
}

/**
 * The offset of the deepest node on `path` that exists in the document. A missing key points at
 * its parent mapping, an existing one at its value (or its key when the value is empty).
 */
function offsetOf(root: Node | null, path: readonly PropertyKey[]): number {
  let node: unknown = root;
  let offset = root?.range?.[0] ?? 0;
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) break;
      const keyNode = pair.key as Node;
      const value = pair.value as Node | null;
      offset = value?.range?.[0] ?? keyNode.range?.[0] ?? offset;
      node = value;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg] as Node | undefined;
      if (!item) break;
      offset = item.range?.[0] ?? offset;
      node = item;
    } else break;
  }
  return offset;
}

export function parseRegimeFile(text: string, fileName: string): RegimeFileResult {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length) {
    return {
      ok: false,
      errors: doc.errors.map((e) => ({ file: fileName, line: lineCounter.linePos(e.pos[0]).line, field: '', message: `invalid YAML: ${e.message.split('\n')[0]}` })),
    };
  }
  const result = Regime.safeParse(doc.toJS());
  if (result.success) return { ok: true, regime: result.data };
  const root = doc.contents as Node | null;
  return {
    ok: false,
    errors: result.error.issues.map((issue) => ({
      file: fileName,
      line: lineCounter.linePos(offsetOf(root, issue.path)).line,
      field: formatPath(issue.path) || '(file)',
      message: issue.message,
    })),
  };
}

/**
 * Checks across a set of files: one version of an id per number, and versions of one id must not
 * be in force at the same time. Errors point at the later file's effective_from.
 */
export function checkRegimeSet(files: readonly { file: string; regime: Regime }[]): RegimeFileError[] {
  const errors: RegimeFileError[] = [];
  const byId = new Map<string, { file: string; regime: Regime }[]>();
  for (const f of files) byId.set(f.regime.id, [...(byId.get(f.regime.id) ?? []), f]);
  for (const [id, versions] of byId) {
    const sorted = [...versions].sort((a, b) => a.regime.effective_from.localeCompare(b.regime.effective_from));
    for (let i = 1; i < sorted.length; i++) {
      const prev = sorted[i - 1]!;
      const cur = sorted[i]!;
      if (prev.regime.version === cur.regime.version) {
        errors.push({ file: cur.file, line: 1, field: 'version', message: `${id} version ${cur.regime.version} also defined in ${prev.file}` });
      }
      if (!prev.regime.effective_to || prev.regime.effective_to > cur.regime.effective_from) {
        errors.push({
          file: cur.file,
          line: 1,
          field: 'effective_from',
          message: `${id} v${cur.regime.version} from ${cur.regime.effective_from} overlaps v${prev.regime.version} (${prev.file}, until ${prev.regime.effective_to ?? 'open'})`,
        });
      }
    }
  }
  for (const f of files) {
    for (const s of f.regime.applicability.superseded_by) {
      if (!byId.has(s)) errors.push({ file: f.file, line: 1, field: 'applicability.superseded_by', message: `unknown regime "${s}"` });
    }
  }
  return errors;
}
