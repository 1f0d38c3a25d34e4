import { plainTable } from '../cli/render.js';
/** Nearest-rank percentile of a sample (ms). */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export interface Summary {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export function summarise(samples: number[]): Summary {
  const s = [...samples].sort((a, b) => a - b);
  const round = (x: number) => Math.round(x * 10) / 10;
  return { n: s.length, p50: round(percentile(s, 50)), p95: round(percentile(s, 95)), p99: round(percentile(s, 99)), max: round(s[s.length - 1] ?? NaN) };
}

/** Fires `count` calls at a fixed rate regardless of completions (open loop), returning each call's latency. */
export async function openLoop<T>(count: number, perSecond: number, call: (i: number) => Promise<T>): Promise<{ latencies: number[]; results: T[] }> {
  const start = performance.now();
  const latencies: number[] = new Array(count);
  const pending: Promise<T>[] = [];
  for (let i = 0; i < count; i++) {
    const due = start + (i * 1000) / perSecond;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const t0 = performance.now();
    pending.push(
      call(i).then((r) => {
        latencies[i] = performance.now() - t0;
        return r;
      }),
    );
  }
  return { latencies, results: await Promise.all(pending) };
}

/** The results table every bench prints. */
export function renderRows(rows: { metric: string; bulwark: number | string; baseline: number | string; ratio?: number; target: string; pass?: boolean }[]): string {
  const table = plainTable(['metric', 'bulwark', 'baseline', 'ratio', 'target', 'ok']);
  for (const r of rows) table.push([r.metric, String(r.bulwark), String(r.baseline), r.ratio === undefined ? '' : `${r.ratio}×`, r.target, r.pass === undefined ? '' : r.pass ? 'PASS' : 'MISS']);
  return table.toString();
}
