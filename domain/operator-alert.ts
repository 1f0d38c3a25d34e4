import { parseAlert, type Alert } from './alert.js';

/** An operator's incident that does not validate: the message names the field. */
export class OperatorAlertError extends Error {}

/** Short names for the shipped alert types; any other dotted type is passed through as is. */
const TYPE_ALIASES: Record<string, Alert['type']> = {
  credential: 'credential.compromised',
  abuse: 'endpoint.abuse',
  key: 'key.exposed',
  offboard: 'client.offboard',
  'aws-credential': 'aws-credential.compromised',
};

export interface OperatorIncident {
  type: string;
  severity: string;
  client?: string;
  apiKey?: string;
  secret?: string;
  kmsKey?: string;
  accessKey?: string;
  iamUser?: string;
  iamRole?: string;
  userPool?: string;
  appClient?: string;
  restApi?: string;
  stage?: string;
  resource?: string;
  method?: string;
}

/** Builds the same Alert an alert source would send, so operator incidents take the intake path. */
export function operatorAlert(o: OperatorIncident & { by: string }): Alert {
  const type = TYPE_ALIASES[o.type] ?? o.type;
  if (!/^[a-z][a-z0-9-]*(\.[a-z0-9-]+)+$/.test(type)) throw new OperatorAlertError(`--type must be one of ${Object.keys(TYPE_ALIASES).join(', ')} or a dotted alert type such as anomaly.detected`);
  const endpoint = o.restApi || o.stage
    ? { restApiId: o.restApi, stage: o.stage ?? 'prod', resourcePath: o.resource, httpMethod: o.method?.toUpperCase() }
    : undefined;
  const candidate = {
    source: `operator:${o.by}`,
    type,
    severity: o.severity,
    observedAt: new Date().toISOString(),
    subject: {
      clientId: o.client,
      apiKeyId: o.apiKey,
      secretId: o.secret,
      endpoint,
      kmsKeyId: o.kmsKey,
      awsAccessKeyId: o.accessKey,
      iamUserName: o.iamUser,
      iamRoleName: o.iamRole,
      userPoolId: o.userPool,
      appClientId: o.appClient,
    },
  };
  const parsed = parseAlert(JSON.parse(JSON.stringify(candidate)));
  if (!parsed.ok) throw new OperatorAlertError(`invalid incident: ${parsed.errors.map((e) => `${e.field}: ${e.message}`).join('; ')}`);
  return parsed.value;
}
