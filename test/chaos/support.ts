/**
 * Shared pieces of the chaos suite (docs/chaos.md): the scale knob, one scenario per built-in
 * playbook (sandbox setup, the alert, who approves, the end state to expect in AWS), the approval
 * driver, the audit-chain check, and the results table every chaos file adds its numbers to.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inject } from 'vitest';
import { WorkflowUpdateStage, type Client } from '@temporalio/client';
import { CreateApiKeyCommand, GetApiKeyCommand, GetStageCommand } from '@aws-sdk/client-api-gateway';
import { CreateAccessKeyCommand, CreateRoleCommand, CreateUserCommand, ListAccessKeysCommand, ListRolePoliciesCommand } from '@aws-sdk/client-iam';
import { CreateKeyCommand, ListKeyRotationsCommand } from '@aws-sdk/client-kms';
import { CreateSecretCommand, DescribeSecretCommand, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { CreateUserPoolClientCommand, CreateUserPoolCommand, ListUserPoolClientsCommand } from '@aws-sdk/client-cognito-identity-provider';
import { GetIPSetCommand, ListIPSetsCommand } from '@aws-sdk/client-wafv2';
import { readFileSync } from 'node:fs';
import * as x509 from '@peculiar/x509';
import { createCertificateActivities } from '../../activities/certificates.js';
import { IssueRequest } from '../../domain/certificates/model.js';
import { stixBundle, stixIndicator } from '../support/stix.js';
import { verifyAuditFile } from '../../activities/audit.js';
import type { AwsClients } from '../../activities/clients.js';
import type { IncidentState } from '../../domain/incident.js';
import { DEFAULT_PLAYBOOK_SETTINGS } from '../../domain/playbook.js';
import { approveUpdate, resolveUpdate, stateQuery } from '../../workflows/definitions.js';
import { ledgerQuery, ledgerWorkflowId } from '../../workflows/waf-block-definitions.js';
import { createStage, createTppClient, uniqueId, type testConfig } from '../support.js';
import { renderTable, type ChaosRow } from './support-results.js';

export { readResults, renderTable, totals, type ChaosRow } from './support-results.js';

/**
 * One knob for how hard the suite pushes: 1 (the default, inside `npm test`) is a few runs and a
 * few thousand fuzz inputs; `npm run test:chaos` sets 40 (≥ 100,000 fuzz inputs, every boundary).
 */
export const SCALE = Math.max(0.2, Number(process.env.CHAOS_SCALE ?? '1') || 1);
export const FULL = SCALE >= 10;
export const SEED = Number(process.env.CHAOS_SEED ?? '20261126');

// ---------------------------------------------------------------------------------------------
// Results: each chaos file writes its row; the chaos config's teardown (test/chaos/summary.ts)
// prints the table of all rows and writes it as JSON.

export function resultsDir(): string {
  // Provided by the chaos config's global setup (test/chaos/summary.ts); absent inside `npm test`.
  const provided = inject('chaosResultsDir') as string | undefined;
  const dir = provided ?? join(inject('scratchDir'), 'chaos-results');
  mkdirSync(dir, { recursive: true });
  return dir;
}

export function recordResult(row: ChaosRow): void {
  const dir = resultsDir();
  writeFileSync(join(dir, `${row.suite.replace(/[^\w.-]+/g, '_')}.json`), JSON.stringify(row, null, 2));
  console.log(renderTable([row]));
}

/** The incident columns of a results row: runs, completed without problems, duplicated side effects, and every problem. */
export function incidentTally(incidents: readonly Driven[]) {
  return {
    runs: incidents.length,
    incidentsCompleted: incidents.filter((i) => i.done && i.outcome.problems.length === 0).length,
    duplicates: incidents.reduce((s, i) => s + i.outcome.duplicates, 0),
    problems: incidents.flatMap((i) => i.outcome.problems),
  };
}

// ---------------------------------------------------------------------------------------------
// Scenarios: one per built-in playbook.

export interface Boundary {
  /** The activity at whose edge the worker dies. */
  activity: string;
  /** `before`: as it starts, nothing done yet; `after`: its AWS calls done, completion not recorded. */
  when: 'before' | 'after';
  /**
   * The playbook's boundary in `npm test`'s small run (CHAOS_SCALE=1): one per scenario, marked here
   * rather than picked by position, so adding a boundary anywhere leaves every other pick alone.
   */
  ci?: true;
}

