import { createHash } from 'node:crypto';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { parseDurationSeconds } from '../duration.js';
import { canonicalJson } from '../fingerprint.js';
import { fieldPath } from '../yaml-file.js';
import { cognitoGeneratorProblem } from './cognito-secret.js';
import { GeneratorPolicy } from './generator.js';
import { rotationScheduleId } from './ids.js';
import { checkDeletionWindowDays, MIN_SECRET_WRITE_INTERVAL_SECONDS } from './limits.js';
import { STRATEGIES } from './strategy.js';
import { Consumer, RotationTarget } from './target.js';

/**
 * `rotation.yaml`: which secrets and KMS keys rotate on which cadence. `bulwark schedule apply`
 * turns each policy into one Temporal Schedule `rotation-<name>` (overlap SKIP, a catch-up
 * window) and deletes the schedules of the same `set` that the file no longer names.
 */
const duration = z.string().refine((s) => {
  try {
    parseDurationSeconds(s);
    return true;
  } catch {
    return false;
  }
}, 'expected a duration like 90s, 30m, 2h or 30d');
const seconds = (s: string) => parseDurationSeconds(s);
const name = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'expected lower-case letters, digits and -, at most 63 characters');
const resource = z.string().min(1).max(512).regex(/^[A-Za-z0-9._:/@+=,-]+$/, 'expected letters, digits and . _ : / @ + = , - only');

const SecretTarget = z.strictObject({
  secret: resource,
  strategy: z.enum(STRATEGIES).default('single-user'),
  /** alternating-users: the two users that take turns (default: `<user>` / `<user>_clone`). */
  userPair: z.tuple([z.string().min(1), z.string().min(1)]).optional(),
  generator: GeneratorPolicy.optional(),
  /** Override of AWS's 10-minute advice for this secret (seconds); rarely needed. */
  minIntervalSeconds: z.number().int().min(0).optional(),
  /** Where the new credential is set before it becomes current, and where the old one is revoked (domain/rotation/target.ts). */
  setSecret: RotationTarget.optional(),
  consumers: z.array(Consumer).max(100).optional(),
  grace: duration.optional(),
  confirmWithin: duration.optional(),
});
const KmsTarget = z.strictObject({
  kmsKey: resource,
  /** on-demand: RotateKeyOnDemand (symmetric keys); replace: new key behind the alias (asymmetric/HMAC). */
  mode: z.enum(['on-demand', 'replace']).default('on-demand'),
  grace: duration.default('24h'),
  deletionWindowDays: z.number().int().default(30),
});

const Cadence = z.union([z.strictObject({ every: duration }), z.strictObject({ cron: z.string().min(9).max(200) })], {
  error: 'expected { every: 30d } or { cron: "0 3 * * 1" }',
});

