import type { Severity } from '../alert.js';
import {
  ACCESS_KEY_ID,
  ACCOUNT_ID,
  Candidate,
  findingsListOrSelf,
  normaliseFindings,
  type LocatedFindings,
  compactDetails,
  dedupKeyFor,
  dig,
  fail,
  instant,
  ipOrUndefined,
  isRecord,
  num,
  prop,
  str,
  total,
  type NormaliseResult,
} from './common.js';

/**
 * Amazon GuardDuty findings → alerts. Accepts the EventBridge event (`detail-type: "GuardDuty
 * Finding"`, the finding in `detail`), a bare finding, `{ findings: [...] }` (GetFindings output)
 * or an array of findings; camelCase (EventBridge) and PascalCase (SDK dumps) keys alike.
 * The mapping is documented in docs/alert-sources.md.
 */
export const GUARDDUTY_SOURCE = 'guardduty';
export const GUARDDUTY_DETAIL_TYPE = 'GuardDuty Finding';

/**
 * GuardDuty's severity bands (current ranges): 1.0–3.9 Low, 4.0–6.9 Medium, 7.0–8.9 High,
 * 9.0–10.0 Critical. Values below 1 (older findings used 0.1) count as low.
 */
export function guardDutySeverity(score: number): Severity | undefined {
  if (!Number.isFinite(score) || score < 0 || score > 10) return undefined;
  if (score < 4) return 'low';
  if (score < 7) return 'medium';
  if (score < 9) return 'high';
  return 'critical';
}

/** `ThreatPurpose:ResourceTypeAffected/ThreatFamilyName.DetectionMechanism!Artifact`. */
export function parseFindingType(type: string): { purpose: string; resource: string; family: string } | undefined {
  const m = /^([A-Za-z0-9]+):([A-Za-z0-9]+)\/(.+)$/.exec(type);
  return m ? { purpose: m[1]!, resource: m[2]!, family: m[3]! } : undefined;
}

/** Threat purposes that report a policy posture, not a compromise (e.g. `Policy:IAMUser/RootCredentialUsage`). */
const NOT_A_COMPROMISE = new Set(['Policy']);

function remoteIp(service: unknown): string | undefined {
  const action = prop(service, 'action');
  for (const kind of ['awsApiCallAction', 'networkConnectionAction', 'portProbeAction', 'dnsRequestAction', 'kubernetesApiCallAction', 'rdsLoginAttemptAction']) {
    const a = prop(action, kind);
    const probes = prop(a, 'portProbeDetails');
    const details = prop(a, 'remoteIpDetails') ?? (Array.isArray(probes) ? prop(probes[0], 'remoteIpDetails') : undefined);
    const ip = ipOrUndefined(prop(details, 'ipAddressV4')) ?? ipOrUndefined(prop(details, 'ipAddressV6'));
    if (ip) return ip;
  }
  return undefined;
}

