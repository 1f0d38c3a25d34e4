import { randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateKeyCommand } from '@aws-sdk/client-kms';
import { DeleteObjectCommand, GetObjectLockConfigurationCommand, HeadObjectCommand, ListObjectVersionsCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { createAuditActivities } from '../activities/audit.js';
import { auditObjectKey, createS3AuditStore, ensureAuditBucket } from '../activities/audit-s3.js';
import { createAwsClients, type AwsClients } from '../activities/clients.js';
import { parseAlert } from '../domain/alert.js';
import { AlertDeliverer } from '../intake/deliver.js';
import { playbookDefaults } from '../temporal.config.js';
import { alertFor, runCli, startHarness, testConfig, uniqueId, waitForState, type Harness } from './support.js';

let aws: AwsClients;
const bucket = `bulwark-audit-${randomBytes(4).toString('hex')}`;
const DAY = 86_400_000;

beforeAll(async () => {
  aws = createAwsClients(testConfig().aws);
  await ensureAuditBucket(aws.s3, bucket, testConfig().aws.region);
});

const entries = (n: number) =>
  Array.from({ length: n }, (_, i) => ({ id: `e${i}`, at: new Date(Date.parse('2026-11-26T10:00:00Z') + i * 1000).toISOString(), actor: 'bulwark', action: 'step.succeeded', resource: `arn:aws:kms:eu-west-1:123456789012:key/k${i}`, outcome: 'succeeded' as const, detail: `record ${i}` }));

describe('S3 Object Lock audit store (moto)', () => {
  it('the bucket is created with Object Lock; ensureAuditBucket is idempotent', async () => {
    const lock = await aws.s3.send(new GetObjectLockConfigurationCommand({ Bucket: bucket }));
    expect(lock.ObjectLockConfiguration?.ObjectLockEnabled).toBe('Enabled');
    await expect(ensureAuditBucket(aws.s3, bucket, 'eu-west-1')).resolves.toBeUndefined();
  });

  it('writes one locked object per record, with the configured mode and retention, once (a retry writes nothing)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bulwark-audit-s3-'));
    const incidentId = `incident-${randomBytes(12).toString('hex')}`;
    const store = createS3AuditStore({ s3: aws.s3, bucket, mode: 'COMPLIANCE', retentionDays: 30 });
    const audit = createAuditActivities({ dir, s3Store: store });
    const before = Date.now();
    expect((await audit.appendAudit({ incidentId, records: entries(3) })).appended).toBe(3);
    expect((await audit.appendAudit({ incidentId, records: entries(5) })).appended).toBe(2); // e0..e2 skipped

    const versions = (await aws.s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: `audit/${incidentId}/` }))).Versions ?? [];
    expect(versions.map((v) => v.Key).sort()).toEqual([1, 2, 3, 4, 5].map((s) => auditObjectKey(incidentId, s)));
    for (const v of versions) {
      // moto 5.2 implements PutObjectRetention but not GetObjectRetention (its answer is the object
      // body); HeadObject reports the same retention in x-amz-object-lock-* headers.
      const r = await aws.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: v.Key!, VersionId: v.VersionId! }));
      expect(r.ObjectLockMode).toBe('COMPLIANCE');
      const until = r.ObjectLockRetainUntilDate!.getTime();
      expect(until).toBeGreaterThan(before + 30 * DAY - 60_000);
      expect(until).toBeLessThan(Date.now() + 30 * DAY + 60_000);
    }
    const read = await store.readRecords(incidentId);
    expect(read.records.map((r) => (r as { seq: number }).seq)).toEqual([1, 2, 3, 4, 5]);
    expect(read.overwritten).toEqual([]);
  });

  it('a locked version cannot be deleted (COMPLIANCE and GOVERNANCE), and an overwrite leaves the original version in place', async () => {
    for (const mode of ['COMPLIANCE', 'GOVERNANCE'] as const) {
      const incidentId = `incident-${randomBytes(12).toString('hex')}`;
      const store = createS3AuditStore({ s3: aws.s3, bucket, mode, retentionDays: 1 });
      await createAuditActivities({ dir: await mkdtemp(join(tmpdir(), 'bulwark-audit-s3-')), s3Store: store }).appendAudit({ incidentId, records: entries(2) });
      const key = auditObjectKey(incidentId, 1);
      const [original] = (await aws.s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: key }))).Versions ?? [];
      const err = await aws.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key, VersionId: original!.VersionId })).then(
        () => undefined,
        (e: { name?: string; $metadata?: { httpStatusCode?: number } }) => e,
      );
      expect(err, `${mode}: deleting a locked version must be refused`).toBeDefined();
      expect(err!.$metadata?.httpStatusCode).toBe(403);

      // "Overwriting" makes a new version; the locked original stays readable and is what verification reads.
      await aws.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: '{"seq":1,"edited":true}' }));
      const after = (await aws.s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: key }))).Versions ?? [];
      expect(after.map((v) => v.VersionId)).toContain(original!.VersionId);
      const read = await store.readRecords(incidentId);
      expect(read.overwritten).toEqual([{ key, versions: 2 }]);
      expect(read.records[0]).toMatchObject({ seq: 1, incidentId });
    }
  });

  it('a different record at an existing seq is refused, not overwritten (the two stores disagree)', async () => {
    const incidentId = `incident-${randomBytes(12).toString('hex')}`;
    const store = createS3AuditStore({ s3: aws.s3, bucket, mode: 'GOVERNANCE', retentionDays: 1 });
    await createAuditActivities({ dir: await mkdtemp(join(tmpdir(), 'bulwark-audit-s3-')), s3Store: store }).appendAudit({ incidentId, records: entries(1) });
    // A fresh local directory: the chain restarts at seq 1 with other content.
    const other = createAuditActivities({ dir: await mkdtemp(join(tmpdir(), 'bulwark-audit-s3-')), s3Store: store });
    await expect(other.appendAudit({ incidentId, records: [{ ...entries(1)[0]!, id: 'other', detail: 'different' }] })).rejects.toThrow(/already holds a different record 1/);
  });
});

