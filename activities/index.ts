import type { Config } from '../temporal.config.js';
import { createApiGatewayActivities } from './apigateway.js';
import type { AwsClients } from './clients.js';
import { createSecretsActivities } from './secrets.js';

/** Every activity the worker registers, wired to the given clients. */
export function createActivities(clients: AwsClients, config: Pick<Config, 'aws'>) {
  return {
    ...createApiGatewayActivities({ apigw: clients.apigw, clientTag: config.aws.clientTag, region: config.aws.region }),
    ...createSecretsActivities({ sm: clients.sm, clientTag: config.aws.clientTag }),
  };
}

export type Activities = ReturnType<typeof createActivities>;
