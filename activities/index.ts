import type { Config } from '../temporal.config.js';
import { createLogger, type Logger } from '../telemetry/logger.js';
import { createApiGatewayActivities } from './apigateway.js';
import type { AwsClients } from './clients.js';
import { createCognitoActivities } from './cognito.js';
import { createIamActivities } from './iam.js';
import { createKmsActivities } from './kms.js';
import { createNotifyActivities } from './notify.js';
import { createOAuthActivities } from './oauth.js';
import { createSecretsActivities } from './secrets.js';

/** Every activity the worker registers, wired to the given clients. */
export function createActivities(clients: AwsClients, config: Pick<Config, 'aws'>, logger: Logger = createLogger()) {
  return {
    ...createApiGatewayActivities({ apigw: clients.apigw, clientTag: config.aws.clientTag, region: config.aws.region }),
    ...createSecretsActivities({ sm: clients.sm, clientTag: config.aws.clientTag }),
    ...createKmsActivities({ kms: clients.kms }),
    ...createIamActivities({ iam: clients.iam }),
    ...createCognitoActivities({ cognito: clients.cognito }),
    ...createOAuthActivities({ sm: clients.sm }),
    ...createNotifyActivities({ logger }),
  };
}

export type Activities = ReturnType<typeof createActivities>;
