import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { ACTION_PERMISSIONS, policyFor, ROTATION_TARGET_PERMISSIONS } from '../../domain/iam-policy.js';
import { formatPlaybookError } from '../../domain/playbooks/load.js';
import { loadPlaybooks, playbookFiles, SHIPPED_PLAYBOOKS_DIR } from '../../intake/playbook-catalog.js';
import { configFrom, type GlobalOptions } from '../context.js';
import { CliError, usageError } from '../errors.js';

interface PolicyOptions {
  playbooks?: string;
  account: string;
  config?: boolean;
  requireClientTag?: boolean;
  out?: string;
  rotationTarget?: string[];
}

/** `bulwark iam policy`: the least-privilege IAM policy for the worker, from the playbooks in use. */
export function registerIamCommands(program: Command): void {
  const globals = () => program.opts<GlobalOptions>();
  const iam = program.command('iam').description('least-privilege IAM for the worker');

  iam
    .command('policy')
    .description('print the minimal IAM policy (JSON) for the actions the playbooks use, scoped to the configured region and the account')
    .option('--playbooks <dir>', 'playbook directory or file (env BULWARK_PLAYBOOKS_DIR, default the shipped playbooks)')
    .option('--account <id>', '12-digit AWS account id for resource ARNs (env BULWARK_AWS_ACCOUNT_ID, default *)', process.env.BULWARK_AWS_ACCOUNT_ID ?? '*')
    .option('--config', 'also grant what the configuration enables (payload codec key, audit signing key, audit S3 bucket) and confine the CRL upload to certificates.crlBucket')
    .option('--require-client-tag', 'confine API key and secret changes to resources tagged with the client tag (aws:ResourceTag)')
    .option('--out <file>', 'write the policy to this file instead of stdout')
    .option('--rotation-target <kind>', `also grant what a rotation setSecret target calls (${Object.keys(ROTATION_TARGET_PERMISSIONS).join(' | ')}; repeatable)`, (v: string, prev: string[] = []) => [...prev, v])
    .action(async (o: PolicyOptions) => {
      if (o.account !== '*' && !/^\d{12}$/.test(o.account)) throw usageError(`--account must be a 12-digit AWS account id or *, got "${o.account}"`);
      const kinds = Object.keys(ROTATION_TARGET_PERMISSIONS);
      const badKind = o.rotationTarget?.find((k) => !kinds.includes(k));
      if (badKind) throw usageError(`--rotation-target must be one of ${kinds.join(', ')}, got "${badKind}"`);
      const config = configFrom(globals());
      const dir = o.playbooks ?? config.playbooks.dir ?? SHIPPED_PLAYBOOKS_DIR;
      let files: string[];
      try {
        files = playbookFiles(dir);
      } catch {
        throw usageError(`--playbooks: no such file or directory: ${dir}`);
      }
      const actions = playbookActions(files);
      const result = policyFor(actions, {
        region: config.aws.region,
        account: o.account,
        clientTag: config.aws.clientTag,
        requireClientTag: o.requireClientTag,
        rotationTargets: o.rotationTarget as (keyof typeof ROTATION_TARGET_PERMISSIONS)[] | undefined,
        ...(o.config ? { codecKeyId: config.codec.enabled ? config.codec.kmsKeyId : undefined, auditSigningKeyId: config.audit.signingKeyId, auditBucket: config.audit.s3Bucket, crlBucket: config.certificates.crlBucket } : {}),
      });
      if (!result.ok) throw new CliError(`no IAM permissions are declared for action(s) ${result.unknown.join(', ')} (domain/iam-policy.ts); known: ${Object.keys(ACTION_PERMISSIONS).join(', ')}`);
      const text = `${JSON.stringify(result.policy, null, 2)}\n`;
      if (o.out) {
        await writeFile(o.out, text);
        console.error(`bulwark: wrote ${o.out} (${result.policy.Statement.length} statements for ${[...actions].sort().join(', ')})`);
      } else process.stdout.write(text);
    });
}

/** The actions the playbooks in these files use, plus the triage plan's; refuses a set that does not load. */
export function playbookActions(files: string[]): Set<string> {
  const { loaded, errors } = loadPlaybooks(files);
  // A policy for a half-loaded set would silently miss permissions: refuse instead.
  if (errors.length) throw new CliError(`cannot build a policy while playbooks fail to load:\n${errors.map(formatPlaybookError).join('\n')}`);
  const actions = new Set<string>(['notify.operators']); // the triage plan every unmatched alert gets
  for (const p of loaded) for (const entry of p.doc.steps) for (const step of 'parallel' in entry ? entry.parallel : [entry]) actions.add(step.action);
  return actions;
}
