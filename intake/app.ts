import type { Server } from 'node:http';
import type { Client } from '@temporalio/client';
import { playbookDefaults, type Config } from '../temporal.config.js';
import type { Logger } from '../telemetry/logger.js';
import { ClientCorrelator } from './correlation.js';
import { AlertDeliverer } from './deliver.js';
import { loadSourceSettings } from './sources.js';
import { describeErrors, fileLabel, loadApprovals, PlaybookCatalog, SHIPPED_APPROVALS_FILE, SHIPPED_PLAYBOOKS_DIR } from './playbook-catalog.js';
import { createIntakeServer, listen } from './server.js';
import { createSlackHandler } from './slack-app.js';
import { codecHandlerFromConfig } from './codec-server.js';
import { createCrlHandler } from './crl.js';
import { createAwsClients } from '../activities/clients.js';
import { configuredIntel } from './intel.js';

export interface RunningIntake {
  server: Server;
  url: string;
  close(): Promise<void>;
}

/** Starts the intake HTTP server on config.intake.host:port (port 0 picks a free one). */
export async function startIntake(opts: { config: Config; client: Client; logger: Logger; webhookSecret: string; nowSeconds?: () => number; catalog?: PlaybookCatalog }): Promise<RunningIntake> {
  const { config } = opts;
  const ownCatalog = !opts.catalog;
  const catalog = opts.catalog ?? configuredCatalog(config, opts.logger, { watch: true });
  const deliverer = createDeliverer(config, opts.client, opts.logger, catalog);
  const sources = await loadSourceSettings(config);
  // Slack (issue 6): POST /slack/events only when the app is configured; 404 otherwise.
  const slack = config.slack.botToken && config.slack.signingSecret ? createSlackHandler({ config, client: opts.client, deliverer, logger: opts.logger, nowSeconds: opts.nowSeconds }) : undefined;
  const server = createIntakeServer({
    client: opts.client,
    deliverer,
    webhookSecret: opts.webhookSecret,
    maxBodyBytes: config.intake.maxBodyBytes,
    sources,
    slack,
    codec: codecHandlerFromConfig(config),
    crl: createCrlHandler({ settings: config.certificates, s3: config.certificates.crlBucket ? createAwsClients(config.aws).s3 : undefined }),
    logger: opts.logger,
    nowSeconds: opts.nowSeconds,
  });
  // Alert storms open many short connections at once; the default backlog is too small for that.
  server.maxConnections = 10_000;
  const address = await listen(server, config.intake.port, config.intake.host);
  return {
    server,
    url: `http://${address.address}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        if (ownCatalog) catalog.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * The catalog from config, logging what loaded and what was refused. Invalid files are reported
 * and left out; the rest serve (alerts no playbook matches open triage incidents).
 */
export function configuredCatalog(config: Config, logger: Logger, opts: { watch?: boolean } = {}): PlaybookCatalog {
  const approvals = loadApprovals(config.playbooks.approvalsFile ?? SHIPPED_APPROVALS_FILE);
  const { catalog, result } = PlaybookCatalog.fromDir(config.playbooks.dir ?? SHIPPED_PLAYBOOKS_DIR, approvals);
  const report = (r: typeof result) => {
    logger.info({ playbooks: r.loaded.map(fileLabel) }, `playbooks in service: ${r.loaded.length}`);
    if (r.errors.length) logger.error(`playbooks refused:\n${describeErrors(r.errors)}${r.kept.length ? `\nprevious versions kept in service: ${r.kept.join(', ')}` : ''}`);
  };
  report(result);
  if (opts.watch) catalog.watch(report);
  return catalog;
}

/** The deliverer every entry point uses (HTTP intake, Lambda, CLI): configured playbooks and client correlation. */
export function createDeliverer(config: Config, client: Client, logger: Logger, catalog: PlaybookCatalog = configuredCatalog(config, logger)): AlertDeliverer {
  const correlator = new ClientCorrelator(client, config.temporal.namespace, config.intake.correlationWindowSeconds, logger);
  return new AlertDeliverer(client, config.temporal.taskQueue, playbookDefaults(config), { catalog, correlator, slack: Boolean(config.slack.channel && config.slack.botToken), auditAnchors: Boolean(config.audit.signingKeyId), intel: configuredIntel(config, logger) });
}
