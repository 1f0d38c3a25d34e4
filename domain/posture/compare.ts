import type { Alert, Severity } from '../alert.js';
import { SENSITIVE, type Classification } from './classification.js';
import type { DeclaredInventory } from './declared.js';
import { authSummary, endpointKey, isAuthenticated, isThrottled, type ApiType, type Scan, type ScannedEndpoint } from './inventory.js';

/**
 * Declared vs deployed, and one scan vs the previous one. Pure: the scheduled workflow runs the
 * alert building in its sandbox, so nothing here may use Node built-ins.
 */

export const FINDING_KINDS = ['shadow-endpoint', 'unprotected-endpoint', 'missing-endpoint', 'protection-removed'] as const;
export type FindingKind = (typeof FINDING_KINDS)[number];

export interface Finding {
  kind: FindingKind;
  severity: Severity;
  /** `<api name>/<stage> <METHOD> <path>`: the identity the alert's dedupKey is built from. */
  key: string;
  endpoint: { apiName: string; stage: string; method: string; path: string; restApiId?: string; apiType?: ApiType };
  owner?: string;
  classification?: Classification;
  /** What is wrong, in words: "no authentication", "no throttling", "lost: waf". */
  problems: string[];
  message: string;
}

/** The protections a diff tracks; WAF "unknown" is never counted as lost. */
export const PROTECTION_NAMES = ['auth', 'throttling', 'waf', 'access-logs', 'usage-plan'] as const;
export type ProtectionName = (typeof PROTECTION_NAMES)[number];

export interface ScanDiff {
  previousScannedAt?: string;
  scannedAt: string;
  newEndpoints: string[];
  removedEndpoints: string[];
  removedProtections: { key: string; lost: ProtectionName[] }[];
  addedProtections: { key: string; gained: ProtectionName[] }[];
}

function protectionSet(e: ScannedEndpoint): Set<ProtectionName> {
  const p = e.protections;
  const s = new Set<ProtectionName>();
  if (isAuthenticated(p)) s.add('auth');
  if (isThrottled(p)) s.add('throttling');
  if (p.waf.status === 'associated') s.add('waf');
  if (p.logging.accessLogs) s.add('access-logs');
  if (p.usagePlans.length > 0) s.add('usage-plan');
  return s;
}

/** HTTP APIs may be declared (and scoped) by id as well as by name: the key with the id in the name's place. */
const idKey = (e: ScannedEndpoint) => (e.apiType === 'http' ? endpointKey({ apiName: e.restApiId, stage: e.stage, method: e.method, path: e.path }) : undefined);

const inScope = (declared: DeclaredInventory | undefined, e: ScannedEndpoint) =>
  !declared?.scopeApis || declared.scopeApis.includes(e.apiName) || (e.apiType === 'http' && declared.scopeApis.includes(e.restApiId));

/** What changed between two scans of the same account (undefined previous: everything is new). */
export function diffScans(previous: Scan | undefined, current: Scan): ScanDiff {
  const before = new Map((previous?.endpoints ?? []).map((e) => [e.key, e]));
  const after = new Map(current.endpoints.map((e) => [e.key, e]));
  const diff: ScanDiff = {
    ...(previous ? { previousScannedAt: previous.scannedAt } : {}),
    scannedAt: current.scannedAt,
    newEndpoints: [],
    removedEndpoints: [],
    removedProtections: [],
    addedProtections: [],
  };
  for (const [key, e] of after) {
    const old = before.get(key);
    if (!old) {
      if (previous) diff.newEndpoints.push(key);
      continue;
    }
    const had = protectionSet(old);
    const has = protectionSet(e);
    // WAF that could not be read this time is not "removed": the scan does not know.
    const lost = PROTECTION_NAMES.filter((n) => had.has(n) && !has.has(n) && !(n === 'waf' && e.protections.waf.status === 'unknown'));
    const gained = PROTECTION_NAMES.filter((n) => !had.has(n) && has.has(n));
    if (lost.length) diff.removedProtections.push({ key, lost });
    if (gained.length) diff.addedProtections.push({ key, gained });
  }
  for (const key of before.keys()) if (!after.has(key)) diff.removedEndpoints.push(key);
  for (const list of [diff.newEndpoints, diff.removedEndpoints]) list.sort();
  diff.removedProtections.sort((a, b) => a.key.localeCompare(b.key));
  diff.addedProtections.sort((a, b) => a.key.localeCompare(b.key));
  return diff;
}

export function diffIsEmpty(d: ScanDiff): boolean {
  return !d.newEndpoints.length && !d.removedEndpoints.length && !d.removedProtections.length && !d.addedProtections.length;
}

const where = (e: ScannedEndpoint) => ({ apiName: e.apiName, stage: e.stage, method: e.method, path: e.path, restApiId: e.restApiId, ...(e.apiType ? { apiType: e.apiType } : {}) });

/**
 * Findings: deployed-but-undeclared (shadow), declared sensitive endpoints without authentication
 * or throttling (unprotected), declared-but-not-deployed (missing), and protections lost since the
 * previous scan. Sorted by kind then key, so output and alert order are stable.
 */
