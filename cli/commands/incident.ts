import type { Command } from 'commander';
import type { WorkflowHandle } from '@temporalio/client';
import type { Alert } from '../../domain/alert.js';
import { operatorAlert as buildOperatorAlert, OperatorAlertError, type OperatorIncident } from '../../domain/operator-alert.js';
import { parseDurationSeconds } from '../../domain/duration.js';
import { parseSetting } from '../../domain/approval-changes.js';
import { normaliseIncidentId } from '../../domain/fingerprint.js';
import { createDeliverer } from '../../intake/app.js';
import { listIncidents } from '../../intake/incident-list.js';
import { createLogger } from '../../telemetry/logger.js';
import { abortUpdate, approveUpdate, containUpdate, extendUpdate, rejectUpdate, resolveUpdate, retryUpdate, skipUpdate, stateQuery } from '../../workflows/definitions.js';
import { clientFor, configFrom, operator, type GlobalOptions } from '../context.js';
import { CliError, explain, usageError } from '../errors.js';
import { renderIncident, renderList } from '../render.js';

interface OpenOptions extends OperatorIncident {
  as?: string;
  json?: boolean;
}

/** The CLI's operator incident: the shared builder, with its errors as usage errors. */
export function operatorAlert(o: OpenOptions): Alert {
  try {
    return buildOperatorAlert({ ...o, by: operator(o.as) });
  } catch (err) {
    if (err instanceof OperatorAlertError) throw usageError(err.message);
    throw err;
  }
}

/** Temporal's WorkflowExecutionStatus codes, as `incident list` shows closed runs. */

