import { existsSync, readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { ScheduleAlreadyRunning, ScheduleNotFoundError, ScheduleOverlapPolicy, WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import { createAwsClients } from '../../activities/clients.js';
import { createCertificateActivities } from '../../activities/certificates.js';
import {
  CERT_SCAN_SCHEDULE_ID,
  CERT_SCAN_WORKFLOW_ID,
  certificateNameOf,
  certificateWorkflowId,
  cronPeriodSeconds,
  IssueRequest,
  REVOCATION_REASONS,
  type CertificateMetadata,
  type RevocationReason,
} from '../../domain/certificates/model.js';
import { parseDurationSeconds } from '../../domain/duration.js';
import { parseRotationFile } from '../../domain/rotation/policy.js';
import type { CertificateScanInput, CertificateScanResult, CertificateWorkflowInput, CertificateWorkflowResult } from '../../workflows/certificate.js';
import { clientFor, configFrom, operator, type GlobalOptions } from '../context.js';
import { CliError, explain, usageError } from '../errors.js';
import { plainTable } from '../render.js';

/**
 * `bulwark cert`: the private CA's certificates — issue, revoke, list, show, and the expiry scan
 * (once, or as a Temporal Schedule). Also adds `bulwark rotate cert <name>` (renew, or --emergency
 * re-issue) to the rotate command. Every change runs as the certificate's workflow
 * (`certificate-<name>`), so two never run at once for one certificate.
 */

const REASONS = Object.keys(REVOCATION_REASONS) as RevocationReason[];

function parseReason(s: string | undefined, fallback: RevocationReason): RevocationReason {
  const r = s ?? fallback;
  if (!(REASONS as string[]).includes(r)) throw usageError(`--reason must be one of ${REASONS.join(', ')}`);
  return r as RevocationReason;
}

function nameArg(ref: string): string {
  const name = certificateNameOf(ref);
  if (!name) throw usageError(`<name> must be a certificate name (lower-case letters, digits, . and -) or its secret bulwark/certificates/<name>, got "${ref}"`);
  return name;
}

async function runCertificate(client: Client, taskQueue: string, input: CertificateWorkflowInput, wait: boolean): Promise<{ workflowId: string; started: boolean; result?: CertificateWorkflowResult }> {
  const workflowId = certificateWorkflowId(nameArg(input.certificate));
  let started = true;
  try {
    await client.workflow.start('certificateWorkflow', { taskQueue, workflowId, args: [input], workflowIdConflictPolicy: 'FAIL', workflowIdReusePolicy: 'ALLOW_DUPLICATE' });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    started = false;
    process.stderr.write(`a workflow for this certificate is already running (${workflowId}): not starting another${wait ? '; waiting for it' : ''}\n`);
  }
  if (!wait) return { workflowId, started };
  try {
    return { workflowId, started, result: (await client.workflow.getHandle(workflowId).result()) as CertificateWorkflowResult };
  } catch (err) {
    let e = err as { cause?: unknown; message?: string };
    while (e?.cause) e = e.cause as typeof e;
    throw new CliError(`${input.action} of ${input.certificate} failed: ${e?.message ?? String(err)}`);
  }
}

function certLine(c: CertificateMetadata): string {
  return `${c.name}: serial ${c.serial}, ${c.subject}, valid ${c.notBefore} → ${c.notAfter}, renew at ${c.renewAt}, SHA-256 ${c.fingerprint}`;
}

function printResult(r: CertificateWorkflowResult, json?: boolean): void {
  if (json) {
    console.log(JSON.stringify(r, null, 2));
    return;
  }
  const lines: string[] = [];
  if (r.outcome === 'not-due') lines.push(`${r.name}: not due for renewal until ${r.certificate!.renewAt} (--force renews now)`);
  else if (r.certificate && r.outcome !== 'revoked' && r.outcome !== 'already-revoked') lines.push(`${r.outcome} ${certLine(r.certificate)}`);
  if (r.ca?.created) lines.push(`created CA ${r.ca.ca} (KMS key ${r.ca.keyArn})`);
  if (r.revoked) lines.push(`${r.outcome === 'already-revoked' ? 'already revoked' : 'revoked'}: serial ${r.revoked.serial} (${r.revoked.reason})`);
  if (r.crl) lines.push(`CRL ${r.crl.crlNumber} (${r.crl.entries} revoked) published to ${r.crl.location}`);
  console.log(lines.join('\n'));
}

/** The secrets of a rotation policy file and how often each should rotate (cron cadences approximated: see cronPeriodSeconds). */
export function secretPoliciesFrom(text: string): NonNullable<CertificateScanInput['secretPolicies']> {
  const parsed = parseRotationFile(text);
  if (!parsed.ok) throw usageError(`invalid rotation policy file:\n${parsed.errors.map((e) => `  - ${e.field}: ${e.message}`).join('\n')}`);
  return parsed.file.policies.flatMap((p) => {
    if (!('secret' in p.target)) return [];
    const cadenceSeconds = 'every' in p.cadence ? parseDurationSeconds(p.cadence.every) : cronPeriodSeconds(p.cadence.cron);
    return [{ policy: p.name, secret: p.target.secret, cadenceSeconds }];
  });
}

function renderScan(r: CertificateScanResult): string {
  const t = plainTable(['kind', 'name', 'status', 'due', 'expires', 'action']);
  const order = { expired: 0, overdue: 1, expiring: 2, ok: 3 };
  for (const f of [...r.findings].sort((a, b) => order[a.status] - order[b.status] || a.name.localeCompare(b.name))) t.push([f.kind, f.name, f.status, f.dueAt, f.expiresAt ?? '', f.action ?? '']);
  const c = r.counts;
  return `${r.findings.length ? t.toString() : 'nothing to scan: no certificates and no secret policies'}\n${c.expired} expired, ${c.overdue} overdue, ${c.expiring} expiring, ${c.ok} ok (as of ${r.scannedAt}); ${r.renewed.length} renewal(s), ${r.incidents.length} incident(s)`;
}

export function registerCertCommands(program: Command): void {
  const globals = () => program.opts<GlobalOptions>();
  const withClient = async <T>(fn: (client: Client, taskQueue: string) => Promise<T>): Promise<T> => {
    const config = configFrom(globals());
    const client = await clientFor(config);
    try {
      return await fn(client, config.temporal.taskQueue);
    } catch (err) {
      if (err instanceof CliError) throw err;
      throw new CliError(explain(err, { temporalAddress: config.temporal.address }));
    }
  };

  const cert = program
    .command('cert')
    .description('certificates from the private CA (key in KMS): issue, revoke, list, show, expiry scan')
    .addHelpText(
      'after',
      `
The CA's signing key is an asymmetric KMS key (alias/bulwark/ca/<ca>); each certificate's bundle
(PEM certificate + chain, private key sealed with a KMS data key) is the secret
bulwark/certificates/<name>, one version per issuance. Revocations regenerate the CRL, published to
BULWARK_CRL_DIR (default .bulwark/crl) or BULWARK_CRL_BUCKET and served by the intake at
GET /crl/<ca>.crl.

Examples:
  bulwark cert issue payments-api --subject "CN=payments.internal, O=Acme" --dns payments.internal --days 90
  bulwark cert issue tpp-acme --subject "CN=acme-pay, O=Acme Pay" --client --days 365
  bulwark cert list
  bulwark cert show payments-api --json
  bulwark cert ca --pem > bulwark-root.pem           the root, for trust stores
  bulwark cert revoke tpp-acme --reason keyCompromise
  bulwark rotate cert payments-api                   renew if due (2/3 of its lifetime), --force to renew now
  bulwark rotate cert payments-api --emergency       new key + certificate, old serial revoked, new CRL
  bulwark cert scan --rotation-file rotation.yaml    what is expiring or overdue; opens incidents for overdue
  bulwark cert scan --schedule 24h                   the same scan as a Temporal Schedule`,
    );

  cert
    .command('issue <name>')
    .description('issue a certificate (a new version if <name> exists); creates the CA on first use')
    .requiredOption('--subject <dn>', 'distinguished name, e.g. "CN=api.example.com, O=Acme"')
    .option('--dns <names>', 'subjectAltName DNS names, comma-separated')
    .option('--days <n>', 'validity in days (1–825)')
    .option('--validity <duration>', 'validity as a duration instead (e.g. 12h, 30d)')
    .option('--client', 'a client (mTLS) certificate: extendedKeyUsage clientAuth instead of serverAuth')
    .option('--renew-at <fraction>', 'when renewal is due, as a fraction of the lifetime (0.1–0.95)', String(2 / 3))
    .option('--ca <name>', 'issuing CA', 'bulwark')
    .option('--no-wait', 'start the workflow and print its id')
    .option('--as <operator>', 'who asks (default: $BULWARK_OPERATOR or $USER)')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  bulwark cert issue payments-api --subject "CN=payments.internal, O=Acme" --dns payments.internal,payments --days 90')
    .action(async (ref: string, o: { subject: string; dns?: string; days?: string; validity?: string; client?: boolean; renewAt: string; ca: string; wait: boolean; as?: string; json?: boolean }) => {
      if ((o.days === undefined) === (o.validity === undefined)) throw usageError('give the validity with --days <n> or --validity <duration> (one of them)');
      let validitySeconds: number;
      if (o.days !== undefined) {
        if (!/^\d+$/.test(o.days)) throw usageError('--days must be a whole number of days');
        validitySeconds = Number(o.days) * 86_400;
      } else {
        try {
          validitySeconds = parseDurationSeconds(o.validity!);
        } catch (err) {
          throw usageError(`--validity: ${(err as Error).message}`);
        }
      }
      const candidate = {
        name: ref,
        ca: o.ca,
        subject: o.subject,
        dnsNames: o.dns ? o.dns.split(',').map((s) => s.trim()).filter(Boolean) : [],
        profile: o.client ? 'client' : 'server',
        validitySeconds,
        renewAtFraction: Number(o.renewAt),
      };
      const parsed = IssueRequest.safeParse(candidate);
      if (!parsed.success) throw usageError(parsed.error.issues.map((i) => `${i.path.join('.') === 'validitySeconds' ? '--days/--validity' : i.path.join('.')}: ${i.message}`).join('; '));
      const r = await withClient((client, tq) => runCertificate(client, tq, { action: 'issue', certificate: parsed.data.name, request: parsed.data, requestedBy: operator(o.as) }, o.wait));
      if (!r.result) console.log(o.json ? JSON.stringify(r) : r.workflowId);
      else printResult(r.result, o.json);
    });

  cert
    .command('revoke <name>')
    .description("revoke a certificate's current serial and publish a new CRL")
    .option('--reason <reason>', `CRL reason: ${REASONS.join(' | ')}`, 'unspecified')
    .option('--no-wait', 'start the workflow and print its id')
    .option('--as <operator>', 'who asks (default: $BULWARK_OPERATOR or $USER)')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  bulwark cert revoke tpp-acme --reason keyCompromise')
    .action(async (ref: string, o: { reason?: string; wait: boolean; as?: string; json?: boolean }) => {
      const reason = parseReason(o.reason, 'unspecified');
      const name = nameArg(ref);
      const r = await withClient((client, tq) => runCertificate(client, tq, { action: 'revoke', certificate: name, reason, requestedBy: operator(o.as) }, o.wait));
      if (!r.result) console.log(o.json ? JSON.stringify(r) : r.workflowId);
      else printResult(r.result, o.json);
    });

  cert
    .command('list')
    .description('certificates (current versions), from the secrets’ tags')
    .option('--ca <name>', 'only this CA')
    .option('--json', 'print JSON')
    .action(async (o: { ca?: string; json?: boolean }) => {
      const config = configFrom(globals());
      const aws = createAwsClients(config.aws);
      const acts = createCertificateActivities({ sm: aws.sm, kms: aws.kms, s3: aws.s3, config: config.certificates });
      const rows = await acts.certificatesList({ ca: o.ca }).catch((err) => {
        throw new CliError(`listing certificates failed: ${explain(err)}`);
      });
      if (o.json) {
        console.log(JSON.stringify(rows, null, 2));
        return;
      }
      if (rows.length === 0) {
        console.log('no certificates (bulwark cert issue <name> --subject "CN=…" --days 90)');
        return;
      }
      const t = plainTable(['name', 'ca', 'serial', 'subject', 'not after', 'renew at', 'status']);
      for (const c of rows) t.push([c.name, c.ca, c.serial, c.subject, c.notAfter, c.renewAt, c.status]);
      console.log(t.toString());
    });

  cert
    .command('show <name>')
    .description("a certificate's current version: metadata and PEM certificate + chain (never the key)")
    .option('--json', 'print JSON')
    .action(async (ref: string, o: { json?: boolean }) => {
      const config = configFrom(globals());
      const aws = createAwsClients(config.aws);
      const acts = createCertificateActivities({ sm: aws.sm, kms: aws.kms, s3: aws.s3, config: config.certificates });
      const d = await acts.certificatesDescribe({ certificate: nameArg(ref) }).catch((err) => {
        throw new CliError(explain(err));
      });
      if (!d.found) throw new CliError(`no certificate named ${ref}`);
      if (o.json) console.log(JSON.stringify(d.certificate, null, 2));
      else console.log(`${certLine(d.certificate)}\nstatus ${d.certificate.status}, ${d.certificate.profile}, issuer ${d.certificate.issuer}\nsecret ${d.certificate.secretArn} (version ${d.certificate.versionId})`);
    });

  cert
    .command('ca')
    .description("the CA: its KMS key, root certificate and revocation count; --pem prints the root for trust stores")
    .option('--ca <name>', 'which CA', 'bulwark')
    .option('--pem', 'print only the root certificate (PEM)')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  bulwark cert ca --pem > bulwark-root.pem     add it to the trust store of clients and servers')
    .action(async (o: { ca: string; pem?: boolean; json?: boolean }) => {
      const config = configFrom(globals());
      const aws = createAwsClients(config.aws);
      const acts = createCertificateActivities({ sm: aws.sm, kms: aws.kms, s3: aws.s3, config: config.certificates });
      const d = await acts.certificatesDescribeCa({ ca: o.ca }).catch((err) => {
        throw new CliError(explain(err));
      });
      if (!d.found) throw new CliError(`no CA named ${o.ca}: it is created by the first \`bulwark cert issue … --ca ${o.ca}\``);
      if (o.pem) process.stdout.write(d.certificatePem);
      else if (o.json) console.log(JSON.stringify({ ...d.ca, certificatePem: d.certificatePem, revoked: d.revoked }, null, 2));
      else console.log(`CA ${d.ca.ca}: ${d.ca.subject}\nKMS key ${d.ca.keyArn} (${d.ca.keySpec}); data keys from ${d.ca.envelopeKeyArn}\nroot serial ${d.ca.serial}, valid ${d.ca.notBefore} → ${d.ca.notAfter}, SHA-256 ${d.ca.fingerprint}\n${d.revoked} serial(s) revoked; record in ${d.ca.secretArn}`);
    });

  cert
    .command('scan')
    .description('report certificates and secrets close to expiry or overdue; renew overdue certificates; open incidents for what stays overdue')
    .option('--rotation-file <file>', 'secrets and cadences to check (default ./rotation.yaml when present)')
    .option('--warn <duration>', 'report as expiring what is due within this long', '14d')
    .option('--no-renew', 'do not start renewals of overdue certificates')
    .option('--no-incidents', 'report only: open no incidents')
    .option('--as-of <iso>', 'what-if: judge as of this time (never renews or opens incidents)')
    .option('--schedule <every>', 'instead of scanning now, run the scan as a Temporal Schedule every <duration> (e.g. 24h)')
    .option('--unschedule', 'delete the scan schedule')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExamples:\n  bulwark cert scan --no-incidents\n  bulwark cert scan --as-of 2027-01-01T00:00:00Z --json\n  bulwark cert scan --schedule 24h')
    .action(async (o: { rotationFile?: string; warn: string; renew: boolean; incidents: boolean; asOf?: string; schedule?: string; unschedule?: boolean; json?: boolean }) => {
      let warnSeconds: number;
      try {
        warnSeconds = parseDurationSeconds(o.warn);
      } catch (err) {
        throw usageError(`--warn: ${(err as Error).message}`);
      }
      if (o.asOf !== undefined && Number.isNaN(Date.parse(o.asOf))) throw usageError('--as-of must be an ISO 8601 date');
      const file = o.rotationFile ?? (existsSync('rotation.yaml') ? 'rotation.yaml' : undefined);
      let secretPolicies: CertificateScanInput['secretPolicies'] = [];
      if (file) {
        let text: string;
        try {
          text = readFileSync(file, 'utf8');
        } catch (err) {
          throw usageError(`cannot read ${file}: ${(err as Error).message}`);
        }
        secretPolicies = secretPoliciesFrom(text);
      }
      const input: CertificateScanInput = { secretPolicies, warnSeconds, renew: o.renew, openIncidents: o.incidents, asOf: o.asOf };
      if (o.unschedule) {
        await withClient(async (client) => {
          try {
            await client.schedule.getHandle(CERT_SCAN_SCHEDULE_ID).delete();
          } catch (err) {
            if (!(err instanceof ScheduleNotFoundError)) throw err;
          }
        });
        console.log(`${CERT_SCAN_SCHEDULE_ID}: deleted`);
        return;
      }
      if (o.schedule) {
        let every: number;
        try {
          every = parseDurationSeconds(o.schedule);
        } catch (err) {
          throw usageError(`--schedule: ${(err as Error).message}`);
        }
        if (every < 3600) throw usageError('--schedule: scan at most hourly');
        if (o.asOf) throw usageError('--schedule and --as-of do not go together');
        const action = await withClient(async (client, taskQueue) => {
          const options = {
            spec: { intervals: [{ every: every * 1000 }] },
            action: { type: 'startWorkflow' as const, workflowType: 'certificateScanWorkflow', taskQueue, workflowId: `${CERT_SCAN_SCHEDULE_ID}-run`, args: [input] },
            policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: 3_600_000 },
            state: { note: `certificate and secret expiry scan every ${o.schedule}` },
          };
          try {
            await client.schedule.create({ scheduleId: CERT_SCAN_SCHEDULE_ID, ...options });
            return 'created';
          } catch (err) {
            if (!(err instanceof ScheduleAlreadyRunning)) throw err;
            await client.schedule.getHandle(CERT_SCAN_SCHEDULE_ID).update((prev) => ({ ...prev, ...options, state: { ...prev.state, note: options.state.note } }));
            return 'updated';
          }
        });
        console.log(`${CERT_SCAN_SCHEDULE_ID}: ${action}, every ${o.schedule}${file ? `, secrets from ${file} (${secretPolicies.length})` : ''}`);
        return;
      }
      const r = await withClient(async (client, taskQueue) => {
        const handle = await client.workflow.start('certificateScanWorkflow', { taskQueue, workflowId: `${CERT_SCAN_WORKFLOW_ID}-${Date.now()}`, args: [input] });
        return (await handle.result()) as CertificateScanResult;
      });
      console.log(o.json ? JSON.stringify(r, null, 2) : renderScan(r));
    });

  // `bulwark rotate cert <name>`: the rotate command is registered before this one (cli/main.ts).
  const rotate = program.commands.find((c) => c.name() === 'rotate');
  rotate
    ?.command('cert <name>')
    .description('renew a certificate when due (2/3 of its lifetime), or --emergency: re-issue, revoke the old serial, publish the CRL')
    .option('--force', 'renew even before the renewal point')
    .option('--emergency', 're-issue now and revoke the current serial (keyCompromise unless --reason)')
    .option('--reason <reason>', `with --emergency: CRL reason (${REASONS.join(' | ')})`)
    .option('--no-wait', 'start the workflow and print its id')
    .option('--as <operator>', 'who asks (default: $BULWARK_OPERATOR or $USER)')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExamples:\n  bulwark rotate cert payments-api\n  bulwark rotate cert tpp-acme --emergency --reason keyCompromise')
    .action(async (ref: string, _opts: unknown, cmd: Command) => {
      // `rotate` itself has --force, --json and --as (for --all): whichever command commander gave them to, they count.
      const o = cmd.optsWithGlobals<{ force?: boolean; emergency?: boolean; reason?: string; wait: boolean; as?: string; json?: boolean }>();
      if (o.reason && !o.emergency) throw usageError('--reason goes with --emergency (a renewal revokes nothing)');
      const name = nameArg(ref);
      const input: CertificateWorkflowInput = o.emergency
        ? { action: 'reissue', certificate: name, reason: parseReason(o.reason, 'keyCompromise'), requestedBy: operator(o.as) }
        : { action: 'renew', certificate: name, force: o.force, requestedBy: operator(o.as) };
      const r = await withClient((client, tq) => runCertificate(client, tq, input, o.wait));
      if (!r.result) console.log(o.json ? JSON.stringify(r) : r.workflowId);
      else printResult(r.result, o.json);
    });
}
