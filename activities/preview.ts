import { DescribeKeyCommand } from '@aws-sdk/client-kms';
import { GetRoleCommand, ListAccessKeysCommand, GetAccessKeyLastUsedCommand } from '@aws-sdk/client-iam';
import { DescribeUserPoolClientCommand } from '@aws-sdk/client-cognito-identity-provider';
import type { Endpoint } from '../domain/alert.js';
import type { PlannedStep } from '../domain/playbook.js';
import type { Config } from '../temporal.config.js';
import { createApiGatewayActivities } from './apigateway.js';
import type { AwsClients } from './clients.js';
import { createSecretsActivities } from './secrets.js';
import { previewBlockIps } from './waf.js';

export interface StepPreview {
  /** What the step would change, in words. */
  changes: string[];
  /** Why the step could not run as written (a missing resource, a wrong key type). */
  problems: string[];
}

/**
 * Dry run of a step: read-only calls against the account that say what the step would change,
 * and fail when a referenced resource does not exist. Nothing is written.
 */
export function createPreview(clients: AwsClients, config: Pick<Config, 'aws'>) {
  const apigw = createApiGatewayActivities({ apigw: clients.apigw, clientTag: config.aws.clientTag, region: config.aws.region });
  const secrets = createSecretsActivities({ sm: clients.sm, clientTag: config.aws.clientTag });
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);

  async function preview(step: PlannedStep, p: Record<string, unknown>): Promise<StepPreview> {
    const changes: string[] = [];
    switch (step.action) {
      case 'apigateway.disableApiKey': {
        const { keys } = await apigw.describeApiKeys({ apiKeyId: str(p.apiKeyId), clientId: str(p.clientId) });
        for (const k of keys) changes.push(k.enabled ? `disable API key ${k.apiKeyId}${k.name ? ` (${k.name})` : ''}` : `API key ${k.apiKeyId} is already disabled`);
        break;
      }
      case 'secrets.rotate': {
        const { secrets: found } = await secrets.resolveSecrets({ secretId: str(p.secretId), clientId: str(p.clientId) });
        for (const s of found) changes.push(`rotate secret ${s.name}: new AWSCURRENT, the current one kept as AWSPREVIOUS`);
        break;
      }
      case 'apigateway.throttle': {
        const endpoint = p.endpoint as Endpoint;
        const snap = await apigw.snapshotThrottle({ endpoint });
        changes.push(`set ${endpoint.restApiId}/${endpoint.stage} ${snap.settingsKey} to ${String(p.rateLimit)} rps / burst ${String(p.burstLimit)} for ${String(p.ttl)} (now ${snap.previous.rateLimit} / ${snap.previous.burstLimit} from the ${snap.previousSource} level; restored afterwards)`);
        break;
      }
      case 'kms.rotate':
      case 'kms.disableKey': {
        const { KeyMetadata: m } = await clients.kms.send(new DescribeKeyCommand({ KeyId: str(p.keyId) }));
        if (step.action === 'kms.rotate' && m?.KeySpec !== 'SYMMETRIC_DEFAULT') return { changes, problems: [`KMS key ${m?.KeyId} is ${m?.KeySpec}: only symmetric keys rotate in place`] };
        changes.push(step.action === 'kms.rotate' ? `rotate KMS key ${m?.KeyId} on demand (state ${m?.KeyState})` : m?.KeyState === 'Disabled' ? `KMS key ${m?.KeyId} is already disabled` : `disable KMS key ${m?.KeyId} (now ${m?.KeyState}; re-enabled on compensation)`);
        break;
      }
      case 'iam.deactivateAccessKey':
      case 'iam.deleteAccessKey': {
        const accessKeyId = str(p.accessKeyId)!;
        const userName = str(p.userName) ?? (await clients.iam.send(new GetAccessKeyLastUsedCommand({ AccessKeyId: accessKeyId }))).UserName;
        const key = (await clients.iam.send(new ListAccessKeysCommand({ UserName: userName }))).AccessKeyMetadata?.find((k) => k.AccessKeyId === accessKeyId);
        if (!key) return { changes, problems: [`IAM access key ${accessKeyId} does not exist for user ${userName}`] };
        changes.push(step.action === 'iam.deactivateAccessKey' ? `deactivate access key ${accessKeyId} of ${userName} (now ${key.Status})` : `delete access key ${accessKeyId} of ${userName} after approval (irreversible)`);
        break;
      }
      case 'iam.revokeRoleSessions': {
        const { Role } = await clients.iam.send(new GetRoleCommand({ RoleName: str(p.roleName) }));
        changes.push(`deny every session of role ${Role?.RoleName} issued before the step runs`);
        break;
      }
      case 'oauth.revokeClient': {
        if (p.provider === 'cognito') {
          const { UserPoolClient: c } = await clients.cognito.send(new DescribeUserPoolClientCommand({ UserPoolId: str(p.userPoolId), ClientId: str(p.appClientId) }));
          changes.push(`replace Cognito app client ${c?.ClientId} (${c?.ClientName}) with a new one holding a new secret, and delete the old one`);
        } else {
          changes.push(`POST a disable request for client ${String(p.clientId)} to ${String(p.url)} (not called in a dry run)`);
        }
        break;
      }
      case 'notify.operators':
        changes.push(`tell operators: ${String(p.message)}`);
        break;
      case 'wait':
        changes.push(`wait ${String(p.duration)}`);
        break;
      case 'waf.blockIps':
        return previewBlockIps(clients.waf, p);
      default:
        return { changes, problems: [`${step.action} cannot be previewed`] };
    }
    return { changes, problems: [] };
  }

  return {
    async previewStep(step: PlannedStep, params: Record<string, unknown>): Promise<StepPreview> {
      try {
        return await preview(step, params);
      } catch (err) {
        const e = err as { name?: string; message?: string };
        return { changes: [], problems: [`${e.name && e.name !== 'ApplicationFailure' ? `${e.name}: ` : ''}${e.message ?? String(err)}`] };
      }
    },
  };
}
