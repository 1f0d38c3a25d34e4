import type { Config } from '../temporal.config.js';
import { createLogger, type Logger } from '../telemetry/logger.js';
import { createApiGatewayActivities } from './apigateway.js';
import { createAuditActivities } from './audit.js';
import { s3AuditStoreFromConfig } from './audit-s3.js';
import { createCertificateActivities } from './certificates.js';
import type { AwsClients } from './clients.js';
import { createCognitoActivities } from './cognito.js';
import { createConsentActivities } from './consents.js';
import { createIamActivities } from './iam.js';
import { createKmsActivities } from './kms.js';
import { createNotifyActivities } from './notify.js';
import { createOAuthActivities } from './oauth.js';
import { createPostureActivities } from './posture.js';
import { createRegulatorActivities } from './regulators.js';
import { createRotationActivities } from './rotation.js';
import { createRotationTargetActivities } from './rotation-targets.js';
import { createReencryptActivities } from './reencrypt.js';
import { createIncidentActivities } from './open-incidents.js';
import { createSecretsActivities } from './secrets.js';
import { createSlackActivities, createSlackWebClient, unconfiguredSlackActivities } from './slack.js';
import { createIntelActivities } from './intel.js';
import { createWafActivities } from './waf.js';

/** Every activity the worker registers, wired to the given clients. */
export function createActivities(clients: AwsClients, config: Pick<Config, 'aws'> & Partial<Omit<Config, 'aws'>>, logger: Logger = createLogger()) {
  return {
    ...createApiGatewayActivities({ apigw: clients.apigw, clientTag: config.aws.clientTag, region: config.aws.region }),
    ...createSecretsActivities({ sm: clients.sm, clientTag: config.aws.clientTag }),
    ...createKmsActivities({ kms: clients.kms }),
    ...createIamActivities({ iam: clients.iam }),
    ...createCognitoActivities({ cognito: clients.cognito }),
    ...createOAuthActivities({ sm: clients.sm }),
    ...createNotifyActivities({ logger }),
    ...createAuditActivities({ dir: config.audit?.dir ?? '.bulwark/audit', kms: clients.kms, signingKeyId: config.audit?.signingKeyId, s3Store: s3AuditStoreFromConfig(clients, config.audit) }),
    ...createRotationActivities({ sm: clients.sm, kms: clients.kms }),
    ...createRotationTargetActivities({ sm: clients.sm, apigw: clients.apigw, cognito: clients.cognito }),
    ...createReencryptActivities({ sm: clients.sm, kms: clients.kms }),
    // Workflows that raise incidents themselves (a failed rotation) go through intake's delivery path.
    ...createIncidentActivities(config),
    // Certificates (issue 5 §3): private CA in KMS, bundles in Secrets Manager, CRL to a file or S3; the scanner opens incidents.
    ...createCertificateActivities({ sm: clients.sm, kms: clients.kms, s3: clients.s3, worker: config }),
    // Posture (issue 9 part 1): inventory scan, scan state in S3, findings posted to intake. The
    // worker's full config carries intake (URL + webhook secret); callers passing less get no posting.
    ...createPostureActivities({ apigw: clients.apigw, apigw2: clients.apigw2, waf: clients.waf, s3: clients.s3, region: config.aws.region, intake: postureIntake(config.intake) }),
    // Threat intel (issue 9 part 2): WAF IP sets with expiring blocks, indicator feeds.
    ...createWafActivities({ waf: clients.waf, settings: config.waf }),
    ...createIntelActivities({ feeds: config.intel?.feeds ?? [] }),
    // Consent store (issue 9 part 3): without url + token every consent activity fails with that reason.
    ...createConsentActivities(config.consents ?? {}),
    // Slack (issue 6): the same activity names either way, so the Activities type is stable.
    ...(config.slack?.botToken && config.slack.channel
      ? createSlackActivities({ web: createSlackWebClient({ botToken: config.slack.botToken, apiUrl: config.slack.apiUrl }), channel: config.slack.channel, incidentChannels: config.slack.incidentChannels })
      : unconfiguredSlackActivities()),
    // Regulators (issue 7): reminders to Slack when it is configured, else the operator log.
    ...createRegulatorActivities({
      ses: clients.ses,
      settings: config.regulators ?? { ledgerDir: '.bulwark/regulators', timeScale: 1 },
      logger,
      slack: config.slack?.botToken && config.slack.channel ? { web: createSlackWebClient({ botToken: config.slack.botToken, apiUrl: config.slack.apiUrl }), channel: config.slack.channel } : undefined,
    }),
  };
}

export type Activities = ReturnType<typeof createActivities>;

/** Where the posture activities post findings: intake as the worker's config describes it. */
function postureIntake(intake: Config['intake'] | undefined): { url?: string; webhookSecret?: string } | undefined {
  if (!intake) return undefined;
  return { url: intake.port ? `http://${intake.host}:${intake.port}` : undefined, webhookSecret: intake.webhookSecret };
}
