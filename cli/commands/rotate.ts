import type { Command } from 'commander';
import { ListSecretsCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { WorkflowExecutionAlreadyStartedError, type Client, type WorkflowHandle } from '@temporalio/client';
import { createAwsClients } from '../../activities/clients.js';
import { parseDurationSeconds } from '../../domain/duration.js';
import { GeneratorPolicy } from '../../domain/rotation/generator.js';
import { kmsReplaceWorkflowId, kmsRotationWorkflowId, normaliseAlias, secretRotationWorkflowId } from '../../domain/rotation/ids.js';
import { checkDeletionWindowDays, checkRotationPeriodDays } from '../../domain/rotation/limits.js';
import { STRATEGIES, type RotationStrategy } from '../../domain/rotation/strategy.js';
import { KEY_PAIR_ALGORITHMS } from '../../domain/rotation/keypair.js';
import { CognitoAppClientTarget, parseConsumerArg, type RotationTarget } from '../../domain/rotation/target.js';
import { cognitoGeneratorProblem } from '../../domain/rotation/cognito-secret.js';
import type {
  DeletionDecision,
  KeyReplaceState,
  KmsKeyRotationResult,
  SecretRotationInput,
  SecretRotationResult,
} from '../../workflows/rotation.js';
import { clientFor, configFrom, operator, type GlobalOptions } from '../context.js';
import { CliError, explain, usageError } from '../errors.js';
import { plainTable } from '../render.js';

/**
 * `bulwark rotate`: one secret, one KMS key, or every secret carrying a tag. Each rotation is a
 * workflow under its target's own id, so asking twice while one runs reports the running one
 * instead of starting a second.
 */

export interface Started<T> {
  handle: WorkflowHandle;
  workflowId: string;
  /** false: a rotation of this target was already running; `handle` is that one. */
  started: boolean;
  result: () => Promise<T>;
}

async function startOnce<T>(client: Client, workflowType: string, workflowId: string, taskQueue: string, args: unknown[]): Promise<Started<T>> {
  let started = true;
  try {
    await client.workflow.start(workflowType, {
      taskQueue,
      workflowId,
      args,
      // A running rotation of the same target is never duplicated; a finished one may be repeated.
      workflowIdConflictPolicy: 'FAIL',
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    started = false;
  }
  const handle = client.workflow.getHandle(workflowId);
  return { handle, workflowId, started, result: () => handle.result() as Promise<T> };
}

export function startSecretRotation(client: Client, taskQueue: string, input: SecretRotationInput): Promise<Started<SecretRotationResult>> {
  return startOnce<SecretRotationResult>(client, 'secretRotationWorkflow', secretRotationWorkflowId(input.secretId), taskQueue, [input]);
}

/** The root reason of a failed workflow, for one line of output. */
export function reasonOf(err: unknown): string {
  let e = err as { cause?: unknown; message?: string } | undefined;
  while (e?.cause) e = e.cause as typeof e;
  return e?.message ?? String(err);
}

export interface BulkOutcome {
  secretId: string;
  workflowId: string;
  status: 'rotated' | 'failed';
  /** The request found a rotation of this secret running and reports that one's outcome. */
  alreadyRunning: boolean;
  versionId?: string;
  previousVersionId?: string;
  error?: string;
  seconds: number;
}

/** Rotates many secrets, at most `concurrency` workflows at once; `onProgress` after each. */
export async function rotateMany(
  client: Client,
  taskQueue: string,
  inputs: SecretRotationInput[],
  opts: { concurrency: number; onProgress?: (done: number, failed: number, total: number) => void },
): Promise<BulkOutcome[]> {
  const outcomes: BulkOutcome[] = new Array(inputs.length);
  let next = 0;
  let done = 0;
  let failed = 0;
  async function runner() {
    for (;;) {
      const i = next++;
      if (i >= inputs.length) return;
      const input = inputs[i]!;
      const t0 = performance.now();
      const workflowId = secretRotationWorkflowId(input.secretId);
      let outcome: BulkOutcome;
      try {
        const s = await startSecretRotation(client, taskQueue, input);
        const r = await s.result();
        outcome = { secretId: input.secretId, workflowId, status: 'rotated', alreadyRunning: !s.started, versionId: r.versionId, previousVersionId: r.previousVersionId, seconds: 0 };
      } catch (err) {
        failed++;
        outcome = { secretId: input.secretId, workflowId, status: 'failed', alreadyRunning: false, error: reasonOf(err), seconds: 0 };
      }
      outcome.seconds = Math.round(performance.now() - t0) / 1000;
      outcomes[i] = outcome;
      done++;
      opts.onProgress?.(done, failed, inputs.length);
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.concurrency, inputs.length)) }, runner));
  return outcomes;
}

