/**
 * Global setup of `npm run test:chaos` (vitest.chaos.config.ts): gives the chaos files one results
 * directory, and at the end prints the table of every file's row and writes it as JSON
 * (CHAOS_RESULTS_FILE, default .bulwark/chaos/results.json).
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { TestProject } from 'vitest/node';
import { readResults, renderTable, totals } from './support-results.js';

let dir = '';
const started = new Date();

export function setup(project: TestProject): void {
  dir = mkdtempSync(join(tmpdir(), 'bulwark-chaos-'));
  project.provide('chaosResultsDir', dir);
}

export function teardown(): void {
  const rows = readResults(dir);
  const file = resolve(process.env.CHAOS_RESULTS_FILE ?? '.bulwark/chaos/results.json');
  mkdirSync(dirname(file), { recursive: true });
  const report = {
    startedAt: started.toISOString(),
    finishedAt: new Date().toISOString(),
    scale: Number(process.env.CHAOS_SCALE ?? '1'),
    seed: Number(process.env.CHAOS_SEED ?? '20261126'),
    totals: totals(rows),
    suites: rows,
  };
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  const notes = rows.filter((r) => r.notes).map((r) => `  ${r.suite}: ${r.notes}`);
  console.log(`\nchaos results (scale ${report.scale}, seed ${report.seed}):\n${renderTable(rows, true)}\n${notes.join('\n')}${notes.length ? '\n' : ''}written to ${file}`);
}

declare module 'vitest' {
  export interface ProvidedContext {
    chaosResultsDir: string;
  }
}
