import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { parseAlert } from '../domain/alert.js';
import { DEFAULT_PLAYBOOK_SETTINGS } from '../domain/playbook.js';
import { playbookDefaults, type Config } from '../temporal.config.js';

export interface OpenedIncident {
  incidentId: string;
  deduplicated: boolean;
}

/**
 * Opens (or joins) incidents from inside the worker — a scanner's finding, a failed rotation — by
 * the same path as intake: the alert is validated, routed to a playbook from the configured catalog
 * and delivered with signalWithStart on `incident-<fingerprint>`, so a repeat joins the open
 * incident. Needs the worker's full config (Temporal connection, playbooks).
 */
export function createIncidentOpener(worker: Partial<Config> | undefined) {
  // Intake's client (connectClient) reports whether signalWithStart opened a new incident; the worker's own client does not.
  let client: Promise<Client> | undefined;
  return async function openIncidents(alerts: unknown[], observedAt: string, openedBy: string): Promise<OpenedIncident[]> {
    if (alerts.length === 0) return [];
    if (!worker?.temporal) throw ApplicationFailure.nonRetryable('opening incidents needs the worker’s Temporal configuration', 'NotConfigured');
    const full = worker as Config;
    const [{ AlertDeliverer }, catalogModule, { connectClient }] = await Promise.all([import('../intake/deliver.js'), import('../intake/playbook-catalog.js'), import('../intake/temporal-client.js')]);
    client ??= connectClient(full).catch((err) => {
      client = undefined;
      throw err;
    });
    const approvals = catalogModule.loadApprovals(full.playbooks?.approvalsFile ?? catalogModule.SHIPPED_APPROVALS_FILE);
    const { catalog } = catalogModule.PlaybookCatalog.fromDir(full.playbooks?.dir ?? catalogModule.SHIPPED_PLAYBOOKS_DIR, approvals);
    const deliverer = new AlertDeliverer(await client, Context.current().info.taskQueue, full.playbooks ? playbookDefaults(full) : DEFAULT_PLAYBOOK_SETTINGS, { catalog });
    const out: OpenedIncident[] = [];
    for (const alert of alerts) {
      const parsed = parseAlert(alert);
      if (!parsed.ok) throw ApplicationFailure.nonRetryable(`not a valid alert: ${parsed.errors.map((e) => `${e.field}: ${e.message}`).join('; ')}`, 'InvalidAlert');
      const d = await deliverer.deliver(parsed.value, observedAt, openedBy);
      out.push({ incidentId: d.incidentId, deduplicated: d.deduplicated });
    }
    return out;
  };
}

/** The opener as an activity, for workflows that raise incidents themselves (a failed rotation). */
export function createIncidentActivities(worker: Partial<Config> | undefined) {
  const open = createIncidentOpener(worker);
  return {
    async openIncidents(input: { alerts: unknown[]; observedAt: string; openedBy: string }): Promise<OpenedIncident[]> {
      return open(input.alerts, input.observedAt, input.openedBy);
    },
  };
}
