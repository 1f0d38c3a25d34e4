import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { DEFAULT_REGIME_DIR, readRegimeDir, readRegulatorProfile, RegulatorSetupError } from '../../activities/regulators.js';
import { normaliseIncidentId } from '../../domain/fingerprint.js';
import { classifyIncident, inForce } from '../../domain/regimes/classify.js';
import { draftReport } from '../../domain/regimes/draft.js';
import { IncidentFacts } from '../../domain/regimes/facts.js';
import { displayState, notificationWorkflowId, scaledNow, type DisplayState, type NotificationState } from '../../domain/regimes/notification.js';
import { organisationOf, type RegulatorProfile } from '../../domain/regimes/profile.js';
import type { Regime } from '../../domain/regimes/schema.js';
import type { Config } from '../../temporal.config.js';
import { regulatorApproveUpdate, regulatorFactsUpdate, regulatorStateQuery } from '../../workflows/notification-definitions.js';
import { clientFor, configFrom, operator, type GlobalOptions } from '../context.js';
import { CliError, explain, usageError } from '../errors.js';
import { plainTable } from '../render.js';

/**
 * The live side of `bulwark regulators`: status of an incident's notification workflows, report
 * drafts, compliance approval (which submits), and fact updates. The what-if side is in regulators.ts.
 */

function regimesFor(config: Config): Regime[] {
  try {
    return readRegimeDir(resolve(config.regulators.regimesDir ?? DEFAULT_REGIME_DIR));
  } catch (err) {
    if (err instanceof RegulatorSetupError) throw new CliError(err.message);
    throw err;
  }
}

function profileFor(config: Config): RegulatorProfile | undefined {
  if (!config.regulators.profileFile) return undefined;
  try {
    return readRegulatorProfile(config.regulators.profileFile);
  } catch (err) {
    if (err instanceof RegulatorSetupError) throw usageError(err.message);
    throw err;
  }
}

