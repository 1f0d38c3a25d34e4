/**
 * Benchmarks that need no servers: playbook load+validate, alert normalisers, deadline engine.
 * Each is measured beside a baseline of the cheapest equivalent work in the same run.
 * `tsx bench/pure.ts` prints one JSON line; `runPureBenchmarks()` returns rows for `bench/run.ts`.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { parseAlert } from '../domain/alert.js';
import { normaliseAlertmanager, normaliseGuardDuty, normaliseSecurityHub } from '../domain/sources/index.js';
import { loadPlaybooks, playbookFiles, SHIPPED_PLAYBOOKS_DIR } from '../intake/playbook-catalog.js';
import { runDeadlineBench } from './deadlines.js';

export interface Row {
  metric: string;
  bulwark: number | string;
  baseline: number | string;
  ratio?: number;
  target: string;
  pass?: boolean;
}

const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

/** Repeats `fn` for about `ms` milliseconds (after a warm-up) and returns calls per second. */
function rate(fn: () => void, ms = 1000): number {
  for (let i = 0; i < 200; i++) fn();
  let calls = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    for (let i = 0; i < 50; i++) fn();
    calls += 50;
  }
  return calls / ((performance.now() - t0) / 1000);
}

/** 200 distinct playbooks: the shipped ones rewritten with unique ids and disjoint matches. */
function writePlaybooks(count: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-bench-playbooks-'));
  const shipped = playbookFiles(SHIPPED_PLAYBOOKS_DIR).map((f) => readFileSync(f, 'utf8'));
  for (let i = 0; i < count; i++) {
    const text = shipped[i % shipped.length]!
      .replace(/^id: .*$/m, `id: bench-${i}`)
      .replace(/^  types: \[.*\]$/m, `  types: [bench.type-${i}]`);
    writeFileSync(join(dir, `bench-${i}.yaml`), text);
  }
  return dir;
}

export function runPureBenchmarks(): { rows: Row[]; json: Record<string, unknown> } {
  const PLAYBOOKS = 200;
  const dir = writePlaybooks(PLAYBOOKS);
  const files = playbookFiles(dir);
  const time = (fn: () => void, reps = 5) => {
    fn();
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) fn();
    return (performance.now() - t0) / reps;
  };
  let loadErrors = 0;
  const loadMs = time(() => {
    const r = loadPlaybooks(files);
    loadErrors = r.errors.length;
  });
  const parseOnlyMs = time(() => {
    for (const f of files) parseYaml(readFileSync(f, 'utf8'));
  });

  const fixture = (p: string) => JSON.parse(readFileSync(fileURLToPath(new URL(`../test/fixtures/sources/${p}`, import.meta.url)), 'utf8')) as unknown;
  const guardduty = fixture('guardduty/eventbridge-instance-credential-exfiltration.json');
  const securityhub = fixture('securityhub/eventbridge-findings-imported.json');
  const alertmanager = fixture('alertmanager/grouped-firing.json');
  const count = (r: { ok: boolean; alerts?: unknown[] }) => (r.ok ? (r.alerts?.length ?? 0) : 0);
  const gdAlerts = count(normaliseGuardDuty(guardduty) as never);
  const shAlerts = count(normaliseSecurityHub(securityhub) as never);
  const amAlerts = count(normaliseAlertmanager(alertmanager) as never);
  const mixed = () => {
    normaliseGuardDuty(guardduty);
    normaliseSecurityHub(securityhub);
    normaliseAlertmanager(alertmanager);
  };
  const normalisedPerSecond = rate(mixed) * (gdAlerts + shAlerts + amAlerts);
  // Baseline: validating alerts already in bulwark's own schema (the /v1/alerts path).
  const native = { source: 'bench', type: 'credential.compromised', severity: 'high', observedAt: '2026-11-26T10:00:00Z', subject: { clientId: 'acme' } };
  const nativePerSecond = rate(() => parseAlert(native));

  const deadlines = runDeadlineBench(10_000);
  const naivePerSecond = rate(() => new Date(Date.parse('2026-03-28T22:00:00Z') + 4 * 3_600_000).toISOString());

  const rows: Row[] = [
    { metric: `playbooks: load+validate ${PLAYBOOKS} files, ms`, bulwark: round(loadMs), baseline: round(parseOnlyMs), ratio: round(loadMs / parseOnlyMs), target: `report (baseline: YAML parse only); ${loadErrors} errors`, pass: loadErrors === 0 },
    { metric: 'normalisers: alerts/s (GuardDuty+SecurityHub+Alertmanager)', bulwark: Math.round(normalisedPerSecond), baseline: Math.round(nativePerSecond), ratio: round(normalisedPerSecond / nativePerSecond), target: 'report (baseline: validating native alerts)' },
    { metric: 'deadlines: µs per stage deadline (10,000 incidents × all regimes)', bulwark: deadlines.microsPerComputation, baseline: round(1e6 / naivePerSecond, 3), target: '≪ 1000 µs (baseline: one UTC hour offset)', pass: deadlines.microsPerComputation < 1000 },
  ];
  return {
    rows,
    json: {
      playbooks: { files: PLAYBOOKS, loadValidateMs: round(loadMs), yamlParseOnlyMs: round(parseOnlyMs), errors: loadErrors },
      normalisers: { alertsPerSecond: Math.round(normalisedPerSecond), nativeParsePerSecond: Math.round(nativePerSecond) },
      deadlines,
    },
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(JSON.stringify(runPureBenchmarks().json));
}
