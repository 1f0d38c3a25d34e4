import { createHash } from 'node:crypto';
import {
  CreateBucketCommand,
  GetObjectCommand,
  GetObjectLockConfigurationCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  PutObjectCommand,
  type BucketLocationConstraint,
  type ObjectLockMode,
  type S3Client,
} from '@aws-sdk/client-s3';
import { ApplicationFailure } from '@temporalio/common';
import type { AuditRecord } from '../domain/audit.js';
import { call } from './failures.js';

/**
 * The optional second audit store (issue 8 §2): every audit record is also written to an S3 bucket
 * with Object Lock, one object per record at `audit/<incidentId>/<seq, 10 digits>.json`, each under a
 * retention (COMPLIANCE: nobody, root included, can delete or shorten it; GOVERNANCE: only callers
 * with s3:BypassGovernanceRetention). S3 never overwrites a version: a second PUT to a key makes a
 * new version and the locked original stays, so verification reads every version and treats a key
 * with more than one as tampering.
 *
 * Writes are idempotent: a record whose object already holds the same bytes is not written again;
 * different bytes at the same seq fail the append without retry (the two stores disagree).
 */

export type AuditLockMode = 'COMPLIANCE' | 'GOVERNANCE';

export interface S3AuditStoreOptions {
  s3: S3Client;
  bucket: string;
  mode: AuditLockMode;
  retentionDays: number;
  now?: () => Date;
}

export const auditObjectKey = (incidentId: string, seq: number) => `audit/${incidentId}/${String(seq).padStart(10, '0')}.json`;

const sha256 = (body: string) => createHash('sha256').update(body).digest('hex');

export interface S3AuditRead {
  records: unknown[];
  /** Keys written more than once: the locked original (oldest version) is what `records` holds. */
  overwritten: { key: string; versions: number }[];
}

export function createS3AuditStore(opts: S3AuditStoreOptions) {
  const { s3, bucket } = opts;
  const now = opts.now ?? (() => new Date());

  async function existing(key: string): Promise<string | undefined> {
    try {
      const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return head.Metadata?.['sha256'] ?? '';
    } catch (err) {
      const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
      if (e.name === 'NotFound' || e.$metadata?.httpStatusCode === 404) return undefined;
      throw err;
    }
  }

  return {
    bucket,
    /** Writes each record as its own locked object; already-written identical records are skipped. */
    async putRecords(incidentId: string, records: AuditRecord[]): Promise<{ written: number; skipped: number }> {
      let written = 0;
      let skipped = 0;
      for (const record of records) {
        const key = auditObjectKey(incidentId, record.seq);
        const body = JSON.stringify(record);
        const digest = sha256(body);
        const have = await call('s3:HeadObject', `s3://${bucket}/${key}`, () => existing(key));
        if (have === digest) {
          skipped++;
          continue;
        }
        if (have !== undefined) {
          throw ApplicationFailure.nonRetryable(`the S3 audit store already holds a different record ${record.seq} for ${incidentId} (s3://${bucket}/${key}): the local chain and the locked copy disagree`, 'AuditStoreConflict');
        }
        const retainUntil = new Date(now().getTime() + opts.retentionDays * 86_400_000);
        await call('s3:PutObject', `s3://${bucket}/${key}`, () =>
          s3.send(
            new PutObjectCommand({
              Bucket: bucket,
              Key: key,
              Body: body,
              ContentType: 'application/json',
              Metadata: { sha256: digest },
              ObjectLockMode: opts.mode as ObjectLockMode,
              ObjectLockRetainUntilDate: retainUntil,
            }),
          ),
        );
        written++;
      }
      return { written, skipped };
    },

    /** Every record of the incident in seq order, from the oldest (locked) version of each object. */
    async readRecords(incidentId: string): Promise<S3AuditRead> {
      const prefix = `audit/${incidentId}/`;
      // S3 lists each key's versions newest first: the last one listed is the original write.
      const versions = new Map<string, string[]>();
      let KeyMarker: string | undefined;
      let VersionIdMarker: string | undefined;
      do {
        const page = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: prefix, KeyMarker, VersionIdMarker }));
        for (const v of page.Versions ?? []) {
          const list = versions.get(v.Key!) ?? [];
          list.push(v.VersionId!);
          versions.set(v.Key!, list);
        }
        KeyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
        VersionIdMarker = page.IsTruncated ? page.NextVersionIdMarker : undefined;
      } while (KeyMarker);
      const records: unknown[] = [];
      const overwritten: S3AuditRead['overwritten'] = [];
      for (const key of [...versions.keys()].sort()) {
        const list = versions.get(key)!;
        if (list.length > 1) overwritten.push({ key, versions: list.length });
        const obj = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, VersionId: list[list.length - 1]! }));
        const text = await obj.Body!.transformToString();
        try {
          records.push(JSON.parse(text));
        } catch {
          records.push({ unparsable: text.slice(0, 200) });
        }
      }
      return { records, overwritten };
    },
  };
}

export type S3AuditStore = ReturnType<typeof createS3AuditStore>;

/**
 * Creates the bucket with Object Lock enabled (only possible at creation) — for the dev stack and
 * tests; in production the bucket is provisioned by infrastructure code. An existing bucket must
 * already have Object Lock enabled.
 */
export async function ensureAuditBucket(s3: S3Client, bucket: string, region: string): Promise<void> {
  try {
    const lock = await s3.send(new GetObjectLockConfigurationCommand({ Bucket: bucket }));
    if (lock.ObjectLockConfiguration?.ObjectLockEnabled !== 'Enabled') throw new Error(`bucket ${bucket} exists without Object Lock: audit records there could be deleted`);
    return;
  } catch (err) {
    const e = err as { name?: string };
    if (e.name !== 'NoSuchBucket') throw err;
  }
  await s3.send(
    new CreateBucketCommand({
      Bucket: bucket,
      ObjectLockEnabledForBucket: true,
      ...(region === 'us-east-1' ? {} : { CreateBucketConfiguration: { LocationConstraint: region as BucketLocationConstraint } }),
    }),
  );
}

/** The configured S3 audit store, or undefined when `audit.s3Bucket` is not set. */
export function s3AuditStoreFromConfig(clients: { s3: S3Client }, audit: { s3Bucket?: string; s3LockMode?: AuditLockMode; s3RetentionDays?: number } | undefined): S3AuditStore | undefined {
  if (!audit?.s3Bucket) return undefined;
  return createS3AuditStore({ s3: clients.s3, bucket: audit.s3Bucket, mode: audit.s3LockMode ?? 'COMPLIANCE', retentionDays: audit.s3RetentionDays ?? 2555 });
}
