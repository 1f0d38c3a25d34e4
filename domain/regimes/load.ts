import { formatYamlError, parseYamlFile, type YamlFileError } from '../yaml-file.js';
import { Regime } from './schema.js';

/**
 * Rule files are parsed from text here and read from disk by the CLI, so the domain stays free of
 * I/O. Every error names the file, the line and the field, like
 *   regimes/dora.yaml:14 stages[1].deadline: cannot parse "+4x after aware" (…)
 */
export type RegimeFileError = YamlFileError;

export type RegimeFileResult = { ok: true; regime: Regime } | { ok: false; errors: RegimeFileError[] };

export const formatRegimeError = formatYamlError;

export function parseRegimeFile(text: string, fileName: string): RegimeFileResult {
  const r = parseYamlFile(text, fileName, Regime, { yamlField: '', yamlMessage: (m) => `invalid YAML: ${m}`, rootField: '(file)', keepInvalidInputPrefix: true });
  return r.ok ? { ok: true, regime: r.data } : r;
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