/** Both edges of a side-effecting activity; `ci` marks one of them as its playbook's `npm test` sample. */
function around(activity: string, ci?: Boundary['when']): Boundary[] {
  return (['before', 'after'] as const).map((when) => ({ activity, when, ...(ci === when ? { ci: true } : {}) }));
}

export interface Outcome {
  problems: string[];
  duplicates: number;
}

export interface ScenarioRun {
  playbook: string;
  alert: Record<string, unknown>;
  /** Approvers per step, in the order they approve. */
  approvals: Record<string, string[]>;
  /** Resolve once contained (temporary measures are then undone; their undoing is checked too). */
  resolve: boolean;
  /** Checked when the incident reaches `contained`, before any resolution. */
  onContained?: () => Promise<Outcome>;
  /**
   * The end state in AWS, through a direct (unproxied) client; with `seen`, also what the incident
   * recorded (its step outputs) and what lives in Temporal beside it (the IP-set ledger's holds).
   */
  final: (seen?: Seen) => Promise<Outcome>;
}

/** What a run's final check can read besides AWS: the incident's last state and a Temporal client. */
export interface Seen {
  client: Client;
  state?: IncidentState;
}

/** Where the newer playbooks keep things outside AWS: a CRL directory, the WAF IP-set pair's base name. */
export interface ScenarioEnv {
  crlDir: string;
  ipSetName: string;
}

export interface Scenario {
  playbook: string;
  boundaries: Boundary[];
  /** `env`: the run's own CRL directory and IP-set name (default: those of the last scenarioConfig()). */
  prepare(aws: AwsClients, env?: ScenarioEnv): Promise<ScenarioRun>;
}

const ok = (): Outcome => ({ problems: [], duplicates: 0 });
/** A duplicated side effect is counted and also described, so a failing run says what doubled. */
function dup(out: Outcome, n: number, what: string): void {
  out.duplicates += n;
  out.problems.push(`duplicate: ${what}`);
}
const merge = (...outs: Outcome[]): Outcome => ({ problems: outs.flatMap((o) => o.problems), duplicates: outs.reduce((s, o) => s + o.duplicates, 0) });

/** Exactly one new AWSCURRENT version, the old one AWSPREVIOUS, nothing left AWSPENDING. */
async function secretRotatedOnce(aws: AwsClients, arn: string, initialVersionId: string): Promise<Outcome> {
  const stages = (await aws.sm.send(new DescribeSecretCommand({ SecretId: arn }))).VersionIdsToStages ?? {};
  const out = ok();
  const versions = Object.keys(stages).length;
  if (versions > 2) dup(out, versions - 2, `secret ${arn}: ${versions} versions, expected 2`);
  const current = Object.entries(stages).filter(([, s]) => s.includes('AWSCURRENT'));
  if (current.length !== 1 || current[0]![0] === initialVersionId) out.problems.push(`secret ${arn}: AWSCURRENT is ${current.map(([v]) => v).join(',') || 'nowhere'} (initial ${initialVersionId})`);
  if (!stages[initialVersionId]?.includes('AWSPREVIOUS')) out.problems.push(`secret ${arn}: the initial version is ${stages[initialVersionId]?.join(',') ?? 'gone'}, expected AWSPREVIOUS`);
  if (Object.values(stages).some((s) => s.includes('AWSPENDING'))) out.problems.push(`secret ${arn}: an AWSPENDING version is left`);
  if (versions < 2) out.problems.push(`secret ${arn}: ${versions} version(s), expected 2`);
  return out;
}

async function keysDisabled(aws: AwsClients, ids: string[], bystander: string): Promise<Outcome> {
  const out = ok();
  for (const id of ids) if ((await aws.apigw.send(new GetApiKeyCommand({ apiKey: id }))).enabled !== false) out.problems.push(`API key ${id} is still enabled`);
  if ((await aws.apigw.send(new GetApiKeyCommand({ apiKey: bystander }))).enabled !== true) out.problems.push(`bystander API key ${bystander} was disabled`);
  return out;
}

async function bystanderKey(aws: AwsClients): Promise<string> {
  const other = uniqueId('bystander');
  return (await aws.apigw.send(new CreateApiKeyCommand({ name: `${other}-1`, enabled: true, tags: { 'bulwark:client-id': other } }))).id!;
}

// The newer playbooks need config of their own: a CRL directory (certificate-compromise), an intel
// feed naming the attacking range and a WAF IP set of this run (intel-block).
const INTEL_RANGE = '185.220.101';
let newerEnv: ScenarioEnv | undefined;
let nextHost = 10;

