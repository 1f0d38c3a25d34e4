import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Structured logs with secrets redacted by path. Activities never log secret values in the first
 * place; redaction is the second line of defence for anything that carries one by accident.
 */
export const REDACT_PATHS = [
  '*.secret',
  '*.secretString',
  '*.SecretString',
  '*.clientSecret',
  '*.password',
  '*.token',
  '*.apiKey',
  '*.webhookSecret',
  'req.headers.authorization',
  'req.headers["x-bulwark-signature"]',
  '*.botToken',
  '*.signingSecret',
  '*.serverToken',
  '*.basicPassword',
  'req.headers["x-slack-signature"]',
  'config.temporal.apiKey',
  'config.intake.webhookSecret',
  'config.slack.botToken',
  'config.slack.signingSecret',
  'config.codec.serverToken',
  'config.sources.alertmanager.bearerToken',
  'config.sources.alertmanager.basicPassword',
];

export function createLogger(level: string = process.env.BULWARK_LOG_LEVEL ?? 'info', name = 'bulwark'): Logger {
  return pino({ name, level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } });
}
