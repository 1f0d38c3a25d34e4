import type { AuditRecord, ChainVerification } from './audit.js';
import type { IncidentState, TimelineEntry } from './incident.js';

/**
 * The evidence pack for auditors and regulators (issue 8 §2): built from the live incident state
 * and its audit chain; rendered as JSON or as one self-contained HTML page (inline CSS and SVG,
 * no external resources, every value escaped). Pure.
 */

export interface AuditEvidence {
  file?: string;
  exists: boolean;
  ok: boolean;
  /** One line: the chain verdict and the anchor signature checks. */
  summary: string;
  chain: ChainVerification;
  anchors: { seq: number; headSeq: number; keyId: string; valid?: boolean; error?: string }[];
  records: AuditRecord[];
}

export interface EvidencePack {
  format: 'bulwark-evidence/v1';
  generatedAt: string;
  incident: {
    id: string;
    status: string;
    type: string;
    severity: string;
    source: string;
    subject: Record<string, unknown>;
    openedAt: string;
    openedBy: string;
    playbook: string;
    resolvedBy?: string;
    attention?: string;
    alertCount: number;
  };
  /** alert (observed by the detector) → detection (incident opened) → containment → recovery (resolved). */
  milestones: { alertObservedAt?: string; detectedAt: string; containedAt?: string; recoveredAt?: string };
  /** MTTD = detection − alert observed; MTTC = containment − detection; MTTR = recovery − detection. */
  durations: { mttdSeconds?: number; mttcSeconds?: number; mttrSeconds?: number };
  steps: {
    id: string;
    title: string;
    action: string;
    status: string;
    approvalPolicy?: string;
    approvedBy?: string;
    rejected?: string;
    error?: string;
    skippedBecause?: string;
    startedAt?: string;
    finishedAt?: string;
    resources: string[];
  }[];
  approvals: { at: string; step?: string; decision: 'granted' | 'rejected' | 'containment'; by: string; detail: string }[];
  resources: { resource: string; steps: string[] }[];
  notifications: { at: string; step?: string; action?: string; detail: string; deadline?: string; outcome: string }[];
  timeline: TimelineEntry[];
  timelineDropped: number;
  audit: {
    file?: string;
    exists: boolean;
    ok: boolean;
    verification: string;
    records: number;
    firstBad?: { seq: number; line: number; reason: string; message: string };
    anchors: AuditEvidence['anchors'];
  };
}

const seconds = (from?: string, to?: string) => (from && to ? Math.max(0, Math.round((Date.parse(to) - Date.parse(from)) / 1000)) : undefined);
const BY = /\b(?:approved|rejected) by ([\w.@:+-]{0,127}[\w.@+-])/;

