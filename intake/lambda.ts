import type { FieldError } from '../domain/alert.js';
import { isRecord, own } from '../domain/sources/common.js';
import { normaliseAny } from '../domain/sources/index.js';
import { createLogger, type Logger } from '../telemetry/logger.js';
import { loadConfig } from '../temporal.config.js';
import { createDeliverer } from './app.js';
import type { AlertDeliverer } from './deliver.js';
import { deliverAlerts, type AlertResult } from './sources.js';
import { connectClient } from './temporal-client.js';

/**
 * AWS Lambda entry point for alert sources that live in AWS:
 *  - EventBridge rules invoking the function directly (GuardDuty "GuardDuty Finding",
 *    Security Hub "Security Hub Findings - Imported" / "- Custom Action"),
 *  - SNS topics (`Records[].Sns.Message` holding either event, or an Alertmanager payload),
 *  - SQS queues (`Records[].body` holding either event, raw or as an SNS notification).
 * Every record goes through the same normalise → deliver path as the HTTP intake. A malformed
 * record is refused with its reason and the others still go through.
 *
 * Retries: SQS batches report failed records in `batchItemFailures` (enable ReportBatchItemFailures;
 * malformed records are listed too so a redrive policy moves them to the DLQ). For EventBridge and
 * SNS (asynchronous invocations) the handler throws when Temporal could not be reached, so Lambda
 * retries; malformed events are only logged — retrying cannot fix them.
 */
export interface RecordResult {
  /** Record id: SQS messageId, SNS MessageId, EventBridge event id, or the record's index. */
  record: string;
  ok: boolean;
  source?: string;
  alerts?: AlertResult[];
  reason?: 'invalid-alert' | 'invalid-json' | 'unsupported-event' | 'unavailable';
  errors?: FieldError[];
}

export interface HandlerSummary {
  /** Records whose every alert was delivered. */
  accepted: number;
  refused: number;
  results: RecordResult[];
  /** SQS partial-batch response (also filled for SNS records; Lambda only acts on it for SQS). */
  batchItemFailures: { itemIdentifier: string }[];
}

export interface HandlerDeps {
  /** An AlertDeliverer, or a factory for one (called once per container, on first use). */
  deliverer: AlertDeliverer | (() => Promise<AlertDeliverer>);
  logger?: Logger;
}

interface RawRecord {
  id: string;
  /** Where the payload came from; decides whether failures are reported or thrown. */
  kind: 'eventbridge' | 'sns' | 'sqs' | 'unknown';
  payload: { ok: true; value: unknown } | { ok: false; reason: RecordResult['reason']; errors: FieldError[] };
}

function parseJsonField(text: unknown, field: string): RawRecord['payload'] {
  if (typeof text !== 'string') return { ok: false, reason: 'invalid-json', errors: [{ field, message: 'expected a JSON string' }] };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    return { ok: false, reason: 'invalid-json', errors: [{ field, message: `not JSON: ${(err as Error).message}` }] };
  }
}

/** Splits a Lambda event into the payloads to normalise. */
export function recordsOf(event: unknown): RawRecord[] {
  const records = own(event, 'Records');
  if (Array.isArray(records)) {
    return records.map((r, i): RawRecord => {
      const sns = own(r, 'Sns');
      if (own(r, 'EventSource') === 'aws:sns' || isRecord(sns)) {
        const id = typeof own(sns, 'MessageId') === 'string' ? (own(sns, 'MessageId') as string) : String(i);
        return { id, kind: 'sns', payload: parseJsonField(own(sns, 'Message'), `Records[${i}].Sns.Message`) };
      }
      if (own(r, 'eventSource') === 'aws:sqs') {
        const id = typeof own(r, 'messageId') === 'string' ? (own(r, 'messageId') as string) : String(i);
        return { id, kind: 'sqs', payload: parseJsonField(own(r, 'body'), `Records[${i}].body`) };
      }
      return {
        id: String(i),
        kind: 'unknown',
        payload: { ok: false, reason: 'unsupported-event', errors: [{ field: `Records[${i}]`, message: 'expected an SNS or SQS record' }] },
      };
    });
  }
  if (isRecord(event) && own(event, 'detail-type') !== undefined) {
    const id = typeof own(event, 'id') === 'string' ? (own(event, 'id') as string) : '0';
    return [{ id, kind: 'eventbridge', payload: { ok: true, value: event } }];
  }
  return [
    {
      id: '0',
      kind: 'unknown',
      payload: { ok: false, reason: 'unsupported-event', errors: [{ field: '(root)', message: 'expected an EventBridge event or an SNS/SQS event with Records[]' }] },
    },
  ];
}

export function createHandler(deps: HandlerDeps): (event: unknown, context?: unknown) => Promise<HandlerSummary> {
  const logger = deps.logger ?? createLogger(undefined, 'bulwark-lambda');
  let deliverer: Promise<AlertDeliverer> | undefined;
  const getDeliverer = () => {
    if (typeof deps.deliverer !== 'function') return Promise.resolve(deps.deliverer);
    deliverer ??= deps.deliverer().catch((err) => {
      deliverer = undefined; // the next invocation tries again
      throw err;
    });
    return deliverer;
  };

  return async (event) => {
    const raw = recordsOf(event);
    const results = await Promise.all(
      raw.map(async (rec): Promise<RecordResult> => {
        if (!rec.payload.ok) return { record: rec.id, ok: false, reason: rec.payload.reason, errors: rec.payload.errors };
        const normalised = normaliseAny(rec.payload.value);
        if (!normalised.ok) {
          const unsupported = normalised.errors.some((e) => e.message.startsWith('unsupported event') || e.message.startsWith('unrecognised payload'));
          return { record: rec.id, ok: false, source: normalised.source, reason: unsupported ? 'unsupported-event' : 'invalid-alert', errors: normalised.errors };
        }
        try {
          const alerts = await deliverAlerts(await getDeliverer(), normalised.alerts);
          return { record: rec.id, ok: true, source: normalised.source, alerts };
        } catch (err) {
          logger.error({ record: rec.id, err: (err as Error).message }, 'record not delivered to Temporal');
          return { record: rec.id, ok: false, source: normalised.source, reason: 'unavailable', errors: [{ field: '(temporal)', message: (err as Error).message }] };
        }
      }),
    );
    const refused = results.filter((r) => !r.ok);
    for (const r of refused) if (r.reason !== 'unavailable') logger.warn({ record: r.record, reason: r.reason, errors: r.errors }, 'record refused');
    const summary: HandlerSummary = {
      accepted: results.length - refused.length,
      refused: refused.length,
      results,
      batchItemFailures: raw.flatMap((r, i) => ((r.kind === 'sqs' || r.kind === 'sns') && !results[i]!.ok ? [{ itemIdentifier: r.id }] : [])),
    };
    logger.info({ accepted: summary.accepted, refused: summary.refused }, 'lambda batch handled');
    const retryable = raw.some((r, i) => r.kind !== 'sqs' && results[i]!.reason === 'unavailable');
    if (retryable) throw new Error(`Temporal unreachable for ${refused.filter((r) => r.reason === 'unavailable').length} record(s); failing the invocation so Lambda retries it`);
    return summary;
  };
}

/** Builds the deliverer from the environment (same variables as the intake server), once per container. */
async function deliverFromEnv(): Promise<AlertDeliverer> {
  const config = loadConfig(process.env);
  const client = await connectClient(config);
  return createDeliverer(config, client, createLogger(config.log.level));
}

export const handler = createHandler({ deliverer: deliverFromEnv });
