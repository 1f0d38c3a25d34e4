import Table, { type TableConstructorOptions } from 'cli-table3';
import type { IncidentState, TimelineEntry } from '../domain/incident.js';

const useColour = process.stdout.isTTY && !process.env.NO_COLOR;
const paint = (code: number) => (s: string) => (useColour ? `\u001b[${code}m${s}\u001b[0m` : s);
const red = paint(31);
const green = paint(32);
const yellow = paint(33);
const dim = paint(2);
const bold = paint(1);

/** A table without cli-table3's header and border colours: how every table bulwark prints (CLI and benches) looks. */
export function plainTable(head: string[], options: Omit<TableConstructorOptions, 'head' | 'style'> = {}): Table.Table {
  return new Table({ head, style: { head: [], border: [] }, ...options });
}

export function statusColour(status: string): string {
  if (status === 'contained' || status === 'resolved') return green(status);
  if (status === 'needs-attention' || status === 'aborted') return red(status);
  return yellow(status);
}

function kindColour(kind: TimelineEntry['kind']): string {
  if (kind.endsWith('failed')) return red(kind);
  if (kind.endsWith('succeeded') || kind === 'incident.resolved' || kind === 'gate.opened') return green(kind);
  if (kind === 'step.compensated') return yellow(kind);
  return kind;
}

export function timelineLine(e: TimelineEntry): string {
  const time = e.at.slice(11, 23);
  const step = e.step ? ` [${e.step}]` : '';
  const res = e.resources?.length ? dim(`  ${e.resources.join(' ')}`) : '';
  return `${dim(time)}  ${kindColour(e.kind).padEnd(useColour ? 27 : 18)}${step} ${e.message}${res}`;
}

/** The terminal view of `bulwark incident show`. */
export function renderIncident(s: IncidentState): string {
  const subject = Object.entries(s.alert.subject)
    .map(([k, v]) => `${k}=${typeof v === 'object' ? Object.values(v as object).join('/') : v}`)
    .join(' ');
  const head = [
    `${bold(s.incidentId)}  ${statusColour(s.status)}`,
    `  ${s.alert.type} · severity ${s.severity} · source ${s.alert.source} · ${subject}`,
    `  opened ${s.openedAt} by ${s.openedBy} · playbook ${s.plan.playbook}${s.plan.version ? ` v${s.plan.version}` : ''} · ${s.alertCount} alert(s) in ${s.deliveries} deliver${s.deliveries === 1 ? 'y' : 'ies'}`,
  ];
  if (s.attention) head.push(red(`  needs attention: ${s.attention}`));
  if (s.throttleUntil) head.push(yellow(`  temporary limits restore at ${s.throttleUntil} (extend: bulwark incident extend ${s.incidentId} --ttl 30m)`));
  const steps = plainTable(['step', 'action', 'status', 'waits for', 'undo']);
  for (const p of s.plan.steps) {
    const st = s.steps.find((x) => x.id === p.id);
    const waits = [p.gate && 'contain', p.approval && `approval (${p.approval})${st?.approvedBy ? ` ✓ ${st.approvedBy}` : ''}`].filter(Boolean).join(', ');
    steps.push([p.id, p.action, st?.status ?? 'pending', waits, p.reversible ? 'restore' : p.effect === 'containment' || p.effect === 'destructive' ? 'irreversible' : '']);
  }
  const waiting = s.steps.find((x) => x.status === 'awaiting-approval');
  if (waiting) head.push(yellow(`  waiting for approval: bulwark incident approve ${s.incidentId} ${waiting.id}   (or: reject … --reason)`));
  const timeline = s.timeline.map(timelineLine);
  if (s.timelineDropped) timeline.splice(1, 0, dim(`  … ${s.timelineDropped} older entries dropped`));
  return [...head, '', steps.toString(), '', bold('timeline'), ...timeline].join('\n');
}

export function renderList(rows: { id: string; status: string; type: string; severity: string; subject: string; opened: string }[]): string {
  if (rows.length === 0) return 'no incidents';
  const t = plainTable(['incident', 'status', 'type', 'severity', 'subject', 'opened']);
  for (const r of rows) t.push([r.id, statusColour(r.status), r.type, r.severity, r.subject, r.opened]);
  return t.toString();
}
