import { z } from 'zod';

/** Alert schema v1: what every alert source is normalised into before an incident is opened. */
export const SEVERITIES = ['low', 'medium', 'high', 'critical'] as const;
/**
 * Types the shipped playbooks and normalisers know. The schema accepts any dotted lower-case type
 * (e.g. `posture.shadow-endpoint`): an alert no playbook matches opens a triage incident.
 */
export const ALERT_TYPES = [
  'credential.compromised',
  'endpoint.abuse',
  'key.exposed',
  'certificate.compromised',
  'client.offboard',
  'aws-credential.compromised',
  'anomaly.detected',
] as const;
export type KnownAlertType = (typeof ALERT_TYPES)[number];

export const Severity = z.enum(SEVERITIES);
export type Severity = z.infer<typeof Severity>;

export const AlertType = z
  .string()
  .max(128)
  .regex(/^[a-z][a-z0-9-]*(\.[a-z0-9-]+)+$/, 'expected a dotted lower-case type such as credential.compromised');
export type AlertType = z.infer<typeof AlertType>;

// Identifiers are deliberately narrow: they end up in workflow ids, AWS calls and logs,
// so anything that could smuggle whitespace or control characters is refused at the edge.
const identifier = z
  .string()
  .min(1)
  .max(256)
  .regex(/^[A-Za-z0-9._:/@+=,-]+$/, 'expected letters, digits and . _ : / @ + = , - only');

export const Endpoint = z.strictObject({
  restApiId: identifier,
  stage: identifier,
  resourcePath: z.string().min(1).max(512).regex(/^\//, 'expected a path starting with /').optional(),
  httpMethod: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'ANY', '*']).optional(),
});
export type Endpoint = z.infer<typeof Endpoint>;

export const Subject = z.strictObject({
  clientId: identifier.optional(),
  apiKeyId: identifier.optional(),
  secretId: identifier.optional(),
  kmsKeyId: identifier.optional(),
  endpoint: Endpoint.optional(),
  /** IAM access key id (AKIA…/ASIA…) reported by GuardDuty and similar detectors. */
  awsAccessKeyId: z.string().regex(/^(AKIA|ASIA)[A-Z0-9]{12,124}$/, 'expected an IAM access key id (AKIA… or ASIA…)').optional(),
  iamUserName: identifier.optional(),
  iamRoleName: identifier.optional(),
  awsAccountId: z.string().regex(/^\d{12}$/, 'expected a 12-digit AWS account id').optional(),
  /** Cognito user pool and app client of an OAuth client. */
  userPoolId: identifier.optional(),
  appClientId: identifier.optional(),
  certificateArn: identifier.optional(),
  sourceIp: z.union([z.ipv4(), z.ipv6()]).optional(),
});
export type Subject = z.infer<typeof Subject>;

/** What a known type cannot act without: at least one of these subject fields. */
const REQUIRED_SUBJECT: Partial<Record<KnownAlertType, (keyof Subject)[]>> = {
  'credential.compromised': ['clientId', 'apiKeyId', 'secretId'],
  'endpoint.abuse': ['endpoint'],
  'key.exposed': ['kmsKeyId', 'secretId'],
  'certificate.compromised': ['certificateArn'],
  'client.offboard': ['clientId'],
  'aws-credential.compromised': ['awsAccessKeyId', 'iamRoleName', 'iamUserName'],
};

export const Alert = z
  .strictObject({
    source: z.string().min(1).max(128),
    type: AlertType,
    severity: Severity,
    observedAt: z.iso.datetime({ offset: true }),
    dedupKey: z.string().min(1).max(256).optional(),
    /** `resolved` (Alertmanager and others) is attached to the open incident and never opens one. */
    status: z.enum(['firing', 'resolved']).optional(),
    subject: Subject,
    details: z.record(z.string(), z.unknown()).optional(),
  })
  .superRefine((alert, ctx) => {
    const s = alert.subject;
    for (const [type, fields] of Object.entries(REQUIRED_SUBJECT)) {
      if (alert.type === type && !fields.some((f) => s[f] !== undefined)) {
        ctx.addIssue({
          code: 'custom',
          path: fields.length === 1 ? ['subject', fields[0]!] : ['subject'],
          message: `${type} needs ${fields.map((f) => `subject.${f}`).join(' or ')}`,
        });
      }
    }
  });
export type Alert = z.infer<typeof Alert>;

export interface FieldError {
  field: string;
  message: string;
}

export type ParseResult<T> = { ok: true; value: T } | { ok: false; errors: FieldError[] };

/** Flattens zod issues into `{ field: "subject.endpoint.stage", message }` pairs for API and CLI output. */
export function fieldErrors(error: z.ZodError): FieldError[] {
  return error.issues.map((issue) => ({
    field: issue.path.length ? issue.path.map(String).join('.') : '(root)',
    message: issue.message,
  }));
}

export function parseAlert(input: unknown): ParseResult<Alert> {
  const result = Alert.safeParse(input);
  return result.success ? { ok: true, value: result.data } : { ok: false, errors: fieldErrors(result.error) };
}
