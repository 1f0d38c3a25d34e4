import type { Alert, Severity } from '../alert.js';
import type { PlaybookDefaults } from '../playbook.js';
import { resolvePolicy, type ApprovalsFile, type ResolvedPolicy } from '../approval.js';
import { parseDurationSeconds } from '../duration.js';
import { actionSpec, resolvedParams, type ActionSpec, type Effect } from './actions.js';
import type { PlaybookDoc, StepDoc } from './schema.js';
import { isTemplate, referencedPaths, resolveTemplates } from './template.js';

/**
 * A playbook resolved for one alert: the steps the incident workflow runs, with parameters that
 * depend on the alert already filled in. Pure and deterministic, so the workflow can compute it
 * from the playbook document it was started with (which pins the playbook version per incident).
 */
export interface PlannedStep {
  id: string;
  title: string;
  action: string;
  /** Parameters with alert/inputs references resolved; `${steps.…}` ones resolve when the step runs. */
  with: Record<string, unknown>;
  when?: string;
  approval?: string;
  /** The approval policy resolved from approvals.yaml when the plan was made (pinned with it). */
  approvalPolicy?: ResolvedPolicy;
  /** Set when an operator must run `bulwark incident contain` before the step may run. */
  gate?: 'contain';
  onFailure: 'stop' | 'continue' | 'compensate';
  timeoutSeconds?: number;
  retry?: { maxAttempts: number; initialIntervalSeconds?: number; backoff?: number };
  effect: Effect;
  /** Why the resolved parameters are unusable (checked at plan time); the step fails if it runs. */
  invalid?: string;
  /** Undone in reverse order on compensation, TTL expiry or resolution. */
  reversible: boolean;
  /** Steps with the same group number run in parallel. */
  group: number;
  undo?: string;
}

export interface Plan {
  playbook: string;
  version?: number;
  digest?: string;
  /** No playbook matched: the incident only tells operators. */
  triage?: boolean;
  /** Alerts below this severity wait at the gated step for an operator's `contain`. */
  operatorBelow?: Severity;
  /** The playbook's inputs resolved from the alert, for `when` conditions. */
  inputs?: Record<string, unknown>;
  settings?: PlanSettings;
  steps: PlannedStep[];
}

export const PLAN_TIME_ROOTS = ['alert', 'inputs', 'incident', 'settings'] as const;

/** The organisation's configured defaults, readable in playbooks as `${settings.throttle.rateLimit}`. */
export interface PlanSettings {
  throttle: { rateLimit: number; burstLimit: number; ttl: string };
  /** `settings.consents.enabled`: absent (so false) unless a consent store is configured. */
  consents?: { enabled: true; batchSize: number };
}

export function settingsFrom(defaults: PlaybookDefaults): PlanSettings {
  return {
    throttle: { ...defaults.throttle, ttl: `${defaults.throttleTtlSeconds}s` },
    ...(defaults.consents ? { consents: { enabled: true as const, batchSize: defaults.consents.batchSize } } : {}),
  };
}

export function planContext(alert: Alert, doc: Pick<PlaybookDoc, 'inputs'>, settings: PlanSettings) {
  const inputs = resolveTemplates(doc.inputs, { alert, settings }) as Record<string, unknown>;
  return { alert, inputs, settings, incident: { severity: alert.severity } };
}

export function planFromPlaybook(doc: PlaybookDoc, alert: Alert, settings: PlanSettings, digest?: string, approvals: ApprovalsFile = NO_APPROVALS): Plan {
  const ctx = planContext(alert, doc, settings);
  const steps: PlannedStep[] = [];
  doc.steps.forEach((entry, group) => {
    for (const step of 'parallel' in entry ? entry.parallel : [entry]) steps.push(plannedStep(step, group, ctx));
  });
  for (const step of steps) if (step.approval) step.approvalPolicy = resolvePolicy(approvals, step.approval, step.effect);
  const operatorBelow = doc.containment?.operatorBelow;
  if (operatorBelow) {
    const firstActing = steps.find((s) => s.effect !== 'informational' && s.effect !== 'control');
    if (firstActing) firstActing.gate = 'contain';
  }
  return { playbook: doc.id, version: doc.version, digest, operatorBelow, inputs: ctx.inputs, settings, steps };
}

function plannedStep(step: StepDoc, group: number, ctx: unknown): PlannedStep {
  const spec = actionSpec(step.action);
  if (!spec) throw new Error(`unknown action ${step.action}`);
  const params = resolveTemplates(step.with, ctx, PLAN_TIME_ROOTS) as Record<string, unknown>;
  return {
    id: step.id,
    title: step.title ?? spec.summary,
    action: step.action,
    with: params,
    invalid: isTemplate(params) || referencedPaths(params).length > 0 ? undefined : paramProblem(spec, params),
    when: step.when,
    approval: step.approval,
    onFailure: step.onFailure,
    timeoutSeconds: step.timeout ? parseDurationSeconds(step.timeout) : undefined,
    retry: step.retry && {
      maxAttempts: step.retry.maxAttempts,
      initialIntervalSeconds: step.retry.initialInterval ? parseDurationSeconds(step.retry.initialInterval) : undefined,
      backoff: step.retry.backoff,
    },
    effect: spec.effect,
    reversible: spec.effect === 'reversible',
    group,
    undo: spec.undo,
  };
}

export function triagePlan(alert: Alert): Plan {
  return {
    playbook: 'triage',
    triage: true,
    steps: [
      {
        id: 'notify-operators',
        title: 'Tell the operators: no playbook matches this alert',
        action: 'notify.operators',
        with: { message: `no playbook matches ${alert.type} (${alert.severity}) from ${alert.source}: review it and act by hand, then resolve the incident` },
        onFailure: 'continue',
        effect: 'informational',
        reversible: false,
        group: 0,
      },
    ],
  };
}

/** The first problem with fully resolved parameters, worded for the timeline. */
export function paramProblem(spec: ActionSpec, params: Record<string, unknown>): string | undefined {
  const r = resolvedParams(spec).safeParse(params);
  if (r.success) return undefined;
  const issue = r.error.issues[0]!;
  return `${issue.path.length ? `with.${issue.path.map(String).join('.')}: ` : ''}${issue.message.replace(/^Invalid input: /, '')}`;
}

const NO_APPROVALS: ApprovalsFile = { groups: {}, policies: {} };
