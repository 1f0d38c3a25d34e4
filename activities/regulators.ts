import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync, existsSync, renameSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApplicationFailure } from '@temporalio/common';
import { SendEmailCommand, type SESv2Client } from '@aws-sdk/client-sesv2';
import type { WebClient } from '@slack/web-api';
import { classifyIncident, inForce } from '../domain/regimes/classify.js';
import { regimeTimeline, type StageTimeline } from '../domain/regimes/deadlines.js';
import { draftReport, type DraftInput } from '../domain/regimes/draft.js';
import { parseFacts, profileTimeZone, type IncidentFacts } from '../domain/regimes/facts.js';
import { checkRegimeSet, formatRegimeError, parseRegimeFile, type RegimeFileError } from '../domain/regimes/load.js';
import type { NotificationStage, Submission } from '../domain/regimes/notification.js';
import { approversFor, contactFor, describeChannel, organisationOf, parseRegulatorProfile, type RegulatorProfile } from '../domain/regimes/profile.js';
import { confidenceFlags, type Regime } from '../domain/regimes/schema.js';
import { escapeMrkdwn } from '../domain/slack/view.js';
import type { Config } from '../temporal.config.js';
import type { Logger } from '../telemetry/logger.js';
import { call } from './failures.js';
import { slackFailure } from './slack.js';

/**
 * Regulators: reading the rule files and the organisation's profile, classifying, deadline
 * timelines, reminders (Slack when configured, else the operator log) and submissions (SES e-mail
 * or an HTTPS webhook).
 *
 * Idempotency of submissions: each is keyed incident/regime/stage. The key is looked up in a local
 * ledger before sending and written after; a webhook also gets it as `Idempotency-Key`, so the
 * receiver can dedupe a send whose ledger write was lost (a crash in between). SES has no
 * idempotency key: a crash between SendEmail and the ledger write can send a second e-mail, with
 * the same reference in its subject.
 */
export const DEFAULT_REGIME_DIR = fileURLToPath(new URL('../regimes/', import.meta.url));

export class RegulatorSetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RegulatorSetupError';
  }
}

/** Every *.yaml / *.yml of a directory parsed and checked as a set; file names are relative to the cwd. */
export function scanRegimeDir(dir: string): { files: { file: string; regime: Regime }[]; errors: RegimeFileError[] } {
  let names: string[];
  try {
    if (!statSync(dir).isDirectory()) throw new Error('not a directory');
    names = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort();
  } catch (err) {
    throw new RegulatorSetupError(`cannot read regime directory ${dir}: ${(err as Error).message}`);
  }
  const files: { file: string; regime: Regime }[] = [];
  const errors: RegimeFileError[] = [];
  for (const name of names) {
    const file = relative(process.cwd(), join(dir, name)) || name;
    const r = parseRegimeFile(readFileSync(join(dir, name), 'utf8'), file);
    if (r.ok) files.push({ file, regime: r.regime });
    else errors.push(...r.errors);
  }
  errors.push(...checkRegimeSet(files));
  return { files, errors };
}

/** Rule files of a directory, validated as a set; every problem names file, line and field. */
export function readRegimeDir(dir: string): Regime[] {
  const { files, errors } = scanRegimeDir(dir);
  if (errors.length) throw new RegulatorSetupError(`invalid rule files:\n${errors.map(formatRegimeError).join('\n')}`);
  if (!files.length) throw new RegulatorSetupError(`no rule files (*.yaml) in ${dir}`);
  return files.map((f) => f.regime);
}

/** The regulator profile file, validated; errors list every bad field. */
export function readRegulatorProfile(path: string): RegulatorProfile {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8')) as unknown;
  } catch (err) {
    throw new RegulatorSetupError(`cannot read regulator profile ${path}: ${(err as Error).message}`);
  }
  const r = parseRegulatorProfile(raw);
  if (!r.ok) throw new RegulatorSetupError(`invalid regulator profile ${path}:\n${r.errors.map((e) => `  ${e.field}: ${e.message}`).join('\n')}`);
  return r.value;
}

export interface RegulatorSetup {
  regimes: Regime[];
  profile: RegulatorProfile;
  timeScale: number;
}

export function loadRegulatorSetup(settings: Config['regulators']): RegulatorSetup {
  if (!settings.profileFile) throw new RegulatorSetupError('no regulator profile configured: set BULWARK_REGULATOR_PROFILE to a JSON file (entityType, jurisdictions, memberState, contacts, approvers)');
  return { regimes: readRegimeDir(resolve(settings.regimesDir ?? DEFAULT_REGIME_DIR)), profile: readRegulatorProfile(settings.profileFile), timeScale: settings.timeScale };
}

export interface RegulatorActivityDeps {
  ses: SESv2Client;
  settings: Config['regulators'];
  logger: Logger;
  /** Reminders and escalations go to Slack when set, else to the operator log. */
  slack?: { web: WebClient; channel: string };
}

