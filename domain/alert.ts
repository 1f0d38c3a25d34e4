import { z } from 'zod';

/** Alert schema v1: what every alert source is normalised into before an incident is opened. */
export const SEVERITIES = ['low', 'medium', 'high', 'critical'] as const;
export const ALERT_TYPES = ['credential.compromised', 'endpoint.abuse'] as const;

export const Severity = z.enum(SEVERITIES);
export type Severity = z.infer<typeof Severity>;

export const AlertType = z.enum(ALERT_TYPES);
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
});
export type Subject = z.infer<typeof Subject>;

export const Alert = z
  .strictObject({
    source: z.string().min(1).max(128),
    type: AlertType,
    severity: Severity,
    observedAt: z.iso.datetime({ offset: true }),
    dedupKey: z.string().min(1).max(256).optional(),
    subject: Subject,
    details: z.record(z.string(), z.unknown()).optional(),
  })
  .superRefine((alert, ctx) => {
    const s = alert.subject;
    if (alert.type === 'credential.compromised' && !s.clientId && !s.apiKeyId && !s.secretId) {
      ctx.addIssue({
        code: 'custom',
        path: ['subject'],
        message: 'credential.compromised needs subject.clientId, subject.apiKeyId or subject.secretId',
      });
    }
    if (alert.type === 'endpoint.abuse' && !s.endpoint) {
      ctx.addIssue({ code: 'custom', path: ['subject', 'endpoint'], message: 'endpoint.abuse needs subject.endpoint' });
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