export function buildEvidencePack(state: IncidentState, audit: AuditEvidence, generatedAt: string): EvidencePack {
  const tl = state.timeline;
  const detectedAt = tl.find((e) => e.kind === 'alert.received')?.at ?? state.openedAt;
  const containedAt = tl.find((e) => e.kind === 'incident.status' && /^contained\b/.test(e.message))?.at;
  const recoveredAt = tl.find((e) => e.kind === 'incident.resolved')?.at;
  const alertObservedAt = state.alert.observedAt;

  const resourceSteps = new Map<string, Set<string>>();
  const touch = (resource: string, step?: string) => {
    const s = resourceSteps.get(resource) ?? new Set<string>();
    if (step) s.add(step);
    resourceSteps.set(resource, s);
  };
  for (const e of tl) for (const r of e.resources ?? []) touch(r, e.step);
  for (const r of audit.records) {
    if (r.action === 'audit.anchor') continue;
    for (const res of [r.resource, ...(r.resources ?? [])]) if (res) touch(res, r.step);
  }

  const steps = state.plan.steps.map((p) => {
    const s = state.steps.find((x) => x.id === p.id);
    const entries = tl.filter((e) => e.step === p.id);
    const rejectedEntry = entries.find((e) => e.kind === 'approval.rejected');
    const grantedEntry = entries.find((e) => e.kind === 'approval.granted');
    const auditApprover = audit.records.find((r) => r.step === p.id && r.action === 'approval.granted')?.actor;
    return {
      id: p.id,
      title: p.title,
      action: p.action,
      status: s?.status ?? 'pending',
      approvalPolicy: p.approval,
      approvedBy: s?.approvedBy ?? (grantedEntry ? BY.exec(grantedEntry.message)?.[1] : undefined) ?? auditApprover,
      rejected: rejectedEntry?.message,
      error: s?.error,
      skippedBecause: s?.skippedBecause,
      startedAt: entries.find((e) => e.kind === 'step.started')?.at,
      finishedAt: [...entries].reverse().find((e) => ['step.succeeded', 'step.failed', 'step.skipped', 'step.compensated'].includes(e.kind))?.at,
      resources: [...new Set(entries.flatMap((e) => e.resources ?? []))],
    };
  });

  const approvals: EvidencePack['approvals'] = [];
  for (const e of tl) {
    if (e.kind === 'approval.granted' || e.kind === 'approval.rejected') {
      approvals.push({ at: e.at, step: e.step, decision: e.kind === 'approval.granted' ? 'granted' : 'rejected', by: BY.exec(e.message)?.[1] ?? '?', detail: e.message });
    } else if (e.kind === 'gate.opened' && /approved by/.test(e.message)) {
      approvals.push({ at: e.at, decision: 'containment', by: BY.exec(e.message)?.[1] ?? state.containApprovedBy ?? '?', detail: e.message });
    }
  }

  const actionOf = (step?: string) => state.plan.steps.find((s) => s.id === step)?.action;
  const isNotification = (action?: string) => !!action && /^(notify|regulator|notification|email|slack)\./.test(action);
  const notifications: EvidencePack['notifications'] = [];
  for (const e of tl) {
    const action = actionOf(e.step);
    if (!isNotification(action) || !['step.succeeded', 'step.failed'].includes(e.kind)) continue;
    const deadline = typeof e.evidence?.deadline === 'string' ? e.evidence.deadline : undefined;
    notifications.push({ at: e.at, step: e.step, action, detail: e.message, deadline, outcome: e.kind === 'step.succeeded' ? 'sent' : 'failed' });
  }
  for (const r of audit.records) {
    if (!/^(notify|regulator|notification)\./.test(r.action) || notifications.some((n) => n.at === r.at && n.step === r.step)) continue;
    const deadline = typeof r.evidence?.deadline === 'string' ? r.evidence.deadline : undefined;
    notifications.push({ at: r.at, step: r.step, action: r.action, detail: r.detail ?? '', deadline, outcome: r.outcome });
  }

  const firstBad = audit.chain.ok ? undefined : { seq: audit.chain.firstBad, line: audit.chain.line, reason: audit.chain.reason, message: audit.chain.message };
  return {
    format: 'bulwark-evidence/v1',
    generatedAt,
    incident: {
      id: state.incidentId,
      status: state.status,
      type: state.alert.type,
      severity: state.severity,
      source: state.alert.source,
      subject: state.alert.subject as Record<string, unknown>,
      openedAt: state.openedAt,
      openedBy: state.openedBy,
      playbook: state.plan.version ? `${state.plan.playbook} v${state.plan.version}` : state.plan.playbook,
      resolvedBy: state.resolvedBy,
      attention: state.attention,
      alertCount: state.alertCount,
    },
    milestones: { alertObservedAt, detectedAt, containedAt, recoveredAt },
    durations: { mttdSeconds: seconds(alertObservedAt, detectedAt), mttcSeconds: seconds(detectedAt, containedAt), mttrSeconds: seconds(detectedAt, recoveredAt) },
    steps,
    approvals,
    resources: [...resourceSteps].map(([resource, s]) => ({ resource, steps: [...s] })).sort((a, b) => a.resource.localeCompare(b.resource)),
    notifications,
    timeline: tl,
    timelineDropped: state.timelineDropped,
    audit: { file: audit.file, exists: audit.exists, ok: audit.ok, verification: audit.summary, records: audit.records.length, firstBad, anchors: audit.anchors },
  };
}

// ---------------------------------------------------------------------------------------------
// HTML

