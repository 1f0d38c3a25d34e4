import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { CreateBucketCommand, HeadBucketCommand } from '@aws-sdk/client-s3';
import { ScheduleAlreadyRunning, ScheduleNotFoundError, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import { createAwsClients } from '../../activities/clients.js';
import { createInventoryActivities } from '../../activities/inventory.js';
import { compareInventory, diffScans, findingAlerts, type Finding, type ScanDiff } from '../../domain/posture/compare.js';
import { parseDeclaredInventory, type DeclaredInventory } from '../../domain/posture/declared.js';
import { Scan } from '../../domain/posture/inventory.js';
import { inventoryRows, renderInventoryHtml } from '../../domain/posture/report.js';
import { formatYamlError } from '../../domain/yaml-file.js';
import { postSignedAlert } from '../../intake/webhook-client.js';
import type { PostureScanInput } from '../../workflows/posture.js';
import { clientFor, configFrom, type GlobalOptions } from '../context.js';
import { readDevState } from '../devstate.js';
import { CliError, explain, usageError } from '../errors.js';
import { plainTable } from '../render.js';

/**
 * `bulwark inventory`: the API inventory and shadow-endpoint scan (docs/posture.md). `scan` runs
 * in this process (read-only AWS calls); `schedule` makes a Temporal Schedule run the same scan
 * daily in the worker, diffing against the previous run and posting findings to intake.
 */

export const DEFAULT_POSTURE_SCHEDULE_ID = 'posture-scan';
export const DEFAULT_POSTURE_BUCKET = 'bulwark-posture';
const MEMO_POSTURE = 'bulwarkPosture';

export function readDeclared(file: string): DeclaredInventory {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw usageError(`cannot read ${file}: ${(err as Error).message}`);
  }
  const parsed = parseDeclaredInventory(text, file);
  if (!parsed.ok) throw usageError(`invalid declared inventory:\n${parsed.errors.map((e) => `  ${formatYamlError(e)}`).join('\n')}`);
  return parsed.inventory;
}

function readPrevious(file: string): Scan {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw usageError(`cannot read ${file} as JSON: ${(err as Error).message}`);
  }
  // Accept both a bare scan and the `--format json` output that wraps it.
  const candidate = (raw as { scan?: unknown })?.scan ?? raw;
  const r = Scan.safeParse(candidate);
  if (!r.success) throw usageError(`${file} is not a scan from \`bulwark inventory scan --format json\` (${r.error.issues[0]?.path.join('.') || '(root)'}: ${r.error.issues[0]?.message})`);
  return r.data;
}

function renderTable(scan: Scan, declared: DeclaredInventory | undefined, findings: Finding[], diff: ScanDiff | undefined): string {
  const out: string[] = [];
  const t = plainTable(['endpoint', 'auth', 'throttling', 'usage plans', 'WAF', 'logging', ...(declared ? ['owner', 'class'] : [])]);
  for (const r of inventoryRows(scan, declared)) t.push([r.endpoint, r.auth, r.throttling, r.usagePlans, r.waf, r.logging, ...(declared ? [r.owner, r.classification] : [])]);
  out.push(scan.endpoints.length ? t.toString() : 'no API endpoints found');
  out.push(`${scan.apis.length} API(s) (${scan.apis.filter((a) => a.apiType === 'http').length} HTTP), ${scan.endpoints.length} endpoint(s) in ${scan.region}; ${scan.stats.apiCalls} AWS calls in ${scan.stats.durationMs} ms`);
  for (const s of scan.skipped) out.push(`skipped: ${s.what} — ${s.reason}`);
  if (scan.endpoints.some((e) => e.protections.waf.status === 'unknown')) {
    const reason = scan.endpoints.find((e) => e.protections.waf.status === 'unknown')!.protections.waf as { reason: string };
    out.push(`WAF association unknown: ${reason.reason}`);
  }
  if (diff) {
    const changes = [
      ...diff.newEndpoints.map((k) => `  + ${k}`),
      ...diff.removedEndpoints.map((k) => `  - ${k}`),
      ...diff.removedProtections.map((r) => `  ! ${r.key}: lost ${r.lost.join(', ')}`),
      ...diff.addedProtections.map((r) => `  ✓ ${r.key}: gained ${r.gained.join(', ')}`),
    ];
    out.push('', `since ${diff.previousScannedAt ?? 'the previous scan'}: ${changes.length ? '' : 'no changes'}`, ...changes);
  }
  if (!declared) {
    out.push('', 'no declared inventory (--declared inventory.yaml): shadow and unprotected endpoints are not assessed');
  } else if (findings.length === 0) {
    out.push('', 'no findings');
  } else {
    const f = plainTable(['finding', 'severity', 'endpoint', 'owner', 'problems']);
    for (const x of findings) f.push([x.kind, x.severity, x.key, x.owner ?? '', x.problems.join('; ')]);
    out.push('', `${findings.length} finding(s):`, f.toString());
  }
  return out.join('\n');
}

