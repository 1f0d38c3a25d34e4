import type { Command } from 'commander';
import { GetApiKeyCommand } from '@aws-sdk/client-api-gateway';
import { DescribeSecretCommand } from '@aws-sdk/client-secrets-manager';
import { createAwsClients } from '../../activities/clients.js';
import type { Alert } from '../../domain/alert.js';
import type { IncidentState } from '../../domain/incident.js';
import { postSignedAlert } from '../../intake/webhook-client.js';
import { stateQuery } from '../../workflows/definitions.js';
import { clientFor, configFrom, type GlobalOptions } from '../context.js';
import { readDevState, type DevState } from '../devstate.js';
import { CliError, usageError } from '../errors.js';
import { renderIncident, timelineLine } from '../render.js';

function demoAlert(state: DevState, type: string, severity: string, clientId: string): Alert {
  const demo = state.demo;
  if (!demo) throw new CliError('the dev stack has no demo account yet: restart `npm start`');
  const observedAt = new Date().toISOString();
  if (type === 'credential') {
    return { source: 'demo', type: 'credential.compromised', severity: severity as Alert['severity'], observedAt, subject: { clientId }, details: { note: 'bulwark demo: client credentials seen in a public paste' } };
  }
  if (type === 'abuse') {
    return {
      source: 'demo',
      type: 'endpoint.abuse',
      severity: severity as Alert['severity'],
      observedAt,
      // The abusive caller is known by the endpoint it hammers, not as one of our clients: naming a
      // client here would correlate the alert into that client's open incident instead.
      subject: { endpoint: { restApiId: demo.restApiId, stage: demo.stage, resourcePath: '/payments', httpMethod: 'POST' } },
      details: { note: 'bulwark demo: 40x normal request rate on POST /payments' },
    };
  }
  throw usageError('--type must be credential or abuse');
}

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('fire a signed demo alert at the running dev stack and watch the incident contain it')
    .option('-t, --type <type>', 'credential (disable keys + rotate secret) or abuse (throttle POST /payments)', 'credential')
    .option('-s, --severity <level>', 'low | medium | high | critical (low/medium wait for `incident contain`)', 'high')
    .option('-c, --client <clientId>', 'demo client for credential alerts: acme-pay, birch-fintech or cobalt-data', 'acme-pay')
    .option('--no-follow', 'send the alert and exit without watching')
    .addHelpText('after', '\nNeeds `npm start` running in another terminal (it writes .bulwark/dev.json).')
    .action(async (o: { type: string; severity: string; client: string; follow: boolean }) => {
      const dev = await readDevState();
      if (!dev) throw new CliError('no dev stack found: run `npm start` in another terminal first');
      const alert = demoAlert(dev, o.type, o.severity, o.client);
      const about = alert.subject.clientId ? `client ${alert.subject.clientId}` : `${alert.subject.endpoint?.httpMethod} ${alert.subject.endpoint?.resourcePath}`;
      console.log(`POST ${dev.intakeUrl}/v1/alerts  (${alert.type}, ${alert.severity}, ${about})`);
      const res = await postSignedAlert(dev.intakeUrl, dev.webhookSecret, alert).catch((err: Error) => {
        throw new CliError(`intake at ${dev.intakeUrl} did not answer (${err.message}): is \`npm start\` running?`);
      });
      console.log(`→ ${res.status} ${JSON.stringify(res.body)}`);
      if (res.status !== 202) throw new CliError('the alert was not accepted');
      const { workflowId } = res.body as { workflowId: string };
      if (!o.follow) return;

      const config = configFrom({ ...program.opts<GlobalOptions>(), address: program.opts<GlobalOptions>().address ?? dev.temporalAddress });
      const client = await clientFor(config);
      const handle = client.workflow.getHandle(workflowId);
      let shown = 0;
      let state: IncidentState | undefined;
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline) {
        state = await handle.query(stateQuery);
        for (const e of state.timeline.slice(shown)) console.log(timelineLine(e));
        shown = state.timeline.length;
        if (!['containing'].includes(state.status)) break;
        await new Promise((r) => setTimeout(r, 250));
      }
      if (!state) return;
      console.log(`\n${renderIncident(state).split('\n').slice(0, 3).join('\n')}`);
      await showAwsEvidence(dev, state);
      console.log(`\nNext: npm run bulwark -- incident show ${workflowId}`);
      if (state.status === 'awaiting-containment') console.log(`      npm run bulwark -- incident contain ${workflowId}`);
      console.log(`      npm run bulwark -- incident resolve ${workflowId}`);
      if (dev.temporalUi) console.log(`      ${dev.temporalUi}/namespaces/${config.temporal.namespace}/workflows/${workflowId}`);
    });
}

/** Reads the sandbox back so the demo shows AWS really changed, not just what the workflow says. */
async function showAwsEvidence(dev: DevState, state: IncidentState): Promise<void> {
  const aws = createAwsClients({ region: dev.demo?.region ?? 'eu-west-1', endpoint: dev.awsEndpoint, clientTag: 'bulwark:client-id', maxAttempts: 2 });
  const lines: string[] = [];
  for (const step of state.steps) {
    const out = step.output as Record<string, unknown> | undefined;
    for (const key of (out?.keys as { apiKeyId: string }[] | undefined) ?? []) {
      const k = await aws.apigw.send(new GetApiKeyCommand({ apiKey: key.apiKeyId }));
      lines.push(`API key ${k.id} (${k.name}): enabled=${k.enabled}`);
    }
    for (const r of (out?.rotations as { secretArn: string }[] | undefined) ?? []) {
      const d = await aws.sm.send(new DescribeSecretCommand({ SecretId: r.secretArn }));
      lines.push(`secret ${d.Name}: ${Object.entries(d.VersionIdsToStages ?? {}).map(([v, s]) => `${v.slice(0, 8)}…=${s.join('+')}`).join(', ')}`);
    }
  }
  if (lines.length) console.log(`\nread back from sandbox AWS (${dev.awsEndpoint}):\n  ${lines.join('\n  ')}`);
}
