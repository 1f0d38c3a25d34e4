/** The chaos results table (no test-runner imports: the chaos config's global teardown uses it too). */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Table from 'cli-table3';

export interface ChaosRow {
  suite: string;
  runs: number;
  faultsInjected: number;
  incidentsCompleted: number;
  duplicates: number;
  lostAlerts: number;
  fuzzInputs: number;
  notes?: string;
  detail?: Record<string, unknown>;
}

export function readResults(dir: string): ChaosRow[] {
  let files: string[] = [];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  } catch {
    return [];
  }
  return files.sort().map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as ChaosRow);
}

export function totals(rows: ChaosRow[]): Omit<ChaosRow, 'suite' | 'notes' | 'detail'> {
  const sum = (k: 'runs' | 'faultsInjected' | 'incidentsCompleted' | 'duplicates' | 'lostAlerts' | 'fuzzInputs') => rows.reduce((s, r) => s + r[k], 0);
  return { runs: sum('runs'), faultsInjected: sum('faultsInjected'), incidentsCompleted: sum('incidentsCompleted'), duplicates: sum('duplicates'), lostAlerts: sum('lostAlerts'), fuzzInputs: sum('fuzzInputs') };
}

export function renderTable(rows: ChaosRow[], withTotal = false): string {
  const table = new Table({ head: ['suite', 'faults injected', 'runs', 'incidents completed', 'duplicates', 'lost alerts', 'fuzz inputs'], style: { head: [], border: [] } });
  const line = (name: string, r: Omit<ChaosRow, 'suite'>) => [name, r.faultsInjected, r.runs, r.incidentsCompleted, r.duplicates, r.lostAlerts, r.fuzzInputs].map(String);
  for (const r of rows) table.push(line(r.suite, r));
  if (withTotal) table.push(line('total', totals(rows)));
  return table.toString();
}
