/**
 * The value scrubber behind log redaction: pino's redact paths catch secrets under known keys; this
 * catches secret-looking values anywhere in a log line (messages, error texts, stack traces, fields
 * with unexpected names). Applied to each serialised line before it is written.
 *
 * It errs towards redacting: a log line missing a random-looking string costs little; a secret in a
 * log shipped to a SIEM costs a rotation. Identifiers bulwark records as evidence (ARNs, UUID version
 * ids, workflow ids, access key ids, paths) are kept.
 */

export const REDACTED = '[redacted]';

const RULES: { name: string; re: RegExp; replace: string | ((...m: string[]) => string) }[] = [
  // PEM private keys, raw or JSON-escaped (\n inside a string).
  { name: 'pem-private-key', re: /-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY-----[\s\S]*?-----END \1PRIVATE KEY-----/g, replace: `-----BEGIN PRIVATE KEY-----${REDACTED}-----END PRIVATE KEY-----` },
  // Slack tokens: bot, user, app-level, refresh, configuration.
  { name: 'slack-token', re: /\bxox[abposre]-[A-Za-z0-9-]{8,}|\bxapp-[A-Za-z0-9-]{8,}/g, replace: REDACTED },
  // Authorization header values and bearer tokens in text.
  { name: 'bearer', re: /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/gi, replace: (_m, scheme) => `${scheme} ${REDACTED}` },
  // key=value / "key":"value" for secret-named keys, whatever the value looks like.
  {
    name: 'secret-assignment',
    re: /((?<![\w:/.-])(?:secret(?:_?access_?key|_?string|_?value)?|client_?secret|password|passwd|pwd|api_?key|token|private_?key|signing_?secret|webhook_?secret)\\?["']?\s*[:=]\s*\\?["']?)([^\s"'\\,;&}]{4,})/gi,
    replace: (_m, head) => `${head}${REDACTED}`,
  },
  // AWS secret access keys: 40 characters of base64 with both cases (a SHA-1 hex digest is not one),
  // not continuing a host name, path or identifier.
  { name: 'aws-secret-key', re: /(?<![A-Za-z0-9/+=.:_-])(?=[A-Za-z0-9/+]{0,39}[A-Z])(?=[A-Za-z0-9/+]{0,39}[a-z])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])/g, replace: REDACTED },
];

/**
 * ARNs and URLs are identifiers, left whole; otherwise runs of characters with no separators are
 * the candidates for the generated-value rule. (Secrets inside URLs — `?token=…` — are caught above.)
 */
const IDENTIFIER_OR_CANDIDATE = /\barn:[^\s"'\\]+|\b[a-z][a-z0-9+.-]*:\/\/[^\s"'\\]+|[^\s"'\\/]{16,}/gi;
const IDENTIFIER = /^(?:arn:|[a-z][a-z0-9+.-]*:\/\/)/i;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Generated passwords and tokens (domain/rotation/generator.ts: 12+ characters mixing upper case,
 * lower case and digits, no '/'): a separator-free run of 16+ characters with all three classes.
 * ARNs (arn:…), URLs and UUIDs are identifiers, not secrets.
 */
function looksGenerated(s: string): boolean {
  if (IDENTIFIER.test(s) || UUID.test(s) || s.startsWith(REDACTED)) return false;
  return /[A-Z]/.test(s) && /[a-z]/.test(s) && /[0-9]/.test(s);
}

export function scrubSecrets(text: string): string {
  let out = text;
  for (const rule of RULES) out = out.replace(rule.re, rule.replace as (substring: string, ...args: string[]) => string);
  return out.replace(IDENTIFIER_OR_CANDIDATE, (run) => (looksGenerated(run) ? REDACTED : run));
}