export function localTime(iso: string, timeZone: string): string {
  const d = new Date(iso);
  const date = new Intl.DateTimeFormat('sv-SE', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(d);
  const zone = new Intl.DateTimeFormat('en-US', { timeZone, timeZoneName: 'short' }).formatToParts(d).find((p) => p.type === 'timeZoneName')?.value ?? timeZone;
  return `${date} ${zone}`;
}

export function timeLeft(ms: number): string {
  const sign = ms < 0 ? '-' : '';
  let m = Math.floor(Math.abs(ms) / 60_000);
  const d = Math.floor(m / 1440);
  m -= d * 1440;
  const h = Math.floor(m / 60);
  m -= h * 60;
  return `${sign}${d ? `${d}d ` : ''}${d || h ? `${h}h ` : ''}${m}m`;
}

export interface StatusRow {
  regime: string;
  verdict: string;
  stage: string;
  title: string;
  state: DisplayState;
  dueUtc?: string;
  dueLocal?: string;
  timeLeft?: string;
  submitted?: string;
  notes: string[];
}

export function statusRows(states: NotificationState[], realNowMs: number): StatusRow[] {
  const rows: StatusRow[] = [];
  for (const s of states) {
    const nowMs = scaledNow(realNowMs, s.clock, s.timeScale);
    const verdict = s.status;
    if (!s.stages.length) {
      rows.push({ regime: s.regime, verdict, stage: '—', title: '', state: 'not-started', notes: s.why.slice(0, 1) });
      continue;
    }
    for (const st of s.stages) {
      const state = s.status === 'not-reportable' ? 'not-required' : displayState(st, nowMs);
      const due = st.timeline.dueAt;
      rows.push({
        regime: s.regime,
        verdict,
        stage: st.id,
        title: st.title,
        state,
        dueUtc: due,
        dueLocal: due ? localTime(due, s.timeZone) : undefined,
        timeLeft: due && !st.submission && !st.timeline.immediate ? timeLeft(Date.parse(due) - nowMs) : st.timeline.immediate && !st.submission ? 'immediately' : undefined,
        submitted: st.submission ? `${st.submission.at} by ${st.submission.approvedBy} (${st.submission.id})${st.submission.reason ? ` reason: ${st.submission.reason}` : ''}` : undefined,
        notes: [
          !due && st.timeline.waitingFor.length ? `waiting for ${st.timeline.waitingFor.join(', ')}` : '',
          st.required === 'unknown' ? 'owed if facts confirm' : '',
          st.escalatedAt && !st.submission ? `escalated ${st.escalatedAt}` : '',
          st.timeline.provisional ? 'may move earlier' : '',
          st.needsLegalReview ? 'needs-legal-review' : '',
        ].filter(Boolean),
      });
    }
  }
  return rows;
}

export function renderStatus(incidentId: string, states: NotificationState[], realNowMs: number): string {
  const tz = states[0]?.timeZone ?? 'UTC';
  const t = plainTable(['regime', 'verdict', 'stage', 'due (UTC)', `due (${tz})`, 'time left', 'state', 'notes'], { wordWrap: true });
  for (const r of statusRows(states, realNowMs)) {
    t.push([r.regime, r.verdict, r.stage, r.dueUtc ?? '—', r.dueLocal ?? '—', r.timeLeft ?? '—', r.state, [r.submitted ? `submitted ${r.submitted}` : '', ...r.notes].filter(Boolean).join('\n')]);
  }
  const scaled = states.find((s) => s.timeScale !== 1);
  return [`regulator notifications for ${incidentId}`, t.toString(), ...(scaled ? [`(test clock: durations divided by ${scaled.timeScale})`] : [])].join('\n');
}

export function registerRegulatorNotificationCommands(regulators: Command, program: Command): void {
  const globals = () => program.opts<GlobalOptions>();

  async function withClient<T>(fn: (client: Client, config: Config) => Promise<T>): Promise<T> {
    const config = configFrom(globals());
    const client = await clientFor(config);
    try {
      return await fn(client, config);
    } catch (err) {
      if (err instanceof CliError) throw err;
      throw new CliError(explain(err, { temporalAddress: config.temporal.address }));
    } finally {
      await client.connection.close();
    }
  }

  async function stateOf(h: WorkflowHandle): Promise<NotificationState | undefined> {
    try {
      return await h.query(regulatorStateQuery);
    } catch (err) {
      if ((err as Error).name === 'WorkflowNotFoundError') return undefined;
      throw err;
    }
  }

  const handleFor = (client: Client, incident: string, regime: string) => client.workflow.getHandle(notificationWorkflowId(normaliseIncidentId(incident), regime));

  async function oneState(client: Client, incident: string, regime: string): Promise<NotificationState> {
    const s = await stateOf(handleFor(client, incident, regime));
    if (!s) throw new CliError(`no ${regime} notification workflow for ${normaliseIncidentId(incident)} (see \`bulwark regulators status ${incident}\`)`);
    return s;
  }

  regulators
    .command('status <incident>')
    .description('every regime notified for an incident: stage, deadline (UTC and local), time left, state')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      '\nStates: not-started (anchor not there yet), pending, due-soon (last quarter of the window),\noverdue, submitted, late (submitted after the deadline), not-required.\n\nExamples:\n  bulwark regulators status incident/3f9a1c\n  bulwark regulators status 3f9a1c --json',
    )
    .action(async (incident: string, o: { json?: boolean }) => {
      await withClient(async (client, config) => {
        const ids = [...new Set(regimesFor(config).map((r) => r.id))];
        const states = (await Promise.all(ids.map((id) => stateOf(handleFor(client, incident, id))))).filter((s): s is NotificationState => !!s);
        if (!states.length) throw new CliError(`no regulator notifications for ${normaliseIncidentId(incident)} (does its playbook run a regulators.assess step?)`);
        const now = Date.now();
        if (o.json) console.log(JSON.stringify(states.map((s) => ({ regime: s.regime, status: s.status, reportable: s.reportable, why: s.why, timeZone: s.timeZone, stages: statusRows([s], now) })), null, 2));
        else console.log(renderStatus(normaliseIncidentId(incident), states, now));
      });
    });

  regulators
    .command('draft <incident> <regime> <stage>')
    .description("print a stage's report draft (Markdown, or --json), pre-filled from the incident; missing fields listed")
    .option('--json', 'print the draft as JSON (fields, missing, needs-legal-review flags)')
    .addHelpText('after', '\nExamples:\n  bulwark regulators draft incident/3f9a1c dora initial\n  bulwark regulators draft incident/3f9a1c gdpr art33 --json > art33.json')
    .action(async (incident: string, regimeId: string, stageId: string, o: { json?: boolean }) => {
      await withClient(async (client, config) => {
        const s = await oneState(client, incident, regimeId);
        const regimes = regimesFor(config);
        const at = scaledNow(Date.now(), s.clock, s.timeScale);
        const regime = inForce(regimes, regimeId, at) ?? regimes.find((r) => r.id === regimeId);
        if (!regime) throw usageError(`unknown regime "${regimeId}"`);
        if (!regime.stages.some((x) => x.id === stageId)) throw usageError(`stage "${stageId}" is not a stage of ${regimeId} (stages: ${regime.stages.map((x) => x.id).join(', ')})`);
        const profile = profileFor(config);
        const criteria = profile ? classifyIncident(regimes, s.facts, organisationOf(profile), at).find((v) => v.regime === regimeId)?.criteria : undefined;
        const draft = draftReport(regime, stageId, {
          incidentId: s.incidentId,
          facts: s.facts,
          fields: s.fields,
          events: s.events,
          summary: s.summary,
          severity: s.severity,
          classifications: s.classifications,
          reason: s.stages.find((x) => x.id === stageId)?.submission?.reason,
          profile,
          criteria,
        });
        console.log(o.json ? JSON.stringify({ ...draft, markdown: undefined }, null, 2) : draft.markdown);
      });
    });

  regulators
    .command('approve <incident> <regime> <stage>')
    .description("compliance approval of a stage's report: on acceptance it is submitted through the configured channel")
    .option('--as <user>', 'who approves: a holder of one of the regime\'s approver roles (default: $BULWARK_OPERATOR or $USER)')
    .option('--reason <text>', 'reason for delay: required once the deadline has passed')
    .addHelpText(
      'after',
      '\nThe workflow checks the approval before it is recorded: the approver holds one of the\nregime\'s approver roles in the profile, did not open the incident, the stage has started and is\nnot yet submitted, and a late submission carries a reason.\n\nExamples:\n  bulwark regulators approve incident/3f9a1c dora initial --as carol\n  bulwark regulators approve incident/3f9a1c dora intermediate --as carol --reason "root cause analysis was pending"',
    )
    .action(async (incident: string, regimeId: string, stageId: string, o: { as?: string; reason?: string }) => {
      await withClient(async (client) => {
        const sub = await handleFor(client, incident, regimeId).executeUpdate(regulatorApproveUpdate, { args: [{ stage: stageId, by: operator(o.as), reason: o.reason }] });
        console.log(`${regimeId} ${stageId} submitted${sub.late ? ' late' : ''} at ${sub.at} via ${sub.channel}: ${sub.id}`);
      });
    });

  regulators
    .command('facts <incident> <regime> <facts.json>')
    .description('update what is known about the incident (facts and/or report fields); the regime is classified again')
    .option('--as <user>', 'who updates (default: $BULWARK_OPERATOR or $USER)')
    .addHelpText('after', '\nfacts.json holds incident facts, or {"facts": {…}, "fields": {"root_cause": "…"}}.\n\nExamples:\n  bulwark regulators facts incident/3f9a1c dora facts.json --as alice')
    .action(async (incident: string, regimeId: string, path: string, o: { as?: string }) => {
      const { readFileSync } = await import('node:fs');
      let raw: unknown;
      try {
        raw = JSON.parse(readFileSync(path, 'utf8')) as unknown;
      } catch (err) {
        throw usageError(`cannot read facts file ${path}: ${(err as Error).message}`);
      }
      const wrapped = raw && typeof raw === 'object' && ('facts' in raw || 'fields' in raw) ? (raw as { facts?: unknown; fields?: unknown }) : { facts: raw };
      const facts = wrapped.facts === undefined ? undefined : IncidentFacts.safeParse(wrapped.facts);
      if (facts && !facts.success) throw usageError(`invalid facts in ${path}:\n${facts.error.issues.map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`).join('\n')}`);
      const fields = wrapped.fields;
      if (fields !== undefined && (typeof fields !== 'object' || fields === null || Object.values(fields).some((v) => typeof v !== 'string'))) throw usageError(`invalid fields in ${path}: expected {"field": "text"}`);
      await withClient(async (client) => {
        const r = await handleFor(client, incident, regimeId).executeUpdate(regulatorFactsUpdate, { args: [{ by: operator(o.as), facts: facts?.data, fields: fields as Record<string, string> | undefined }] });
        console.log(`${regimeId}: ${r.status}${r.reportable !== undefined ? ` (reportable: ${r.reportable})` : ''}`);
      });
    });
}