/** Secrets whose tag `key` equals `value` (ListSecrets filters match key and value independently, so both are checked). */
export async function secretsByTag(sm: SecretsManagerClient, key: string, value: string): Promise<string[]> {
  const out: string[] = [];
  let NextToken: string | undefined;
  do {
    const page = await sm.send(new ListSecretsCommand({ Filters: [{ Key: 'tag-key', Values: [key] }, { Key: 'tag-value', Values: [value] }], NextToken, MaxResults: 100 }));
    for (const s of page.SecretList ?? []) if (s.Tags?.some((t) => t.Key === key && t.Value === value)) out.push(s.ARN!);
    NextToken = page.NextToken;
  } while (NextToken);
  return out;
}

/** A progress line on stderr: redrawn in place on a terminal, one line per 10% otherwise. */
export function progressPrinter(stream: NodeJS.WriteStream = process.stderr) {
  let lastDecile = -1;
  return (done: number, failed: number, total: number) => {
    const width = 30;
    const filled = Math.round((done / total) * width);
    const line = `rotating [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}${failed ? `, ${failed} failed` : ''}`;
    if (stream.isTTY) {
      stream.write(`\r${line}${done === total ? '\n' : ''}`);
      return;
    }
    const decile = Math.floor((done / total) * 10);
    if (decile !== lastDecile || done === total) {
      lastDecile = decile;
      stream.write(`${line}\n`);
    }
  };
}

export function renderBulk(outcomes: BulkOutcome[]): string {
  const t = plainTable(['secret', 'status', 'new version', 'previous', 'seconds', 'note']);
  for (const o of outcomes) t.push([o.secretId, o.status, o.versionId ?? '', o.previousVersionId ?? '', String(o.seconds), o.error ?? (o.alreadyRunning ? 'was already running' : '')]);
  const failed = outcomes.filter((o) => o.status === 'failed').length;
  return `${t.toString()}\n${outcomes.length - failed} rotated, ${failed} failed`;
}

function parseStrategy(s: string | undefined): RotationStrategy {
  const v = s ?? 'single-user';
  if (!(STRATEGIES as readonly string[]).includes(v)) throw usageError(`--strategy must be one of ${STRATEGIES.join(', ')}`);
  return v as RotationStrategy;
}