/**
 * A CRL directory, IP-set name and intel feed of their own under `dir`, and the config overrides
 * that point a worker and intake at them. A run with its own env has its own IP-set ledger workflow.
 */
export function scenarioEnv(dir: string): { env: ScenarioEnv; overrides: NonNullable<Parameters<typeof testConfig>[0]> } {
  mkdirSync(dir, { recursive: true });
  const feed = join(dir, 'chaos-intel.json');
  writeFileSync(feed, stixBundle([stixIndicator(1, `[ipv4-addr:value = '${INTEL_RANGE}.0/24']`, { confidence: 90, name: 'chaos tor exits' })]));
  const env = { crlDir: join(dir, 'crl'), ipSetName: uniqueId('chaos-bl') };
  return { env, overrides: { certificates: { crlDir: env.crlDir }, intel: { feeds: [{ name: 'chaos-tor', source: feed }], refreshSeconds: 0 }, waf: { ipSetName: env.ipSetName } } };
}

/** Config overrides the certificate-compromise and intel-block scenarios need; call before starting the harness. */
export function scenarioConfig(dir: string): NonNullable<Parameters<typeof testConfig>[0]> {
  const { env, overrides } = scenarioEnv(dir);
  newerEnv = env;
  return overrides;
}

function envOf(playbook: string, given?: ScenarioEnv): ScenarioEnv {
  const env = given ?? newerEnv;
  if (!env) throw new Error(`the ${playbook} scenario needs scenarioConfig() in the harness config, or an env of its own`);
  return env;
}

/** How many times the address is in the run's IPv4 IP set (0 when the set does not exist). */
async function ipSetCount(aws: AwsClients, ipSetName: string, address: string): Promise<number> {
  let NextMarker: string | undefined;
  do {
    const page = await aws.waf.send(new ListIPSetsCommand({ Scope: 'REGIONAL', NextMarker, Limit: 100 }));
    const set = page.IPSets?.find((x) => x.Name === `${ipSetName}-ipv4`);
    if (set) return ((await aws.waf.send(new GetIPSetCommand({ Scope: 'REGIONAL', Name: set.Name!, Id: set.Id! }))).IPSet?.Addresses ?? []).filter((a) => a === address).length;
    NextMarker = page.IPSets?.length ? page.NextMarker : undefined;
  } while (NextMarker);
  return 0;
}

async function stageLimits(aws: AwsClients, restApiId: string) {
  const s = (await aws.apigw.send(new GetStageCommand({ restApiId, stageName: 'prod' }))).methodSettings?.['*/*'];
  return { rate: s?.throttlingRateLimit, burst: s?.throttlingBurstLimit };
}

/** Compares a stage's throttle with what a run expects at a moment (`when`, for the problem text). */
function stageCheck(aws: AwsClients, restApiId: string) {
  return async (expected: { rate: number; burst: number }, when: string): Promise<Outcome> => {
    const got = await stageLimits(aws, restApiId);
    return got.rate === expected.rate && got.burst === expected.burst ? ok() : { problems: [`stage ${restApiId} ${when}: ${got.rate}/${got.burst}, expected ${expected.rate}/${expected.burst}`], duplicates: 0 };
  };
}

/** A step's recorded output in the incident's last state (undefined when not seen or not recorded). */
function recorded<T>(seen: Seen | undefined, step: string): T | undefined {
  return seen?.state?.steps.find((s) => s.id === step)?.output as T | undefined;
}

/**
 * The throttle's snapshot as the incident recorded it must hold the stage's original limits: a
 * snapshot re-taken after the throttle (the step acting twice) records the throttled ones, and a
 * restore would then "restore" those.
 */
function snapshotOf(seen: Seen | undefined, step: string, original: { rate: number; burst: number }): Outcome {
  if (!seen?.state) return ok();
  const snap = recorded<{ snapshot?: { previous?: { rateLimit?: number; burstLimit?: number } } }>(seen, step)?.snapshot?.previous;
  if (snap?.rateLimit === original.rate && snap.burstLimit === original.burst) return ok();
  return { problems: [`step ${step}: recorded snapshot ${snap?.rateLimit}/${snap?.burstLimit}, expected the original ${original.rate}/${original.burst} (a snapshot taken after the throttle?)`], duplicates: 0 };
}

