import { ALERTMANAGER_SOURCE_PREFIX, normaliseAlertmanager } from './alertmanager.js';
import { fail, isRecord, own, prop, str, total, type NormaliseResult } from './common.js';
import { GUARDDUTY_DETAIL_TYPE, GUARDDUTY_SOURCE, normaliseGuardDuty } from './guardduty.js';
import { SECURITYHUB_DETAIL_TYPES, SECURITYHUB_SOURCE, normaliseSecurityHub } from './securityhub.js';

export type { NormaliseResult } from './common.js';
export { INTERNAL_ERROR } from './common.js';
export { guardDutySeverity, normaliseGuardDuty, parseFindingType, GUARDDUTY_DETAIL_TYPE, GUARDDUTY_SOURCE } from './guardduty.js';
export { asffSeverity, normaliseSecurityHub, SECURITYHUB_DETAIL_TYPES, SECURITYHUB_SOURCE } from './securityhub.js';
export { ALERTMANAGER_DEFAULT_TYPE, ALERTMANAGER_LABELS, ALERTMANAGER_SOURCE_PREFIX, normaliseAlertmanager } from './alertmanager.js';
export {
  MAPPABLE_FIELDS,
  mappingMatches,
  normaliseMapped,
  normaliseWithMappings,
  parseMappingsYaml,
  parsePath,
  readPath,
  type MappedOptions,
  type SourceMapping,
} from './mapping.js';

/** The native formats with a normaliser of their own. */
export const NATIVE_SOURCES = ['guardduty', 'securityhub', 'alertmanager'] as const;
export type NativeSource = (typeof NATIVE_SOURCES)[number];

export const NORMALISERS: Record<NativeSource, (input: unknown) => NormaliseResult> = {
  guardduty: normaliseGuardDuty,
  securityhub: normaliseSecurityHub,
  alertmanager: normaliseAlertmanager,
};

/** Recognises which native format a payload is, without validating it (the normaliser does that). */
export function detectSource(input: unknown): NativeSource | undefined {
  if (!isRecord(input)) return undefined;
  const detailType = own(input, 'detail-type');
  const source = own(input, 'source');
  if (detailType === GUARDDUTY_DETAIL_TYPE || source === 'aws.guardduty') return 'guardduty';
  if (SECURITYHUB_DETAIL_TYPES.includes(detailType as never) || source === 'aws.securityhub') return 'securityhub';
  if (Array.isArray(own(input, 'alerts')) && own(input, 'receiver') !== undefined) return 'alertmanager';
  if (Array.isArray(prop(input, 'Findings')) || str(prop(input, 'SchemaVersion')) === '2018-10-08') return 'securityhub';
  if (str(prop(input, 'schemaVersion')) !== undefined && prop(input, 'resource') !== undefined && prop(input, 'service') !== undefined) return 'guardduty';
  return undefined;
}

/** An SNS notification (HTTP subscription body or Lambda record's `Sns`) carries the event as a JSON string. */
export function unwrapSns(input: unknown): { ok: true; message: unknown } | { ok: false; field: string; message: string } | undefined {
  if (!isRecord(input) || own(input, 'Type') !== 'Notification' || own(input, 'Message') === undefined) return undefined;
  const text = own(input, 'Message');
  if (typeof text !== 'string') return { ok: false, field: 'Message', message: 'expected the SNS message as a string' };
  try {
    return { ok: true, message: JSON.parse(text) };
  } catch {
    return { ok: false, field: 'Message', message: 'expected the SNS message to be JSON (a GuardDuty, Security Hub or Alertmanager payload)' };
  }
}

/**
 * Any supported native payload → alerts: EventBridge GuardDuty / Security Hub events, bare
 * findings, Alertmanager webhooks, and any of those wrapped in an SNS notification.
 * Pure and total, like each normaliser; `source` names what was recognised.
 */
export const normaliseAny = (input: unknown): NormaliseResult & { source?: NativeSource } => normaliseAnyTotal(input);

const normaliseAnyTotal = total((input: unknown): NormaliseResult & { source?: NativeSource } => {
  let payload = input;
  const sns = unwrapSns(input);
  if (sns && !sns.ok) return fail(sns.field, sns.message);
  if (sns?.ok) payload = sns.message;
  const source = detectSource(payload);
  if (!source) {
    const detailType = isRecord(payload) ? own(payload, 'detail-type') : undefined;
    return fail(
      typeof detailType === 'string' ? 'detail-type' : '(root)',
      typeof detailType === 'string'
        ? `unsupported event "${detailType.slice(0, 80)}": expected "${GUARDDUTY_DETAIL_TYPE}" or ${SECURITYHUB_DETAIL_TYPES.map((t) => `"${t}"`).join(', ')}`
        : `unrecognised payload: expected a GuardDuty finding, a Security Hub (ASFF) event or an Alertmanager webhook (${ALERTMANAGER_SOURCE_PREFIX})`,
    );
  }
  return { ...NORMALISERS[source](payload), source };
});

export { GUARDDUTY_SOURCE as GUARDDUTY, SECURITYHUB_SOURCE as SECURITYHUB };
