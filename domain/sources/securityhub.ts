import type { Severity } from '../alert.js';
import {
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
  own,
  prop,
  str,
  total,
  type NormaliseResult,
} from './common.js';

/**
 * AWS Security Hub findings (ASFF) → alerts, one per finding. Accepts the EventBridge event
 * (`detail-type: "Security Hub Findings - Imported"` or `"… - Custom Action"`, findings in
 * `detail.findings`), `{ Findings: [...] }` (GetFindings / BatchImportFindings), an array of
 * findings or one bare finding. Mapping documented in docs/alert-sources.md.
 */
export const SECURITYHUB_SOURCE = 'securityhub';
export const SECURITYHUB_DETAIL_TYPES = ['Security Hub Findings - Imported', 'Security Hub Findings - Custom Action'] as const;

const LABELS: Record<string, Severity> = { INFORMATIONAL: 'low', LOW: 'low', MEDIUM: 'medium', HIGH: 'high', CRITICAL: 'critical' };

/** ASFF `Severity.Label`, else `Severity.Normalized` (0–100) in the ranges ASFF documents for the labels. */
export function asffSeverity(severity: unknown): Severity | undefined {
  const label = str(prop(severity, 'Label'));
  if (label) return LABELS[label.toUpperCase()];
  const normalized = num(prop(severity, 'Normalized'));
  if (normalized === undefined || normalized < 0 || normalized > 100) return undefined;
  if (normalized < 40) return 'low';
  if (normalized < 70) return 'medium';
  if (normalized < 90) return 'high';
  return 'critical';
}

/** Findings whose every type is a posture check ("Software and Configuration Checks/…") report a misconfiguration, not an attack. */
function isPostureOnly(types: unknown): boolean {
  return Array.isArray(types) && types.length > 0 && types.every((t) => typeof t === 'string' && t.startsWith('Software and Configuration Checks'));
}

const GUARDDUTY_FINDING_ARN = /^arn:aws[a-z-]*:guardduty:[a-z0-9-]*:\d{12}:detector\/[^/]+\/finding\/([A-Za-z0-9]+)$/;
const STAGE_ARN = /\/restapis\/([A-Za-z0-9._-]+)\/stages\/([A-Za-z0-9._-]+)$/;
const KEY_IN_ID = /(AKIA|ASIA)[A-Z0-9]{12,124}$/;

function resolvedStatus(f: unknown): 'resolved' | undefined {
  const workflow = str(dig(f, 'Workflow.Status')) ?? str(prop(f, 'WorkflowState'));
  if (workflow === 'RESOLVED' || workflow === 'SUPPRESSED') return 'resolved';
  if (str(prop(f, 'RecordState')) === 'ARCHIVED') return 'resolved';
  if (str(dig(f, 'Compliance.Status')) === 'PASSED') return 'resolved';
  return undefined;
}