export function compareInventory(scan: Scan, declared: DeclaredInventory | undefined, diff?: ScanDiff): Finding[] {
  const findings: Finding[] = [];
  const deployed = new Map(scan.endpoints.map((e) => [e.key, e]));
  for (const e of scan.endpoints) {
    const k = idKey(e);
    if (k && !deployed.has(k)) deployed.set(k, e);
  }
  const declaredByKey = new Map((declared?.endpoints ?? []).map((d) => [d.key, d]));
  const declaredFor = (e: ScannedEndpoint) => declaredByKey.get(e.key) ?? (idKey(e) ? declaredByKey.get(idKey(e)!) : undefined);
  if (declared) {
    for (const e of scan.endpoints) {
      if (declaredFor(e) || !inScope(declared, e)) continue;
      const open = !isAuthenticated(e.protections);
      findings.push({
        kind: 'shadow-endpoint',
        severity: open ? 'high' : 'medium',
        key: e.key,
        endpoint: where(e),
        problems: ['not in the declared inventory', ...(open ? ['no authentication'] : []), ...(isThrottled(e.protections) ? [] : ['no throttling'])],
        message: `${e.key} is deployed but not declared${open ? ' and anyone can call it' : ''}`,
      });
    }
    for (const d of declared.endpoints) {
      const e = deployed.get(d.key);
      if (!e) {
        findings.push({
          kind: 'missing-endpoint',
          severity: 'low',
          key: d.key,
          endpoint: { apiName: d.api, stage: d.stage, method: d.method, path: d.path },
          owner: d.owner,
          classification: d.classification,
          problems: ['declared but not deployed'],
          message: `${d.key} (owner ${d.owner}) is declared but not deployed`,
        });
        continue;
      }
      if (!SENSITIVE.includes(d.classification)) continue;
      const problems = [...(isAuthenticated(e.protections) ? [] : ['no authentication']), ...(isThrottled(e.protections) ? [] : ['no throttling'])];
      if (problems.length === 0) continue;
      findings.push({
        kind: 'unprotected-endpoint',
        severity: problems.includes('no authentication') ? 'critical' : 'high',
        key: d.key,
        endpoint: where(e),
        owner: d.owner,
        classification: d.classification,
        problems,
        message: `${d.classification} endpoint ${d.key} (owner ${d.owner}) has ${problems.join(' and ')}`,
      });
    }
  }
  for (const r of diff?.removedProtections ?? []) {
    const e = deployed.get(r.key);
    if (!e || !inScope(declared, e)) continue;
    const d = declaredFor(e);
    findings.push({
      kind: 'protection-removed',
      severity: d && SENSITIVE.includes(d.classification) ? 'high' : 'medium',
      key: r.key,
      endpoint: where(e),
      ...(d ? { owner: d.owner, classification: d.classification } : {}),
      problems: r.lost.map((l) => `lost: ${l}`),
      message: `${r.key} lost ${r.lost.join(', ')} since the previous scan (auth now: ${authSummary(e.protections)})`,
    });
  }
  const order = (k: FindingKind) => FINDING_KINDS.indexOf(k);
  return findings.sort((a, b) => order(a.kind) - order(b.kind) || a.key.localeCompare(b.key));
}

/** 32-bit FNV-1a, hex: keeps over-long dedup keys within the alert schema without Node's crypto (workflow sandbox). */
function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

/**
 * The dedupKey of a finding: kind + endpoint identity only. The same finding tomorrow has the same
 * key, so intake's signalWithStart on `incident-<fingerprint>` joins the open incident (counted as
 * a repeat) instead of opening a new one; once that incident is resolved a recurrence opens a new run.
 */
export function findingDedupKey(f: Pick<Finding, 'kind' | 'key'>): string {
  const key = `posture:${f.kind}:${f.key}`;
  return key.length <= 256 ? key : `${key.slice(0, 200)}…#${fnv1a(key)}`;
}

const DIFF_LIST_LIMIT = 50;
const cap = <T>(list: T[]) => (list.length > DIFF_LIST_LIMIT ? [...list.slice(0, DIFF_LIST_LIMIT), `… ${list.length - DIFF_LIST_LIMIT} more` as unknown as T] : list);

/** The diff as carried in alert details: lists capped so a large account stays well under intake's body limit. */
export function diffForAlert(d: ScanDiff): Record<string, unknown> {
  return {
    ...(d.previousScannedAt ? { previousScannedAt: d.previousScannedAt } : { firstScan: true }),
    scannedAt: d.scannedAt,
    newEndpoints: cap(d.newEndpoints),
    removedEndpoints: cap(d.removedEndpoints),
    removedProtections: cap(d.removedProtections),
    addedProtections: cap(d.addedProtections),
  };
}

/** One alert per finding, in the Alert v1 shape intake accepts (`posture.<kind>`). */
export function findingAlerts(findings: Finding[], opts: { source?: string; observedAt: string; diff?: ScanDiff }): Alert[] {
  return findings.map((f) => {
    const e = f.endpoint;
    return {
      source: opts.source ?? 'bulwark-posture',
      type: `posture.${f.kind}`,
      severity: f.severity,
      observedAt: opts.observedAt,
      dedupKey: findingDedupKey(f),
      // The endpoint is the subject when it is deployed, so playbooks can act on it (apigateway.throttle).
      // HTTP API endpoints are not: apigateway.throttle writes REST API stage settings.
      subject: e.restApiId && e.apiType !== 'http' ? { endpoint: { restApiId: e.restApiId, stage: e.stage, resourcePath: e.path, httpMethod: e.method as 'GET' } } : {},
      details: {
        finding: f.kind,
        endpoint: f.key,
        ...(e.apiType ? { apiType: e.apiType } : {}),
        message: f.message,
        problems: f.problems,
        ...(f.owner ? { owner: f.owner } : {}),
        ...(f.classification ? { classification: f.classification } : {}),
        needsAuthentication: f.problems.includes('no authentication'),
        needsThrottling: f.problems.includes('no throttling'),
        ...(opts.diff ? { diff: diffForAlert(opts.diff) } : {}),
      },
    };
  });
}
