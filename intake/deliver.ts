import type { Client } from '@temporalio/client';
import type { Alert, Severity } from '../domain/alert.js';
import { fingerprint, incidentWorkflowId } from '../domain/fingerprint.js';
import type { AlertDelivery, IncidentInput } from '../domain/incident.js';
import { maxSeverity, type PlaybookDefaults } from '../domain/playbook.js';
import { incidentsOpened } from '../telemetry/metrics.js';
import { alertsSignal } from '../workflows/definitions.js';
import type { incidentWorkflow } from '../workflows/incident.js';
import { signalWithStartReportingStart } from './temporal-client.js';

export interface Delivered {
  incidentId: string;
  workflowId: string;
  deduplicated: boolean;
}

interface Waiter {
  alert: Alert;
  receivedAt: string;
  resolve: (d: Delivered) => void;
  reject: (e: unknown) => void;
}

/**
 * Delivers alerts to their incident with signalWithStart on `incident-<fingerprint>`.
 *
 * Storms: one signal per duplicate would hit Temporal's per-workflow signal and history limits, so
 * duplicates are coalesced. The first alert for a fingerprint goes out at once (no added latency);
 * alerts for the same fingerprint that arrive while that call is in flight wait and go out together
 * as one signal carrying their count. A caller gets its 202 only after the signal that carries its
 * alert is durably in Temporal, so an accepted alert is never lost.
 */
export class AlertDeliverer {
  private readonly inFlight = new Map<string, Waiter[]>();

  constructor(
    private readonly client: Client,
    private readonly taskQueue: string,
    private readonly defaults: PlaybookDefaults,
    private readonly historyLimit?: number,
  ) {}

  deliver(alert: Alert, receivedAt = new Date().toISOString(), openedBy = `alert:${alert.source}`): Promise<Delivered> {
    const fp = fingerprint(alert);
    return new Promise<Delivered>((resolve, reject) => {
      const waiter = { alert, receivedAt, resolve, reject };
      const queue = this.inFlight.get(fp);
      if (queue) {
        queue.push(waiter);
        return;
      }
      this.inFlight.set(fp, []);
      void this.send(fp, [waiter], openedBy);
    });
  }

  private async send(fp: string, batch: Waiter[], openedBy: string): Promise<void> {
    const workflowId = incidentWorkflowId(fp);
    const first = batch[0]!;
    const delivery: AlertDelivery = {
      count: batch.length,
      firstReceivedAt: first.receivedAt,
      lastReceivedAt: batch[batch.length - 1]!.receivedAt,
      highestSeverity: batch.reduce<Severity>((s, w) => maxSeverity(s, w.alert.severity), first.alert.severity),
      sources: [...new Set(batch.map((w) => w.alert.source))].slice(0, 10),
    };
    const input: IncidentInput = { incidentId: workflowId, fingerprint: fp, alert: first.alert, openedBy, defaults: this.defaults, historyLimit: this.historyLimit };
    try {
      const { started } = await signalWithStartReportingStart(() =>
        this.client.workflow.signalWithStart<typeof incidentWorkflow, [AlertDelivery]>('incidentWorkflow', {
          workflowId,
          taskQueue: this.taskQueue,
          args: [input],
          signal: alertsSignal,
          signalArgs: [delivery],
        }),
      );
      if (started) incidentsOpened.inc();
      batch.forEach((w, i) => w.resolve({ incidentId: workflowId, workflowId, deduplicated: !(started && i === 0) }));
    } catch (err) {
      batch.forEach((w) => w.reject(err));
    } finally {
      const waiting = this.inFlight.get(fp) ?? [];
      if (waiting.length > 0) {
        this.inFlight.set(fp, []);
        void this.send(fp, waiting, openedBy);
      } else {
        this.inFlight.delete(fp);
      }
    }
  }
}
