import { z } from 'zod';
import { fieldErrors } from './domain/alert.js';
import { DEFAULT_PLAYBOOK_SETTINGS } from './domain/playbook.js';

/**
 * The one configuration schema. Defaults describe the embedded dev stack (Temporal dev server on
 * 7233, moto on 4566, intake on 8787); environment variables override them for real deployments.
 */
/** 0 asks the OS for any free port (tests use it). */
const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();
const bool = z.union([z.boolean(), z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => ['true', '1', 'yes'].includes(v))]);

export const ConfigSchema = z.object({
  temporal: z.object({
    address: z.string().regex(/^[^\s:]+:\d+$/, 'expected host:port').default('127.0.0.1:7233'),
    namespace: z.string().min(1).default('default'),
    taskQueue: z.string().min(1).default('bulwark'),
    apiKey: z.string().min(1).optional(),
    tls: z
      .object({
        enabled: bool.default(false),
        serverName: z.string().optional(),
        serverRootCaCertPath: z.string().optional(),
        clientCertPath: z.string().optional(),
        clientKeyPath: z.string().optional(),
      })
      .default({ enabled: false }),
  }),
  aws: z.object({
    region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'expected an AWS region such as eu-west-1').default('eu-west-1'),
    endpoint: z.url().optional(),
    /** API keys and secrets carrying this tag (value = client id) belong to that client. */
    clientTag: z.string().min(1).default('bulwark:client-id'),
    maxAttempts: positiveInt.default(3),
  }),
  intake: z.object({
    host: z.string().default('127.0.0.1'),
    port: port.default(8787),
    webhookSecret: z.string().min(16, 'expected at least 16 characters').optional(),
    maxBodyBytes: positiveInt.default(256 * 1024),
    /** Alerts naming a client join that client's open incident started this recently (0: off). */
    correlationWindowSeconds: z.coerce.number().int().min(0).max(7 * 86400).default(900),
  }),
  /** Native alert sources (docs/alert-sources.md): Alertmanager auth and the generic JSON mappings file. */
  sources: z
    .object({
      alertmanager: z
        .object({
          bearerToken: z.string().min(16, 'expected at least 16 characters').optional(),
          basicUser: z.string().min(1).optional(),
          basicPassword: z.string().min(12, 'expected at least 12 characters').optional(),
        })
        .refine((a) => (a.basicUser === undefined) === (a.basicPassword === undefined), 'basic auth needs both user and password')
        .default({}),
      mappingsFile: z.string().min(1).optional(),
    })
    .default({ alertmanager: {} }),
  playbooks: z.object({
    /** Directory of playbook YAML files; default: the shipped `playbooks/`. */
    dir: z.string().min(1).optional(),
    /** Approval policies (approvals.yaml); default: the shipped example. */
    approvalsFile: z.string().min(1).optional(),
    throttleRateLimit: z.coerce.number().positive().default(DEFAULT_PLAYBOOK_SETTINGS.throttle.rateLimit),
    throttleBurstLimit: positiveInt.default(DEFAULT_PLAYBOOK_SETTINGS.throttle.burstLimit),
    throttleTtlSeconds: positiveInt.default(DEFAULT_PLAYBOOK_SETTINGS.throttleTtlSeconds),
  }),
  log: z.object({
    level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  }),
  // --- trust (issue 8): audit chain and payload codec ---
  /** Hash-chained audit: one append-only JSONL file per incident; anchors signed with a KMS key (ECC_NIST_P256 or RSA, SIGN_VERIFY). */
  audit: z
    .object({
      dir: z.string().min(1).default('.bulwark/audit'),
      signingKeyId: z.string().min(1).optional(),
    })
    .default({ dir: '.bulwark/audit' }),
  /**
   * Payload encryption (AES-256-GCM, data keys from KMS). Off by default; on when a KMS key is set
   * (or BULWARK_CODEC=true). Workers, clients, CLI and intake must agree. The codec server needs a token.
   */
  codec: z
    .object({
      enabled: bool.optional(),
      kmsKeyId: z.string().min(1).optional(),
      serverToken: z.string().min(16, 'expected at least 16 characters').optional(),
      /** Origins allowed to call the codec server (the Temporal Web UI). */
      allowedOrigins: z.union([z.array(z.string().min(1)), z.string().transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean))]).default(['http://localhost:8233', 'http://127.0.0.1:8233']),
      dataKeyMaxAgeSeconds: positiveInt.default(300),
      dataKeyMaxUses: positiveInt.default(10_000),
    })
    .transform((c) => ({ ...c, enabled: c.enabled ?? c.kmsKeyId !== undefined }))
    .refine((c) => !c.enabled || c.kmsKeyId !== undefined, { message: 'the codec needs a KMS key (BULWARK_CODEC_KMS_KEY)', path: ['kmsKeyId'] })
    .default({ enabled: false, allowedOrigins: ['http://localhost:8233', 'http://127.0.0.1:8233'], dataKeyMaxAgeSeconds: 300, dataKeyMaxUses: 10_000 }),
  // --- end trust ---
  // --- slack (issue 6): bot token, signing secret, incident channel; all three or none ---
  /** Slack app (docs/slack.md): interactivity and /bulwark on POST /slack/events; incident messages from activities. */
  slack: z
    .object({
      botToken: z.string().regex(/^xox[bpe]-[\w-]+$/, 'expected a bot token (xoxb-…)').optional(),
      signingSecret: z.string().min(16, 'expected at least 16 characters').optional(),
      /** Channel id (C0123…) or name the incident messages go to. */
      channel: z.string().min(1).optional(),
      /** Web API base URL ending in /api/; only for tests and fakes (default: https://slack.com/api/). */
      apiUrl: z.url().optional(),
    })
    .refine((s) => [s.botToken, s.signingSecret, s.channel].every((v) => v === undefined) || [s.botToken, s.signingSecret, s.channel].every((v) => v !== undefined), {
      message: 'Slack needs all of BULWARK_SLACK_BOT_TOKEN, BULWARK_SLACK_SIGNING_SECRET and BULWARK_SLACK_CHANNEL (or none)',
    })
    .default({}),
  // --- end slack ---
});

