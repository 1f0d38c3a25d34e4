import { pino, type DestinationStream, type Logger } from 'pino';
import { REDACTED, scrubSecrets } from './scrub.js';

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
  '*.bearerToken',
  '*.privateKey',
  '*.privateKeyPem',
  '*.SecretAccessKey',
  '*.secretAccessKey',
  '*.SecretBinary',
  '*.Plaintext',
  '*.newValue',
  '*.ClientSecret',
  '*.client_secret',
  'req.headers.cookie',
  '*.headers.authorization',
  '*.headers.Authorization',
  'req.headers["x-slack-signature"]',
  'config.temporal.apiKey',
  'config.intake.webhookSecret',
  'config.slack.botToken',
  'config.slack.signingSecret',
  'config.codec.serverToken',
  'config.sources.alertmanager.bearerToken',
  'config.sources.alertmanager.basicPassword',
  'config.consents.token',
];

/**
 * Redact paths catch secrets under known keys; the value scrubber (telemetry/scrub.ts) catches
 * secret-looking values anywhere in the finished line. BULWARK_LOG_FILE sends the logs to a file
 * (appended) instead of stdout.
 */
export function createLogger(level: string = process.env.BULWARK_LOG_LEVEL ?? 'info', name = 'bulwark', destination?: DestinationStream): Logger {
  const file = process.env.BULWARK_LOG_FILE;
  const dest = destination ?? (file ? pino.destination({ dest: file, append: true, sync: true, mkdir: true }) : undefined);
  const options = { name, level, redact: { paths: REDACT_PATHS, censor: REDACTED }, hooks: { streamWrite: scrubSecrets } };
  return dest ? pino(options, dest) : pino(options);
}
