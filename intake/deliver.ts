import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Alert, Severity } from '../domain/alert.js';
import { fingerprint, incidentWorkflowId } from '../domain/fingerprint.js';
import type { AlertDelivery, IncidentInput } from '../domain/incident.js';
import { maxSeverity, type PlaybookDefaults } from '../domain/playbook.js';
import { incidentsOpened } from '../telemetry/metrics.js';
import { alertsSignal } from '../workflows/definitions.js';
import type { incidentWorkflow } from '../workflows/incident.js';
import { CLIENT_ID_ATTRIBUTE, clientAttributeValue, type ClientCorrelator } from './correlation.js';
import { shippedCatalog, type PlaybookCatalog } from './playbook-catalog.js';
import { signalWithStartReportingStart } from './temporal-client.js';
import { enrichAlert, type AlertEnricher } from './intel.js';

export interface DelivererOptions {
  /** Continue-as-new threshold for new incidents (tests lower it). */
  historyLimit?: number;
  /** Routes alerts to playbooks; the shipped catalog unless a configured one is given. */
  catalog?: PlaybookCatalog;
  /** Joins alerts naming a client to that client's open incident; off when absent. */
  correlator?: ClientCorrelator;
  /** New incidents keep a Slack message up to date (the worker must have Slack configured). */
  slack?: boolean;
  /** New incidents have their audit chain signed by KMS (the worker must have a signing key). */
  auditAnchors?: boolean;
  /** Enriches alerts from threat-intel feeds before routing (intake/intel.ts). */
  intel?: AlertEnricher;
}

export interface Delivered {
  incidentId: string;
  workflowId: string;
  deduplicated: boolean;
  /** The alert joined another incident of the same client (not its own fingerprint's). */
  correlated?: boolean;
}

/** The answer to a `resolved` notification: attached to the open incident, or nothing to attach to. */
export interface ResolvedDelivered {
  incidentId: string;
  workflowId: string;
  attached: boolean;
  reason?: 'no open incident';
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
  /** Resolved notifications waiting for an in-flight firing delivery of the same fingerprint. */
  private readonly idleWaiters = new Map<string, (() => void)[]>();

  constructor(
    private readonly client: Client,
    private readonly taskQueue: string,
    private readonly defaults: PlaybookDefaults,
    private readonly opts: DelivererOptions = {},
  ) {
    this.catalog = opts.catalog ?? shippedCatalog();
    this.correlator = opts.correlator;
  }

  private readonly catalog: PlaybookCatalog;
  private readonly correlator?: ClientCorrelator;

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
    // Planned here, not in the workflow: the plan in the input pins the playbook version the
    // incident runs with, whatever is deployed later. (Ignored when the incident already exists.)
    // Threat intel (issue 9): a source IP on a loaded feed adds details.intel, which routing sees.
    const alert = await enrichAlert(this.opts.intel, first.alert);
    const { plan, routing } = this.catalog.plan(alert, this.defaults);
    const input: IncidentInput = { incidentId: workflowId, fingerprint: fp, alert, openedBy, defaults: this.defaults, plan, routing, historyLimit: this.opts.historyLimit, slack: this.opts.slack, auditAnchors: this.opts.auditAnchors };
    try {
      const clientId = first.alert.subject.clientId;
      const joined = clientId && this.correlator ? await this.joinClientIncident(clientId, workflowId, fp, delivery, first.alert.type) : undefined;
      if (joined) {
        batch.forEach((w) => w.resolve({ incidentId: joined, workflowId: joined, deduplicated: true, correlated: true }));
        return;
      }
      const { started } = await signalWithStartReportingStart(() =>
        this.client.workflow.signalWithStart<typeof incidentWorkflow, [AlertDelivery]>('incidentWorkflow', {
          workflowId,
          taskQueue: this.taskQueue,
          args: [input],
          signal: alertsSignal,
          signalArgs: [delivery],
          ...(clientId && this.correlator?.windowSeconds ? { typedSearchAttributes: [{ key: CLIENT_ID_ATTRIBUTE, value: clientAttributeValue(clientId) }] } : {}),
        }),
      );
      if (started) incidentsOpened.inc();
      if (started && clientId) this.correlator?.remember(clientId, workflowId);
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
        const idle = this.idleWaiters.get(fp);
        this.idleWaiters.delete(fp);
        idle?.forEach((wake) => wake());
      }
    }
  }

  /**
   * Signals the client's open incident (another fingerprint) when there is one; undefined when the
   * alerts should go to their own incident. A closed-meanwhile incident falls back to that too.
   */
  private async joinClientIncident(clientId: string, own: string, fp: string, delivery: AlertDelivery, type: string): Promise<string | undefined> {
    if (!(await this.correlator!.enabled())) return undefined;
    // Alerts for an incident that already exists under its own fingerprint stay there.
    const target = await this.correlator!.findOpen(clientId, own);
    if (!target) return undefined;
    try {
      await this.client.workflow.getHandle(target).signal(alertsSignal, { ...delivery, correlated: { type, clientId, fingerprint: fp } });
      return target;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) {
        this.correlator!.forget(clientId);
        return undefined;
      }
      throw err;
    }
  }

  /**
   * A `resolved` notification never starts an incident: it is a plain signal to the open one,
   * carried as a delivery whose `resolved === count` (the workflow records 'alert.resolved' and
   * changes nothing else). With no open incident for the fingerprint it attaches to nothing.
   * It waits for an in-flight firing delivery of the same fingerprint, so "fire then resolve"
   * sent back to back is seen in that order.
   */
  async deliverResolved(alert: Alert, receivedAt = new Date().toISOString()): Promise<ResolvedDelivered> {
    const fp = fingerprint(alert);
    const workflowId = incidentWorkflowId(fp);
    if (this.inFlight.has(fp)) {
      await new Promise<void>((wake) => this.idleWaiters.set(fp, [...(this.idleWaiters.get(fp) ?? []), wake]));
    }
    const delivery: AlertDelivery = {
      count: 1,
      resolved: 1,
      firstReceivedAt: receivedAt,
      lastReceivedAt: receivedAt,
      highestSeverity: alert.severity,
      sources: [alert.source],
    };
    try {
      await this.client.workflow.getHandle(workflowId).signal(alertsSignal, delivery);
      return { incidentId: workflowId, workflowId, attached: true };
    } catch (err) {
      // Temporal answers NOT_FOUND both for an id never used and for a closed run.
      if (err instanceof WorkflowNotFoundError) return { incidentId: workflowId, workflowId, attached: false, reason: 'no open incident' };
      throw err;
    }
  }

  /** Firing alerts open or join their incident; resolved ones only attach (see deliverResolved). */
  deliverAlert(alert: Alert, receivedAt = new Date().toISOString()): Promise<Delivered | ResolvedDelivered> {
    return alert.status === 'resolved' ? this.deliverResolved(alert, receivedAt) : this.deliver(alert, receivedAt);
  }
}