/** Where `--alert` posts and with which secret: flags, then env/config, then the dev stack's state file. */
async function intakeTarget(config: ReturnType<typeof configFrom>, flagUrl?: string): Promise<{ url: string; secret: string }> {
  const dev = await readDevState();
  const url = flagUrl ?? dev?.intakeUrl ?? `http://${config.intake.host}:${config.intake.port}`;
  const secret = config.intake.webhookSecret ?? dev?.webhookSecret;
  if (!secret) throw usageError('--alert needs the intake webhook secret: set BULWARK_WEBHOOK_SECRET (or run the dev stack, `npm start`)');
  return { url, secret };
}

export function registerInventoryCommands(program: Command): void {
  const globals = () => program.opts<GlobalOptions>();
  const inventory = program.command('inventory').description('API inventory: what is deployed in API Gateway, how each endpoint is protected, shadow and unprotected endpoints');

  inventory
    .command('scan')
    .description('walk API Gateway (REST and HTTP APIs) and report every endpoint’s protections; compare with a declared inventory')
    .option('-d, --declared <file>', 'declared inventory (inventory.yaml): endpoints, owners, data classification')
    .option('-f, --format <format>', 'table | json | html', 'table')
    .option('-o, --out <file>', 'write the report to a file instead of stdout')
    .option('--previous <file>', 'an earlier `--format json` output: report what changed since (new endpoints, removed protections)')
    .option('--api <name...>', 'only these APIs (HTTP APIs: name or id; default: the declared scope, else every REST and HTTP API)')
    .option('--alert', 'send each finding to intake as a signed posture.* alert (deduplicated there)')
    .option('--intake-url <url>', 'intake for --alert (default: the dev stack, else BULWARK_INTAKE_HOST/PORT)')
    .option('--fail-on-findings', 'exit 1 when there are findings (for CI)')
    .addHelpText(
      'after',
      `
Protections per endpoint: authorization (IAM, Lambda/Cognito authorizer) and API key, method and
stage throttling (and usage-plan throttles for API-key methods), usage plans and their enabled keys,
WAF web ACL on the stage (or "unknown" when WAF cannot be asked), access and execution logging.
HTTP APIs (apigatewayv2): routes with JWT/IAM/Lambda authorization, default and per-route stage
throttling, access logs; WAF is "not supported for HTTP APIs". WebSocket APIs are skipped (said so).

Findings (with --declared): shadow-endpoint (deployed, not declared), unprotected-endpoint (a
payment, account-data or personal-data endpoint without authentication or throttling),
missing-endpoint (declared, not deployed), protection-removed (with --previous).

Examples:
  bulwark inventory scan --declared inventory.yaml
  bulwark inventory scan --declared inventory.yaml --format html --out posture.html
  bulwark inventory scan --format json --out scan.json && bulwark inventory scan --previous scan.json
  bulwark inventory scan --declared inventory.yaml --alert            # findings → incidents
  bulwark inventory scan --declared inventory.yaml --fail-on-findings # CI gate`,
    )
    .action(async (o: { declared?: string; format: string; out?: string; previous?: string; api?: string[]; alert?: boolean; intakeUrl?: string; failOnFindings?: boolean }) => {
      if (!['table', 'json', 'html'].includes(o.format)) throw usageError(`--format must be table, json or html (got "${o.format}")`);
      const declared = o.declared ? readDeclared(o.declared) : undefined;
      const previous = o.previous ? readPrevious(o.previous) : undefined;
      const config = configFrom(globals());
      const aws = createAwsClients(config.aws);
      const { scanApiInventory } = createInventoryActivities({ apigw: aws.apigw, apigw2: aws.apigw2, waf: aws.waf, region: config.aws.region });
      let scan: Scan;
      try {
        scan = await scanApiInventory({ apis: o.api ?? declared?.scopeApis });
      } catch (err) {
        throw new CliError(`the scan failed: ${(err as Error).message}${config.aws.endpoint ? ` (AWS endpoint ${config.aws.endpoint})` : ''}`);
      }
      const diff = previous ? diffScans(previous, scan) : undefined;
      const findings = compareInventory(scan, declared, diff);
      const report =
        o.format === 'json'
          ? JSON.stringify({ scan, ...(declared ? { declared } : {}), findings, ...(diff ? { diff } : {}) }, null, 2)
          : o.format === 'html'
            ? renderInventoryHtml({ scan, declared, findings, diff, declaredFile: o.declared })
            : renderTable(scan, declared, findings, diff);
      if (o.out) {
        writeFileSync(o.out, report);
        console.error(`wrote ${o.out} (${scan.endpoints.length} endpoint(s), ${findings.length} finding(s))`);
      } else {
        console.log(report);
      }
      if (o.alert && findings.length > 0) {
        const target = await intakeTarget(config, o.intakeUrl);
        const alerts = findingAlerts(findings, { source: 'bulwark-inventory-scan', observedAt: new Date().toISOString(), diff });
        for (const alert of alerts) {
          const res = await postSignedAlert(target.url, target.secret, alert).catch((err: Error) => {
            throw new CliError(`intake at ${target.url} did not answer (${err.message}): is it running?`);
          });
          const body = res.body as { incidentId?: string; deduplicated?: boolean };
          if (res.status !== 202) throw new CliError(`intake refused ${alert.type} for ${String(alert.details?.endpoint)}: ${res.status} ${JSON.stringify(res.body)}`);
          console.error(`alert ${alert.type} ${String(alert.details?.endpoint)} → ${body.deduplicated ? 'joined' : 'opened'} ${body.incidentId}`);
        }
      } else if (o.alert) {
        console.error('no findings: nothing sent to intake');
      }
      if (o.failOnFindings && findings.length > 0) throw new CliError(`${findings.length} posture finding(s)`);
    });

  inventory
    .command('schedule')
    .description('create or update the Temporal Schedule that runs the scan (in the worker), diffs it with the previous run and posts findings')
    .option('--cron <expr>', 'when, as a 5-field cron expression in UTC', '0 6 * * *')
    .option('-d, --declared <file>', 'declared inventory, pinned into the schedule (re-run after editing it)', undefined)
    .option('--id <scheduleId>', 'schedule id', DEFAULT_POSTURE_SCHEDULE_ID)
    .option('--state-bucket <bucket>', 'S3 bucket where each run keeps its scan for the next run’s diff', DEFAULT_POSTURE_BUCKET)
    .option('--intake-url <url>', 'intake the worker posts findings to (default: the worker’s BULWARK_INTAKE_HOST/PORT)')
    .option('--no-alert', 'scan, diff and store only; post nothing')
    .option('--paused', 'create or leave the schedule paused')
    .option('--trigger', 'also run a scan now')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      `
The worker posts findings signed with its BULWARK_WEBHOOK_SECRET; a finding seen again on the next
run joins its open incident (counted as a repeat) instead of opening a new one. The state bucket
must exist (it is created on the sandbox).

Examples:
  bulwark inventory schedule --declared inventory.yaml                    # daily at 06:00 UTC
  bulwark inventory schedule --declared inventory.yaml --cron '0 */6 * * *' --trigger
  bulwark schedule list   # rotation schedules only; see the Temporal UI for posture-scan`,
    )
    .action(async (o: { cron: string; declared?: string; id: string; stateBucket: string; intakeUrl?: string; alert: boolean; paused?: boolean; trigger?: boolean; json?: boolean }) => {
      if (!/^\S+(\s+\S+){4}$/.test(o.cron.trim())) throw usageError(`--cron must have 5 fields (minute hour day-of-month month day-of-week), got "${o.cron}"`);
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/.test(o.id)) throw usageError('--id: expected letters, digits, . _ -');
      const declared = o.declared ? readDeclared(o.declared) : undefined;
      const config = configFrom(globals());
      await ensureBucket(config, o.stateBucket);
      const input: PostureScanInput = {
        ...(declared ? { declared } : {}),
        store: { bucket: o.stateBucket, prefix: `posture/${o.id}` },
        alert: o.alert,
        ...(o.intakeUrl ? { intakeUrl: o.intakeUrl } : {}),
      };
      const client = await clientFor(config);
      try {
        const result = await upsertPostureSchedule(client, config.temporal.taskQueue, o.id, o.cron.trim(), input, { paused: o.paused });
        if (o.trigger) await client.schedule.getHandle(o.id).trigger(ScheduleOverlapPolicy.SKIP);
        const d = await client.schedule.getHandle(o.id).describe();
        const next = d.info.nextActionTimes[0]?.toISOString();
        if (o.json) console.log(JSON.stringify({ scheduleId: o.id, action: result, cron: o.cron.trim(), nextRun: next, triggered: Boolean(o.trigger), declaredEndpoints: declared?.endpoints.length ?? 0 }));
        else console.log(`${o.id}: ${result} (cron ${o.cron.trim()} UTC${next ? `, next run ${next}` : ''}${d.state.paused ? ', paused' : ''})${o.trigger ? '; a scan was triggered now' : ''}${declared ? `; ${declared.endpoints.length} declared endpoint(s) pinned` : '; no declared inventory: only diffs are reported'}`);
      } catch (err) {
        if (err instanceof CliError) throw err;
        throw new CliError(explain(err, { temporalAddress: config.temporal.address }));
      } finally {
        await client.connection.close();
      }
    });
}