export interface EvaluateInput {
  incidentId: string;
  regimeId: string;
  facts: IncidentFacts;
  events: Record<string, string>;
  /** "now" on the workflow's (possibly scaled) clock. */
  at: string;
}

export interface Evaluation {
  found: boolean;
  regimeVersion?: number;
  title?: string;
  applicable: boolean;
  reportable: boolean | 'unknown';
  decision?: string;
  why: string[];
  stages: Omit<NotificationStage, 'remindersSent'>[];
  approvers: string[];
  channel?: string;
  timeZone: string;
  confidence: string[];
  timeScale: number;
}

export interface SubmitInput {
  key: string;
  regimeId: string;
  stage: string;
  approvedBy: string;
  late: boolean;
  reason?: string;
  /** "now" on the workflow's clock: picks the regime version in force. */
  at: string;
  draft: Omit<DraftInput, 'profile' | 'criteria'>;
}

const ledgerName = (key: string) => `${createHash('sha256').update(key).digest('hex').slice(0, 40)}.json`;

function whyLines(v: ReturnType<typeof classifyIncident>[number]): string[] {
  if (!v.applicable) return v.applicability.slice(-1);
  return v.criteria.map((c) => `${c.status === 'met' ? '✓' : c.status === 'unknown' ? '?' : '✗'} ${c.id}: ${c.reasons.join('; ')}`);
}

