import { z } from 'zod';

/**
 * Certificates issued by bulwark's private CA: names, ids, requests, and the lifecycle arithmetic
 * (when to renew, what is close to expiry, what is overdue). Pure: workflows, activities and the
 * CLI share it, so it must not import Node built-ins.
 */

/** A certificate's (and a CA's) name: it becomes part of secret names, aliases and workflow ids. */
export const CertificateName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9.-]{0,62}$/, 'expected lower-case letters, digits, . and -, starting with a letter or digit, at most 63 characters');

/** "CN=api.example.com, O=Acme, C=GB": attribute=value pairs; commas inside values are not supported. */
export const DistinguishedName = z
  .string()
  .max(512)
  .regex(/^\s*[A-Za-z][A-Za-z0-9.]*=[^,=]+(\s*,\s*[A-Za-z][A-Za-z0-9.]*=[^,=]+)*\s*$/, 'expected a distinguished name like "CN=api.example.com, O=Acme"')
  .refine((s) => /(^|,)\s*CN=/i.test(s), 'the subject needs a CN= (common name)');

export const PROFILES = ['server', 'client'] as const;
export type CertificateProfile = (typeof PROFILES)[number];

/** RFC 5280 CRLReason codes, by the names operators type. */
export const REVOCATION_REASONS = {
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  privilegeWithdrawn: 9,
} as const;
export type RevocationReason = keyof typeof REVOCATION_REASONS;
export const RevocationReasonName = z.enum(Object.keys(REVOCATION_REASONS) as [RevocationReason, ...RevocationReason[]]);

/** The default renewal point: two thirds of the way through a certificate's lifetime. */
export const DEFAULT_RENEW_AT_FRACTION = 2 / 3;
/** Lifetimes are bounded: at least a minute (tests, demos), at most 825 days (the CA/B ceiling most clients still accept). */
export const MIN_VALIDITY_SECONDS = 60;
export const MAX_VALIDITY_SECONDS = 825 * 86_400;

export const IssueRequest = z.strictObject({
  name: CertificateName,
  ca: CertificateName.default('bulwark'),
  subject: DistinguishedName,
  /** subjectAltName DNS names (server certificates; the CN is not used by TLS clients for matching). */
  dnsNames: z.array(z.string().regex(/^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*$/, 'expected a DNS name')).max(50).default([]),
  profile: z.enum(PROFILES).default('server'),
  validitySeconds: z.number().int().min(MIN_VALIDITY_SECONDS, `at least ${MIN_VALIDITY_SECONDS} seconds`).max(MAX_VALIDITY_SECONDS, 'at most 825 days'),
  /** Where in the lifetime renewal is due (0.1–0.95; default 2/3). */
  renewAtFraction: z.number().min(0.1).max(0.95).default(DEFAULT_RENEW_AT_FRACTION),
});
export type IssueRequest = z.infer<typeof IssueRequest>;
export type IssueRequestInput = z.input<typeof IssueRequest>;

/** What is recorded about one issued certificate: in the workflow result, the secret's tags and description. Never key material. */
export interface CertificateMetadata {
  name: string;
  ca: string;
  /** Hex, lower case, no separators (as openssl and node:crypto print it, minus colons). */
  serial: string;
  subject: string;
  issuer: string;
  notBefore: string;
  notAfter: string;
  renewAt: string;
  /** SHA-256 of the DER certificate, hex lower case. */
  fingerprint: string;
  profile: CertificateProfile;
  dnsNames: string[];
  secretArn: string;
  versionId: string;
  status: 'active' | 'revoked';
}

export const certificateWorkflowId = (name: string) => `certificate-${name}`;
export const caSecretName = (ca: string) => `bulwark/ca/${ca}`;
export const certificateSecretName = (name: string) => `bulwark/certificates/${name}`;
export const caKeyAlias = (ca: string) => `alias/bulwark/ca/${ca}`;
/** The symmetric key whose data keys encrypt certificate private keys (envelope encryption). */
export const caEnvelopeAlias = (ca: string) => `alias/bulwark/ca/${ca}/keys`;
export const CERT_SCAN_WORKFLOW_ID = 'certificate-scan';
export const CERT_SCAN_SCHEDULE_ID = 'certificate-scan';

const CERT_SECRET = /^bulwark\/certificates\/([a-z0-9][a-z0-9.-]{0,62})$/;
const SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:(.+)-[A-Za-z0-9]{6}$/;

/**
 * A certificate's name from its name, its secret's name, or its secret's ARN (what alerts carry as
 * `subject.certificateArn`). Undefined when it is none of these.
 */
export function certificateNameOf(ref: string): string | undefined {
  const id = ref.trim();
  const secret = SECRET_ARN.exec(id)?.[1] ?? id;
  const fromSecret = CERT_SECRET.exec(secret)?.[1];
  if (fromSecret) return fromSecret;
  return CertificateName.safeParse(id).success ? id : undefined;
}

