import { Command, CommanderError } from 'commander';
import { registerAuditCommands, registerReportCommand } from './commands/audit.js';
import { registerDemoCommand } from './commands/demo.js';
import { registerDevCommand } from './commands/dev.js';
import { registerIamCommands } from './commands/iam.js';
import { registerIncidentCommands } from './commands/incident.js';
import { registerInventoryCommands } from './commands/inventory.js';
import { registerPlaybookCommands } from './commands/playbook.js';
import { registerRegulatorCommands } from './commands/regulators.js';
import { registerRotateCommands } from './commands/rotate.js';
import { registerRunCommands } from './commands/run.js';
import { registerScheduleCommands } from './commands/schedule.js';
import { registerIntelCommands } from './commands/intel.js';
import { registerCertCommands } from './commands/cert.js';
import { CliError, explain } from './errors.js';

/** `bulwark`: exit 0 ok, 1 failure, 2 usage error; errors are one line unless --verbose. */
export function buildProgram(): Command {
  const program = new Command('bulwark')
    .description('Durable incident response for financial APIs: contain compromised clients and abusive callers on AWS, with Temporal.')
    .option('-v, --verbose', 'print stack traces with errors')
    .option('--address <host:port>', 'Temporal frontend (env TEMPORAL_ADDRESS, default 127.0.0.1:7233)')
    .option('--namespace <ns>', 'Temporal namespace (env TEMPORAL_NAMESPACE, default "default")')
    .option('--task-queue <name>', 'task queue (env BULWARK_TASK_QUEUE, default "bulwark")')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .addHelpText(
      'after',
      `
Getting started:
  npm start                    the embedded stack: Temporal dev server, sandbox AWS, worker, intake
  npm run demo                 in a second terminal: fire a signed alert and watch it contained
  bulwark incident list        what is open

Environment: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*, AWS_REGION,
AWS_ENDPOINT_URL, BULWARK_WEBHOOK_SECRET, BULWARK_INTAKE_PORT … (README: Configuration).`,
    );
  registerDevCommand(program);
  registerRunCommands(program);
  registerDemoCommand(program);
  registerIncidentCommands(program);
  registerReportCommand(program);
  registerAuditCommands(program);
  registerPlaybookCommands(program);
  registerRegulatorCommands(program);
  registerRotateCommands(program);
  registerScheduleCommands(program);
  registerIntelCommands(program);
  // After rotate: also adds `rotate cert <name>`.
  registerCertCommands(program);
  registerInventoryCommands(program);
  registerIamCommands(program);
  for (const cmd of program.commands) cmd.exitOverride().showHelpAfterError('(run with --help for usage)');
  for (const cmd of program.commands.flatMap((c) => c.commands)) cmd.exitOverride().showHelpAfterError('(run with --help for usage)');
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version are exits with code 0; everything else commander raises is a usage error.
      return err.exitCode === 0 ? 0 : 2;
    }
    const verbose = program.opts<{ verbose?: boolean }>().verbose || argv.includes('--verbose') || argv.includes('-v');
    const code = err instanceof CliError ? err.exitCode : 1;
    console.error(`bulwark: ${err instanceof CliError ? err.message : explain(err)}`);
    if (verbose && err instanceof Error) console.error(err.stack);
    return code;
  }
}