export const RotationPolicy = z
  .strictObject({
    name,
    description: z.string().max(500).optional(),
    target: z.union([SecretTarget, KmsTarget], { error: 'expected { secret: <name or ARN>, … } or { kmsKey: <key id or alias>, … }' }),
    cadence: Cadence,
    /** UTC time-of-day window "HH:MM-HH:MM" for `every` cadences of whole days: the run lands at a random moment inside it. */
    window: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-4]):[0-5]\d$/, 'expected "HH:MM-HH:MM" (UTC)').optional(),
    /** Random delay added to each run (not with `window`, which sets it). */
    jitter: duration.optional(),
    catchupWindow: duration.optional(),
    timezone: z.string().min(1).max(64).optional(),
    paused: z.boolean().default(false),
  })
  .superRefine((p, ctx) => {
    if ('kmsKey' in p.target && p.target.mode === 'replace') {
      const problem = checkDeletionWindowDays(p.target.deletionWindowDays);
      if (problem) ctx.addIssue({ code: 'custom', path: ['target', 'deletionWindowDays'], message: problem });
      if (!/^alias\/|:alias\//.test(p.target.kmsKey)) ctx.addIssue({ code: 'custom', path: ['target', 'kmsKey'], message: 'replace needs an alias (alias/…): the alias is what moves to the new key' });
    }
    if ('cron' in p.cadence) {
      const fields = p.cadence.cron.trim().split(/\s+/);
      if (!p.cadence.cron.startsWith('@') && (fields.length < 5 || fields.length > 7)) ctx.addIssue({ code: 'custom', path: ['cadence', 'cron'], message: 'expected a cron expression of 5 fields (minute hour day-of-month month day-of-week)' });
      if (p.window) ctx.addIssue({ code: 'custom', path: ['window'], message: 'window is for `every` cadences; with cron, put the time in the expression and add jitter' });
    }
    if ('every' in p.cadence) {
      const every = seconds(p.cadence.every);
      if (every < 3600) ctx.addIssue({ code: 'custom', path: ['cadence', 'every'], message: 'rotating more often than hourly is not a rotation policy (and secrets should not be written more than every 10 minutes)' });
      if (p.window) {
        if (every % 86400 !== 0) ctx.addIssue({ code: 'custom', path: ['window'], message: 'a time-of-day window needs a cadence of whole days (e.g. every: 30d)' });
        if (p.jitter) ctx.addIssue({ code: 'custom', path: ['jitter'], message: 'give either window or jitter: a window sets the jitter to its length' });
        const [start, end] = windowMinutes(p.window);
        if (end <= start) ctx.addIssue({ code: 'custom', path: ['window'], message: 'the window must end after it starts (same UTC day)' });
      }
      if (p.jitter && seconds(p.jitter) >= every) ctx.addIssue({ code: 'custom', path: ['jitter'], message: 'jitter must be shorter than the cadence' });
    }
    if ('secret' in p.target && p.target.setSecret?.kind === 'cognito-app-client' && p.target.generator) {
      const problem = cognitoGeneratorProblem(p.target.generator);
      if (problem) ctx.addIssue({ code: 'custom', path: ['target', 'generator'], message: problem });
    }
    if ('secret' in p.target && 'every' in p.cadence && seconds(p.cadence.every) < (p.target.minIntervalSeconds ?? MIN_SECRET_WRITE_INTERVAL_SECONDS)) {
      ctx.addIssue({ code: 'custom', path: ['cadence', 'every'], message: 'more often than the secret may be written (10 minutes)' });
    }
  });
export type RotationPolicy = z.infer<typeof RotationPolicy>;

export const RotationFile = z
  .strictObject({
    version: z.literal(1).default(1),
    /** Which schedules this file owns: apply deletes only schedules of the same set. */
    set: name.default('default'),
    defaults: z.strictObject({ catchupWindow: duration.default('1h'), timezone: z.string().min(1).max(64).optional() }).default({ catchupWindow: '1h' }),
    policies: z.array(RotationPolicy).max(1000),
  })
  .superRefine((f, ctx) => {
    const seen = new Set<string>();
    f.policies.forEach((p, i) => {
      if (seen.has(p.name)) ctx.addIssue({ code: 'custom', path: ['policies', i, 'name'], message: `duplicate policy name ${p.name}` });
      seen.add(p.name);
    });
  });
export type RotationFile = z.infer<typeof RotationFile>;

export type PolicyParse = { ok: true; file: RotationFile } | { ok: false; errors: { field: string; message: string }[] };

export function parseRotationFile(text: string): PolicyParse {
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0) return { ok: false, errors: doc.errors.map((e) => ({ field: '(yaml)', message: e.message.split('\n')[0]! })) };
  const result = RotationFile.safeParse(doc.toJS({ maxAliasCount: 100 }));
  if (!result.success) return { ok: false, errors: result.error.issues.flatMap((i) => flatten(i, [])) };
  return { ok: true, file: result.data };
}

type Issue = z.core.$ZodIssue;

/** A union's error names the branch that came closest (fewest problems), or says what was expected on a tie. */
function flatten(issue: Issue, prefix: PropertyKey[]): { field: string; message: string }[] {
  const path = [...prefix, ...issue.path];
  if (issue.code === 'invalid_union' && issue.errors.length > 0) {
    const sorted = [...issue.errors].sort((a, b) => a.length - b.length);
    if (sorted[0]!.length > 0 && (sorted.length === 1 || sorted[0]!.length < sorted[1]!.length)) return sorted[0]!.flatMap((i) => flatten(i, path));
  }
  return [{ field: fieldPath(path), message: issue.message }];
}