function findingCandidate(f: unknown, at: string): Candidate | { field: string; message: string } {
  const p = (key: string) => (at ? `${at}.${key}` : key);
  if (!isRecord(f)) return { field: at || '(root)', message: 'expected an ASFF finding object' };
  const id = str(prop(f, 'Id'));
  if (!id) return { field: p('Id'), message: 'expected the finding Id (a string)' };
  const severity = asffSeverity(prop(f, 'Severity'));
  if (!severity) return { field: p('Severity.Label'), message: 'expected INFORMATIONAL, LOW, MEDIUM, HIGH or CRITICAL (or Severity.Normalized 0–100)' };
  const observedAt = instant(prop(f, 'UpdatedAt')) ?? instant(prop(f, 'LastObservedAt')) ?? instant(prop(f, 'CreatedAt'));
  if (!observedAt) return { field: p('UpdatedAt'), message: 'expected an ISO-8601 timestamp in UpdatedAt (or LastObservedAt / CreatedAt)' };
  const resources = prop(f, 'Resources');
  if (resources !== undefined && !Array.isArray(resources)) return { field: p('Resources'), message: 'expected an array of resources' };
  const list: unknown[] = Array.isArray(resources) ? resources : [];
  const types = prop(f, 'Types');
  const posture = isPostureOnly(types);

  const guardDutyId = GUARDDUTY_FINDING_ARN.exec(id)?.[1];
  const c = new Candidate(at || 'finding');
  c.set('source', SECURITYHUB_SOURCE)
    .set('severity', severity, p('Severity'))
    .set('observedAt', observedAt, p('UpdatedAt'))
    // A GuardDuty finding forwarded by Security Hub shares the dedup key of the same finding sent
    // directly, so both paths attach to one incident.
    .set('dedupKey', guardDutyId ? dedupKeyFor('guardduty', guardDutyId) : dedupKeyFor(SECURITYHUB_SOURCE, id), p('Id'))
    .set('status', resolvedStatus(f));

  const keyIndex = posture ? -1 : list.findIndex((r) => str(prop(r, 'Type')) === 'AwsIamAccessKey');
  const stageIndex = posture ? -1 : list.findIndex((r) => str(prop(r, 'Type')) === 'AwsApiGatewayStage');
  const accountId = str(prop(f, 'AwsAccountId'));
  if (keyIndex >= 0) {
    const r = list[keyIndex];
    const rp = p(`Resources[${keyIndex}]`);
    const d = dig(r, 'Details.AwsIamAccessKey');
    c.set('type', 'aws-credential.compromised', `${rp}.Type`);
    const fromDetails = str(prop(d, 'AccessKeyId'));
    const fromId = KEY_IN_ID.exec(str(prop(r, 'Id')) ?? '')?.[0];
    if (fromDetails) c.set('subject.awsAccessKeyId', fromDetails, `${rp}.Details.AwsIamAccessKey.AccessKeyId`);
    else c.set('subject.awsAccessKeyId', fromId, `${rp}.Id`);
    const principalType = str(prop(d, 'PrincipalType'));
    const principalName = str(prop(d, 'PrincipalName'));
    if (principalType === 'AssumedRole') c.set('subject.iamRoleName', principalName, `${rp}.Details.AwsIamAccessKey.PrincipalName`);
    else if (principalType === 'IAMUser' || principalType === undefined) {
      const user = principalName ?? str(prop(d, 'UserName'));
      c.set('subject.iamUserName', user, `${rp}.Details.AwsIamAccessKey.${principalName ? 'PrincipalName' : 'UserName'}`);
    }
    c.set('subject.awsAccountId', accountId, p('AwsAccountId'));
  } else if (stageIndex >= 0) {
    const r = list[stageIndex];
    const rp = p(`Resources[${stageIndex}]`);
    const arn = STAGE_ARN.exec(str(prop(r, 'Id')) ?? '');
    if (!arn) return { field: `${rp}.Id`, message: 'expected a stage ARN such as arn:aws:apigateway:eu-west-1::/restapis/a1b2c3/stages/prod' };
    c.set('type', 'endpoint.abuse', `${rp}.Type`);
    c.set('subject.endpoint', { restApiId: arn[1], stage: str(dig(r, 'Details.AwsApiGatewayStage.StageName')) ?? arn[2] }, `${rp}.Id`);
    if (accountId && ACCOUNT_ID.test(accountId)) c.set('subject.awsAccountId', accountId);
  } else {
    c.set('type', 'anomaly.detected', p('Types'));
    if (accountId && ACCOUNT_ID.test(accountId)) c.set('subject.awsAccountId', accountId);
  }
  c.set(
    'subject.sourceIp',
    ipOrUndefined(dig(f, 'Network.SourceIpV4')) ??
      ipOrUndefined(dig(f, 'Network.SourceIpV6')) ??
      ipOrUndefined(dig(f, 'Action.AwsApiCallAction.RemoteIpDetails.IpAddressV4')) ??
      // GuardDuty findings in ASFF carry the caller only in ProductFields.
      ipOrUndefined(own(prop(f, 'ProductFields'), 'aws/guardduty/service/action/awsApiCallAction/remoteIpDetails/ipAddressV4')),
  );
  c.set(
    'details',
    compactDetails({
      title: str(prop(f, 'Title')),
      description: str(prop(f, 'Description')),
      findingId: id,
      types: Array.isArray(types) ? types.filter((t) => typeof t === 'string').slice(0, 10) : undefined,
      productName: str(prop(f, 'ProductName')),
      companyName: str(prop(f, 'CompanyName')),
      productArn: str(prop(f, 'ProductArn')),
      generatorId: str(prop(f, 'GeneratorId')),
      region: str(prop(f, 'Region')),
      severityLabel: str(dig(f, 'Severity.Label')),
      resources: list.slice(0, 5).map((r) => ({ type: str(prop(r, 'Type')) ?? null, id: str(prop(r, 'Id')) ?? null })),
      workflowStatus: str(dig(f, 'Workflow.Status')),
      recordState: str(prop(f, 'RecordState')),
      complianceStatus: str(dig(f, 'Compliance.Status')),
      posture: posture || undefined,
    }),
  );
  return c;
}

function locateFindings(input: unknown): LocatedFindings {
  if (Array.isArray(input)) return { findings: Array.from(input, (value, i) => ({ value, at: `[${i}]` })) };
  if (!isRecord(input)) return { error: fail('(root)', 'expected an EventBridge Security Hub event, { Findings: [...] } or an ASFF finding') };
  const detailType = prop(input, 'detail-type');
  if (detailType !== undefined || prop(input, 'detail') !== undefined) {
    if (!SECURITYHUB_DETAIL_TYPES.includes(detailType as never)) {
      return { error: fail('detail-type', `expected ${SECURITYHUB_DETAIL_TYPES.map((t) => `"${t}"`).join(' or ')}`) };
    }
    const source = prop(input, 'source');
    if (source !== undefined && source !== 'aws.securityhub') return { error: fail('source', 'expected "aws.securityhub"') };
    const list = dig(input, 'detail.findings');
    if (!Array.isArray(list)) return { error: fail('detail.findings', 'expected an array of ASFF findings') };
    return { findings: Array.from(list, (value, i) => ({ value, at: `detail.findings[${i}]` })) };
  }
  return findingsListOrSelf(input, 'Findings', 'ASFF findings');
}

export const normaliseSecurityHub = total((input: unknown): NormaliseResult => {
  return normaliseFindings(locateFindings(input), 'detail.findings', findingCandidate);
});