export const SCENARIOS: Scenario[] = [
  {
    playbook: 'credential-compromise',
    // resolveSecrets, setSecret (no target in a playbook's rotation) and testSecret only read: their start alone.
    boundaries: [
      ...around('disableApiKeys'),
      { activity: 'resolveSecrets', when: 'before' },
      ...around('createSecret'),
      { activity: 'setSecret', when: 'before' },
      { activity: 'testSecret', when: 'before' },
      ...around('finishSecret', 'after'),
    ],
    async prepare(aws) {
      const tpp = await createTppClient(aws, { keys: 2 });
      const bystander = await bystanderKey(aws);
      return {
        playbook: this.playbook,
        alert: { type: 'credential.compromised', subject: { clientId: tpp.clientId } },
        approvals: {},
        resolve: false,
        final: async () => merge(await keysDisabled(aws, tpp.apiKeyIds, bystander), await secretRotatedOnce(aws, tpp.secretArn, tpp.initialVersionId)),
      };
    },
  },
  {
    playbook: 'endpoint-abuse',
    boundaries: [
      { activity: 'snapshotThrottle', when: 'before' },
      ...around('applyThrottle', 'after'),
      ...around('restoreThrottle'),
    ],
    async prepare(aws) {
      const original = { rate: 500, burst: 200 };
      const restApiId = await createStage(aws, original);
      const want = DEFAULT_PLAYBOOK_SETTINGS.throttle;
      const compare = stageCheck(aws, restApiId);
      return {
        playbook: this.playbook,
        alert: { type: 'endpoint.abuse', subject: { endpoint: { restApiId, stage: 'prod' } } },
        approvals: {},
        resolve: true,
        onContained: () => compare({ rate: want.rateLimit, burst: want.burstLimit }, 'while contained'),
        // A re-taken snapshot after the throttle (a double act) would "restore" the throttled values.
        final: () => compare(original, 'after resolution'),
      };
    },
  },
  {
    playbook: 'key-exposure',
    boundaries: [
      ...around('rotationRotateKeyOnDemand', 'after'),
      { activity: 'resolveSecrets', when: 'before' },
      ...around('createSecret'),
      { activity: 'setSecret', when: 'before' },
      { activity: 'testSecret', when: 'before' },
      ...around('finishSecret'),
      ...around('reencryptSecrets'),
      ...around('notifyOperators'),
    ],
    async prepare(aws) {
      const keyId = (await aws.kms.send(new CreateKeyCommand({ Description: 'chaos key-exposure' }))).KeyMetadata!.KeyId!;
      const secret = await aws.sm.send(new CreateSecretCommand({ Name: uniqueId('chaos-signing'), SecretString: JSON.stringify({ key: 'k'.repeat(32) }) }));
      // Stored under the exposed key: re-encrypted as a new AWSCURRENT version with the same value.
      const stored = JSON.stringify({ password: uniqueId('chaos-pw') });
      const underKey = await aws.sm.send(new CreateSecretCommand({ Name: uniqueId('chaos-under-key'), KmsKeyId: keyId, SecretString: stored }));
      return {
        playbook: this.playbook,
        alert: { type: 'key.exposed', subject: { kmsKeyId: keyId, secretId: secret.ARN! } },
        approvals: {},
        resolve: false,
        final: async () => {
          const rotations = ((await aws.kms.send(new ListKeyRotationsCommand({ KeyId: keyId }))).Rotations ?? []).filter((r) => r.RotationType === 'ON_DEMAND').length;
          const kms: Outcome = { problems: rotations === 0 ? [`KMS key ${keyId} was not rotated`] : [], duplicates: 0 };
          if (rotations > 1) dup(kms, rotations - 1, `KMS key ${keyId} rotated on demand ${rotations} times`);
          const reencrypted = await secretRotatedOnce(aws, underKey.ARN!, underKey.VersionId!);
          const value = (await aws.sm.send(new GetSecretValueCommand({ SecretId: underKey.ARN!, VersionStage: 'AWSCURRENT' }))).SecretString;
          if (value !== stored) reencrypted.problems.push(`secret ${underKey.ARN}: re-encryption changed the value`);
          return merge(kms, await secretRotatedOnce(aws, secret.ARN!, secret.VersionId!), reencrypted);
        },
      };
    },
  },
  {
    playbook: 'aws-credential-compromise',
    boundaries: [
      ...around('deactivateAccessKey'),
      ...around('revokeRoleSessions'),
      ...around('deleteAccessKey', 'after'),
    ],
    async prepare(aws) {
      const userName = uniqueId('chaos-svc');
      const roleName = uniqueId('chaos-role');
      await aws.iam.send(new CreateUserCommand({ UserName: userName }));
      const { AccessKey } = await aws.iam.send(new CreateAccessKeyCommand({ UserName: userName }));
      await aws.iam.send(
        new CreateRoleCommand({ RoleName: roleName, AssumeRolePolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }] }) }),
      );
      return {
        playbook: this.playbook,
        alert: { type: 'aws-credential.compromised', source: 'guardduty', subject: { awsAccessKeyId: AccessKey!.AccessKeyId!, iamUserName: userName, iamRoleName: roleName } },
        approvals: { 'delete-access-key': ['alice'] },
        resolve: false,
        final: async () => {
          const out = ok();
          const keys = (await aws.iam.send(new ListAccessKeysCommand({ UserName: userName }))).AccessKeyMetadata ?? [];
          if (keys.length) out.problems.push(`user ${userName} still has access key(s) ${keys.map((k) => `${k.AccessKeyId}:${k.Status}`).join(',')}`);
          const policies = (await aws.iam.send(new ListRolePoliciesCommand({ RoleName: roleName }))).PolicyNames ?? [];
          if (policies.filter((p) => p === 'AWSRevokeOlderSessions').length !== 1) out.problems.push(`role ${roleName} policies: ${policies.join(',') || 'none'}, expected AWSRevokeOlderSessions once`);
          return out;
        },
      };
    },
  },
  {
    playbook: 'tpp-offboarding',
    boundaries: [
      ...around('disableApiKeys'),
      { activity: 'resolveSecrets', when: 'before' },
      ...around('createSecret'),
      { activity: 'setSecret', when: 'before' },
      { activity: 'testSecret', when: 'before' },
      ...around('finishSecret'),
      ...around('rotateAppClientSecret', 'after'),
      ...around('notifyOperators'),
    ],
    async prepare(aws) {
      const tpp = await createTppClient(aws, { keys: 2 });
      const bystander = await bystanderKey(aws);
      const pool = (await aws.cognito.send(new CreateUserPoolCommand({ PoolName: uniqueId('chaos-pool') }))).UserPool!.Id!;
      const appClientId = (await aws.cognito.send(new CreateUserPoolClientCommand({ UserPoolId: pool, ClientName: `${tpp.clientId}-app`, GenerateSecret: true }))).UserPoolClient!.ClientId!;
      return {
        playbook: this.playbook,
        alert: { type: 'client.offboard', subject: { clientId: tpp.clientId, userPoolId: pool, appClientId } },
        approvals: { 'revoke-oauth-client': ['erin', 'alice'] },
        resolve: false,
        final: async () => {
          const clients = (await aws.cognito.send(new ListUserPoolClientsCommand({ UserPoolId: pool, MaxResults: 60 }))).UserPoolClients ?? [];
          const cognito: Outcome = { problems: [], duplicates: 0 };
          if (clients.length > 1) dup(cognito, clients.length - 1, `pool ${pool} has ${clients.length} app clients, expected 1 replacement`);
          if (clients.some((c) => c.ClientId === appClientId)) cognito.problems.push(`app client ${appClientId} still exists`);
          if (clients.length === 0) cognito.problems.push(`pool ${pool} has no replacement client`);
          return merge(await keysDisabled(aws, tpp.apiKeyIds, bystander), await secretRotatedOnce(aws, tpp.secretArn, tpp.initialVersionId), cognito);
        },
      };
    },
  },
  {
    playbook: 'certificate-compromise',
    // All but notifyOperators run in the step's child certificate workflow (same task queue).
    boundaries: [
      ...around('certificatesIssue'),
      ...around('certificatesRevoke', 'after'),
      ...around('certificatesPublishCrl'),
      ...around('notifyOperators'),
    ],
    async prepare(aws, given) {
      const { crlDir } = envOf(this.playbook, given);
      // Issued directly (not through the proxied worker): only the re-issue is under test.
      const certs = createCertificateActivities({ sm: aws.sm, kms: aws.kms, s3: aws.s3, config: { crlDir } });
      const ca = uniqueId('chaos-ca');
      const name = uniqueId('chaos-mtls');
      await certs.certificatesEnsureCa({ ca });
      const old = await certs.certificatesIssue({ request: IssueRequest.parse({ name, ca, subject: `CN=${name}.internal.test`, profile: 'client', validitySeconds: 30 * 86_400 }), idempotencyKey: uniqueId('chaos-issue') });
      return {
        playbook: this.playbook,
        alert: { type: 'certificate.compromised', subject: { certificateArn: old.secretArn } },
        approvals: {},
        resolve: false,
        final: async (seen) => {
          // Re-issued once: one new AWSCURRENT version of the bundle, the compromised one AWSPREVIOUS.
          const out = await secretRotatedOnce(aws, old.secretArn, old.versionId);
          const current = JSON.parse((await aws.sm.send(new GetSecretValueCommand({ SecretId: old.secretArn, VersionStage: 'AWSCURRENT' }))).SecretString ?? '{}') as { metadata?: { serial?: string } };
          if (!current.metadata?.serial || current.metadata.serial === old.serial) out.problems.push(`certificate ${name}: current serial ${current.metadata?.serial}, expected a new one (old ${old.serial})`);
          let crl: x509.X509Crl | undefined;
          let crlDigest: string | undefined;
          try {
            const der = readFileSync(join(crlDir, `${ca}.crl`));
            crlDigest = createHash('sha256').update(der).digest('hex');
            crl = new x509.X509Crl(der);
          } catch (err) {
            out.problems.push(`CRL of ${ca}: ${(err as Error).message}`);
          }
          if (crl) {
            const listed = crl.entries.filter((e) => e.serialNumber.toLowerCase() === old.serial);
            if (listed.length === 0) out.problems.push(`CRL of ${ca} does not list the old serial ${old.serial}`);
            if (listed.length > 1) dup(out, listed.length - 1, `CRL of ${ca} lists ${old.serial} ${listed.length} times`);
            if (listed[0] && listed[0].reason !== x509.X509CrlReason.keyCompromise) out.problems.push(`CRL of ${ca}: ${old.serial} revoked for reason ${listed[0].reason}, expected keyCompromise`);
            if (current.metadata?.serial && crl.findRevoked(current.metadata.serial)) out.problems.push(`CRL of ${ca} lists the new serial ${current.metadata.serial}`);
          }
          // What the incident recorded must be what is in place: a CRL generation published after
          // the recorded one (the step acting twice) is a duplicate. A publication whose completion
          // was lost is re-run and replaces its own unrecorded generation: that retry is the recorded one.
          const step = recorded<{ certificate?: { serial?: string }; previousSerial?: string; crl?: { sha256?: string; crlNumber?: number } }>(seen, 'replace-certificate');
          if (seen?.state && !step) out.problems.push(`step replace-certificate recorded no output`);
          if (step) {
            if (step.previousSerial !== old.serial) out.problems.push(`step replace-certificate recorded ${step.previousSerial} as the revoked serial, expected ${old.serial}`);
            // (A second issuance is already counted above, as a third secret version.)
            if (current.metadata?.serial && step.certificate?.serial !== current.metadata.serial) out.problems.push(`certificate ${name}: serial ${current.metadata.serial} is current, the incident recorded ${step.certificate?.serial}`);
            if (crlDigest && step.crl?.sha256 !== crlDigest) dup(out, 1, `CRL of ${ca}: the published generation is not the one the incident recorded (CRL ${step.crl?.crlNumber})`);
          }
          return out;
        },
      };
    },
  },
  {
    playbook: 'intel-block',
    // wafApplyIpSetChange runs in the IP-set ledger workflow wafHold starts (same task queue): its
    // first change re-asserts the entries the hold just added.
    boundaries: [
      ...around('wafHold', 'after'),
      ...around('wafApplyIpSetChange'),
      { activity: 'snapshotThrottle', when: 'before' },
      ...around('applyThrottle'),
      ...around('notifyOperators'),
    ],
    async prepare(aws, given) {
      const { ipSetName } = envOf(this.playbook, given);
      // A different address per incident: each must be in the shared IP set exactly once.
      const address = `${INTEL_RANGE}.${nextHost++ % 250}`;
      const original = { rate: 500, burst: 200 };
      const restApiId = await createStage(aws, original);
      const want = DEFAULT_PLAYBOOK_SETTINGS.throttle;
      return {
        playbook: this.playbook,
        alert: { type: 'endpoint.abuse', source: 'waf-logs', subject: { endpoint: { restApiId, stage: 'prod' }, sourceIp: address } },
        approvals: {},
        resolve: false,
        final: async (seen) => {
          const out = ok();
          const cidr = `${address}/32`;
          const n = await ipSetCount(aws, ipSetName, cidr);
          if (n === 0) out.problems.push(`${address} is not in WAF IP set ${ipSetName}-ipv4`);
          if (n > 1) dup(out, n - 1, `${address} is ${n} times in WAF IP set ${ipSetName}-ipv4`);
          const got = await stageLimits(aws, restApiId);
          if (got.rate !== want.rateLimit || got.burst !== want.burstLimit) out.problems.push(`stage ${restApiId}: ${got.rate}/${got.burst}, expected ${want.rateLimit}/${want.burstLimit}`);
          if (!seen?.state) return out;
          // The block must also be held in the ledger, by this incident's step alone: without the
          // hold nothing ever removes the address; the ledger is what expires it after 24h.
          const owner = `${seen.state.incidentId}/block-source`;
          const ledger = await seen.client.workflow.getHandle(ledgerWorkflowId(ipSetName)).query(ledgerQuery).catch((err: Error) => err);
          if (ledger instanceof Error) out.problems.push(`IP-set ledger of ${ipSetName}: ${ledger.message}`);
          else {
            const holders = Object.entries(ledger.holds).filter(([, entries]) => entries.some((e) => e.cidr === cidr)).map(([o]) => o);
            if (!holders.includes(owner)) out.problems.push(`IP-set ledger of ${ipSetName}: ${cidr} is held by ${holders.join(', ') || 'no one'}, expected ${owner}`);
            if (holders.length > 1) out.problems.push(`IP-set ledger of ${ipSetName}: ${cidr} is held by ${holders.join(', ')}, expected ${owner} alone`);
          }
          return merge(out, snapshotOf(seen, 'throttle-endpoint', original));
        },
      };
    },
  },
  {
    playbook: 'posture-unprotected-endpoint',
    boundaries: [
      ...around('notifyOperators'),
      { activity: 'snapshotThrottle', when: 'before' },
      ...around('applyThrottle', 'after'),
      ...around('restoreThrottle'),
    ],
    async prepare(aws) {
      const original = { rate: 5000, burst: 5000 };
      const restApiId = await createStage(aws, original);
      const want = DEFAULT_PLAYBOOK_SETTINGS.throttle;
      const compare = stageCheck(aws, restApiId);
      return {
        playbook: this.playbook,
        alert: {
          type: 'posture.unprotected-endpoint',
          source: 'bulwark-inventory',
          subject: { endpoint: { restApiId, stage: 'prod' } },
          details: { message: 'payment endpoint without throttling', classification: 'payment', owner: 'payments-team', needsThrottling: true },
        },
        approvals: { 'default-throttle': ['alice'] },
        resolve: true,
        // Applied after the approval (the incident is only contained once it is).
        onContained: () => compare({ rate: want.rateLimit, burst: want.burstLimit }, 'after approval'),
        // Applied once: a second snapshot taken after the throttle would "restore" the throttled values.
        final: async (seen) => merge(await compare(original, 'after resolution'), snapshotOf(seen, 'default-throttle', original)),
      };
    },
  },
];

