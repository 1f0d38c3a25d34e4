/**
 * Deadline engine throughput: every stage deadline of every shipped regime for N synthetic
 * incidents. `tsx bench/deadlines.ts [n]` prints one JSON line; `runDeadlineBench(n)` returns it.
 */
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { DEFAULT_REGIME_DIR, loadRegimeDir } from '../cli/commands/regulators.js';
import { regimeTimeline } from '../domain/regimes/deadlines.js';
import type { OrganisationProfile } from '../domain/regimes/facts.js';
import type { Regime } from '../domain/regimes/schema.js';

export interface DeadlineBenchResult {
  computations: number;
  seconds: number;
  perSecond: number;
  microsPerComputation: number;
}

/** A small seeded PRNG so every run measures the same incidents. */
function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PROFILES: OrganisationProfile[] = [
  { entityType: 'payment-institution', jurisdictions: ['EU'], memberState: 'DE', flags: [] },
  { entityType: 'credit-institution', jurisdictions: ['EU'], memberState: 'FR', flags: [] },
  { entityType: 'e-money-institution', jurisdictions: ['EU'], memberState: 'NL', flags: ['pci-dss', 'card-brand:visa'] },
  { entityType: 'banking-organization', jurisdictions: ['US', 'US-NY'], timeZone: 'America/New_York', flags: ['sec-registrant'] },
  { entityType: 'investment-firm', jurisdictions: ['UK'], timeZone: 'Europe/London', flags: [] },
];

const HOUR = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString();

interface Incident {
  events: Record<string, string>;
  now: string;
  profile: OrganisationProfile;
}

/** Incidents spread over 2025–2027 (so DST changes, holidays and both UK versions occur), some with reports already filed. */
function syntheticIncidents(n: number, random: () => number): Incident[] {
  const start = Date.parse('2025-02-01T00:00:00Z');
  const span = Date.parse('2027-12-01T00:00:00Z') - start;
  return Array.from({ length: n }, (_, i) => {
    const aware = start + Math.floor(random() * span);
    const classified = aware + Math.floor(random() * 6 * HOUR);
    const events: Record<string, string> = {
      aware: iso(aware),
      classified: iso(classified),
      'determined-material': iso(classified + Math.floor(random() * 48 * HOUR)),
      'threshold-met': iso(aware + Math.floor(random() * 2 * HOUR)),
    };
    if (random() < 0.3) events['payment-made'] = iso(aware + Math.floor(random() * 72 * HOUR));
    if (random() < 0.5) {
      // A filed initial report makes the chained stages computable too.
      events['stage:initial.submitted'] = iso(classified + Math.floor(random() * 5 * HOUR));
      events['stage:incident-notification.submitted'] = iso(aware + Math.floor(random() * 80 * HOUR));
      if (random() < 0.5) events['stage:intermediate.submitted'] = iso(classified + Math.floor(random() * 100 * HOUR));
    }
    return { events, now: iso(aware + Math.floor(random() * 96 * HOUR)), profile: PROFILES[i % PROFILES.length]! };
  });
}

function computeAll(regimes: readonly Regime[], incidents: readonly Incident[]): number {
  let computations = 0;
  for (const inc of incidents) {
    for (const regime of regimes) {
      computations += regimeTimeline(regime, inc).length;
    }
  }
  return computations;
}

export function runDeadlineBench(n = 10_000, regimeDir = DEFAULT_REGIME_DIR): DeadlineBenchResult {
  const { files, errors } = loadRegimeDir(regimeDir);
  if (errors.length) throw new Error(`rule files do not load: ${errors.map((e) => `${e.file}:${e.line} ${e.message}`).join('; ')}`);
  const regimes = files.map((f) => f.regime);
  const incidents = syntheticIncidents(n, mulberry32(7));
  // Warm-up builds the holiday tables and lets the JIT settle; the timed run is steady state.
  computeAll(regimes, incidents.slice(0, Math.min(500, n)));
  const t0 = performance.now();
  const computations = computeAll(regimes, incidents);
  const seconds = (performance.now() - t0) / 1000;
  const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;
  return {
    computations,
    seconds: round(seconds, 3),
    perSecond: Math.round(computations / seconds),
    microsPerComputation: round((seconds * 1e6) / computations, 2),
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const n = Number(process.argv[2] ?? 10_000);
  if (!Number.isInteger(n) || n <= 0) {
    console.error('usage: tsx bench/deadlines.ts [incidents, default 10000]');
    process.exit(2);
  }
  console.log(JSON.stringify({ deadlines: runDeadlineBench(n) }));
}
