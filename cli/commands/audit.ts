import { writeFile } from 'node:fs/promises';
import { Command } from 'commander';
import { createAwsClients } from '../../activities/clients.js';
import { verifyAuditFile, verifyAuditLines } from '../../activities/audit.js';
import { s3AuditStoreFromConfig } from '../../activities/audit-s3.js';
import type { Config } from '../../temporal.config.js';
import { normaliseIncidentId } from '../../domain/fingerprint.js';
import { buildEvidencePack, renderEvidenceHtml } from '../../domain/report.js';
import { renderEvidencePdf } from '../report-pdf.js';
import { stateQuery } from '../../workflows/definitions.js';
import { clientFor, configFrom, type GlobalOptions } from '../context.js';
import { CliError, explain, usageError } from '../errors.js';

interface VerifyOptions {
  dir?: string;
  kms: boolean;
  json?: boolean;
  source: string;
  requireAnchored?: boolean;
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
    .option('--source <file|s3>', 'verify the local audit file, or the copy in the Object Lock bucket (env BULWARK_AUDIT_S3_BUCKET)', 'file')
    .option('--require-anchored', 'also fail when records follow the last KMS anchor (for a closed incident, whose last record is its closing anchor)')
    .action(async (id: string, o: VerifyOptions) => {
      const config = configFrom(globals(), o.dir ? { audit: { dir: o.dir } } : {});
      const incidentId = normaliseIncidentId(id);
      if (o.source !== 'file' && o.source !== 's3') throw usageError(`--source must be file or s3, got "${o.source}"`);
      if (o.source === 's3') return verifyFromS3(config, incidentId, o);
      const v = await verifyAuditFile(config.audit.dir, incidentId, { kms: o.kms ? createAwsClients(config.aws).kms : undefined, signingKeyId: config.audit.signingKeyId }).catch((err) => {
        throw new CliError(`cannot verify the audit log of ${incidentId}: ${explain(err)}`);
      });
      const ok = v.ok && !(o.requireAnchored && v.unanchored);
      if (o.json) console.log(JSON.stringify({ ok, exists: v.exists, file: v.file, records: v.records.length, chain: v.chain, anchors: v.anchors, unanchored: v.unanchored ?? null, summary: v.summary }, null, 2));
      if (!v.exists) throw new CliError(`no audit log for ${incidentId} (looked for ${v.file})`);
      if (!v.ok) throw new CliError(v.summary);
      if (!ok) throw new CliError(unanchoredError(v));
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
    .option('-f, --format <format>', 'html | pdf | json', 'html')
    .option('-o, --out <file>', 'write to this file instead of stdout')
    .option('--dir <dir>', 'audit directory (env BULWARK_AUDIT_DIR, default .bulwark/audit)')
    .option('--no-kms', 'do not check audit anchor signatures with KMS Verify')
    .action(async (id: string, o: ReportOptions) => {
      if (o.format !== 'html' && o.format !== 'json' && o.format !== 'pdf') throw usageError(`--format must be html, pdf or json, got "${o.format}"`);
      if (o.format === 'pdf' && !o.out && process.stdout.isTTY) throw usageError('--format pdf writes binary: give --out <file> (or redirect stdout)');
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
      const audit = await verifyAuditFile(config.audit.dir, incidentId, { kms: o.kms ? createAwsClients(config.aws).kms : undefined, signingKeyId: config.audit.signingKeyId });
      const pack = buildEvidencePack(state, audit, new Date().toISOString());
      const text = o.format === 'json' ? `${JSON.stringify(pack, null, 2)}\n` : o.format === 'pdf' ? await renderEvidencePdf(pack) : renderEvidenceHtml(pack);
      if (o.out) {
        await writeFile(o.out, text);
        console.log(`evidence pack for ${incidentId} written to ${o.out}\n  ${audit.summary}`);
      } else {
        process.stdout.write(text);
      }
    });
}

/** `audit verify --source s3`: the chain as stored in the Object Lock bucket; an overwritten record is tampering. */
async function verifyFromS3(config: Config, incidentId: string, o: VerifyOptions): Promise<void> {
  const clients = createAwsClients(config.aws);
  const store = s3AuditStoreFromConfig(clients, config.audit);
  if (!store) throw usageError('--source s3 needs the audit bucket (BULWARK_AUDIT_S3_BUCKET)');
  const read = await store.readRecords(incidentId).catch((err) => {
    throw new CliError(`cannot read the audit records of ${incidentId} from s3://${store.bucket}: ${explain(err)}`);
  });
  const where = `s3://${store.bucket}/audit/${incidentId}/`;
  if (read.records.length === 0) throw new CliError(`no audit records for ${incidentId} in ${where}`);
  const v = await verifyAuditLines(read.records, incidentId, { kms: o.kms ? clients.kms : undefined, signingKeyId: config.audit.signingKeyId });
  const overwritten = read.overwritten.length
    ? `; ${read.overwritten.length} record object(s) written again (the locked originals were verified): ${read.overwritten.map((x) => `${x.key} (${x.versions} versions)`).join(', ')}`
    : '';
  const ok = v.ok && read.overwritten.length === 0;
  if (o.json) console.log(JSON.stringify({ ok: ok && !(o.requireAnchored && v.unanchored), source: where, records: v.records.length, chain: v.chain, anchors: v.anchors, unanchored: v.unanchored ?? null, overwritten: read.overwritten, summary: v.summary + overwritten }, null, 2));
  if (!ok) throw new CliError(v.summary + overwritten);
  if (o.requireAnchored && v.unanchored) throw new CliError(unanchoredError(v));
  if (!o.json) console.log(`${incidentId}: ${v.summary}\n  ${where}`);
}

/** `--require-anchored` failing: which records no KMS signature covers. */
function unanchoredError(v: { unanchored?: { fromSeq: number; toSeq: number }; anchors: unknown[]; summary: string }): string {
  const u = v.unanchored!;
  const which = u.toSeq > u.fromSeq ? `records ${u.fromSeq}–${u.toSeq} are` : `record ${u.fromSeq} is`;
  return v.anchors.length === 0 ? `no KMS anchor covers the audit chain (--require-anchored): ${v.summary}` : `${which} not covered by a KMS anchor (--require-anchored): ${v.summary}`;
}
