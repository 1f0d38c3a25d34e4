import { z } from 'zod';
import { DurationText as duration } from '../schemas.js';
import { AlertType, Severity, Subject } from '../alert.js';
import { IntelMatchCondition } from '../intel/match.js';
import { ACTION_NAMES, actionSpec, lenientParams } from './actions.js';
import { conditionPaths, parseCondition } from './condition.js';
import { referencedPaths, TEMPLATE_ROOTS } from './template.js';

const slug = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'expected lower-case letters, digits and -');

export const OnFailure = z.enum(['stop', 'continue', 'compensate']);

export const StepDoc = z.strictObject({
  id: slug,
  title: z.string().min(1).max(200).optional(),
  action: z.string().min(1),
  with: z.record(z.string(), z.unknown()).default({}),
  /** Condition on the alert, inputs or earlier steps; the step is skipped when false. */
  when: z.string().min(1).max(500).optional(),
  /** Approval policy reference: parsed and carried now, enforced by the approval feature. */
  approval: slug.optional(),
  onFailure: OnFailure.default('stop'),
  timeout: duration.optional(),
  retry: z
    .strictObject({
      maxAttempts: z.number().int().min(1).max(20),
      initialInterval: duration.optional(),
      backoff: z.number().min(1).max(10).optional(),
    })
    .optional(),
});
export type StepDoc = z.infer<typeof StepDoc>;

export const ParallelDoc = z.strictObject({ parallel: z.array(StepDoc).min(2).max(20) });

const SUBJECT_FIELDS = Object.keys(Subject.shape) as [keyof Subject, ...(keyof Subject)[]];

export const PlaybookDoc = z
  .strictObject({
    id: slug,
    version: z.number().int().min(1),
    title: z.string().min(1).max(200),
    description: z.string().max(4000).optional(),
    match: z.strictObject({
      types: z.array(AlertType).min(1).optional(),
      severities: z.array(Severity).min(1).optional(),
      /** Alert sources; a trailing * matches a prefix (alertmanager:*). */
      sources: z.array(z.string().min(1).max(128)).min(1).optional(),
      /** Subject fields that must be present, or equal a value. */
      subject: z.partialRecord(z.enum(SUBJECT_FIELDS), z.union([z.literal('present'), z.string().min(1)])).optional(),
      /** The alert's source IP matched a threat-intel indicator at intake (issue 9; docs/threat-intel.md). */
      intel: IntelMatchCondition.optional(),
    }),
    /** Alerts below this severity wait for `bulwark incident contain` before the first step that changes anything. */
    containment: z.strictObject({ operatorBelow: Severity }).optional(),
    inputs: z.record(z.string().regex(/^[A-Za-z][\w]*$/, 'expected a name of letters and digits'), z.unknown()).default({}),
    steps: z.array(z.union([StepDoc, ParallelDoc])).min(1).max(50),
  })
  .superRefine((doc, ctx) => {
    const seen = new Map<string, number>();
    doc.steps.forEach((entry, i) => {
      const group = 'parallel' in entry ? entry.parallel.map((s, j) => ({ step: s, path: ['steps', i, 'parallel', j] })) : [{ step: entry, path: ['steps', i] }];
      const before = new Set(seen.keys());
      for (const { step, path } of group) {
        if (seen.has(step.id)) ctx.addIssue({ code: 'custom', path: [...path, 'id'], message: `duplicate step id "${step.id}"` });
        seen.set(step.id, i);
      }
      for (const { step, path } of group) checkStep(step, path, before, doc.inputs, ctx);
    });
    for (const path of referencedPaths(doc.inputs)) {
      const root = path.split('.')[0];
      if (root !== 'alert' && root !== 'settings') ctx.addIssue({ code: 'custom', path: ['inputs'], message: `inputs may only reference alert.* and settings.* (found \${${path}})` });
    }
  });
export type PlaybookDoc = z.infer<typeof PlaybookDoc>;

function checkStep(step: StepDoc, path: (string | number)[], earlier: Set<string>, inputs: Record<string, unknown>, ctx: z.RefinementCtx): void {
  const spec = actionSpec(step.action);
  if (!spec) {
    ctx.addIssue({ code: 'custom', path: [...path, 'action'], message: `unknown action "${step.action}"; known: ${ACTION_NAMES.join(', ')}` });
    return;
  }
  if (spec.unavailable) ctx.addIssue({ code: 'custom', path: [...path, 'action'], message: spec.unavailable });
  if (spec.effect === 'destructive' && !step.approval) {
    ctx.addIssue({ code: 'custom', path: [...path, 'approval'], message: `${step.action} is irreversible and destructive: the step needs an approval policy` });
  }
  if (step.onFailure === 'compensate' && spec.effect === 'control') {
    ctx.addIssue({ code: 'custom', path: [...path, 'onFailure'], message: 'a wait step cannot fail; onFailure: compensate has no effect here' });
  }
  const params = lenientParams(spec).safeParse(step.with);
  if (!params.success) {
    for (const issue of params.error.issues) ctx.addIssue({ code: 'custom', path: [...path, 'with', ...issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p))], message: issue.message });
  }
  const refs = referencedPaths(step.with).map((p) => ({ p, field: 'with' }));
  if (step.when) {
    try {
      refs.push(...conditionPaths(parseCondition(step.when)).map((p) => ({ p, field: 'when' })));
    } catch (err) {
      ctx.addIssue({ code: 'custom', path: [...path, 'when'], message: `cannot parse condition: ${(err as Error).message}` });
    }
  }
  for (const { p, field } of refs) {
    const [root, name] = p.split('.');
    if (!(TEMPLATE_ROOTS as readonly string[]).includes(root!)) {
      ctx.addIssue({ code: 'custom', path: [...path, field], message: `unknown reference "${p}": expected alert.*, inputs.*, steps.<id>.*, incident.* or settings.*` });
    } else if (root === 'inputs' && name && !Object.hasOwn(inputs, name)) {
      ctx.addIssue({ code: 'custom', path: [...path, field], message: `inputs.${name} is not declared under inputs` });
    } else if (root === 'steps' && name && !earlier.has(name)) {
      ctx.addIssue({ code: 'custom', path: [...path, field], message: `steps.${name} must be a step that runs before this one` });
    }
  }
}