export type Config = z.infer<typeof ConfigSchema>;
type Env = Record<string, string | undefined>;

export class ConfigError extends Error {
  constructor(readonly problems: { field: string; message: string }[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p.field}: ${p.message}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Environment variable → config path. Documented in the README; keep the two in step. */
export const ENV_VARS: Record<string, string> = {
  TEMPORAL_ADDRESS: 'temporal.address',
  TEMPORAL_NAMESPACE: 'temporal.namespace',
  TEMPORAL_API_KEY: 'temporal.apiKey',
  TEMPORAL_TLS: 'temporal.tls.enabled',
  TEMPORAL_TLS_SERVER_NAME: 'temporal.tls.serverName',
  TEMPORAL_TLS_SERVER_ROOT_CA_CERT: 'temporal.tls.serverRootCaCertPath',
  TEMPORAL_TLS_CLIENT_CERT_PATH: 'temporal.tls.clientCertPath',
  TEMPORAL_TLS_CLIENT_KEY_PATH: 'temporal.tls.clientKeyPath',
  BULWARK_TASK_QUEUE: 'temporal.taskQueue',
  AWS_REGION: 'aws.region',
  AWS_ENDPOINT_URL: 'aws.endpoint',
  BULWARK_AWS_CLIENT_TAG: 'aws.clientTag',
  BULWARK_AWS_MAX_ATTEMPTS: 'aws.maxAttempts',
  BULWARK_INTAKE_HOST: 'intake.host',
  BULWARK_INTAKE_PORT: 'intake.port',
  BULWARK_CORRELATION_WINDOW_SECONDS: 'intake.correlationWindowSeconds',
  BULWARK_WEBHOOK_SECRET: 'intake.webhookSecret',
  BULWARK_INTAKE_MAX_BODY_BYTES: 'intake.maxBodyBytes',
  BULWARK_ALERTMANAGER_TOKEN: 'sources.alertmanager.bearerToken',
  BULWARK_ALERTMANAGER_BASIC_USER: 'sources.alertmanager.basicUser',
  BULWARK_ALERTMANAGER_BASIC_PASSWORD: 'sources.alertmanager.basicPassword',
  BULWARK_SOURCE_MAPPINGS: 'sources.mappingsFile',
  BULWARK_PLAYBOOKS_DIR: 'playbooks.dir',
  BULWARK_APPROVALS_FILE: 'playbooks.approvalsFile',
  BULWARK_THROTTLE_RATE_LIMIT: 'playbooks.throttleRateLimit',
  BULWARK_THROTTLE_BURST_LIMIT: 'playbooks.throttleBurstLimit',
  BULWARK_THROTTLE_TTL_SECONDS: 'playbooks.throttleTtlSeconds',
  BULWARK_LOG_LEVEL: 'log.level',
  // trust (issue 8)
  BULWARK_AUDIT_DIR: 'audit.dir',
  BULWARK_AUDIT_KMS_KEY: 'audit.signingKeyId',
  BULWARK_CODEC: 'codec.enabled',
  BULWARK_CODEC_KMS_KEY: 'codec.kmsKeyId',
  BULWARK_CODEC_TOKEN: 'codec.serverToken',
  BULWARK_CODEC_ALLOWED_ORIGINS: 'codec.allowedOrigins',
  // slack (issue 6)
  BULWARK_SLACK_BOT_TOKEN: 'slack.botToken',
  BULWARK_SLACK_SIGNING_SECRET: 'slack.signingSecret',
  BULWARK_SLACK_CHANNEL: 'slack.channel',
  BULWARK_SLACK_API_URL: 'slack.apiUrl',
};

const pathToEnv = Object.fromEntries(Object.entries(ENV_VARS).map(([k, v]) => [v, k]));

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) {
    node[part] = (node[part] as Record<string, unknown> | undefined) ?? {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts[parts.length - 1]!] = value;
}

function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && b && typeof b === 'object'
        ? deepMerge(b as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out;
}

/**
 * Builds the config from environment variables plus explicit overrides (CLI flags win).
 * Throws ConfigError listing every bad field, named by its environment variable when it came from one.
 */
export function loadConfig(env: Env = process.env, overrides: Record<string, unknown> = {}): Config {
  const fromEnv: Record<string, unknown> = { temporal: {}, aws: {}, intake: {}, playbooks: {}, log: {} };
  for (const [name, path] of Object.entries(ENV_VARS)) {
    const value = env[name];
    if (value !== undefined && value !== '') setPath(fromEnv, path, value);
  }
  const result = ConfigSchema.safeParse(deepMerge(fromEnv, overrides));
  if (!result.success) {
    throw new ConfigError(
      fieldErrors(result.error).map((p) => ({
        field: pathToEnv[p.field] && env[pathToEnv[p.field]!] !== undefined ? `${pathToEnv[p.field]} (${p.field})` : p.field,
        message: p.message,
      })),
    );
  }
  return result.data;
}

export function playbookDefaults(config: Config) {
  return {
    throttle: { rateLimit: config.playbooks.throttleRateLimit, burstLimit: config.playbooks.throttleBurstLimit },
    throttleTtlSeconds: config.playbooks.throttleTtlSeconds,
  };
}

/** Connection options shared by the worker's NativeConnection and the client's Connection. */
export async function temporalConnectionOptions(config: Config) {
  const { readFile } = await import('node:fs/promises');
  const t = config.temporal;
  const tls = t.tls.enabled
    ? {
        serverNameOverride: t.tls.serverName,
        serverRootCACertificate: t.tls.serverRootCaCertPath ? await readFile(t.tls.serverRootCaCertPath) : undefined,
        clientCertPair:
          t.tls.clientCertPath && t.tls.clientKeyPath
            ? { crt: await readFile(t.tls.clientCertPath), key: await readFile(t.tls.clientKeyPath) }
            : undefined,
      }
    : undefined;
  // An API key implies TLS (Temporal Cloud); an explicit TLS config wins.
  return { address: t.address, tls: tls ?? (t.apiKey ? true : undefined), apiKey: t.apiKey };
}