export function renewAt(notBefore: Date, notAfter: Date, fraction = DEFAULT_RENEW_AT_FRACTION): Date {
  return new Date(notBefore.getTime() + Math.round((notAfter.getTime() - notBefore.getTime()) * fraction));
}

/** Renewal keeps the subject, names, profile and lifetime of the certificate it replaces. */
export function renewalRequest(current: Pick<CertificateMetadata, 'name' | 'ca' | 'subject' | 'dnsNames' | 'profile' | 'notBefore' | 'notAfter' | 'renewAt'>): IssueRequest {
  const nb = Date.parse(current.notBefore);
  const na = Date.parse(current.notAfter);
  const lifetime = Math.max(MIN_VALIDITY_SECONDS, Math.round((na - nb) / 1000));
  const fraction = na > nb ? (Date.parse(current.renewAt) - nb) / (na - nb) : DEFAULT_RENEW_AT_FRACTION;
  return IssueRequest.parse({
    name: current.name,
    ca: current.ca,
    subject: current.subject,
    dnsNames: current.dnsNames,
    profile: current.profile,
    validitySeconds: Math.min(lifetime, MAX_VALIDITY_SECONDS),
    renewAtFraction: Math.min(0.95, Math.max(0.1, Math.round(fraction * 1000) / 1000)),
  });
}

// ───────────────────────────── expiry scanning ─────────────────────────────

export type ExpiryStatus = 'ok' | 'expiring' | 'overdue' | 'expired';

export interface Finding {
  kind: 'certificate' | 'secret';
  /** Certificate name or secret name. */
  name: string;
  /** Secret ARN (the certificate bundle's, or the secret's). */
  arn: string;
  status: ExpiryStatus;
  /** When action is due: a certificate's renewal point, a secret's next rotation. */
  dueAt: string;
  /** A certificate's notAfter. */
  expiresAt?: string;
  serial?: string;
  lastRotatedAt?: string;
  detail: string;
}

/**
 * A certificate: overdue once past its renewal point, expired past notAfter, expiring when the
 * renewal point is within `warnSeconds`.
 */
export function certificateStatus(c: { renewAt: string; notAfter: string }, now: Date, warnSeconds: number): ExpiryStatus {
  const t = now.getTime();
  if (t >= Date.parse(c.notAfter)) return 'expired';
  if (t >= Date.parse(c.renewAt)) return 'overdue';
  if (t >= Date.parse(c.renewAt) - warnSeconds * 1000) return 'expiring';
  return 'ok';
}

/** A secret: due `cadenceSeconds` after it was last rotated; expiring within `warnSeconds` of that. */
export function secretStatus(lastRotatedAt: Date, cadenceSeconds: number, now: Date, warnSeconds: number): { status: ExpiryStatus; dueAt: Date } {
  const dueAt = new Date(lastRotatedAt.getTime() + cadenceSeconds * 1000);
  const t = now.getTime();
  const status = t >= dueAt.getTime() ? 'overdue' : t >= dueAt.getTime() - warnSeconds * 1000 ? 'expiring' : 'ok';
  return { status, dueAt };
}

/**
 * How often a cron cadence fires, roughly, for the overdue check: a day-of-week field means
 * weekly, a day-of-month field monthly, an hour field daily, otherwise hourly. Generous on purpose:
 * the scanner flags a secret only once it has clearly missed its rotation.
 */
export function cronPeriodSeconds(cron: string): number {
  const f = cron.trim().split(/\s+/);
  const named: Record<string, number> = { '@yearly': 366, '@annually': 366, '@monthly': 31, '@weekly': 7, '@daily': 1, '@midnight': 1, '@hourly': 1 / 24 };
  if (cron.trim().startsWith('@')) return Math.round((named[cron.trim()] ?? 1) * 86_400);
  const [, hour = '*', dom = '*', month = '*', dow = '*'] = f;
  if (month !== '*') return 366 * 86_400;
  if (dom !== '*') return 31 * 86_400;
  if (dow !== '*') return 7 * 86_400;
  if (hour !== '*') return 86_400;
  return 3_600;
}

/** The alert a finding raises: a triage incident unless a playbook matches the type. Deduplicated per certificate serial / secret and due date. */
export function findingAlert(f: Finding, observedAt: string): Record<string, unknown> {
  const certificate = f.kind === 'certificate';
  return {
    source: 'bulwark-expiry-scanner',
    type: certificate ? 'certificate.expiring' : 'secret.rotation-overdue',
    severity: f.status === 'expired' ? 'high' : 'medium',
    observedAt,
    dedupKey: certificate ? `certificate.expiring:${f.name}:${f.serial}` : `secret.rotation-overdue:${f.name}:${f.dueAt}`,
    subject: certificate ? { certificateArn: f.arn } : { secretId: f.arn },
    details: { status: f.status, dueAt: f.dueAt, expiresAt: f.expiresAt, serial: f.serial, lastRotatedAt: f.lastRotatedAt, detail: f.detail },
  };
}