export function escapeHtml(s: unknown): string {
  return String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

export function formatDuration(seconds?: number): string {
  if (seconds === undefined) return '—';
  if (seconds < 60) return `${seconds}s`;
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return h ? `${h}h ${m}m` : `${m}m ${s}s`;
}

/** alert → detection → containment → recovery on one axis, with MTTD/MTTC segments. */
function timelineSvg(p: EvidencePack): string {
  const points = [
    { label: 'alert', at: p.milestones.alertObservedAt },
    { label: 'detection', at: p.milestones.detectedAt },
    { label: 'containment', at: p.milestones.containedAt },
    { label: 'recovery', at: p.milestones.recoveredAt },
  ].filter((x): x is { label: string; at: string } => Boolean(x.at) && !Number.isNaN(Date.parse(x.at!)));
  if (points.length === 0) return '';
  const t0 = Math.min(...points.map((x) => Date.parse(x.at)));
  const t1 = Math.max(...points.map((x) => Date.parse(x.at)), t0 + 1);
  const W = 860;
  const x = (at: string) => 30 + ((Date.parse(at) - t0) / (t1 - t0)) * (W - 60);
  const seg = (from?: string, to?: string, label?: string, colour?: string) =>
    from && to
      ? `<line x1="${x(from).toFixed(1)}" y1="40" x2="${x(to).toFixed(1)}" y2="40" stroke="${colour}" stroke-width="8"/><text x="${((x(from) + x(to)) / 2).toFixed(1)}" y="26" text-anchor="middle" class="seg">${escapeHtml(label)}</text>`
      : '';
  return `<svg class="chart" viewBox="0 0 ${W} 110" width="100%" role="img" aria-label="incident timeline">
<line x1="30" y1="40" x2="${W - 30}" y2="40" stroke="#ccc" stroke-width="2"/>
${seg(p.milestones.alertObservedAt, p.milestones.detectedAt, `MTTD ${formatDuration(p.durations.mttdSeconds)}`, '#e8a33d')}
${seg(p.milestones.detectedAt, p.milestones.containedAt, `MTTC ${formatDuration(p.durations.mttcSeconds)}`, '#d9534f')}
${seg(p.milestones.containedAt, p.milestones.recoveredAt, 'contained', '#5cb85c')}
${points.map((pt, i) => `<circle cx="${x(pt.at).toFixed(1)}" cy="40" r="6" fill="#333"/><text x="${x(pt.at).toFixed(1)}" y="${i % 2 ? 95 : 70}" text-anchor="middle">${escapeHtml(pt.label)} ${escapeHtml(pt.at.slice(11, 19))}</text>`).join('\n')}
</svg>`;
}

export function renderEvidenceHtml(p: EvidencePack): string {
  const row = (cells: unknown[]) => `<tr>${cells.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`;
  const table = (head: string[], rows: unknown[][], empty = 'none') =>
    rows.length === 0 ? `<p class="muted">${escapeHtml(empty)}</p>` : `<table><thead><tr>${head.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead><tbody>${rows.map(row).join('')}</tbody></table>`;
  const subject = Object.entries(p.incident.subject)
    .map(([k, v]) => `${k}=${typeof v === 'object' && v ? Object.values(v).join('/') : String(v)}`)
    .join(', ');
  const auditClass = p.audit.ok ? 'ok' : 'bad';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Evidence pack — ${escapeHtml(p.incident.id)}</title>
<style>
body{font:14px/1.45 -apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:960px;color:#222}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;width:100%;margin:.5em 0}th,td{border:1px solid #ddd;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f4f4f4}.muted{color:#777}.ok{color:#1a7f37;font-weight:600}.bad{color:#c62828;font-weight:700}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px}dt{color:#555}dd{margin:0}
.chart text{font-size:11px;fill:#333}.chart .seg{font-weight:600}code{font-size:12px}
@media print{body{margin:0}}
</style></head>
<body>
<h1>Incident evidence pack</h1>
<p class="muted">${escapeHtml(p.incident.id)} · generated ${escapeHtml(p.generatedAt)} · format ${escapeHtml(p.format)}</p>

<h2>Summary</h2>
<dl>
<dt>Status</dt><dd>${escapeHtml(p.incident.status)}${p.incident.resolvedBy ? ` (by ${escapeHtml(p.incident.resolvedBy)})` : ''}</dd>
<dt>Alert</dt><dd>${escapeHtml(p.incident.type)} · severity ${escapeHtml(p.incident.severity)} · source ${escapeHtml(p.incident.source)} · ${p.incident.alertCount} alert(s)</dd>
<dt>Subject</dt><dd>${escapeHtml(subject || '—')}</dd>
<dt>Opened</dt><dd>${escapeHtml(p.incident.openedAt)} by ${escapeHtml(p.incident.openedBy)}</dd>
<dt>Playbook</dt><dd>${escapeHtml(p.incident.playbook)}</dd>
${p.incident.attention ? `<dt>Needs attention</dt><dd class="bad">${escapeHtml(p.incident.attention)}</dd>` : ''}
<dt>MTTD</dt><dd>${escapeHtml(formatDuration(p.durations.mttdSeconds))} <span class="muted">(alert observed → incident opened)</span></dd>
<dt>MTTC</dt><dd>${escapeHtml(formatDuration(p.durations.mttcSeconds))} <span class="muted">(detection → contained)</span></dd>
<dt>Time to recovery</dt><dd>${escapeHtml(formatDuration(p.durations.mttrSeconds))} <span class="muted">(detection → resolved)</span></dd>
<dt>Audit chain</dt><dd class="${auditClass}" id="audit-verification">${escapeHtml(p.audit.verification)}</dd>
</dl>

<h2>Timeline</h2>
${timelineSvg(p)}
${table(
  ['milestone', 'at'],
  [
    ['alert observed', p.milestones.alertObservedAt ?? '—'],
    ['detection (incident opened)', p.milestones.detectedAt],
    ['containment', p.milestones.containedAt ?? '—'],
    ['recovery (resolved)', p.milestones.recoveredAt ?? '—'],
  ],
)}

<h2>Steps</h2>
${table(
  ['step', 'action', 'status', 'approval policy', 'approved by', 'started', 'finished', 'resources', 'notes'],
  p.steps.map((s) => [s.id, s.action, s.status, s.approvalPolicy ?? '—', s.approvedBy ?? (s.approvalPolicy ? '(not approved)' : '—'), s.startedAt ?? '—', s.finishedAt ?? '—', s.resources.join(' '), s.error ?? s.rejected ?? s.skippedBecause ?? '']),
  'no steps',
)}

<h2>Approvals</h2>
${table(['at', 'decision', 'step', 'by', 'detail'], p.approvals.map((a) => [a.at, a.decision, a.step ?? '(containment gate)', a.by, a.detail]), 'no approvals were needed')}

<h2>Resources touched</h2>
${table(['resource', 'steps'], p.resources.map((r) => [r.resource, r.steps.join(', ')]), 'no AWS resources were changed')}

<h2>Notifications</h2>
${table(['at', 'step', 'action', 'outcome', 'deadline', 'detail'], p.notifications.map((n) => [n.at, n.step ?? '—', n.action ?? '—', n.outcome, n.deadline ?? '—', n.detail]), 'no notifications recorded')}

<h2>Audit chain</h2>
<p class="${auditClass}">${escapeHtml(p.audit.verification)}</p>
<p class="muted">${escapeHtml(p.audit.file ?? '')} · ${p.audit.records} record(s)</p>
${p.audit.firstBad ? `<p class="bad">First bad record: ${p.audit.firstBad.seq} (line ${p.audit.firstBad.line}) — ${escapeHtml(p.audit.firstBad.reason)}: ${escapeHtml(p.audit.firstBad.message)}</p>` : ''}
${table(['anchor record', 'signs head', 'KMS key', 'signature'], p.audit.anchors.map((a) => [a.seq, a.headSeq, a.keyId, a.valid === undefined ? (a.error ? `not checked: ${a.error}` : 'not checked') : a.valid ? 'valid' : 'INVALID']), 'no KMS anchors')}

<h2>Full timeline</h2>
${p.timelineDropped ? `<p class="muted">${p.timelineDropped} older entries were dropped from the workflow state; the audit chain holds every record.</p>` : ''}
${table(['at', 'kind', 'step', 'message', 'resources'], p.timeline.map((e) => [e.at, e.kind, e.step ?? '', e.message, (e.resources ?? []).join(' ')]))}
</body></html>
`;
}
