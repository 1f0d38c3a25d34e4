import { APIGatewayClient } from '@aws-sdk/client-api-gateway';
import { ApiGatewayV2Client } from '@aws-sdk/client-apigatewayv2';
import { CognitoIdentityProviderClient } from '@aws-sdk/client-cognito-identity-provider';
import { IAMClient } from '@aws-sdk/client-iam';
import { KMSClient } from '@aws-sdk/client-kms';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { S3Client } from '@aws-sdk/client-s3';
import { SESv2Client } from '@aws-sdk/client-sesv2';
import { WAFV2Client } from '@aws-sdk/client-wafv2';
import type { AwsService, Config } from '../temporal.config.js';
import { limitClient, TokenBucket } from './rate-limit.js';

// The SDK warns on every process start that future releases need Node 22; versions are pinned, so the warning is noise here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export interface AwsClients {
  apigw: APIGatewayClient;
  /** HTTP and WebSocket APIs (the inventory scan reads HTTP APIs). */
  apigw2: ApiGatewayV2Client;
  sm: SecretsManagerClient;
  kms: KMSClient;
  iam: IAMClient;
  cognito: CognitoIdentityProviderClient;
  ses: SESv2Client;
  waf: WAFV2Client;
  s3: S3Client;
}

/**
 * One set of SDK clients per process. Against the sandbox the endpoint is moto and the credentials
 * are dummies; in production the default credential chain applies.
 */
export function createAwsClients(aws: Omit<Config['aws'], 'rateLimits'> & Partial<Pick<Config['aws'], 'rateLimits'>>): AwsClients {
  const sandbox = aws.endpoint !== undefined;
  const common = {
    region: aws.region,
    maxAttempts: aws.maxAttempts,
    ...(sandbox
      ? { endpoint: aws.endpoint, credentials: { accessKeyId: 'sandbox', secretAccessKey: 'sandbox' } }
      : {}),
  };
  const clients = {
    apigw: new APIGatewayClient(common),
    apigw2: new ApiGatewayV2Client(common),
    sm: new SecretsManagerClient(common),
    kms: new KMSClient(common),
    iam: new IAMClient(common),
    cognito: new CognitoIdentityProviderClient(common),
    ses: new SESv2Client(common),
    waf: new WAFV2Client(common),
    // moto serves S3 on the same port; path-style keeps bucket names out of the host name.
    s3: new S3Client({ ...common, ...(sandbox ? { forcePathStyle: true } : {}) }),
  };
  const byService: Record<AwsService, { middlewareStack: unknown }> = {
    secretsmanager: clients.sm,
    kms: clients.kms,
    apigateway: clients.apigw,
    apigatewayv2: clients.apigw2,
    iam: clients.iam,
    'cognito-idp': clients.cognito,
    sesv2: clients.ses,
    wafv2: clients.waf,
    s3: clients.s3,
  };
  for (const [service, perSecond] of Object.entries(aws.rateLimits ?? {})) limitClient(byService[service as AwsService] as Parameters<typeof limitClient>[0], new TokenBucket(perSecond));
  return clients;
}
