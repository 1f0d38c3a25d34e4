import type { Command } from 'commander';
import { connectClient } from '../../intake/temporal-client.js';
import { startIntake } from '../../intake/app.js';
import { createLogger } from '../../telemetry/logger.js';
import { createBulwarkWorker } from '../../worker/worker.js';
import { configFrom, type GlobalOptions } from '../context.js';
import { CliError, explain } from '../errors.js';

/** Resolves when the process is asked to stop (Ctrl-C or SIGTERM). */
export function untilSignalled(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (sig: NodeJS.Signals) => resolve(sig);
    process.once('SIGINT', on);
    process.once('SIGTERM', on);
  });
}

export function registerRunCommands(program: Command): void {
  const globals = () => program.opts<GlobalOptions>();

  program
    .command('worker')
    .description('run a worker: executes incident workflows and their AWS activities (scale out by running more)')
    .action(async () => {
      const config = configFrom(globals());
      const logger = createLogger(config.log.level, 'bulwark-worker');
      const { worker } = await createBulwarkWorker({ config }).catch((err) => {
        throw new CliError(explain(err, { temporalAddress: config.temporal.address }));
      });
      logger.info({ taskQueue: config.temporal.taskQueue, namespace: config.temporal.namespace }, 'worker polling');
      const running = worker.run();
      void untilSignalled().then(() => {
        if (worker.getState() === 'RUNNING') worker.shutdown();
      });
      await running;
      logger.info('worker stopped');
    });

  program
    .command('serve')
    .description('run the intake HTTP server: POST /v1/alerts, GET /healthz, GET /metrics')
    .option('-p, --port <port>', 'listen port (env BULWARK_INTAKE_PORT)')
    .option('--host <host>', 'listen address (env BULWARK_INTAKE_HOST)')
    .addHelpText('after', '\nThe webhook secret comes from BULWARK_WEBHOOK_SECRET (at least 16 characters).')
    .action(async (o: { port?: string; host?: string }) => {
      const intake: Record<string, unknown> = {};
      if (o.port) intake.port = o.port;
      if (o.host) intake.host = o.host;
      const config = configFrom(globals(), { intake });
      if (!config.intake.webhookSecret) throw new CliError('set BULWARK_WEBHOOK_SECRET (at least 16 characters) so alerts can be verified', 2);
      const logger = createLogger(config.log.level, 'bulwark-intake');
      const client = await connectClient(config).catch((err) => {
        throw new CliError(explain(err, { temporalAddress: config.temporal.address }));
      });
      const intakeServer = await startIntake({ config, client, logger, webhookSecret: config.intake.webhookSecret });
      logger.info({ url: intakeServer.url }, 'intake listening');
      await untilSignalled();
      await intakeServer.close();
    });
}
