import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Command } from 'commander';
import { createAwsClients } from '../../activities/clients.js';
import { seedDemo } from '../../devstack/seed.js';
import { startMoto, startTemporal, type RunningServer } from '../../devstack/servers.js';
import { ensureTools } from '../../devstack/tools.js';
import { startIntake } from '../../intake/app.js';
import { assertDevUiCodecListen } from '../../intake/dev-ui-codec-access.js';
import { connectClient } from '../../intake/temporal-client.js';
import { createLogger } from '../../telemetry/logger.js';
import { ConfigError, type Config } from '../../temporal.config.js';
import { createBulwarkWorker } from '../../worker/worker.js';
import { configFrom, type GlobalOptions } from '../context.js';
import { CliError } from '../errors.js';
import { STATE_DIR, readDevState, writeDevState } from '../devstate.js';
import { untilSignalled } from './run.js';

interface DevOptions {
  temporalPort: string;
  uiPort: string;
  awsPort: string;
  intakePort: string;
}

const portOf = (name: string, value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`--${name} must be a port number, got "${value}"`);
  return n;
};

/**
 * With the payload codec on, the dev server's Web UI decodes payloads through the intake's codec
 * endpoint (intake/codec-server.ts). A server already running on the port is reused as it is.
 */
export function devUiCodecEndpoint(config: Pick<Config, 'codec'>, intakePort: number): string | undefined {
  return config.codec.enabled ? `http://127.0.0.1:${intakePort}/codec` : undefined;
}

/**
 * The codec settings `bulwark dev` adds for its own Web UI: CORS for the UI's two loopback origins
 * (unless BULWARK_CODEC_ALLOWED_ORIGINS says otherwise) and token-free access for exactly those
 * origins from loopback, since the dev UI has no login and cannot send the bearer token
 * (intake/dev-ui-codec-access.ts explains why that is safe only there).
 */
export function devUiCodecOverrides(uiPort: number, env: Record<string, string | undefined> = process.env): { codec: { devUiOrigins: string[]; allowedOrigins?: string[] } } {
  const devUiOrigins = [`http://127.0.0.1:${uiPort}`, `http://localhost:${uiPort}`];
  return { codec: { devUiOrigins, ...(env.BULWARK_CODEC_ALLOWED_ORIGINS ? {} : { allowedOrigins: devUiOrigins }) } };
}

export function registerDevCommand(program: Command): void {
  program
    .command('dev')
    .description('run the embedded stack: Temporal dev server, sandbox AWS (moto) seeded with a demo account, worker and intake')
    .option('--temporal-port <port>', 'Temporal gRPC port (env BULWARK_DEV_TEMPORAL_PORT)', process.env.BULWARK_DEV_TEMPORAL_PORT ?? '7233')
    .option('--ui-port <port>', 'Temporal Web UI port (env BULWARK_DEV_UI_PORT)', process.env.BULWARK_DEV_UI_PORT ?? '8233')
    .option('--aws-port <port>', 'sandbox AWS (moto) port (env BULWARK_DEV_AWS_PORT)', process.env.BULWARK_DEV_AWS_PORT ?? '4566')
    .option('--intake-port <port>', 'intake HTTP port (env BULWARK_INTAKE_PORT)', process.env.BULWARK_INTAKE_PORT ?? '8787')
    .addHelpText(
      'after',
      `
State lives in .bulwark/ (Temporal's SQLite database survives restarts; dev.json holds the sandbox
webhook secret for \`bulwark demo\`). Servers already running on the ports are reused.
The sandbox AWS is for demos and tests only: never point it at real credentials.`,
    )
    .action(async (o: DevOptions) => {
      const ports = {
        temporal: portOf('temporal-port', o.temporalPort),
        ui: portOf('ui-port', o.uiPort),
        aws: portOf('aws-port', o.awsPort),
        intake: portOf('intake-port', o.intakePort),
      };
      const say = (msg: string) => console.log(`bulwark dev: ${msg}`);
      const baseConfig = configFrom(program.opts<GlobalOptions>());
      const uiCodecEndpoint = devUiCodecEndpoint(baseConfig, ports.intake);
      // Refused before anything starts: the UI's token-free access must not reach the network.
      if (uiCodecEndpoint) {
        try {
          assertDevUiCodecListen(baseConfig.intake.host, devUiCodecOverrides(ports.ui).codec.devUiOrigins);
        } catch (err) {
          throw err instanceof ConfigError ? new CliError(err.message, 2) : err;
        }
      }
      await ensureTools({ onProgress: say });

      say('starting Temporal dev server and sandbox AWS…');
      const [temporal, moto] = await Promise.all([
        startTemporal({ port: ports.temporal, uiPort: ports.ui, dbFile: join(STATE_DIR, 'temporal.db'), uiCodecEndpoint }),
        startMoto({ port: ports.aws }),
      ]);
      const servers: RunningServer[] = [temporal, moto];
      const previous = await readDevState();
      const webhookSecret = process.env.BULWARK_WEBHOOK_SECRET ?? previous?.webhookSecret ?? randomBytes(24).toString('base64url');
      const config = configFrom(program.opts<GlobalOptions>(), {
        temporal: { address: `127.0.0.1:${ports.temporal}` },
        aws: { endpoint: `http://127.0.0.1:${ports.aws}` },
        intake: { port: ports.intake, webhookSecret },
        // The Web UI on its (possibly non-default) port must be able to call the codec endpoint.
        ...(uiCodecEndpoint ? devUiCodecOverrides(ports.ui) : {}),
      });

      say('seeding the sandbox AWS account…');
      const demo = await seedDemo(createAwsClients(config.aws), { clientTag: config.aws.clientTag, region: config.aws.region });

      const logger = createLogger(config.log.level, 'bulwark');
      const { worker } = await createBulwarkWorker({ config });
      const workerRun = worker.run();
      const client = await connectClient(config);
      const intake = await startIntake({ config, client, logger, webhookSecret });
      const temporalUi = `http://127.0.0.1:${ports.ui}`;
      await writeDevState({ intakeUrl: intake.url, temporalAddress: config.temporal.address, temporalUi, awsEndpoint: config.aws.endpoint!, webhookSecret, demo });

      const reused = servers.filter((s) => s.reused).length;
      console.log(`
  bulwark is running${reused ? ` (reused ${reused} server(s) already running)` : ''}

  Temporal UI     ${temporalUi}
  Temporal gRPC   ${config.temporal.address}  (namespace ${config.temporal.namespace}, task queue ${config.temporal.taskQueue})
  Sandbox AWS     ${config.aws.endpoint}  (moto; REST API ${demo.restApiId}, stage ${demo.stage}, clients ${demo.clients.map((c) => c.clientId).join(', ')})
  Intake          ${intake.url}/v1/alerts   health ${intake.url}/healthz   metrics ${intake.url}/metrics
  Webhook secret  ${webhookSecret}   (sandbox only; also in .bulwark/dev.json)

  Fire a demo alert (in another terminal):
    npm run demo                       compromised client acme-pay: keys disabled, secret rotated
    npm run demo -- --type abuse       abusive caller: POST /payments throttled, restored after 30 min

  Ctrl-C stops everything.
`);
      const signal = await untilSignalled();
      say(`${signal}: shutting down…`);
      await intake.close();
      // The SDK's own signal handler may already be draining the worker.
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await workerRun;
      await client.connection.close();
      for (const s of servers) await s.stop();
      say('stopped');
    });
}
