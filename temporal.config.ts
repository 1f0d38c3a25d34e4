import { z } from 'zod';
import { fieldErrors } from './domain/alert.js';
import { DEFAULT_PLAYBOOK_SETTINGS } from './domain/playbook.js';
import { IntelConfig, WAF_DEFAULTS, WafConfig } from './domain/intel/config.js';

/**
 * The one configuration schema. Defaults describe the embedded dev stack (Temporal dev server on
 * 7233, moto on 4566, intake on 8787); environment variables override them for real deployments.
 */
/** 0 asks the OS for any free port (tests use it). */
const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();
const bool = z.union([z.boolean(), z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => ['true', '1', 'yes'].includes(v))]);

/** AWS services by their SDK names; rate limits are keyed by these. */
export const AWS_SERVICES = ['secretsmanager', 'kms', 'apigateway', 'apigatewayv2', 'iam', 'cognito-idp', 'sesv2', 'wafv2', 's3'] as const;
export type AwsService = (typeof AWS_SERVICES)[number];

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
    /** Client-side request budgets per service and process (`secretsmanager=40,kms=5`); none by default. */
    rateLimits: z
      .union([z.string(), z.record(z.string(), z.number())])
      .transform((v, ctx) => {
        const entries = typeof v === 'string' ? v.split(',').map((p) => p.trim()).filter(Boolean).map((p) => p.split('=')) : Object.entries(v).map(([k, n]) => [k, String(n)]);
        const out: Partial<Record<AwsService, number>> = {};
        for (const [service, rate] of entries) {
          const n = Number(rate);
          if (!AWS_SERVICES.includes(service as AwsService) || !(n > 0)) {
            ctx.addIssue({ code: 'custom', message: `expected service=requestsPerSecond with service one of ${AWS_SERVICES.join(', ')}, got "${service}=${rate ?? ''}"` });
            return z.NEVER;
          }
          out[service as AwsService] = n;
        }
        return out;
      })
      .default({}),
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
      /** Optional second store: every record also written to this S3 bucket (created with Object Lock). */
      s3Bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'expected an S3 bucket name').optional(),
      s3LockMode: z.enum(['COMPLIANCE', 'GOVERNANCE']).default('COMPLIANCE'),
      s3RetentionDays: positiveInt.max(36500).default(2555),
    })
    .default({ dir: '.bulwark/audit', s3LockMode: 'COMPLIANCE', s3RetentionDays: 2555 }),
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
      /**
       * Dev stack only, set by `bulwark dev` (no env variable, no default): its Web UI's exact origins,
       * served by the codec endpoint without the token from loopback (intake/dev-ui-codec-access.ts).
       */
      devUiOrigins: z.array(z.string().regex(/^http:\/\/(127\.0\.0\.1|localhost|\[::1\]):\d{1,5}$/, 'expected a loopback http origin, e.g. http://127.0.0.1:8233')).optional(),
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
      /** Open a channel per incident (`#inc-<yyyymmdd>-<short id>`, approvers invited) instead of posting to `channel`. */
      incidentChannels: z.preprocess((v) => (typeof v === 'string' ? ['1', 'true', 'yes', 'on'].includes(v.toLowerCase()) : v), z.boolean()).default(false),
    })
    .refine((s) => [s.botToken, s.signingSecret, s.channel].every((v) => v === undefined) || [s.botToken, s.signingSecret, s.channel].every((v) => v !== undefined), {
      message: 'Slack needs all of BULWARK_SLACK_BOT_TOKEN, BULWARK_SLACK_SIGNING_SECRET and BULWARK_SLACK_CHANNEL (or none)',
    })
    .default({ incidentChannels: false }),
  // --- end slack ---
  // --- threat intel (issue 9 part 2): WAF IP sets and indicator feeds (docs/threat-intel.md) ---
  waf: WafConfig.default(WAF_DEFAULTS),
  intel: IntelConfig.default({ feeds: [], refreshSeconds: 900 }),
  // --- end threat intel ---
  // --- consents (issue 9): the consent store's REST API (docs/consents.md); url and token, or neither ---
  consents: z
    .object({
      /** Base URL of the consent store; https (plain http only to a loopback address, for tests and local stores). */
      url: z.url({ protocol: /^https?$/ }).optional(),
      /** Bearer token for the consent store; never logged, never in workflow history. */
      token: z.string().min(16, 'expected at least 16 characters').optional(),
      batchSize: z.coerce.number().int().min(1).max(500).default(100),
      /** Revocation requests in flight at once. */
      concurrency: z.coerce.number().int().min(1).max(64).default(8),
    })
    .refine((c) => (c.url === undefined) === (c.token === undefined), { message: 'the consent store needs both BULWARK_CONSENT_STORE_URL and BULWARK_CONSENT_STORE_TOKEN (or neither)' })
    .default({ batchSize: 100, concurrency: 8 }),
  // --- end consents ---
  // --- regulators (issue 7): organisation profile file, rule files, test time scale ---
  regulators: z
    .object({
      /** JSON regulator profile (domain/regimes/profile.ts): entity, jurisdictions, contacts per regime, approvers. */
      profileFile: z.string().min(1).optional(),
      /** Directory of regime rule files; default: the shipped `regimes/`. */
      regimesDir: z.string().min(1).optional(),
      /** Where submissions are recorded so a retried submission is not sent twice. */
      ledgerDir: z.string().min(1).default('.bulwark/regulators'),
      /** Divides every regulatory duration (tests only: 3600 turns an hour into a second). */
      timeScale: z.coerce.number().positive().max(1_000_000).default(1),
    })
    .default({ ledgerDir: '.bulwark/regulators', timeScale: 1 }),
  // --- end regulators ---
  // --- certificates (issue 5 §3): private CA in KMS; where the CRL is published (docs/certificates.md) ---
  certificates: z
    .object({
      /** Directory the CRL is written to as <ca>.crl; the intake serves it at GET /crl/<ca>.crl. */
      crlDir: z.string().min(1).default('.bulwark/crl'),
      /** Publish CRLs to this S3 bucket (key <crlPrefix><ca>.crl) instead of the directory. */
      crlBucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'expected an S3 bucket name').optional(),
      crlPrefix: z.string().max(512).default('crl/'),
      /** Public base URL of the CRLs, written into certificates as their CRL distribution point. */
      crlBaseUrl: z.url({ protocol: /^https?$/ }).optional(),
      /** nextUpdate of a CRL: how long relying parties may cache it. */
      crlValiditySeconds: z.coerce.number().int().min(300).max(90 * 86_400).default(7 * 86_400),
    })
    .default({ crlDir: '.bulwark/crl', crlPrefix: 'crl/', crlValiditySeconds: 7 * 86_400 }),
  // --- end certificates ---
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
  BULWARK_AWS_RATE_LIMITS: 'aws.rateLimits',
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
  BULWARK_AUDIT_S3_BUCKET: 'audit.s3Bucket',
  BULWARK_AUDIT_S3_LOCK_MODE: 'audit.s3LockMode',
  BULWARK_AUDIT_S3_RETENTION_DAYS: 'audit.s3RetentionDays',
  BULWARK_CODEC: 'codec.enabled',
  BULWARK_CODEC_KMS_KEY: 'codec.kmsKeyId',
  BULWARK_CODEC_TOKEN: 'codec.serverToken',
  BULWARK_CODEC_ALLOWED_ORIGINS: 'codec.allowedOrigins',
  // slack (issue 6)
  BULWARK_SLACK_BOT_TOKEN: 'slack.botToken',
  BULWARK_SLACK_SIGNING_SECRET: 'slack.signingSecret',
  BULWARK_SLACK_CHANNEL: 'slack.channel',
  BULWARK_SLACK_API_URL: 'slack.apiUrl',
  BULWARK_SLACK_INCIDENT_CHANNELS: 'slack.incidentChannels',
  // threat intel (issue 9 part 2)
  BULWARK_WAF_SCOPE: 'waf.scope',
  BULWARK_WAF_IP_SET: 'waf.ipSetName',
  BULWARK_WAF_WEB_ACL: 'waf.webAclName',
  BULWARK_WAF_CREATE_IF_MISSING: 'waf.createIfMissing',
  BULWARK_WAF_MAX_ENTRIES: 'waf.maxEntries',
  BULWARK_INTEL_FEEDS: 'intel.feeds',
  BULWARK_INTEL_REFRESH_SECONDS: 'intel.refreshSeconds',
  // consents (issue 9)
  BULWARK_CONSENT_STORE_URL: 'consents.url',
  BULWARK_CONSENT_STORE_TOKEN: 'consents.token',
  BULWARK_CONSENT_BATCH_SIZE: 'consents.batchSize',
  BULWARK_CONSENT_CONCURRENCY: 'consents.concurrency',
  // regulators (issue 7)
  BULWARK_REGULATOR_PROFILE: 'regulators.profileFile',
  BULWARK_REGIMES_DIR: 'regulators.regimesDir',
  BULWARK_REGULATOR_LEDGER_DIR: 'regulators.ledgerDir',
  BULWARK_REGULATOR_TIME_SCALE: 'regulators.timeScale',
  // certificates (issue 5 §3)
  BULWARK_CRL_DIR: 'certificates.crlDir',
  BULWARK_CRL_BUCKET: 'certificates.crlBucket',
  BULWARK_CRL_PREFIX: 'certificates.crlPrefix',
  BULWARK_CRL_BASE_URL: 'certificates.crlBaseUrl',
  BULWARK_CRL_VALIDITY_SECONDS: 'certificates.crlValiditySeconds',
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
    ...(config.consents.url ? { consents: { batchSize: config.consents.batchSize } } : {}),
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
