import type { Config } from '../temporal.config.js';
import { createLogger, type Logger } from '../telemetry/logger.js';
import { createApiGatewayActivities } from './apigateway.js';
import { createAuditActivities } from './audit.js';
import type { AwsClients } from './clients.js';
import { createCognitoActivities } from './cognito.js';
import { createIamActivities } from './iam.js';
import { createKmsActivities } from './kms.js';
import { createNotifyActivities } from './notify.js';
import { createOAuthActivities } from './oauth.js';
import { createRotationActivities } from './rotation.js';
import { createSecretsActivities } from './secrets.js';
import { createSlackActivities, createSlackWebClient, unconfiguredSlackActivities } from './slack.js';

/** Every activity the worker registers, wired to the given clients. */
export function createActivities(clients: AwsClients, config: Pick<Config, 'aws'> & Partial<Pick<Config, 'audit' | 'slack'>>, logger: Logger = createLogger()) {
  return {
    ...createApiGatewayActivities({ apigw: clients.apigw, clientTag: config.aws.clientTag, region: config.aws.region }),
    ...createSecretsActivities({ sm: clients.sm, clientTag: config.aws.clientTag }),
    ...createKmsActivities({ kms: clients.kms }),
    ...createIamActivities({ iam: clients.iam }),
    ...createCognitoActivities({ cognito: clients.cognito }),
    ...createOAuthActivities({ sm: clients.sm }),
    ...createNotifyActivities({ logger }),
    ...createAuditActivities({ dir: config.audit?.dir ?? '.bulwark/audit', kms: clients.kms, signingKeyId: config.audit?.signingKeyId }),
    ...createRotationActivities({ sm: clients.sm, kms: clients.kms }),
    // Slack (issue 6): the same activity names either way, so the Activities type is stable.
    ...(config.slack?.botToken && config.slack.channel
      ? createSlackActivities({ web: createSlackWebClient({ botToken: config.slack.botToken, apiUrl: config.slack.apiUrl }), channel: config.slack.channel })
      : unconfiguredSlackActivities()),
  };
}

export type Activities = ReturnType<typeof createActivities>;
