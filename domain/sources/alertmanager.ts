import type { FieldError } from '../alert.js';
import {
  Candidate,
  SEVERITY_WORDS,
  clip,
  collect,
  compactDetails,
  dedupKeyFor,
  fail,
  instant,
  isRecord,
  isZeroTime,
  own,
  str,
  total,
  type NormaliseResult,
} from './common.js';

/**
 * Prometheus Alertmanager webhook payloads (version "4") → alerts, one per entry of `alerts[]`
 * (a notification groups several). Routing and subject come from labels; see LABELS below and
 * docs/alert-sources.md.
 */
export const ALERTMANAGER_SOURCE_PREFIX = 'alertmanager';

/** Label → alert field. Labels win over same-named annotations; both are read. */
export const ALERTMANAGER_LABELS = {
  type: 'bulwark_type',
  severity: 'severity',
  subject: {
    client_id: 'clientId',
    api_key_id: 'apiKeyId',
    secret_id: 'secretId',
    kms_key_id: 'kmsKeyId',
    aws_access_key_id: 'awsAccessKeyId',
    iam_user_name: 'iamUserName',
    iam_role_name: 'iamRoleName',
    aws_account_id: 'awsAccountId',
    user_pool_id: 'userPoolId',
    app_client_id: 'appClientId',
    certificate_arn: 'certificateArn',
    source_ip: 'sourceIp',
  },
  endpoint: {
    rest_api_id: 'restApiId',
    stage: 'stage',
    resource_path: 'resourcePath',
    http_method: 'httpMethod',
  },
} as const;

/** When no `bulwark_type` label is set. */
export const ALERTMANAGER_DEFAULT_TYPE = 'anomaly.detected';

function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isRecord(v)) return out;
  for (const key of Object.keys(v).slice(0, 200)) {
    const value = v[key];
    if (typeof value === 'string') out[key] = value;
  }
  return out;
}

function entryCandidate(entry: unknown, i: number, group: Record<string, unknown>, source: string): Candidate | { field: string; message: string } {
  const at = `alerts[${i}]`;
  if (!isRecord(entry)) return { field: at, message: 'expected an alert object' };
  const rawLabels = own(entry, 'labels');
  if (!isRecord(rawLabels)) return { field: `${at}.labels`, message: 'expected an object of labels' };
  const labels = { ...stringMap(own(group, 'commonLabels')), ...stringMap(rawLabels) };
  const annotations = { ...stringMap(own(group, 'commonAnnotations')), ...stringMap(own(entry, 'annotations')) };
  const label = (name: string) => (labels[name] !== undefined ? labels[name] : annotations[name]);
  const origin = (name: string) => (labels[name] !== undefined ? `${at}.labels.${name}` : `${at}.annotations.${name}`);

  const rawStatus = own(entry, 'status') ?? own(group, 'status');
  if (rawStatus !== 'firing' && rawStatus !== 'resolved') return { field: `${at}.status`, message: 'expected "firing" or "resolved"' };
  const startsAt = instant(own(entry, 'startsAt'));
  const endsRaw = own(entry, 'endsAt');
  const endsAt = typeof endsRaw === 'string' && !isZeroTime(endsRaw) ? instant(endsRaw) : undefined;
  // A resolved alert is observed when it ended; a firing one when it started.
  const observedAt = rawStatus === 'resolved' ? (endsAt ?? startsAt) : startsAt;
  if (!observedAt) return { field: `${at}.startsAt`, message: 'expected an RFC 3339 timestamp' };

  const c = new Candidate(at);
  c.set('source', source)
    .set('status', rawStatus, `${at}.status`)
    .set('observedAt', observedAt, rawStatus === 'resolved' && endsAt ? `${at}.endsAt` : `${at}.startsAt`);

  const typeLabel = label(ALERTMANAGER_LABELS.type);
  c.set('type', typeLabel ?? ALERTMANAGER_DEFAULT_TYPE, typeLabel !== undefined ? origin(ALERTMANAGER_LABELS.type) : undefined);

  const severityLabel = label(ALERTMANAGER_LABELS.severity);
  if (severityLabel === undefined) c.set('severity', 'medium');
  else {
    const severity = SEVERITY_WORDS[severityLabel.trim().toLowerCase()];
    if (!severity) {
      return {
        field: origin(ALERTMANAGER_LABELS.severity),
        message: `unknown severity "${clip(severityLabel, 40)}": expected one of ${Object.keys(SEVERITY_WORDS).join(', ')}`,
      };
    }
    c.set('severity', severity, origin(ALERTMANAGER_LABELS.severity));
  }

  for (const [name, field] of Object.entries(ALERTMANAGER_LABELS.subject)) {
    const v = label(name);
    if (v !== undefined) c.set(`subject.${field}`, v, origin(name));
  }
  const endpointLabels = Object.entries(ALERTMANAGER_LABELS.endpoint).filter(([name]) => label(name) !== undefined);
  if (endpointLabels.length > 0) {
    for (const [name, field] of endpointLabels) {
      const v = label(name)!;
      c.set(`subject.endpoint.${field}`, field === 'httpMethod' ? v.toUpperCase() : v, origin(name));
    }
    if (label('rest_api_id') === undefined) return { field: `${at}.labels.rest_api_id`, message: 'endpoint labels need rest_api_id (and stage)' };
    if (label('stage') === undefined) return { field: `${at}.labels.stage`, message: 'endpoint labels need stage (and rest_api_id)' };
  }

  const fp = str(own(entry, 'fingerprint'));
  if (fp) c.set('dedupKey', dedupKeyFor(ALERTMANAGER_SOURCE_PREFIX, fp), `${at}.fingerprint`);
  c.set(
    'details',
    compactDetails({
      alertname: labels.alertname,
      summary: annotations.summary,
      description: annotations.description,
      runbookUrl: annotations.runbook_url,
      labels,
      startsAt: str(own(entry, 'startsAt')),
      endsAt: endsAt,
      generatorURL: str(own(entry, 'generatorURL')),
      fingerprint: fp,
      groupKey: str(own(group, 'groupKey')),
      externalURL: str(own(group, 'externalURL')),
      truncatedAlerts: typeof own(group, 'truncatedAlerts') === 'number' && (own(group, 'truncatedAlerts') as number) > 0 ? own(group, 'truncatedAlerts') : undefined,
    }),
  );
  return c;
}

export const normaliseAlertmanager = total((input: unknown): NormaliseResult => {
  if (!isRecord(input)) return fail('(root)', 'expected an Alertmanager webhook payload (an object with alerts[])');
  const version = own(input, 'version');
  if (version !== undefined && version !== '4') return fail('version', 'expected webhook payload version "4"');
  const receiver = str(own(input, 'receiver'));
  if (!receiver) return fail('receiver', 'expected the receiver name (a string)');
  const alerts = own(input, 'alerts');
  if (!Array.isArray(alerts)) return fail('alerts', 'expected an array of alerts');
  if (alerts.length === 0) return fail('alerts', 'expected at least one alert');
  if (alerts.length > 500) return fail('alerts', 'expected at most 500 alerts per notification');
  const source = clip(`${ALERTMANAGER_SOURCE_PREFIX}:${receiver}`, 128);
  // Indexes, not forEach: a hole in a sparse array is an entry to refuse, not one to skip.
  const items: (Candidate | FieldError)[] = [];
  for (let i = 0; i < alerts.length; i++) items.push(entryCandidate(alerts[i], i, input, source));
  return collect(items);
});
