import { z } from 'zod';

/**
 * Slack's inbound payloads, validated at the edge. Schemas only name the fields bulwark reads and
 * let the rest through (Slack adds fields over time); what the workflow receives is built from
 * these parsed values only.
 */

/** Slack user ids (U…, W… for Enterprise Grid); the approver is recorded as `slack:<id>`. */
export const SlackUserId = z.string().regex(/^[UW][A-Z0-9_]{1,40}$/, 'expected a Slack user id (U…)');
const incidentId = z.string().regex(/^incident-[A-Za-z0-9._:-]{1,200}$/, 'expected an incident id (incident-…)');
const stepId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'expected a step id');

/** What the Approve/Reject buttons carry (see buttonValue). */
const digest = z.string().regex(/^[0-9a-f]{8,64}$/, 'expected a step digest');
export const ButtonValue = z.strictObject({ incidentId, step: stepId, digest: digest.optional() });
export type ButtonValue = z.infer<typeof ButtonValue>;

export const BlockActionsPayload = z.looseObject({
  type: z.literal('block_actions'),
  user: z.looseObject({ id: SlackUserId }),
  trigger_id: z.string().min(1).optional(),
  response_url: z.url().optional(),
  channel: z.looseObject({ id: z.string().min(1) }).optional(),
  container: z.looseObject({ message_ts: z.string().optional(), channel_id: z.string().optional() }).optional(),
  actions: z.array(z.looseObject({ action_id: z.string(), value: z.string().max(2000).optional() })).min(1),
});
export type BlockActionsPayload = z.infer<typeof BlockActionsPayload>;

/** The reject modal: its callback id and the block/action ids of the reason input. */
export const REJECT_MODAL_CALLBACK = 'bulwark-reject';
export const REASON_BLOCK = 'reason';
export const REASON_ACTION = 'reason';

/** What the reject modal carries from the click to the submission. */
export const RejectModalMetadata = z.strictObject({ incidentId, step: stepId, digest: digest.optional(), channel: z.string().min(1).optional() });
export type RejectModalMetadata = z.infer<typeof RejectModalMetadata>;

/** The skip and abort reason modals (same reason input as the reject modal) and the approve-with-changes modal. */
export const SKIP_MODAL_CALLBACK = 'bulwark-skip';
export const ABORT_MODAL_CALLBACK = 'bulwark-abort';
export const CHANGES_MODAL_CALLBACK = 'bulwark-approve-changes';

/** What the approve-with-changes modal carries: the parameters' values as shown, to tell what was changed. */
const paramValue = z.union([z.string().max(150), z.number(), z.boolean()]);
export const ChangesModalMetadata = z.strictObject({
  incidentId,
  step: stepId,
  digest: digest.optional(),
  channel: z.string().min(1).optional(),
  shown: z.record(z.string().regex(/^[A-Za-z][A-Za-z0-9_]{0,63}$/), paramValue),
});
export type ChangesModalMetadata = z.infer<typeof ChangesModalMetadata>;

export const ViewSubmissionPayload = z.looseObject({
  type: z.literal('view_submission'),
  user: z.looseObject({ id: SlackUserId }),
  view: z.looseObject({
    callback_id: z.string(),
    private_metadata: z.string().max(3000),
    state: z.looseObject({
      values: z.record(z.string(), z.record(z.string(), z.looseObject({ value: z.string().nullish() }))),
    }),
  }),
});
export type ViewSubmissionPayload = z.infer<typeof ViewSubmissionPayload>;

export const SlashCommandPayload = z.looseObject({
  command: z.string().startsWith('/'),
  text: z.string().max(4000).default(''),
  user_id: SlackUserId,
  channel_id: z.string().optional(),
  response_url: z.url().optional(),
  trigger_id: z.string().optional(),
});
export type SlashCommandPayload = z.infer<typeof SlashCommandPayload>;

/** The reason typed in the reject modal, trimmed; undefined when empty. */
export function rejectReason(payload: ViewSubmissionPayload): string | undefined {
  const value = payload.view.state.values[REASON_BLOCK]?.[REASON_ACTION]?.value?.trim();
  return value ? value.slice(0, 1000) : undefined;
}

export function parseJson<T>(schema: z.ZodType<T>, text: string | undefined): { ok: true; value: T } | { ok: false; message: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(text ?? '');
  } catch {
    return { ok: false, message: 'not JSON' };
  }
  const parsed = schema.safeParse(raw);
  return parsed.success ? { ok: true, value: parsed.data } : { ok: false, message: parsed.error.issues.map((i) => `${i.path.join('.') || 'value'}: ${i.message}`).join('; ') };
}

export type SlashCommand =
  | { kind: 'help' }
  | { kind: 'list' }
  | { kind: 'status'; incidentId: string }
  | { kind: 'open'; type: string; client: string }
  | { kind: 'invalid'; message: string };

/** Slack mrkdwn (angle brackets escaped). */
export const SLASH_HELP = [
  '*/bulwark* — incident response',
  '• `/bulwark status &lt;incident id&gt;` — an incident’s status and steps',
  '• `/bulwark list` — open incidents',
  '• `/bulwark open &lt;type&gt; &lt;client id&gt;` — open an incident by hand (type: credential, abuse, key, offboard, aws-credential, or a dotted alert type); you cannot approve its steps yourself',
  '• `/bulwark help` — this text',
  'Approve or reject steps with the buttons on the incident message.',
].join('\n');

/** Parses the text after `/bulwark`. Words are separated by whitespace; ids are checked by the handlers. */
export function parseSlashText(text: string): SlashCommand {
  const words = text.trim().split(/\s+/).filter(Boolean);
  const [verb, ...rest] = words;
  switch (verb?.toLowerCase()) {
    case undefined:
    case 'help':
      return { kind: 'help' };
    case 'list':
      return rest.length === 0 ? { kind: 'list' } : { kind: 'invalid', message: '`list` takes no arguments' };
    case 'status': {
      if (rest.length !== 1) return { kind: 'invalid', message: 'usage: `/bulwark status <incident id>`' };
      const id = rest[0]!.startsWith('incident-') ? rest[0]! : `incident-${rest[0]!}`;
      return incidentId.safeParse(id).success ? { kind: 'status', incidentId: id } : { kind: 'invalid', message: 'expected an incident id (incident-…)' };
    }
    case 'open':
      if (rest.length !== 2) return { kind: 'invalid', message: 'usage: `/bulwark open <type> <client id>`' };
      return { kind: 'open', type: rest[0]!, client: rest[1]! };
    default:
      return { kind: 'invalid', message: `unknown command "${verb!.slice(0, 32)}": try \`/bulwark help\`` };
  }
}

/** A text input's value from a submitted modal, trimmed; undefined when empty or absent. */
export function inputValue(payload: ViewSubmissionPayload, block: string, action: string): string | undefined {
  const value = payload.view.state.values[block]?.[action]?.value?.trim();
  return value ? value.slice(0, 1000) : undefined;
}