function findingCandidate(f: unknown, at: string): Candidate | { field: string; message: string } {
  const p = (key: string) => (at ? `${at}.${key}` : key);
  if (!isRecord(f)) return { field: at || '(root)', message: 'expected a GuardDuty finding object' };
  const id = str(prop(f, 'id'));
  if (!id) return { field: p('id'), message: 'expected the finding id (a string)' };
  const type = str(prop(f, 'type'));
  if (!type) return { field: p('type'), message: 'expected the finding type, e.g. UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS' };
  const score = num(prop(f, 'severity'));
  const severity = score === undefined ? undefined : guardDutySeverity(score);
  if (!severity) return { field: p('severity'), message: 'expected a GuardDuty severity score between 1.0 and 10.0' };
  const service = prop(f, 'service');
  const observedAt = instant(prop(f, 'updatedAt')) ?? instant(prop(service, 'eventLastSeen')) ?? instant(prop(f, 'createdAt'));
  if (!observedAt) return { field: p('updatedAt'), message: 'expected an ISO-8601 timestamp in updatedAt (or service.eventLastSeen / createdAt)' };

  const c = new Candidate(at || 'finding');
  c.set('source', GUARDDUTY_SOURCE)
    .set('severity', severity, p('severity'))
    .set('observedAt', observedAt, p('updatedAt'))
    .set('dedupKey', dedupKeyFor(GUARDDUTY_SOURCE, id), p('id'));

  const resource = prop(f, 'resource');
  const resourceType = str(prop(resource, 'resourceType'));
  const keyDetails = prop(resource, 'accessKeyDetails');
  const parsedType = parseFindingType(type);
  const credentialFinding =
    isRecord(keyDetails) && (parsedType?.resource === 'IAMUser' || resourceType === 'AccessKey') && !NOT_A_COMPROMISE.has(parsedType?.purpose ?? '');

  const accessKeyId = str(prop(keyDetails, 'accessKeyId'));
  const userType = str(prop(keyDetails, 'userType'));
  const userName = str(prop(keyDetails, 'userName'));
  const keyPath = p('resource.accessKeyDetails');
  if (credentialFinding) {
    c.set('type', 'aws-credential.compromised', p('type'));
    // Strict: the key id is what the playbook deactivates, so a malformed one is an error.
    c.set('subject.awsAccessKeyId', accessKeyId, `${keyPath}.accessKeyId`);
    if (userType === 'IAMUser') c.set('subject.iamUserName', userName, `${keyPath}.userName`);
    // For AssumedRole principals GuardDuty puts the role name in userName.
    if (userType === 'AssumedRole') c.set('subject.iamRoleName', userName, `${keyPath}.userName`);
  } else {
    c.set('type', 'anomaly.detected', p('type'));
    // Enrichment only: kept when well-formed, never a reason to refuse an anomaly.
    if (accessKeyId && ACCESS_KEY_ID.test(accessKeyId)) c.set('subject.awsAccessKeyId', accessKeyId);
  }
  const accountId = str(prop(f, 'accountId'));
  if (credentialFinding || (accountId && ACCOUNT_ID.test(accountId))) c.set('subject.awsAccountId', accountId, p('accountId'));
  c.set('subject.sourceIp', remoteIp(service));

  const api = prop(prop(service, 'action'), 'awsApiCallAction');
  const remote = prop(api, 'remoteIpDetails');
  c.set(
    'details',
    compactDetails({
      findingType: type,
      title: str(prop(f, 'title')),
      description: str(prop(f, 'description')),
      findingArn: str(prop(f, 'arn')),
      region: str(prop(f, 'region')),
      severityScore: score,
      resourceType,
      principalId: str(prop(keyDetails, 'principalId')),
      userType,
      userName: credentialFinding ? undefined : userName,
      instanceId: str(dig(resource, 'instanceDetails.instanceId')),
      api: str(prop(api, 'api')),
      apiService: str(prop(api, 'serviceName')),
      remoteCountry: str(dig(remote, 'country.countryName')),
      remoteOrg: str(dig(remote, 'organization.asnOrg')),
      count: num(prop(service, 'count')),
      eventFirstSeen: str(prop(service, 'eventFirstSeen')),
      eventLastSeen: str(prop(service, 'eventLastSeen')),
      archived: prop(service, 'archived') === true ? true : undefined,
      sample: prop(prop(service, 'additionalInfo'), 'sample') === true ? true : undefined,
    }),
  );
  return c;
}

function locateFindings(input: unknown): LocatedFindings {
  if (Array.isArray(input)) return { findings: Array.from(input, (value, i) => ({ value, at: `[${i}]` })) };
  if (!isRecord(input)) return { error: fail('(root)', 'expected a GuardDuty finding, an EventBridge event or { findings: [...] }') };
  const detailType = prop(input, 'detail-type');
  if (detailType !== undefined || prop(input, 'detail') !== undefined) {
    if (detailType !== GUARDDUTY_DETAIL_TYPE) return { error: fail('detail-type', `expected "${GUARDDUTY_DETAIL_TYPE}"`) };
    const source = prop(input, 'source');
    if (source !== undefined && source !== 'aws.guardduty') return { error: fail('source', 'expected "aws.guardduty"') };
    return { findings: [{ value: prop(input, 'detail'), at: 'detail' }] };
  }
  return findingsListOrSelf(input, 'findings', 'findings');
}

export const normaliseGuardDuty = total((input: unknown): NormaliseResult => {
  return normaliseFindings(locateFindings(input), 'findings', findingCandidate);
});