function windowMinutes(window: string): [number, number] {
  const [a, b] = window.split('-') as [string, string];
  const m = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
  return [m(a), m(b)];
}

/** What a scheduled run does: the input of `scheduledRotationWorkflow`. */
export type ScheduledTarget =
  | {
      kind: 'secret';
      secretId: string;
      strategy: (typeof STRATEGIES)[number];
      generator?: GeneratorPolicy;
      userPair?: [string, string];
      minIntervalSeconds?: number;
      setSecret?: RotationTarget;
      consumers?: Consumer[];
      grace?: string;
      confirmWithin?: string;
    }
  | { kind: 'kms-rotate'; keyId: string }
  | { kind: 'kms-replace'; aliasName: string; graceSeconds: number; deletionWindowDays: number };

export interface ScheduledRotationInput {
  set: string;
  policy: string;
  /** sha256 of the policy as applied: `schedule apply` updates a schedule only when it changed. */
  policyHash: string;
  target: ScheduledTarget;
}

/** A schedule as plain data (durations in ms); the CLI hands it to client.schedule. */
export interface PlannedSchedule {
  scheduleId: string;
  spec: { intervals?: { every: number; offset?: number }[]; cronExpressions?: string[]; jitter?: number; timezone?: string };
  catchupWindowMs: number;
  paused: boolean;
  note: string;
  input: ScheduledRotationInput;
}

export function policyHash(policy: RotationPolicy, file: Pick<RotationFile, 'defaults'>): string {
  return createHash('sha256').update(canonicalJson({ policy, defaults: file.defaults })).digest('hex').slice(0, 16);
}

export function targetOf(p: RotationPolicy): ScheduledTarget {
  if ('secret' in p.target) {
    const t = p.target;
    return {
      kind: 'secret',
      secretId: t.secret,
      strategy: t.strategy,
      generator: t.generator,
      userPair: t.userPair,
      minIntervalSeconds: t.minIntervalSeconds,
      ...(t.setSecret ? { setSecret: t.setSecret } : {}),
      ...(t.consumers ? { consumers: t.consumers } : {}),
      ...(t.grace ? { grace: t.grace } : {}),
      ...(t.confirmWithin ? { confirmWithin: t.confirmWithin } : {}),
    };
  }
  const t = p.target;
  return t.mode === 'replace'
    ? { kind: 'kms-replace', aliasName: t.kmsKey, graceSeconds: seconds(t.grace), deletionWindowDays: t.deletionWindowDays }
    : { kind: 'kms-rotate', keyId: t.kmsKey };
}

/** The Temporal Schedule for one policy: ids `rotation-<name>`, overlap SKIP is set by the caller. */
export function planSchedule(p: RotationPolicy, file: RotationFile): PlannedSchedule {
  const spec: PlannedSchedule['spec'] = {};
  if ('every' in p.cadence) {
    const interval: { every: number; offset?: number } = { every: seconds(p.cadence.every) * 1000 };
    if (p.window) {
      const [start, end] = windowMinutes(p.window);
      interval.offset = start * 60_000;
      spec.jitter = (end - start) * 60_000;
    }
    spec.intervals = [interval];
  } else {
    spec.cronExpressions = [p.cadence.cron];
  }
  if (p.jitter) spec.jitter = seconds(p.jitter) * 1000;
  const timezone = p.timezone ?? file.defaults.timezone;
  if (timezone) spec.timezone = timezone;
  return {
    scheduleId: rotationScheduleId(p.name),
    spec,
    catchupWindowMs: seconds(p.catchupWindow ?? file.defaults.catchupWindow) * 1000,
    paused: p.paused,
    note: p.description ?? `rotation policy ${p.name} (set ${file.set})`,
    input: { set: file.set, policy: p.name, policyHash: policyHash(p, file), target: targetOf(p) },
  };
}