export function registerIncidentCommands(program: Command): void {
  const globals = () => program.opts<GlobalOptions>();
  const incident = program.command('incident').description('open, inspect, contain, extend and resolve incidents');

  incident
    .command('open')
    .description('open an incident by hand: the same path and playbooks as an alert')
    .requiredOption('-t, --type <type>', 'credential | abuse | key | offboard | aws-credential, or any dotted alert type (no matching playbook → triage)')
    .option('-s, --severity <level>', 'low | medium | high | critical (low/medium wait for `incident contain`)', 'high')
    .option('--client <clientId>', 'the third-party client whose keys and secrets are compromised')
    .option('--api-key <id>', 'one API Gateway API key id')
    .option('--secret <id>', 'one Secrets Manager secret name or ARN')
    .option('--rest-api <id>', 'abused REST API id (abuse)')
    .option('--stage <name>', 'abused stage (abuse)', undefined)
    .option('--resource <path>', 'abused resource path, e.g. /payments (abuse; default: whole stage)')
    .option('--method <verb>', 'abused HTTP method (abuse; default: all)')
    .option('--kms-key <id>', 'KMS key id or alias (key)')
    .option('--access-key <id>', 'IAM access key id, AKIA… (aws-credential)')
    .option('--iam-user <name>', 'IAM user owning the access key (aws-credential)')
    .option('--iam-role <name>', 'IAM role whose sessions to revoke (aws-credential)')
    .option('--user-pool <id>', 'Cognito user pool of the client’s app client (offboard)')
    .option('--app-client <id>', 'Cognito app client id (offboard)')
    .option('--as <operator>', 'who is opening it (default: $BULWARK_OPERATOR or $USER)')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExamples:\n  bulwark incident open --type credential --client acme-pay\n  bulwark incident open --type abuse --rest-api a1b2c3 --stage prod --resource /payments --method POST --severity medium')
    .action(async (o: OpenOptions) => {
      const alert = operatorAlert(o);
      const config = configFrom(globals());
      const client = await clientFor(config);
      const deliverer = createDeliverer(config, client, createLogger('silent'));
      const delivered = await deliverer.deliver(alert, undefined, `operator:${operator(o.as)}`).catch((err) => {
        throw new CliError(explain(err, { temporalAddress: config.temporal.address }));
      });
      if (o.json) console.log(JSON.stringify(delivered));
      else console.log(`${delivered.deduplicated ? 'attached to open incident' : 'opened'} ${delivered.incidentId}\n  follow it: bulwark incident show ${delivered.incidentId}`);
    });

  incident
    .command('list')
    .description('incidents, newest first (open ones by default)')
    .option('-a, --all', 'include resolved incidents')
    .option('-n, --limit <n>', 'at most this many', '50')
    .option('--json', 'print JSON')
    .action(async (o: { all?: boolean; limit: string; json?: boolean }) => {
      const config = configFrom(globals());
      const client = await clientFor(config);
      const limit = Number(o.limit);
      if (!Number.isInteger(limit) || limit < 1) throw usageError('--limit must be a positive whole number');
      let listed;
      try {
        listed = await listIncidents(client, { all: o.all, limit });
      } catch (err) {
        throw new CliError(explain(err, { temporalAddress: config.temporal.address }));
      }
      const { rows, unreadable } = listed;
      if (unreadable) console.error(`bulwark: ${unreadable} incident(s) have memos this client cannot decode (payload codec key?); shown without details`);
      console.log(o.json ? JSON.stringify(rows, null, 2) : renderList(rows));
    });

  incident
    .command('show <id>')
    .description('an incident’s status, steps and timeline (id: incident-<fingerprint> or the bare fingerprint)')
    .option('--json', 'print the full incident state as JSON (for scripts)')
    .action(async (id: string, o: { json?: boolean }) => {
      const state = await withIncident(id, (h) => h.query(stateQuery));
      console.log(o.json ? JSON.stringify(state, null, 2) : renderIncident(state));
    });

  incident
    .command('contain <id>')
    .description('start containment of a low/medium incident that is waiting for an operator')
    .option('--as <operator>', 'who approves (default: $BULWARK_OPERATOR or $USER)')
    .option('--reason <text>', 'why, for the timeline')
    .action(async (id: string, o: { as?: string; reason?: string }) => {
      const status = await withIncident(id, (h) => h.executeUpdate(containUpdate, { args: [{ by: operator(o.as), reason: o.reason }] }));
      console.log(`containment ran: ${status}`);
    });

  incident
    .command('extend <id>')
    .description('keep temporary limits (throttling) in place longer')
    .requiredOption('--ttl <duration>', 'from now: 90s, 30m, 2h, 1d')
    .option('--as <operator>', 'who extends (default: $BULWARK_OPERATOR or $USER)')
    .action(async (id: string, o: { ttl: string; as?: string }) => {
      let ttlSeconds: number;
      try {
        ttlSeconds = parseDurationSeconds(o.ttl);
      } catch (err) {
        throw usageError(`--ttl: ${(err as Error).message}`);
      }
      const until = await withIncident(id, (h) => h.executeUpdate(extendUpdate, { args: [{ by: operator(o.as), ttlSeconds }] }));
      console.log(`temporary limits now restore at ${until}`);
    });

  incident
    .command('resolve <id>')
    .description('close an incident; temporary limits are restored first')
    .option('--as <operator>', 'who resolves (default: $BULWARK_OPERATOR or $USER)')
    .option('--reason <text>', 'why, for the timeline')
    .action(async (id: string, o: { as?: string; reason?: string }) => {
      const status = await withIncident(id, (h) => h.executeUpdate(resolveUpdate, { args: [{ by: operator(o.as), reason: o.reason }] }));
      console.log(`${normaliseIncidentId(id)}: ${status}`);
    });

  incident
    .command('approve <id> <step>')
    .description('approve a step that waits for approval (see `incident show`); answers when the step has run')
    .option('--as <operator>', 'who approves (default: $BULWARK_OPERATOR or $USER); not whoever opened the incident')
    .option('--comment <text>', 'for the timeline')
    .option('--set <param=value>', 'approve with changes: a tuning parameter to change (repeatable), e.g. --set rateLimit=5; checked against the action’s schema', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .action(async (id: string, step: string, o: { as?: string; comment?: string; set: string[] }) => {
      let changes: Record<string, string | number | boolean> | undefined;
      for (const text of o.set) {
        const parsed = parseSetting(text);
        if ('error' in parsed) throw usageError(parsed.error);
        changes = { ...changes, [parsed.param]: parsed.value };
      }
      const status = await withIncident(id, (h) => h.executeUpdate(approveUpdate, { args: [{ step, by: operator(o.as), reason: o.comment, ...(changes ? { changes } : {}) }] }));
      console.log(`${step}: ${status}`);
    });

  incident
    .command('reject <id> <step>')
    .description('reject a step that waits for approval: it does not run (onFailure: compensate undoes earlier steps)')
    .requiredOption('--reason <text>', 'why, for the timeline (required)')
    .option('--as <operator>', 'who rejects (default: $BULWARK_OPERATOR or $USER)')
    .action(async (id: string, step: string, o: { as?: string; reason: string }) => {
      const status = await withIncident(id, (h) => h.executeUpdate(rejectUpdate, { args: [{ step, by: operator(o.as), reason: o.reason }] }));
      console.log(`${step}: ${status}`);
    });

  incident
    .command('retry <id> <step>')
    .description('run a failed step again once its cause is fixed; the playbook then goes on (answers when the step has run)')
    .option('--as <operator>', 'who retries (default: $BULWARK_OPERATOR or $USER)')
    .option('--reason <text>', 'for the timeline')
    .action(async (id: string, step: string, o: { as?: string; reason?: string }) => {
      const status = await withIncident(id, (h) => h.executeUpdate(retryUpdate, { args: [{ step, by: operator(o.as), reason: o.reason }] }));
      console.log(`${step}: ${status}`);
    });

  incident
    .command('skip <id> <step>')
    .description('skip a failed or rejected step and let the playbook go on')
    .requiredOption('--reason <text>', 'why, for the timeline (required)')
    .option('--as <operator>', 'who skips (default: $BULWARK_OPERATOR or $USER)')
    .action(async (id: string, step: string, o: { as?: string; reason: string }) => {
      const status = await withIncident(id, (h) => h.executeUpdate(skipUpdate, { args: [{ step, by: operator(o.as), reason: o.reason }] }));
      console.log(`${step}: ${status}`);
    });

  incident
    .command('abort <id>')
    .description('stop the playbook, undo reversible steps (last first) and close the incident as aborted')
    .requiredOption('--reason <text>', 'why, for the timeline (required)')
    .option('--as <operator>', 'who aborts (default: $BULWARK_OPERATOR or $USER)')
    .action(async (id: string, o: { as?: string; reason: string }) => {
      const status = await withIncident(id, (h) => h.executeUpdate(abortUpdate, { args: [{ by: operator(o.as), reason: o.reason }] }));
      console.log(`${normaliseIncidentId(id)}: ${status}`);
    });

  async function withIncident<T>(id: string, fn: (h: WorkflowHandle) => Promise<T>): Promise<T> {
    const config = configFrom(globals());
    const client = await clientFor(config);
    try {
      return await fn(client.workflow.getHandle(normaliseIncidentId(id)));
    } catch (err) {
      throw new CliError(explain(err, { temporalAddress: config.temporal.address }));
    }
  }
}