function parseGenerator(o: { length?: string; noSymbols?: boolean; symbols?: boolean; exclude?: string; token?: boolean; keypair?: string | boolean }) {
  const candidate: Record<string, unknown> = {};
  if (o.keypair !== undefined) {
    if (o.token || o.length !== undefined) throw usageError('--keypair generates a key pair; --token and --length are for passwords and tokens');
    candidate.kind = 'keypair';
    if (typeof o.keypair === 'string') candidate.algorithm = o.keypair;
  }
  if (o.length !== undefined) candidate.length = Number(o.length);
  if (o.symbols === false) candidate.symbols = false;
  if (o.exclude) candidate.exclude = o.exclude;
  if (o.token) candidate.kind = 'token';
  if (Object.keys(candidate).length === 0) return undefined;
  const r = GeneratorPolicy.safeParse(candidate);
  if (!r.success) throw usageError(`generator: ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  return candidate;
}

function parseUserPair(s: string | undefined): [string, string] | undefined {
  if (!s) return undefined;
  const parts = s.split(',').map((x) => x.trim());
  if (parts.length !== 2 || !parts[0] || !parts[1] || parts[0] === parts[1]) throw usageError('--user-pair must name two different users: app,app_clone');
  return [parts[0], parts[1]];
}

function parseTag(s: string | undefined): [string, string] {
  const m = s ? /^([^=]+)=(.*)$/.exec(s) : null;
  if (!m || !m[2]) throw usageError('--tag must be key=value');
  return [m[1]!, m[2]];
}

interface SecretOptions {
  strategy?: string;
  userPair?: string;
  force?: boolean;
  wait?: boolean;
  reason?: string;
  as?: string;
  length?: string;
  symbols?: boolean;
  exclude?: string;
  token?: boolean;
  keypair?: string | boolean;
  verifyUrl?: string;
  setUrl?: string;
  revokeUrl?: string;
  apiKeyTarget?: boolean;
  usagePlan?: string[];
  cognitoClient?: string;
  consumer?: string[];
  grace?: string;
  confirmWithin?: string;
  json?: boolean;
}

/** The setSecret target and retirement options from the command line (checked again by the workflow). */
function retireOptions(o: SecretOptions): Pick<SecretRotationInput, 'target' | 'consumers' | 'grace' | 'confirmWithin'> {
  if ([o.apiKeyTarget, o.setUrl, o.cognitoClient].filter(Boolean).length > 1) throw usageError('--api-key-target, --set-url and --cognito-client name different targets; choose one');
  if (o.revokeUrl && !o.setUrl) throw usageError('--revoke-url needs --set-url (the HTTPS target it belongs to)');
  if (o.usagePlan?.length && !o.apiKeyTarget) throw usageError('--usage-plan needs --api-key-target');
  const target: RotationTarget | undefined = o.apiKeyTarget
    ? { kind: 'apigateway-key', ...(o.usagePlan?.length ? { usagePlanIds: o.usagePlan } : {}) }
    : o.setUrl
      ? { kind: 'https', url: o.setUrl, ...(o.revokeUrl ? { revokeUrl: o.revokeUrl } : {}) }
      : o.cognitoClient
        ? cognitoTargetArg(o.cognitoClient)
        : undefined;
  let consumers;
  try {
    consumers = o.consumer?.map(parseConsumerArg);
  } catch (err) {
    throw usageError(`--consumer: ${(err as Error).message}`);
  }
  for (const [flag, v] of [['--grace', o.grace], ['--confirm-within', o.confirmWithin]] as const) {
    if (v !== undefined) {
      try {
        parseDurationSeconds(v);
      } catch (err) {
        throw usageError(`${flag}: ${(err as Error).message}`);
      }
    }
  }
  return { target, consumers, grace: o.grace, confirmWithin: o.confirmWithin };
}

/** `--cognito-client <userPoolId>/<clientId>`; a generator given with it must make values Cognito accepts. */
function cognitoTargetArg(text: string): RotationTarget {
  const [userPoolId, clientId, ...rest] = text.split('/');
  const r = CognitoAppClientTarget.safeParse({ kind: 'cognito-app-client', userPoolId, clientId });
  if (rest.length || !r.success) throw usageError(`--cognito-client: expected <userPoolId>/<clientId> (e.g. eu-west-1_AbCdEf123/1example23456789), got "${text}"${r.success ? '' : `: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`}`);
  return r.data;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function registerRotateCommands(program: Command): void {
  const globals = () => program.opts<GlobalOptions>();
  const rotate: Command = program
    .command('rotate')
    .description('rotate a secret or KMS key now, or every secret with a tag (--all --tag k=v)')
    .option('--all', 'rotate every secret carrying --tag')
    .option('--tag <key=value>', 'with --all: which secrets')
    .option('-c, --concurrency <n>', 'with --all: rotations at once', '10')
    .option('--strategy <s>', `with --all: ${STRATEGIES.join(' | ')}`, 'single-user')
    .option('--force', 'with --all: rotate even secrets written in the last 10 minutes')
    .option('--as <operator>', 'who asks (default: $BULWARK_OPERATOR or $USER)')
    .option('--json', 'print the outcomes as JSON')
    .addHelpText(
      'after',
      `
Examples:
  bulwark rotate secret prod/payments/db --strategy alternating-users --wait
  bulwark rotate secret prod/partner/key --token --api-key-target --consumer gw=https://gw.internal/credential-version --grace 1h --wait
  bulwark rotate secret prod/tpp/cognito --cognito-client eu-west-1_AbC123/1example23456789 --grace 1h --wait
  bulwark rotate key alias/data-key                      on-demand rotation of a symmetric key
  bulwark rotate key alias/signing --replace --grace 1h  new key behind the alias; old one kept 1h
  bulwark rotate approve-deletion alias/signing --as bob
  bulwark rotate --all --tag team=payments --concurrency 10`,
    )
    .action(async (o: { all?: boolean; tag?: string; concurrency: string; strategy?: string; force?: boolean; as?: string; json?: boolean }) => {
      if (!o.all) throw usageError('name what to rotate: `rotate secret <id>`, `rotate key <id>`, or `rotate --all --tag key=value`');
      const [key, value] = parseTag(o.tag);
      const concurrency = Number(o.concurrency);
      if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 200) throw usageError('--concurrency must be a whole number from 1 to 200');
      const strategy = parseStrategy(o.strategy);
      const config = configFrom(globals());
      const { sm } = createAwsClients(config.aws);
      const secrets = await secretsByTag(sm, key, value).catch((err) => {
        throw new CliError(`listing secrets tagged ${key}=${value} failed: ${explain(err)}`);
      });
      if (secrets.length === 0) throw new CliError(`no secret is tagged ${key}=${value}`);
      const client = await clientFor(config);
      process.stderr.write(`rotating ${secrets.length} secret(s) tagged ${key}=${value}, ${concurrency} at a time\n`);
      const by = operator(o.as);
      const outcomes = await rotateMany(
        client,
        config.temporal.taskQueue,
        secrets.map((secretId) => ({ secretId, strategy, force: o.force, requestedBy: by, reason: `bulk rotation of ${key}=${value}` })),
        { concurrency, onProgress: progressPrinter() },
      ).catch((err) => {
        throw new CliError(explain(err, { temporalAddress: config.temporal.address }));
      });
      console.log(o.json ? JSON.stringify(outcomes, null, 2) : renderBulk(outcomes));
      const failed = outcomes.filter((x) => x.status === 'failed').length;
      if (failed > 0) throw new CliError(`${failed} of ${outcomes.length} rotation(s) failed`);
    });

  // `rotate` and its subcommands share option names (--json, --force, --as, --strategy); commander
  // gives an option written after `secret <id>` to `rotate`, so hand what was typed to the subcommand.
  rotate.hook('preAction', (_rotate, action) => {
    if (action === rotate) return;
    for (const option of rotate.options) {
      const key = option.attributeName();
      if (rotate.getOptionValueSource(key) === 'cli' && action.options.some((o) => o.attributeName() === key)) action.setOptionValueWithSource(key, rotate.getOptionValue(key), 'cli');
    }
  });

  rotate
    .command('secret <id>')
    .description('rotate one Secrets Manager secret (name or ARN): createSecret → setSecret → testSecret → finishSecret')
    .option('--strategy <s>', `${STRATEGIES.join(' | ')} (alternating-users: JSON {username, password}; switches to <user>_clone or --user-pair)`, 'single-user')
    .option('--user-pair <a,b>', 'alternating-users: the two users that take turns')
    .option('--length <n>', 'generated password length (default 32)')
    .option('--no-symbols', 'no punctuation in the generated password')
    .option('--exclude <chars>', 'characters never to generate')
    .option('--token', 'generate a URL-safe token instead of a password')
    .option('--keypair [algorithm]', `generate a key pair instead (JSON privateKey/publicKey PEM; ${KEY_PAIR_ALGORITHMS.join(' | ')}, default ed25519); targets get only the public key`)
    .option('--verify-url <url>', 'testSecret presents the new credential to this URL (2xx = accepted)')
    .option('--api-key-target', 'setSecret: the credential is an API Gateway API key value; a new key joins the old key\'s usage plans, the old key is disabled when retired')
    .option('--usage-plan <id>', 'with --api-key-target: also join this usage plan (repeatable)', collect)
    .option('--cognito-client <pool/client>', 'setSecret: the credential is a Cognito app client secret (<userPoolId>/<clientId>); the new value is added as its second secret, the old one deleted when retired (default generator: 48 letters and digits)')
    .option('--set-url <url>', 'setSecret: POST the new credential to this HTTPS endpoint (JSON {secret, versionId, username, credential}; Idempotency-Key = version id)')
    .option('--revoke-url <url>', 'with --set-url: POST {versionId} of the previous credential here to retire it')
    .option('--consumer <name=url>', 'a consumer probe answering {"versionId": …}; all must report the new version before the old credential is retired (repeatable)', collect)
    .option('--grace <duration>', 'how long the previous credential stays valid after AWSCURRENT moves (default 1h with a target)')
    .option('--confirm-within <duration>', 'how long to wait for consumers to confirm (default 1h); if they do not, the old credential stays valid')
    .option('--force', 'rotate even if the secret was written in the last 10 minutes (AWS advises against it)')
    .option('--wait', 'wait for the rotation to finish and print its outcome')
    .option('--reason <text>', 'why, for the record')
    .option('--as <operator>', 'who asks (default: $BULWARK_OPERATOR or $USER)')
    .option('--json', 'print JSON')
    .action(async (id: string, o: SecretOptions) => {
      const input: SecretRotationInput = {
        secretId: id,
        strategy: parseStrategy(o.strategy),
        userPair: parseUserPair(o.userPair),
        generator: parseGenerator(o),
        force: o.force,
        verifyUrl: o.verifyUrl,
        ...retireOptions(o),
        reason: o.reason,
        requestedBy: operator(o.as),
      };
      const cognitoProblem = input.target?.kind === 'cognito-app-client' && input.generator ? cognitoGeneratorProblem(GeneratorPolicy.parse(input.generator)) : undefined;
      if (cognitoProblem) throw usageError(`--cognito-client: ${cognitoProblem}`);
      const config = configFrom(globals());
      const client = await clientFor(config);
      const s = await startSecretRotation(client, config.temporal.taskQueue, input).catch((err) => {
        throw new CliError(explain(err, { temporalAddress: config.temporal.address }));
      });
      if (!s.started) process.stderr.write(`a rotation of ${id} is already running (${s.workflowId}): not starting another${o.wait ? '; waiting for it' : ''}\n`);
      else if (!o.wait) process.stderr.write(`started ${s.workflowId}\n`);
      if (!o.wait) {
        console.log(o.json ? JSON.stringify({ workflowId: s.workflowId, started: s.started }) : s.workflowId);
        return;
      }
      let r: SecretRotationResult;
      try {
        r = await s.result();
      } catch (err) {
        throw new CliError(`rotation of ${id} failed: ${reasonOf(err)}`);
      }
      if (o.json) console.log(JSON.stringify(r, null, 2));
      else console.log(`${r.name}: AWSCURRENT is ${r.versionId} (previous ${r.previousVersionId ?? 'none'})${r.username ? `, user ${r.username}` : ''}${r.recovered !== 'none' ? ` [${r.recovered}]` : ''}`);
    });

  rotate
    .command('key <keyIdOrAlias>')
    .description('rotate a KMS key: on demand or automatic (symmetric), or --replace behind its alias (asymmetric/HMAC)')
    .option('--mode <mode>', 'on-demand | enable-automatic (symmetric keys)', 'on-demand')
    .option('--period-days <n>', 'enable-automatic: rotation period, 90–2560 days', '365')
    .option('--replace', 'create a new key with the same spec and policy and move the alias to it')
    .option('--grace <duration>', '--replace: keep the old key enabled this long (e.g. 1h, 7d)', '24h')
    .option('--deletion-window <days>', '--replace: ScheduleKeyDeletion waiting period once approved (7–30)', '30')
    .option('--emergency', '--replace: disable the old key as soon as the alias moves')
    .option('--wait', 'wait for the outcome (--replace: until the old key is disabled)')
    .option('--reason <text>', 'why, for the record')
    .option('--as <operator>', 'who asks (default: $BULWARK_OPERATOR or $USER)')
    .option('--json', 'print JSON')
    .action(async (keyId: string, o: { mode: string; periodDays: string; replace?: boolean; grace: string; deletionWindow: string; emergency?: boolean; wait?: boolean; reason?: string; as?: string; json?: boolean }) => {
      const config = configFrom(globals());
      const by = operator(o.as);
      if (o.replace) {
        let graceSeconds: number;
        try {
          graceSeconds = parseDurationSeconds(o.grace);
        } catch (err) {
          throw usageError(`--grace: ${(err as Error).message}`);
        }
        const deletionWindowDays = Number(o.deletionWindow);
        const problem = checkDeletionWindowDays(deletionWindowDays);
        if (problem) throw usageError(`--deletion-window: ${problem}`);
        if (!/^alias\/|:alias\//.test(keyId)) throw usageError('--replace needs the alias (alias/…): the alias is what moves to the new key');
        const client = await clientFor(config);
        const s = await startOnce<KeyReplaceState>(client, 'kmsKeyReplaceWorkflow', kmsReplaceWorkflowId(keyId), config.temporal.taskQueue, [
          { aliasName: normaliseAlias(keyId), graceSeconds, deletionWindowDays, emergency: o.emergency, requestedBy: by, reason: o.reason },
        ]);
        if (!s.started) process.stderr.write(`a replacement of ${keyId} is already running (${s.workflowId}): not starting another\n`);
        let state: KeyReplaceState | undefined;
        if (o.wait) {
          for (;;) {
            state = await s.handle.query<KeyReplaceState>('keyReplaceState');
            if (['old-key-disabled', 'done', 'failed'].includes(state.phase)) break;
            await new Promise((r) => setTimeout(r, 500));
          }
          if (state.phase === 'failed') throw new CliError(`replacement failed: ${state.error}`);
        }
        if (o.json) console.log(JSON.stringify({ workflowId: s.workflowId, started: s.started, state }, null, 2));
        else console.log(state ? `${state.aliasName} → ${state.newKeyId}; old key ${state.oldKeyId} is ${state.oldKeyState}; delete it: bulwark rotate approve-deletion ${state.aliasName}` : s.workflowId);
        return;
      }
      if (o.mode !== 'on-demand' && o.mode !== 'enable-automatic') throw usageError('--mode must be on-demand or enable-automatic');
      const periodDays = Number(o.periodDays);
      if (o.mode === 'enable-automatic') {
        const problem = checkRotationPeriodDays(periodDays);
        if (problem) throw usageError(`--period-days: ${problem}`);
      }
      const client = await clientFor(config);
      const s = await startOnce<KmsKeyRotationResult>(client, 'kmsKeyRotationWorkflow', kmsRotationWorkflowId(keyId), config.temporal.taskQueue, [
        { keyId, mode: o.mode, periodDays: o.mode === 'enable-automatic' ? periodDays : undefined, requestedBy: by, reason: o.reason },
      ]);
      if (!s.started) process.stderr.write(`a rotation of ${keyId} is already running (${s.workflowId}): not starting another\n`);
      if (!o.wait) {
        console.log(o.json ? JSON.stringify({ workflowId: s.workflowId, started: s.started }) : s.workflowId);
        return;
      }
      let r: KmsKeyRotationResult;
      try {
        r = await s.result();
      } catch (err) {
        throw new CliError(`rotation of ${keyId} failed: ${reasonOf(err)}`);
      }
      if (o.json) console.log(JSON.stringify(r, null, 2));
      else console.log(r.mode === 'on-demand' ? `${r.keyId}: rotated at ${r.rotationDate ?? '?'} (${r.onDemandRotations ?? '?'} on-demand rotation(s) so far)` : `${r.keyId}: automatic rotation every ${r.periodDays} days`);
    });

  for (const [name, update, what] of [
    ['approve-deletion', 'approveDeletion', 'approve ScheduleKeyDeletion of the old key of a --replace rotation (not by whoever requested it)'],
    ['cancel-deletion', 'cancelDeletion', 'keep the old key: never schedule its deletion, or CancelKeyDeletion if scheduled (it stays Disabled)'],
  ] as const) {
    rotate
      .command(`${name} <alias>`)
      .description(what)
      .option('--as <operator>', 'who decides (default: $BULWARK_OPERATOR or $USER)')
      .option('--reason <text>', 'why, for the record')
      .option('--json', 'print the replacement state as JSON')
      .action(async (alias: string, o: { as?: string; reason?: string; json?: boolean }) => {
        const config = configFrom(globals());
        const client = await clientFor(config);
        let state: KeyReplaceState;
        try {
          state = await client.workflow.getHandle(kmsReplaceWorkflowId(alias)).executeUpdate<KeyReplaceState, [DeletionDecision]>(update, { args: [{ by: operator(o.as), reason: o.reason }] });
        } catch (err) {
          const msg = explain(err, { temporalAddress: config.temporal.address });
          throw new CliError(/no such incident/.test(msg) ? `no key replacement is running for ${normaliseAlias(alias)}` : msg);
        }
        if (o.json) console.log(JSON.stringify(state, null, 2));
        else console.log(`${state.aliasName}: old key ${state.oldKeyId} deletion ${state.deletion}${state.deletionDate && state.deletion === 'scheduled' ? ` (on ${state.deletionDate})` : ''}, key ${state.oldKeyState ?? '?'}`);
      });
  }
}