/**
 * Every (playbook, boundary) pair, or (`all` false, `npm test`'s small run) each playbook's boundary
 * marked `ci`. A scenario with boundaries but none marked is an error rather than silently skipped.
 */
export function boundaryRuns(all: boolean): { scenario: Scenario; boundary: Boundary }[] {
  const unmarked = SCENARIOS.filter((s) => s.boundaries.length > 0 && !s.boundaries.some((b) => b.ci)).map((s) => s.playbook);
  if (unmarked.length) throw new Error(`mark one boundary of ${unmarked.join(', ')} with ci: true (the one npm test runs)`);
  return SCENARIOS.flatMap((scenario) => scenario.boundaries.filter((b) => all || b.ci).map((boundary) => ({ scenario, boundary })));
}

/** Each step recorded once: a second `step.succeeded` (or `step.compensated`) of a step is a duplicate. */
export function stepsRecordedOnce(state: IncidentState | undefined): Outcome {
  const out = ok();
  const counts = new Map<string, number>();
  for (const e of state?.timeline ?? []) {
    if ((e.kind === 'step.succeeded' || e.kind === 'step.compensated') && e.step) counts.set(`${e.kind} ${e.step}`, (counts.get(`${e.kind} ${e.step}`) ?? 0) + 1);
  }
  for (const [what, n] of counts) if (n > 1) dup(out, n - 1, `${what} recorded ${n} times`);
  return out;
}

