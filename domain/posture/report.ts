import { escapeHtml } from '../report.js';
import type { Finding, ScanDiff } from './compare.js';
import type { DeclaredInventory } from './declared.js';
import { authSummary, endpointKey, isThrottled, throttleSummary, wafSummary, type Scan, type ScannedEndpoint } from './inventory.js';

/**
 * What `bulwark inventory scan` prints: rows for the table, and a self-contained HTML page (no
 * external resources, every value escaped). Pure.
 */

export interface InventoryRow {
  endpoint: string;
  auth: string;
  throttling: string;
  usagePlans: string;
  waf: string;
  logging: string;
  owner: string;
  classification: string;
}

export function inventoryRows(scan: Scan, declared?: DeclaredInventory): InventoryRow[] {
  const byKey = new Map((declared?.endpoints ?? []).map((d) => [d.key, d]));
  return scan.endpoints.map((e: ScannedEndpoint) => {
    const p = e.protections;
    // HTTP APIs may be declared by id (as compareInventory matches them).
    const d = byKey.get(e.key) ?? (e.apiType === 'http' ? byKey.get(endpointKey({ apiName: e.restApiId, stage: e.stage, method: e.method, path: e.path })) : undefined);
    return {
      endpoint: e.key,
      auth: authSummary(p),
      throttling: throttleSummary(p),
      usagePlans: p.usagePlans.length ? `${p.usagePlans.join(', ')} (${p.usagePlanKeys} key${p.usagePlanKeys === 1 ? '' : 's'})` : 'none',
      waf: wafSummary(p.waf),
      logging: `${p.logging.accessLogs ? 'access' : 'no access log'}${p.logging.executionLogLevel !== 'OFF' ? `, exec ${p.logging.executionLogLevel}` : ''}`,
      owner: d?.owner ?? (declared ? 'UNDECLARED' : ''),
      classification: d?.classification ?? '',
    };
  });
}

export function renderInventoryHtml(input: { scan: Scan; declared?: DeclaredInventory; findings: Finding[]; diff?: ScanDiff; declaredFile?: string }): string {
  const { scan, findings, diff } = input;
  const rows = inventoryRows(scan, input.declared);
  const table = (head: string[], body: unknown[][], empty: string) =>
    body.length === 0
      ? `<p class="muted">${escapeHtml(empty)}</p>`
      : `<table><thead><tr>${head.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead><tbody>${body.map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`).join('')}</tbody></table>`;
  const weak = scan.endpoints.filter((e) => e.protections.authorization === 'NONE' && !e.protections.apiKeyRequired).length;
  const unthrottled = scan.endpoints.filter((e) => !isThrottled(e.protections)).length;
  const wafUnknown = scan.endpoints.some((e) => e.protections.waf.status === 'unknown');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>API inventory — ${escapeHtml(scan.region)} — ${escapeHtml(scan.scannedAt)}</title>
<style>
body{font:14px/1.45 -apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1100px;color:#222}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;width:100%;margin:.5em 0}th,td{border:1px solid #ddd;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f4f4f4}.muted{color:#777}.bad{color:#c62828;font-weight:700}
@media print{body{margin:0}}
</style></head>
<body>
<h1>API inventory and posture</h1>
<p class="muted">region ${escapeHtml(scan.region)} · scanned ${escapeHtml(scan.scannedAt)} · ${scan.apis.length} API(s) · ${scan.endpoints.length} endpoint(s) · ${scan.stats.apiCalls} AWS calls in ${scan.stats.durationMs} ms${input.declaredFile ? ` · declared: ${escapeHtml(input.declaredFile)}` : ' · no declared inventory given'}</p>
<p id="summary"><span class="${findings.length ? 'bad' : ''}">${findings.length} finding(s)</span> · ${weak} endpoint(s) without authentication · ${unthrottled} without throttling${wafUnknown ? ' · WAF association unknown for some stages (see the WAF column)' : ''}</p>
<h2>Findings</h2>
${table(['kind', 'severity', 'endpoint', 'owner', 'classification', 'problems'], findings.map((f) => [f.kind, f.severity, f.key, f.owner ?? '', f.classification ?? '', f.problems.join('; ')]), 'No findings.')}
${diff ? `<h2>Since the previous scan${diff.previousScannedAt ? ` (${escapeHtml(diff.previousScannedAt)})` : ''}</h2>
${table(['change', 'endpoint', 'what'], [
  ...diff.newEndpoints.map((k) => ['new endpoint', k, '']),
  ...diff.removedEndpoints.map((k) => ['removed endpoint', k, '']),
  ...diff.removedProtections.map((r) => ['protection removed', r.key, r.lost.join(', ')]),
  ...diff.addedProtections.map((r) => ['protection added', r.key, r.gained.join(', ')]),
], 'No changes.')}` : ''}
<h2>Endpoints</h2>
${table(['endpoint', 'auth', 'throttling', 'usage plans', 'WAF', 'logging', 'owner', 'classification'], rows.map((r) => [r.endpoint, r.auth, r.throttling, r.usagePlans, r.waf, r.logging, r.owner, r.classification]), 'No API endpoints found.')}
<h2>Not scanned</h2>
${table(['what', 'why'], scan.skipped.map((s) => [s.what, s.reason]), 'Nothing skipped.')}
</body></html>
`;
}