export function createRegulatorActivities(deps: RegulatorActivityDeps) {
  let cached: RegulatorSetup | undefined;
  // Read once per worker: rule files and the profile change with a deploy, not mid-incident.
  const setup = (): RegulatorSetup => {
    try {
      cached ??= loadRegulatorSetup(deps.settings);
      return cached;
    } catch (err) {
      if (err instanceof RegulatorSetupError) throw ApplicationFailure.nonRetryable(err.message, 'RegulatorSetupError');
      throw err;
    }
  };
  const regimeAt = (id: string, at: string): Regime | undefined => inForce(setup().regimes, id, Date.parse(at));

  return {
    /** Every regime for these facts: applicable, reportable and why (the playbook step's answer). */
    async regulatorsClassify({ facts, at }: { facts: IncidentFacts; at: string }) {
      const { regimes, profile } = setup();
      const parsed = parseFacts(facts);
      if (!parsed.ok) throw ApplicationFailure.nonRetryable(`invalid incident facts: ${parsed.errors.map((e) => `${e.field}: ${e.message}`).join('; ')}`, 'InvalidParameters');
      return classifyIncident(regimes, parsed.value, organisationOf(profile), at).map((v) => ({ regime: v.regime, version: v.version, applicable: v.applicable, reportable: v.reportable, why: whyLines(v) }));
    },

    /** One regime: classification and the stage timeline at `at`, plus who approves and where it goes. */
    async regulatorsEvaluate(input: EvaluateInput): Promise<Evaluation> {
      const { regimes, profile, timeScale } = setup();
      const org = organisationOf(profile);
      const timeZone = profileTimeZone(org);
      const regime = regimeAt(input.regimeId, input.at);
      if (!regime) return { found: false, applicable: false, reportable: false, why: [`no version of ${input.regimeId} is in force at ${input.at}`], stages: [], approvers: [], timeZone, confidence: [], timeScale };
      const v = classifyIncident(regimes, input.facts, org, input.at).find((x) => x.regime === regime.id)!;
      const timeline = regimeTimeline(regime, { events: input.events, now: input.at, profile: org });
      const stages = regime.stages.map((s, i) => {
        const t: StageTimeline = timeline[i]!;
        return { id: s.id, title: s.title, required: v.stages.find((r) => r.stage === s.id)?.required ?? 'met', timeline: t, needsLegalReview: s.confidence === 'needs-legal-review' || regime.confidence === 'needs-legal-review' };
      });
      const channels = [...new Set(regime.stages.map((s) => { const c = contactFor(profile, regime, s); return c.ok ? `${c.recipient}: ${describeChannel(c.channel)}` : `${c.error}`; }))];
      return {
        found: true,
        regimeVersion: regime.version,
        title: regime.title,
        applicable: v.applicable,
        reportable: v.reportable,
        decision: v.decision,
        why: whyLines(v),
        stages,
        approvers: approversFor(profile, regime),
        channel: channels.join('; '),
        timeZone,
        confidence: confidenceFlags(regime),
        timeScale,
      };
    },

    /** A reminder or escalation: Slack when configured, else the operator log. */
    async regulatorsNotify(input: { incidentId: string; regimeId: string; stage: string; kind: 'reminder' | 'escalation'; text: string }): Promise<{ channel: 'slack' | 'log'; at: string }> {
      if (deps.slack) {
        const prefix = input.kind === 'escalation' ? ':rotating_light: *Regulator deadline missed*' : ':alarm_clock: *Regulator deadline reminder*';
        try {
          await deps.slack.web.chat.postMessage({ channel: deps.slack.channel, text: `${prefix} ${escapeMrkdwn(input.text)}`, unfurl_links: false, unfurl_media: false });
        } catch (err) {
          throw slackFailure(err, 'chat.postMessage');
        }
        return { channel: 'slack', at: new Date().toISOString() };
      }
      deps.logger.warn({ incidentId: input.incidentId, regime: input.regimeId, stage: input.stage, kind: input.kind }, `regulators: ${input.text}`);
      return { channel: 'log', at: new Date().toISOString() };
    },

    /**
     * Sends one approved report through the profile's channel for its recipient. Returns the
     * submission id (SES MessageId, the webhook's receipt id) and time; a repeat with the same key
     * returns the recorded submission without sending again.
     */
    async regulatorsSubmit(input: SubmitInput): Promise<Submission & { draft: { missing: string[] } }> {
      const { profile, regimes } = setup();
      const regime = regimeAt(input.regimeId, input.at);
      if (!regime) throw ApplicationFailure.nonRetryable(`no version of ${input.regimeId} is in force at ${input.at}`, 'NotFound');
      const stage = regime.stages.find((s) => s.id === input.stage);
      if (!stage) throw ApplicationFailure.nonRetryable(`stage ${input.stage} is not a stage of ${regime.id}`, 'InvalidParameters');
      const ledger = resolve(deps.settings.ledgerDir);
      const ledgerFile = join(ledger, ledgerName(input.key));
      if (existsSync(ledgerFile)) return JSON.parse(readFileSync(ledgerFile, 'utf8')) as Submission & { draft: { missing: string[] } };

      const contact = contactFor(profile, regime, stage);
      if (!contact.ok) throw ApplicationFailure.nonRetryable(contact.error, 'RegulatorContactMissing');
      const verdict = classifyIncident(regimes, input.draft.facts, organisationOf(profile), input.at).find((x) => x.regime === regime.id);
      const draft = draftReport(regime, stage.id, { ...input.draft, reason: input.reason, profile, criteria: verdict?.criteria });
      const document = { reference: input.key, submittedBy: input.approvedBy, late: input.late, reasonForDelay: input.reason, report: { ...draft, markdown: undefined } };
      const subject = `[${input.key}] ${regime.title} — ${stage.title}${input.late ? ' (late)' : ''}`;

      let id: string;
      const channel = contact.channel;
      if (channel.channel === 'email') {
        const sent = await call('SESv2 SendEmail', `${regime.id}/${contact.recipient}`, () =>
          deps.ses.send(
            new SendEmailCommand({
              FromEmailAddress: channel.from,
              Destination: { ToAddresses: channel.to, CcAddresses: channel.cc.length ? channel.cc : undefined },
              Content: {
                Simple: {
                  Subject: { Data: subject, Charset: 'UTF-8' },
                  Body: { Text: { Data: `${draft.markdown}\n---\nMachine-readable report (JSON):\n${JSON.stringify(document, null, 2)}\n`, Charset: 'UTF-8' } },
                },
              },
            }),
          ),
        );
        if (!sent.MessageId) throw ApplicationFailure.retryable('SESv2 SendEmail answered without a MessageId', 'NotVerified');
        id = `ses:${sent.MessageId}`;
      } else {
        let res: Response;
        try {
          res = await fetch(channel.url, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'idempotency-key': input.key, 'user-agent': 'bulwark-regulators' },
            body: JSON.stringify({ subject, markdown: draft.markdown, ...document }),
            signal: AbortSignal.timeout(8000),
          });
        } catch (err) {
          throw ApplicationFailure.retryable(`webhook submission to ${describeChannel(channel)} failed: ${(err as Error).message}`, 'WebhookUnavailable');
        }
        const text = await res.text();
        if (!res.ok) {
          const message = `webhook submission to ${describeChannel(channel)} answered HTTP ${res.status}`;
          if (res.status >= 500 || res.status === 408 || res.status === 429) throw ApplicationFailure.retryable(message, 'WebhookUnavailable');
          throw ApplicationFailure.nonRetryable(message, 'WebhookRejected');
        }
        let receipt: string | undefined;
        try {
          const body = JSON.parse(text) as { id?: unknown; receiptId?: unknown };
          receipt = typeof body.id === 'string' ? body.id : typeof body.receiptId === 'string' ? body.receiptId : undefined;
        } catch {
          // A receiver without a receipt body: our key is the reference.
        }
        id = `webhook:${receipt ?? input.key}`;
      }
      const submission = { id, key: input.key, at: new Date().toISOString(), channel: `${contact.recipient}: ${describeChannel(channel)}`, approvedBy: input.approvedBy, late: input.late, reason: input.reason, draft: { missing: draft.missing } };
      mkdirSync(ledger, { recursive: true });
      // Write-then-rename so a crash never leaves a half-written record that blocks a resend.
      writeFileSync(`${ledgerFile}.tmp`, JSON.stringify(submission));
      renameSync(`${ledgerFile}.tmp`, ledgerFile);
      return submission;
    },
  };
}

export type RegulatorActivities = ReturnType<typeof createRegulatorActivities>;