export function fullAlert(run: ScenarioRun): Record<string, unknown> {
  return { source: 'chaos-detector', severity: 'high', observedAt: new Date().toISOString(), ...run.alert };
}

// ---------------------------------------------------------------------------------------------
// Driving incidents to their end: approvals, resolution, and the checks on the way.

export interface Driven {
  workflowId: string;
  run: ScenarioRun;
  state?: IncidentState;
  outcome: Outcome;
  done: boolean;
  /** Checked while contained and sent `resolve` (kept here: a run drives the same incident again after a kill). */
  resolving?: boolean;
}

/**
 * Polls every incident; approves steps waiting for approval (each approver once, re-sent only if
 * the approval has not landed after a while), checks and resolves where the scenario says, and
 * returns when all are in their final status or the deadline passes.
 */
export async function driveToEnd(client: Client, incidents: Driven[], opts: { timeoutMs: number; until?: () => boolean }): Promise<void> {
  const sent = new Map<string, number>();
  const deadline = Date.now() + opts.timeoutMs;
  while (Date.now() < deadline && !(opts.until?.() ?? false)) {
    let open = 0;
    for (const inc of incidents) {
      if (inc.done) continue;
      open++;
      let s: IncidentState;
      try {
        s = await client.workflow.getHandle(inc.workflowId).query(stateQuery);
      } catch {
        continue; // no worker to answer right now (it was killed): try again
      }
      inc.state = s;
      const handle = client.workflow.getHandle(inc.workflowId);
      for (const step of s.steps.filter((x) => x.status === 'awaiting-approval')) {
        for (const by of inc.run.approvals[step.id] ?? []) {
          if (step.approvals?.some((a) => a.by === by)) continue;
          const key = `${inc.workflowId}/${step.id}/${by}`;
          if (Date.now() - (sent.get(key) ?? 0) < 15_000) continue;
          sent.set(key, Date.now());
          await handle.startUpdate(approveUpdate, { args: [{ step: step.id, by, reason: 'chaos run' }], waitForStage: WorkflowUpdateStage.ACCEPTED }).catch(() => undefined);
          break; // one approver at a time: N-of-M approvals are counted in order
        }
      }
      if (s.status === 'contained' && inc.run.resolve && !inc.resolving) {
        inc.resolving = true;
        if (inc.run.onContained) inc.outcome = merge(inc.outcome, await inc.run.onContained());
        await handle.startUpdate(resolveUpdate, { args: [{ by: 'alice', reason: 'chaos run' }], waitForStage: WorkflowUpdateStage.ACCEPTED }).catch(() => (inc.resolving = false));
      }
      const final = inc.run.resolve ? s.status === 'resolved' : s.status === 'contained';
      if (final) inc.done = true;
      if (['needs-attention', 'aborted'].includes(s.status) || (!inc.run.resolve && s.status === 'resolved')) {
        inc.done = true;
        inc.outcome.problems.push(`${inc.run.playbook} ${inc.workflowId} ended ${s.status}: ${s.attention ?? ''}`);
      }
    }
    if (open === 0) return;
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The incident's audit chain verifies, every timeline entry is in it exactly once, in order. */
export async function auditChainOutcome(client: Client, auditDir: string, workflowId: string, timeoutMs = 20_000): Promise<Outcome> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const state = await client.workflow.getHandle(workflowId).query(stateQuery).catch(() => undefined);
    const v = await verifyAuditFile(auditDir, workflowId);
    const ids = v.records.map((r) => r.id);
    const duplicates = ids.length - new Set(ids).size;
    if (duplicates > 0) return { problems: [`duplicate: audit of ${workflowId} has ${duplicates} repeated record id(s)`], duplicates };
    if (!v.ok && v.exists) return { problems: [`audit of ${workflowId}: ${v.summary}`], duplicates: 0 };
    const want = state ? state.timeline.length + state.timelineDropped : Infinity;
    if (v.ok && ids.length >= want) {
      const expected = Array.from({ length: ids.length }, (_, i) => `${workflowId}/t${i + 1}`);
      return ids.every((id, i) => id === expected[i]) ? ok() : { problems: [`audit of ${workflowId}: records out of order`], duplicates: 0 };
    }
    last = `${v.exists ? v.summary : 'no audit file'}; ${ids.length} of ${want} records`;
    await new Promise((r) => setTimeout(r, 300));
  }
  return { problems: [`audit of ${workflowId} incomplete: ${last}`], duplicates: 0 };
}

export { merge as mergeOutcomes, ok as emptyOutcome };
