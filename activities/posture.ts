import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { APIGatewayClient } from '@aws-sdk/client-api-gateway';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { WAFV2Client } from '@aws-sdk/client-wafv2';
import type { Alert } from '../domain/alert.js';
import { compareInventory, diffScans, type Finding, type ScanDiff } from '../domain/posture/compare.js';
import type { DeclaredInventory } from '../domain/posture/declared.js';
import { Scan } from '../domain/posture/inventory.js';
import { postSignedAlert } from '../intake/webhook-client.js';
import { toFailure } from './failures.js';
import type { ApiGatewayV2Client } from '@aws-sdk/client-apigatewayv2';
import { createInventoryActivities } from './inventory.js';

/**
 * The scheduled posture scan's side effects: scan, keep the scan in S3 so the next run can diff
 * against it, and post findings to intake as signed alerts.
 *
 * Why S3 and not workflow state: each scheduled run is a new workflow, and a scan of a large
 * account is hundreds of kilobytes — too big to carry through history, a memo or continue-as-new
 * on every run. An object per run plus a small pointer is durable beyond workflow retention, is
 * audit evidence in its own right, and keeps history to the findings and the diff.
 */

export interface PostureStore {
  bucket: string;
  /** Key prefix, one per schedule (`posture/<schedule id>`). */
  prefix: string;
}

export interface PostureScanOutcome {
  scannedAt: string;
  apis: number;
  endpoints: number;
  skipped: Scan['skipped'];
  stats: Scan['stats'];
  findings: Finding[];
  diff: ScanDiff;
  /** The run the diff is against (undefined on the first scan). */
  baselineRunKey?: string;
  storedAt: string;
}

export interface PostedAlert {
  dedupKey?: string;
  type: string;
  status: number;
  incidentId?: string;
  deduplicated?: boolean;
}

interface Pointer {
  runKey: string;
  previousRunKey?: string;
  scannedAt: string;
}

/** Run keys are workflow ids; keep S3 keys to a safe alphabet. */
const safe = (s: string) => s.replace(/[^A-Za-z0-9._-]/g, '_');

export function createPostureActivities({ apigw, apigw2, waf, s3, region, intake }: { apigw: APIGatewayClient; apigw2?: ApiGatewayV2Client; waf: WAFV2Client; s3: S3Client; region: string; intake?: { url?: string; webhookSecret?: string } }) {
  const inventory = createInventoryActivities({ apigw, ...(apigw2 ? { apigw2 } : {}), waf, region });

  async function getJson(bucket: string, key: string): Promise<unknown | undefined> {
    try {
      const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return JSON.parse(await r.Body!.transformToString());
    } catch (err) {
      const name = (err as { name?: string }).name;
      if (name === 'NoSuchKey') return undefined;
      if (name === 'NoSuchBucket') throw ApplicationFailure.nonRetryable(`posture state bucket ${bucket} does not exist: create it, or pass --state-bucket to \`bulwark inventory schedule\``, 'NoSuchBucket');
      throw toFailure(err, 'GetObject', `s3://${bucket}/${key}`);
    }
  }

  async function putJson(bucket: string, key: string, value: unknown): Promise<void> {
    try {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: JSON.stringify(value), ContentType: 'application/json' }));
    } catch (err) {
      if ((err as { name?: string }).name === 'NoSuchBucket') throw ApplicationFailure.nonRetryable(`posture state bucket ${bucket} does not exist`, 'NoSuchBucket');
      throw toFailure(err, 'PutObject', `s3://${bucket}/${key}`);
    }
  }

  return {
    ...inventory,

    /**
     * Scans, diffs against the previous run's scan and stores this one. Safe to retry: the pointer
     * remembers which run it replaced, so a retry after the store still diffs against that run
     * rather than against itself.
     */
    async runPostureScan(input: { runKey: string; declared?: DeclaredInventory; store: PostureStore }): Promise<PostureScanOutcome> {
      const { bucket, prefix } = input.store;
      const pointerKey = `${prefix}/latest.json`;
      const pointer = (await getJson(bucket, pointerKey)) as Pointer | undefined;
      const baselineRunKey = pointer?.runKey === input.runKey ? pointer.previousRunKey : pointer?.runKey;
      let previous: Scan | undefined;
      if (baselineRunKey) {
        const raw = await getJson(bucket, `${prefix}/runs/${safe(baselineRunKey)}.json`);
        const parsed = raw === undefined ? undefined : Scan.safeParse(raw);
        // An unreadable or foreign baseline is treated as "no previous scan", never as "everything removed".
        previous = parsed?.success ? parsed.data : undefined;
      }
      const scan = await inventory.scanApiInventory({ apis: input.declared?.scopeApis });
      const diff = diffScans(previous, scan);
      const findings = compareInventory(scan, input.declared, diff);
      const runObject = `${prefix}/runs/${safe(input.runKey)}.json`;
      await putJson(bucket, runObject, scan);
      await putJson(bucket, pointerKey, { runKey: input.runKey, ...(baselineRunKey ? { previousRunKey: baselineRunKey } : {}), scannedAt: scan.scannedAt } satisfies Pointer);
      return {
        scannedAt: scan.scannedAt,
        apis: scan.apis.length,
        endpoints: scan.endpoints.length,
        skipped: scan.skipped,
        stats: scan.stats,
        findings,
        diff,
        ...(previous && baselineRunKey ? { baselineRunKey } : {}),
        storedAt: `s3://${bucket}/${runObject}`,
      };
    },

    /**
     * Posts alerts to intake's /v1/alerts, signed like any detector, so findings take the normal
     * path (validation, dedupe by fingerprint, routing to a playbook). Progress is heartbeated: a
     * retried attempt resumes after the alerts already accepted instead of counting them twice.
     */
    async postPostureAlerts(input: { intakeUrl?: string; alerts: Alert[] }): Promise<{ results: PostedAlert[] }> {
      const url = input.intakeUrl ?? intake?.url;
      if (!url) throw ApplicationFailure.nonRetryable('no intake URL: pass one in the schedule input or set BULWARK_INTAKE_HOST/PORT on the worker', 'InvalidParameters');
      const secret = intake?.webhookSecret;
      if (!secret) throw ApplicationFailure.nonRetryable('the worker has no webhook secret (BULWARK_WEBHOOK_SECRET): it cannot sign alerts for intake', 'InvalidParameters');
      const ctx = Context.current();
      const done = (ctx.info.heartbeatDetails as { results?: PostedAlert[] } | undefined)?.results ?? [];
      const results = [...done];
      for (const alert of input.alerts.slice(results.length)) {
        let res: { status: number; body: unknown };
        try {
          res = await postSignedAlert(url, secret, alert);
        } catch (err) {
          throw ApplicationFailure.retryable(`intake at ${url} did not answer: ${(err as Error).message}`, 'IntakeUnavailable');
        }
        const body = (res.body ?? {}) as { incidentId?: string; deduplicated?: boolean; error?: string };
        if (res.status >= 500 || res.status === 429) throw ApplicationFailure.retryable(`intake answered ${res.status} for ${alert.type}`, 'IntakeUnavailable');
        if (res.status !== 202) throw ApplicationFailure.nonRetryable(`intake refused ${alert.type} (${alert.dedupKey}): ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`, 'IntakeRefused');
        results.push({ dedupKey: alert.dedupKey, type: alert.type, status: res.status, incidentId: body.incidentId, deduplicated: body.deduplicated });
        ctx.heartbeat({ results });
      }
      return { results };
    },
  };
}

export type PostureActivities = ReturnType<typeof createPostureActivities>;
