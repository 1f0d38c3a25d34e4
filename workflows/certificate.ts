import { ApplicationFailure, ParentClosePolicy, proxyActivities, startChild, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import {
  certificateStatus,
  certificateWorkflowId,
  IssueRequest,
  REVOCATION_REASONS,
  renewalRequest,
  secretStatus,
  type CertificateMetadata,
  type Finding,
  type IssueRequestInput,
  type RevocationReason,
} from '../domain/certificates/model.js';
import { AWS_ACTIVITY_OPTIONS } from './activity-options.js';
import { failureReason } from './failure-reason.js';

/**
 * Certificate lifecycle workflows. One workflow id per certificate (`certificate-<name>`), so an
 * issuance, a renewal, a re-issue and a revocation of the same certificate never run at once. Key
 * material never enters these functions: activities return serials, dates, fingerprints and ARNs.
 */
const aws = proxyActivities<Activities>(AWS_ACTIVITY_OPTIONS);
// Creating a CA may scan the account's keys on a retry; key generation and two KMS signatures fit easily.
const slowAws = proxyActivities<Activities>({ ...AWS_ACTIVITY_OPTIONS, startToCloseTimeout: '1 minute' });

const now = () => new Date().toISOString();

export type CertificateAction = 'issue' | 'renew' | 'reissue' | 'revoke';

export interface CertificateWorkflowInput {
  action: CertificateAction;
  /** The certificate's name (or its secret's name/ARN for renew, reissue, revoke). */
  certificate: string;
  /** issue: what to issue (validated here; the CLI validates first). */
  request?: IssueRequestInput;
  /** renew: renew even before the renewal point. */
  force?: boolean;
  /** revoke / reissue: the CRL reason (default keyCompromise for reissue, unspecified for revoke). */
  reason?: RevocationReason;
  requestedBy?: string;
  note?: string;
}

export interface CertificateWorkflowResult {
  workflowId: string;
  action: CertificateAction;
  name: string;
  outcome: 'issued' | 'renewed' | 'not-due' | 'reissued' | 'revoked' | 'already-revoked';
  certificate?: CertificateMetadata;
  /** renew / reissue / revoke: the certificate that was current before. */
  previous?: CertificateMetadata;
  revoked?: { serial: string; revokedAt: string; reason: RevocationReason };
  crl?: { location: string; crlNumber: number; entries: number; sha256: string };
  ca?: { ca: string; keyArn: string; serial: string; created: boolean };
  progress: { at: string; message: string }[];
}

function fail(err: unknown, prefix: string): never {
  let e: unknown = err;
  while (e && typeof e === 'object' && 'cause' in e && (e as { cause?: unknown }).cause && !(e instanceof ApplicationFailure)) e = (e as { cause: unknown }).cause;
  const root = e instanceof ApplicationFailure ? e : undefined;
  throw ApplicationFailure.nonRetryable(`${prefix}: ${failureReason(err)}`, root?.type ?? 'CertificateFailed');
}

export async function certificateWorkflow(input: CertificateWorkflowInput): Promise<CertificateWorkflowResult> {
  const info = workflowInfo();
  const key = (step: string) => `${info.workflowId}/${info.firstExecutionRunId}/${step}`;
  const progress: CertificateWorkflowResult['progress'] = [];
  const record = (message: string) => progress.push({ at: now(), message });
  const result = (r: Omit<CertificateWorkflowResult, 'workflowId' | 'action' | 'progress'>): CertificateWorkflowResult => ({ workflowId: info.workflowId, action: input.action, ...r, progress });
  record(`${input.action} of ${input.certificate} requested by ${input.requestedBy ?? 'unknown'}${input.note ? `: ${input.note}` : ''}`);

  const reasonOf = (fallback: RevocationReason): RevocationReason => {
    const r = input.reason ?? fallback;
    if (!(r in REVOCATION_REASONS)) throw ApplicationFailure.nonRetryable(`reason must be one of ${Object.keys(REVOCATION_REASONS).join(', ')}`, 'InvalidParameters');
    return r;
  };
  const issue = async (request: IssueRequest) => {
    const ca = await slowAws.certificatesEnsureCa({ ca: request.ca });
    if (ca.created) record(`created CA ${ca.ca}: root ${ca.serial} signed by KMS key ${ca.keyArn}`);
    const cert = await slowAws.certificatesIssue({ request, idempotencyKey: key('issue') });
    record(`issued ${cert.name}: serial ${cert.serial}, ${cert.subject}, valid ${cert.notBefore} → ${cert.notAfter}, renew at ${cert.renewAt}, SHA-256 ${cert.fingerprint}`);
    return { cert, ca: { ca: ca.ca, keyArn: ca.keyArn, serial: ca.serial, created: ca.created } };
  };
  const revokeAndPublish = async (target: CertificateMetadata, reason: RevocationReason) => {
    const r = await aws.certificatesRevoke({ ca: target.ca, serial: target.serial, name: target.name, reason, revokedAt: now() });
    record(r.alreadyRevoked ? `serial ${r.serial} was already revoked (${r.revokedAt})` : `revoked serial ${r.serial} (${reason})`);
    const crl = await slowAws.certificatesPublishCrl({ ca: target.ca });
    record(`published CRL ${crl.crlNumber} of CA ${crl.ca} (${crl.entries} revoked) to ${crl.location}`);
    return { revoked: { serial: r.serial, revokedAt: r.revokedAt, reason }, crl: { location: crl.location, crlNumber: crl.crlNumber, entries: crl.entries, sha256: crl.sha256 }, alreadyRevoked: r.alreadyRevoked };
  };
  const current = async (): Promise<CertificateMetadata> => {
    const d = await aws.certificatesDescribe({ certificate: input.certificate });
    if (!d.found) throw ApplicationFailure.nonRetryable(`no certificate named ${d.name ?? input.certificate}: issue it first (bulwark cert issue)`, 'NotFound');
    return d.certificate;
  };

  try {
    switch (input.action) {
      case 'issue': {
        const parsed = IssueRequest.safeParse(input.request ?? {});
        if (!parsed.success) throw ApplicationFailure.nonRetryable(`request: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`, 'InvalidParameters');
        const { cert, ca } = await issue(parsed.data);
        return result({ name: cert.name, outcome: 'issued', certificate: cert, ca });
      }
      case 'renew': {
        const previous = await current();
        if (previous.status === 'revoked') throw ApplicationFailure.nonRetryable(`certificate ${previous.name} (serial ${previous.serial}) is revoked: re-issue it (bulwark rotate cert ${previous.name} --emergency)`, 'CertificateRevoked');
        if (!input.force && Date.now() < Date.parse(previous.renewAt)) {
          record(`not due: renewal of serial ${previous.serial} is due at ${previous.renewAt}`);
          return result({ name: previous.name, outcome: 'not-due', certificate: previous });
        }
        const { cert, ca } = await issue(renewalRequest(previous));
        // The previous certificate stays valid until it expires, so consumers can move over.
        return result({ name: cert.name, outcome: 'renewed', certificate: cert, previous, ca });
      }
      case 'reissue': {
        const previous = await current();
        const { cert, ca } = await issue(renewalRequest(previous));
        const revoked = await revokeAndPublish(previous, reasonOf('keyCompromise'));
        return result({ name: cert.name, outcome: 'reissued', certificate: cert, previous, ca, revoked: revoked.revoked, crl: revoked.crl });
      }
      case 'revoke': {
        const previous = await current();
        const revoked = await revokeAndPublish(previous, reasonOf('unspecified'));
        return result({ name: previous.name, outcome: revoked.alreadyRevoked ? 'already-revoked' : 'revoked', previous, revoked: revoked.revoked, crl: revoked.crl });
      }
      default:
        throw ApplicationFailure.nonRetryable(`action must be issue, renew, reissue or revoke, got ${String(input.action)}`, 'InvalidParameters');
    }
  } catch (err) {
    if (err instanceof ApplicationFailure) throw err;
    fail(err, `${input.action} of certificate ${input.certificate} failed`);
  }
}

// ───────────────────────────── expiry scanner ─────────────────────────────

export interface CertificateScanInput {
  /** Secrets and their rotation cadence (from rotation.yaml; the CLI computes this). */
  secretPolicies?: { policy: string; secret: string; cadenceSeconds: number }[];
  /** Report as expiring what becomes due within this many seconds (default 14 days). */
  warnSeconds?: number;
  /** Start renewals of certificates past their renewal point (default true). */
  renew?: boolean;
  /** Open incidents for what is overdue and was not fixed by this scan (default true). */
  openIncidents?: boolean;
  /** What-if: judge as of this time instead of now. Never opens incidents or renews. */
  asOf?: string;
}

export interface CertificateScanResult {
  scannedAt: string;
  findings: (Finding & { action?: string })[];
  renewed: { name: string; workflowId: string; outcome: string; serial?: string }[];
  incidents: { name: string; kind: Finding['kind']; incidentId: string; deduplicated: boolean }[];
  counts: Record<Finding['status'], number>;
}

const alreadyStarted = (err: unknown) => (err as { name?: string })?.name === 'WorkflowExecutionAlreadyStartedError';

/**
 * The expiry scanner: every certificate (from its tags) and every secret with a rotation policy is
 * judged ok / expiring / overdue / expired. Overdue certificates are renewed (as children under the
 * certificate's own id, so a renewal already running is left alone); what is still overdue or
 * expired afterwards opens an incident through the alert path.
 */
export async function certificateScanWorkflow(input: CertificateScanInput = {}): Promise<CertificateScanResult> {
  const whatIf = input.asOf !== undefined;
  const at = whatIf ? new Date(input.asOf!) : new Date();
  if (Number.isNaN(at.getTime())) throw ApplicationFailure.nonRetryable('asOf must be an ISO date', 'InvalidParameters');
  const warnSeconds = input.warnSeconds ?? 14 * 86_400;
  const findings: CertificateScanResult['findings'] = [];

  for (const c of await aws.certificatesList({})) {
    if (c.status === 'revoked') continue;
    const status = certificateStatus(c, at, warnSeconds);
    findings.push({ kind: 'certificate', name: c.name, arn: c.secretArn, status, dueAt: c.renewAt, expiresAt: c.notAfter, serial: c.serial, detail: `serial ${c.serial}, renew at ${c.renewAt}, expires ${c.notAfter}` });
  }
  const policies = input.secretPolicies ?? [];
  if (policies.length) {
    const ages = await aws.certificatesSecretAges({ secrets: policies.map((p) => p.secret) });
    policies.forEach((p, i) => {
      const a = ages[i]!;
      if (a.missing || !a.lastRotatedAt) {
        findings.push({ kind: 'secret', name: p.secret, arn: p.secret, status: 'overdue', dueAt: at.toISOString(), detail: `policy ${p.policy}: the secret does not exist` });
        return;
      }
      const s = secretStatus(new Date(a.lastRotatedAt), p.cadenceSeconds, at, warnSeconds);
      findings.push({ kind: 'secret', name: a.name ?? p.secret, arn: a.arn ?? p.secret, status: s.status, dueAt: s.dueAt.toISOString(), lastRotatedAt: a.lastRotatedAt, detail: `policy ${p.policy}: last rotated ${a.lastRotatedAt}, every ${Math.round(p.cadenceSeconds / 3600)}h` });
    });
  }

  const renewed: CertificateScanResult['renewed'] = [];
  if (!whatIf && input.renew !== false) {
    for (const f of findings.filter((x) => x.kind === 'certificate' && (x.status === 'overdue' || x.status === 'expired'))) {
      const workflowId = certificateWorkflowId(f.name);
      try {
        const child = await startChild(certificateWorkflow, { workflowId, parentClosePolicy: ParentClosePolicy.ABANDON, args: [{ action: 'renew', certificate: f.name, requestedBy: 'scanner:certificate-scan', note: `${f.status} (${f.detail})` }] });
        const r = await child.result();
        renewed.push({ name: f.name, workflowId, outcome: r.outcome, serial: r.certificate?.serial });
        if (r.outcome === 'renewed') f.action = `renewed: serial ${r.certificate!.serial}`;
      } catch (err) {
        const outcome = alreadyStarted(err) ? 'already running' : `failed: ${failureReason(err)}`;
        renewed.push({ name: f.name, workflowId, outcome });
        f.action = `renewal ${outcome}`;
      }
    }
  }

  let incidents: CertificateScanResult['incidents'] = [];
  const open = findings.filter((f) => (f.status === 'overdue' || f.status === 'expired') && !f.action?.startsWith('renewed'));
  if (!whatIf && input.openIncidents !== false && open.length) {
    incidents = await aws.certificatesOpenIncidents({ findings: open.map(({ action: _a, ...f }) => f), observedAt: at.toISOString() });
    for (const i of incidents) {
      const f = open.find((x) => x.name === i.name && x.kind === i.kind);
      if (f) f.action = `${f.action ? `${f.action}; ` : ''}incident ${i.incidentId}${i.deduplicated ? ' (already open)' : ''}`;
    }
  }
  const counts = { ok: 0, expiring: 0, overdue: 0, expired: 0 };
  for (const f of findings) counts[f.status]++;
  return { scannedAt: at.toISOString(), findings, renewed, incidents, counts };
}