describe('incidents write to the bucket; `bulwark audit verify --source s3`', () => {
  let h: Harness;
  let workflowId: string;
  const env = () => ({ BULWARK_AUDIT_S3_BUCKET: bucket, BULWARK_AUDIT_DIR: h.config.audit.dir });

  beforeAll(async () => {
    const signingKey = (await aws.kms.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!.Arn!;
    h = await startHarness({ config: testConfig({ audit: { dir: await mkdtemp(join(tmpdir(), 'bulwark-audit-s3-')), s3Bucket: bucket, s3LockMode: 'GOVERNANCE', s3RetentionDays: 1, signingKeyId: signingKey } }) });
    const parsed = parseAlert(alertFor({ clientId: uniqueId('tpp') }, { type: 'anomaly.detected' }));
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
    ({ workflowId } = await new AlertDeliverer(h.client, h.config.temporal.taskQueue, playbookDefaults(h.config), { auditAnchors: true }).deliver(parsed.value));
    await waitForState(h.client, workflowId, (s) => s.status === 'contained');
  });
  afterAll(() => h?.close());

  it('verifies the chain from S3 (anchors checked with KMS), matching the local file', async () => {
    let r = await runCli(h, ['audit', 'verify', workflowId, '--source', 's3'], env());
    // The workflow appends audit records asynchronously to its state; wait for the chain to settle.
    for (let i = 0; i < 20 && r.code !== 0; i++) {
      await new Promise((res) => setTimeout(res, 500));
      r = await runCli(h, ['audit', 'verify', workflowId, '--source', 's3'], env());
    }
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/audit chain intact: \d+ record\(s\)/);
    expect(r.stdout).toMatch(/(\d+)\/\1 KMS anchor signature\(s\) valid/);
    expect(r.stdout).toContain(`s3://${bucket}/audit/${workflowId}/`);
    const local = await runCli(h, ['audit', 'verify', workflowId, '--json'], env());
    const s3 = await runCli(h, ['audit', 'verify', workflowId, '--source', 's3', '--json'], env());
    expect(JSON.parse(s3.stdout).chain.head).toEqual(JSON.parse(local.stdout).chain.head);
  });

  it('an overwritten record object fails verification, naming it', async () => {
    const key = auditObjectKey(workflowId, 2);
    await aws.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: '{"seq":2,"edited":true}' }));
    const r = await runCli(h, ['audit', 'verify', workflowId, '--source', 's3'], env());
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${key} (2 versions)`);
  });

  it('--source s3 without a bucket is a usage error', async () => {
    const r = await runCli(h, ['audit', 'verify', workflowId, '--source', 's3'], { BULWARK_AUDIT_DIR: h.config.audit.dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/BULWARK_AUDIT_S3_BUCKET/);
  });
});
