import { writeFile } from 'node:fs/promises';
import { Command } from 'commander';
import { createAwsClients } from '../../activities/clients.js';
import { verifyAuditFile } from '../../activities/audit.js';
import { normaliseIncidentId } from '../../domain/fingerprint.js';
import { buildEvidencePack, renderEvidenceHtml } from '../../domain/report.js';
import { stateQuery } from '../../workflows/definitions.js';
import { clientFor, configFrom, type GlobalOptions } from '../context.js';
import { CliError, explain, usageError } from '../errors.js';

interface VerifyOptions {
  dir?: string;
  kms: boolean;
  json?: boolean;
}

/** `bulwark audit verify <incident>`: exit 0 when the chain and its KMS anchors verify, 1 naming the first bad record. */
export function registerAuditCommands(program: Command): void {
  const globals = () => program.opts<GlobalOptions>();
  const audit = program.command('audit').description('the tamper-evident audit chain of incidents');

  audit
    .command('verify <incident>')
    .description('check an incident’s audit chain: names the first edited, removed, reordered or inserted record; checks KMS anchor signatures')
    .option('--dir <dir>', 'audit directory (env BULWARK_AUDIT_DIR, default .bulwark/audit)')
    .option('--no-kms', 'do not check anchor signatures with KMS Verify')
    .option('--json', 'print the verification as JSON')
    .action(async (id: string, o: VerifyOptions) => {
      const config = configFrom(globals(), o.dir ? { audit: { dir: o.dir } } : {});
      const incidentId = normaliseIncidentId(id);
      const v = await verifyAuditFile(config.audit.dir, incidentId, { kms: o.kms ? createAwsClients(config.aws).kms : undefined }).catch((err) => {
        throw new CliError(`cannot verify the audit log of ${incidentId}: ${explain(err)}`);
      });
      if (o.json) console.log(JSON.stringify({ ok: v.ok, exists: v.exists, file: v.file, records: v.records.length, chain: v.chain, anchors: v.anchors, summary: v.summary }, null, 2));
      if (!v.exists) throw new CliError(`no audit log for ${incidentId} (looked for ${v.file})`);
      if (!v.ok) throw new CliError(v.summary);
      if (!o.json) console.log(`${incidentId}: ${v.summary}\n  ${v.file}`);
    });
}

interface ReportOptions {
  format: string;
  out?: string;
  dir?: string;
  kms: boolean;
}

/** `bulwark incident report <id> --format html|json [--out file]`: the evidence pack from the live incident and its audit chain. */
export function registerReportCommand(program: Command): void {
  const globals = () => program.opts<GlobalOptions>();
  const incident = program.commands.find((c) => c.name() === 'incident') ?? program.command('incident').description('incidents');
  incident
    .command('report <id>')
    .description('evidence pack for auditors and regulators: summary, timeline with MTTD/MTTC, steps and approvers, resources, notifications, audit-chain verification')
    .option('-f, --format <format>', 'html | json (pdf: print the HTML to PDF; no PDF renderer ships with bulwark)', 'html')
    .option('-o, --out <file>', 'write to this file instead of stdout')
    .option('--dir <dir>', 'audit directory (env BULWARK_AUDIT_DIR, default .bulwark/audit)')
    .option('--no-kms', 'do not check audit anchor signatures with KMS Verify')
    .action(async (id: string, o: ReportOptions) => {
      if (o.format === 'pdf') throw usageError('--format pdf is not available: no PDF renderer is installed; use --format html and print it to PDF from a browser');
      if (o.format !== 'html' && o.format !== 'json') throw usageError('--format must be html or json');
      const config = configFrom(globals(), o.dir ? { audit: { dir: o.dir } } : {});
      const incidentId = normaliseIncidentId(id);
      const client = await clientFor(config);
      let state;
      try {
        state = await client.workflow.getHandle(incidentId).query(stateQuery);
      } catch (err) {
        throw new CliError(explain(err, { temporalAddress: config.temporal.address }));
      } finally {
        await client.connection.close().catch(() => undefined);
      }
      const audit = await verifyAuditFile(config.audit.dir, incidentId, { kms: o.kms ? createAwsClients(config.aws).kms : undefined });
      const pack = buildEvidencePack(state, audit, new Date().toISOString());
      const text = o.format === 'json' ? `${JSON.stringify(pack, null, 2)}\n` : renderEvidenceHtml(pack);
      if (o.out) {
        await writeFile(o.out, text);
        console.log(`evidence pack for ${incidentId} written to ${o.out}\n  ${audit.summary}`);
      } else {
        process.stdout.write(text);
      }
    });
}