async function ensureBucket(config: ReturnType<typeof configFrom>, bucket: string): Promise<void> {
  const { s3 } = createAwsClients(config.aws);
  try {
    await s3.send(new HeadBucketCommand({ Bucket: bucket }));
    return;
  } catch (err) {
    const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
    if (e.name !== 'NotFound' && e.name !== 'NoSuchBucket' && e.$metadata?.httpStatusCode !== 404) throw new CliError(`cannot check state bucket ${bucket}: ${e.name ?? (err as Error).message}`);
  }
  // Creating buckets in a real account is an infrastructure decision; only the sandbox gets one made for it.
  if (!config.aws.endpoint) throw new CliError(`state bucket ${bucket} does not exist: create it (private, with a lifecycle rule for posture/*/runs/) or pass --state-bucket`);
  await s3.send(new CreateBucketCommand({ Bucket: bucket, ...(config.aws.region !== 'us-east-1' ? { CreateBucketConfiguration: { LocationConstraint: config.aws.region as 'eu-west-1' } } : {}) }));
}

/** Creates the schedule, or updates its cron and input when it exists. */
export async function upsertPostureSchedule(client: Client, taskQueue: string, scheduleId: string, cron: string, input: PostureScanInput, opts: { paused?: boolean } = {}): Promise<'created' | 'updated'> {
  const options = {
    spec: { cronExpressions: [cron] },
    action: { type: 'startWorkflow' as const, workflowType: 'postureScanWorkflow', taskQueue, workflowId: `${scheduleId}-run`, args: [input] },
    // A scan still running when the next is due is not doubled; a missed run within an hour is caught up.
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: 3_600_000 },
  };
  try {
    await client.schedule.create({ scheduleId, ...options, state: { paused: Boolean(opts.paused), note: 'bulwark inventory schedule' }, memo: { [MEMO_POSTURE]: true } });
    return 'created';
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
  }
  const handle = client.schedule.getHandle(scheduleId);
  try {
    await handle.update((prev) => ({ ...options, state: { paused: opts.paused ?? prev.state.paused, note: 'bulwark inventory schedule' } }));
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) throw new CliError(`schedule ${scheduleId} vanished while updating it; run the command again`);
    throw err;
  }
  return 'updated';
}
