import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
  PutSecretValueCommand,
} from '@aws-sdk/client-secrets-manager';
import {
  CreateAliasCommand,
  CreateKeyCommand,
  DescribeKeyCommand,
  GetKeyPolicyCommand,
  GetKeyRotationStatusCommand,
  ListKeyRotationsCommand,
  SignCommand,
  VerifyCommand,
} from '@aws-sdk/client-kms';
import { ScheduleNotFoundError, type WorkflowHandle } from '@temporalio/client';
import { applyRotationFile, listRotationSchedules } from '../cli/commands/schedule.js';
import { rotateMany, startSecretRotation } from '../cli/commands/rotate.js';
import { kmsReplaceWorkflowId, kmsRotationWorkflowId, secretRotationWorkflowId } from '../domain/rotation/ids.js';
import type { ScheduledRotationInput } from '../domain/rotation/policy.js';
import type { KeyReplaceState, KmsKeyRotationResult } from '../workflows/rotation.js';
import type { Worker } from '@temporalio/worker';
import { createBulwarkWorker } from '../worker/worker.js';
import { refusal, startHarness, testConfig, uniqueId, type Harness, historyText, failureOf } from './support.js';

const run = promisify(execFile);
let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h?.close());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function bulwark(args: string[]) {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'cli/bulwark.ts', ...args], {
      env: { ...process.env, TEMPORAL_ADDRESS: h.config.temporal.address, AWS_ENDPOINT_URL: h.config.aws.endpoint, BULWARK_TASK_QUEUE: h.config.temporal.taskQueue, NO_COLOR: '1' },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

async function makeSecret(value: unknown, tags: Record<string, string> = {}) {
  const name = `test/${uniqueId('rot')}`;
  const SecretString = typeof value === 'string' ? value : JSON.stringify(value);
  const s = await h.aws.sm.send(new CreateSecretCommand({ Name: name, SecretString, Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) }));
  return { name, arn: s.ARN!, initialVersionId: s.VersionId!, value: SecretString };
}
const stagesOf = async (id: string) => (await h.aws.sm.send(new DescribeSecretCommand({ SecretId: id }))).VersionIdsToStages ?? {};
const current = async (id: string) => (await h.aws.sm.send(new GetSecretValueCommand({ SecretId: id, VersionStage: 'AWSCURRENT' }))).SecretString!;
const holder = (stages: Record<string, string[]>, label: string) => Object.entries(stages).find(([, l]) => l.includes(label))?.[0];

const rotate = (input: Parameters<typeof startSecretRotation>[2], taskQueue = h.config.temporal.taskQueue) => startSecretRotation(h.client, taskQueue, input);

describe('secret rotation workflow', () => {
  it('single-user: AWSCURRENT moves, AWSPREVIOUS keeps the old version, no secret value in history', async () => {
    const s = await makeSecret({ username: 'svc', password: randomBytes(18).toString('base64url') });
    const started = await rotate({ secretId: s.arn, strategy: 'single-user', requestedBy: 'alice', reason: 'test' });
    expect(started.workflowId).toBe(secretRotationWorkflowId(s.name));
    const r = await started.result();
    const stages = await stagesOf(s.arn);
    expect(holder(stages, 'AWSCURRENT')).toBe(r.versionId);
    expect(stages[s.initialVersionId]).toEqual(['AWSPREVIOUS']);
    expect(r.previousVersionId).toBe(s.initialVersionId);
    expect(Object.values(stages).some((l) => l.includes('AWSPENDING'))).toBe(false);
    const now = JSON.parse(await current(s.arn));
    const old = JSON.parse(s.value);
    expect(now.username).toBe('svc');
    expect(now.password).not.toBe(old.password);
    expect(now.password).toHaveLength(32);

    const text = await historyText(started.handle);
    expect(text).toContain(r.versionId); // the decoding works: ids are there…
    for (const secretText of [s.value, old.password, await current(s.arn), now.password]) expect(text).not.toContain(secretText); // …values are not
  });

  it('alternating-users switches to the clone user, then back', async () => {
    const s = await makeSecret({ username: 'app', password: 'initial-password-123', host: 'db.internal' });
    const first = await (await rotate({ secretId: s.name, strategy: 'alternating-users', generator: { length: 24, symbols: false } })).result();
    expect(first.username).toBe('app_clone');
    const v1 = JSON.parse(await current(s.arn));
    expect(v1).toMatchObject({ username: 'app_clone', host: 'db.internal' });
    expect(v1.password).toMatch(/^[A-Za-z0-9]{24}$/);
    // AWSPREVIOUS still holds the other user's working credentials.
    const prev = JSON.parse((await h.aws.sm.send(new GetSecretValueCommand({ SecretId: s.arn, VersionStage: 'AWSPREVIOUS' }))).SecretString!);
    expect(prev.username).toBe('app');
    // Second rotation within 10 minutes: needs force (AWS's advice), and goes back to "app".
    const second = await (await rotate({ secretId: s.name, strategy: 'alternating-users', force: true })).result();
    expect(second.username).toBe('app');
    expect(JSON.parse(await current(s.arn)).username).toBe('app');
  });

  it('stale AWSPENDING with a foreign token is cleaned up and the rotation proceeds', async () => {
    const s = await makeSecret({ username: 'svc', password: 'initial-password-123' });
    const foreign = randomUUID();
    await h.aws.sm.send(new PutSecretValueCommand({ SecretId: s.arn, ClientRequestToken: foreign, SecretString: JSON.stringify({ username: 'svc', password: 'half-done' }), VersionStages: ['AWSPENDING'] }));
    const r = await (await rotate({ secretId: s.name, strategy: 'single-user' })).result();
    expect(r.recovered).toBe('cleaned');
    expect(r.staleVersionId).toBe(foreign);
    const stages = await stagesOf(s.arn);
    expect(stages[foreign] ?? []).toEqual([]);
    expect(holder(stages, 'AWSCURRENT')).toBe(r.versionId);
    expect(holder(stages, 'AWSPENDING')).toBeUndefined();
    expect(JSON.parse(await current(s.arn)).password).not.toBe('half-done');
  });

  it('a second request while a rotation runs reports the running one and starts nothing', async () => {
    const s = await makeSecret({ username: 'svc', password: 'initial-password-123' });
    // No worker polls this queue yet, so the first rotation is certainly still running.
    const config = testConfig();
    const first = await rotate({ secretId: s.name, strategy: 'single-user' }, config.temporal.taskQueue);
    const second = await rotate({ secretId: s.arn, strategy: 'single-user' }, config.temporal.taskQueue);
    expect(first.started).toBe(true);
    expect(second.started).toBe(false);
    expect(second.workflowId).toBe(first.workflowId);
    expect((await second.handle.describe()).runId).toBe((await first.handle.describe()).runId);
    const worker = await startHarness({ config });
    try {
      const r = await second.result();
      expect(holder(await stagesOf(s.arn), 'AWSCURRENT')).toBe(r.versionId);
      expect((await h.aws.sm.send(new ListSecretVersionIdsCommand({ SecretId: s.arn }))).Versions).toHaveLength(2);
    } finally {
      await worker.close();
    }
  });

  it('refuses a second write within 10 minutes unless forced; AWSCURRENT untouched', async () => {
    const s = await makeSecret({ username: 'svc', password: 'initial-password-123' });
    const r1 = await (await rotate({ secretId: s.name, strategy: 'single-user' })).result();
    // Through the CLI: exit 1, one line naming AWS's advice and --force.
    const cli = await bulwark(['rotate', 'secret', s.name, '--wait']);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toMatch(/rotation of test\/rot-\w+ failed: .*last written \d+s ago.*AWS advises at most one new version every 10 minutes.*force/);
    const refused = await failureOf(h.client.workflow.getHandle(secretRotationWorkflowId(s.name)).result());
    expect(refused.type).toBe('RotationTooSoon');
    expect(holder(await stagesOf(s.arn), 'AWSCURRENT')).toBe(r1.versionId);
    expect((await h.aws.sm.send(new ListSecretVersionIdsCommand({ SecretId: s.arn }))).Versions).toHaveLength(2);
    const r2 = await (await rotate({ secretId: s.name, strategy: 'single-user', force: true })).result();
    expect(holder(await stagesOf(s.arn), 'AWSCURRENT')).toBe(r2.versionId);
  });

  it('a failed testSecret leaves AWSCURRENT untouched, releases AWSPENDING and fails with the reason', async () => {
    const s = await makeSecret({ username: 'svc', password: 'initial-password-123' });
    const seen: string[] = [];
    const target: Server = createServer((req, res) => {
      seen.push(req.headers.authorization ?? '');
      res.writeHead(401).end();
    });
    await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(target.address() as { port: number }).port}/check`;
      const f = await failureOf((await rotate({ secretId: s.name, strategy: 'single-user', verifyUrl: url })).result());
      expect(f.type).toBe('RotationTestFailed');
      expect(f.message).toMatch(/refused the new credential \(HTTP 401\).*AWSCURRENT is unchanged/);
      expect(seen).toHaveLength(1);
      expect(seen[0]).toMatch(/^Basic /);
      const presented = Buffer.from(seen[0]!.slice(6), 'base64').toString();
      expect(presented.startsWith('svc:')).toBe(true);
      expect(presented).not.toBe('svc:initial-password-123'); // the new credential was presented
    } finally {
      target.close();
    }
    const stages = await stagesOf(s.arn);
    expect(holder(stages, 'AWSCURRENT')).toBe(s.initialVersionId);
    expect(holder(stages, 'AWSPENDING')).toBeUndefined();
    expect(await current(s.arn)).toBe(s.value);
  });
});

describe('a worker killed mid-rotation', () => {
  it('after createSecret reached AWS: a new worker resumes with the same version; one new version, rotation completes', async () => {
    const s = await makeSecret({ username: 'svc', password: 'initial-password-123' });
    const config = testConfig();
    const marker = join(inject('scratchDir'), `${uniqueId('crash')}.marker`);
    const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/crash-worker.ts'], {
      env: { ...process.env, TEMPORAL_ADDRESS: config.temporal.address, AWS_ENDPOINT_URL: config.aws.endpoint, BULWARK_TASK_QUEUE: config.temporal.taskQueue, CRASH_AFTER: 'rotationCreateSecret', MARKER: marker },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    let recovered: Harness | undefined;
    try {
      const started = await rotate({ secretId: s.name, strategy: 'single-user' }, config.temporal.taskQueue);
      for (let i = 0; i < 600 && !existsSync(marker); i++) await sleep(50);
      expect(existsSync(marker)).toBe(true);
      const pendingBefore = holder(await stagesOf(s.arn), 'AWSPENDING');
      expect(pendingBefore).toBeDefined();
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      recovered = await startHarness({ config });
      const r = await started.result();
      expect(r.versionId).toBe(pendingBefore);
      expect(r.recovered).toBe('resumed');
      expect((await h.aws.sm.send(new ListSecretVersionIdsCommand({ SecretId: s.arn }))).Versions).toHaveLength(2);
      expect(holder(await stagesOf(s.arn), 'AWSCURRENT')).toBe(pendingBefore);
      const history = await started.handle.fetchHistory();
      // The steps run as local activities: the dead worker's workflow task timed out and the new worker ran it again.
      expect(history.events!.some((e) => e.workflowTaskTimedOutEventAttributes)).toBe(true);
    } finally {
      child.kill('SIGKILL');
      await recovered?.close();
    }
  });
});

describe('KMS', () => {
  const startKms = (workflowType: string, workflowId: string, input: object) =>
    h.client.workflow.start(workflowType, { taskQueue: h.config.temporal.taskQueue, workflowId, args: [input], workflowIdConflictPolicy: 'FAIL' });

  it('symmetric key: on-demand rotation is recorded, automatic rotation enabled; asymmetric refused with the reason', async () => {
    const key = (await h.aws.kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    const r = (await (await startKms('kmsKeyRotationWorkflow', kmsRotationWorkflowId(key), { keyId: key, mode: 'on-demand' })).result()) as KmsKeyRotationResult;
    expect(r.changed).toBe(true);
    const rotations = (await h.aws.kms.send(new ListKeyRotationsCommand({ KeyId: key }))).Rotations ?? [];
    expect(rotations.filter((x) => x.RotationType === 'ON_DEMAND')).toHaveLength(1);
    expect(r.onDemandRotations).toBe(1);

    await (await startKms('kmsKeyRotationWorkflow', `${kmsRotationWorkflowId(key)}-auto`, { keyId: key, mode: 'enable-automatic', periodDays: 180 })).result();
    expect((await h.aws.kms.send(new GetKeyRotationStatusCommand({ KeyId: key }))).KeyRotationEnabled).toBe(true);

    const asym = (await h.aws.kms.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!.KeyId!;
    const f = await failureOf((await startKms('kmsKeyRotationWorkflow', kmsRotationWorkflowId(asym), { keyId: asym, mode: 'on-demand' })).result());
    expect(f.message).toMatch(/rotates only symmetric.*--replace/);
  });

  async function signingKeyBehindAlias() {
    const alias = `alias/${uniqueId('signing')}`;
    const meta = (await h.aws.kms.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY', Description: 'test signing key' }))).KeyMetadata!;
    await h.aws.kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: meta.KeyId! }));
    return { alias, oldKeyId: meta.KeyId! };
  }
  const sign = async (keyId: string, message: Buffer) => h.aws.kms.send(new SignCommand({ KeyId: keyId, Message: message, SigningAlgorithm: 'ECDSA_SHA_256', MessageType: 'RAW' }));
  const verify = async (keyId: string, message: Buffer, signature: Uint8Array) =>
    (await h.aws.kms.send(new VerifyCommand({ KeyId: keyId, Message: message, Signature: signature, SigningAlgorithm: 'ECDSA_SHA_256', MessageType: 'RAW' }))).SignatureValid;
  const keyState = async (keyId: string) => (await h.aws.kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!.KeyState;
  async function until(handle: WorkflowHandle, predicate: (s: KeyReplaceState) => boolean, timeoutMs = 20_000): Promise<KeyReplaceState> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = await handle.query<KeyReplaceState>('keyReplaceState');
      if (predicate(s)) return s;
      if (Date.now() > deadline) throw new Error(`timed out; phase ${s.phase}, deletion ${s.deletion}: ${s.progress.map((p) => p.message).join(' | ')}`);
      await sleep(100);
    }
  }

  it('asymmetric key: alias swap, old signatures verify during grace, new key signs; deletion only after approval, and cancellable', async () => {
    const { alias, oldKeyId } = await signingKeyBehindAlias();
    const message = Buffer.from(`payment-instruction-${randomUUID()}`);
    const oldSignature = (await sign(alias, message)).Signature!;
    const handle = await startKms('kmsKeyReplaceWorkflow', kmsReplaceWorkflowId(alias), { aliasName: alias, graceSeconds: 3, deletionWindowDays: 7, requestedBy: 'alice' });

    const inGrace = await until(handle, (s) => s.phase === 'grace');
    expect(inGrace.oldKeyId).toBe(oldKeyId);
    const newKeyId = inGrace.newKeyId!;
    expect(newKeyId).not.toBe(oldKeyId);
    // During grace: the old key is enabled and verifies what it signed; the alias signs with the new key.
    expect(await keyState(oldKeyId)).toBe('Enabled');
    expect(await verify(oldKeyId, message, oldSignature)).toBe(true);
    const fresh = await sign(alias, message);
    expect(fresh.KeyId).toContain(newKeyId);
    expect(await verify(newKeyId, message, fresh.Signature!)).toBe(true);
    expect(await verify(newKeyId, message, oldSignature)).toBe(false);
    const [oldMeta, newMeta] = await Promise.all([oldKeyId, newKeyId].map(async (k) => (await h.aws.kms.send(new DescribeKeyCommand({ KeyId: k }))).KeyMetadata!));
    expect([newMeta!.KeySpec, newMeta!.KeyUsage]).toEqual([oldMeta!.KeySpec, oldMeta!.KeyUsage]);
    const policies = await Promise.all([oldKeyId, newKeyId].map(async (k) => (await h.aws.kms.send(new GetKeyPolicyCommand({ KeyId: k, PolicyName: 'default' }))).Policy));
    expect(policies[1]).toBe(policies[0]);

    // After grace the old key is disabled (read back from AWS: moto would still let a disabled key sign, so we assert the state, not usage).
    const waiting = await until(handle, (s) => s.deletion === 'awaiting-approval');
    expect(waiting.phase).toBe('old-key-disabled');
    expect(await keyState(oldKeyId)).toBe('Disabled');
    await sleep(300);
    expect(await keyState(oldKeyId)).toBe('Disabled'); // nothing schedules deletion without approval

    expect(await refusal(handle.executeUpdate('approveDeletion', { args: [{ by: '' }] }))).toMatch(/`by` must name the operator/);
    expect(await refusal(handle.executeUpdate('approveDeletion', { args: [{ by: 'alice' }] }))).toMatch(/alice requested this rotation/);
    const approved = await handle.executeUpdate<KeyReplaceState, [{ by: string }]>('approveDeletion', { args: [{ by: 'bob' }] });
    expect(approved.deletion).toBe('scheduled');
    expect(await keyState(oldKeyId)).toBe('PendingDeletion');
    expect(Date.parse(approved.deletionDate!) - Date.now()).toBeGreaterThan(6 * 86_400_000);

    const cancelled = await handle.executeUpdate<KeyReplaceState, [{ by: string; reason: string }]>('cancelDeletion', { args: [{ by: 'carol', reason: 'still needed for audits' }] });
    expect(cancelled.deletion).toBe('cancelled');
    expect(await keyState(oldKeyId)).toBe('Disabled');
    const final = (await handle.result()) as KeyReplaceState;
    expect(final.phase).toBe('done');
    expect(final.progress.map((p) => p.message).join('\n')).toMatch(/cancelled by carol/);
  });

  it('emergency replacement disables the old key right after the alias moves; a bad deletion window is refused', async () => {
    const { alias, oldKeyId } = await signingKeyBehindAlias();
    const handle = await startKms('kmsKeyReplaceWorkflow', kmsReplaceWorkflowId(alias), { aliasName: alias, graceSeconds: 3600, deletionWindowDays: 7, emergency: true });
    const s = await until(handle, (x) => x.deletion === 'awaiting-approval', 10_000);
    expect(s.graceUntil).toBeUndefined();
    expect(await keyState(oldKeyId)).toBe('Disabled');
    expect((await h.aws.kms.send(new DescribeKeyCommand({ KeyId: alias }))).KeyMetadata!.KeyId).toBe(s.newKeyId);
    await handle.executeUpdate('cancelDeletion', { args: [{ by: 'bob' }] });
    expect(((await handle.result()) as KeyReplaceState).deletion).toBe('cancelled');
    expect(await keyState(oldKeyId)).toBe('Disabled');

    const bad = await signingKeyBehindAlias();
    const f = await failureOf((await startKms('kmsKeyReplaceWorkflow', kmsReplaceWorkflowId(bad.alias), { aliasName: bad.alias, graceSeconds: 0, deletionWindowDays: 5 })).result());
    expect(f.message).toMatch(/between 7 and 30/);
    expect((await h.aws.kms.send(new DescribeKeyCommand({ KeyId: bad.alias }))).KeyMetadata!.KeyId).toBe(bad.oldKeyId);
  });
});

describe('schedules from rotation.yaml', () => {
  it('apply creates, leaves unchanged, updates and deletes schedules to match the file; a triggered schedule rotates', async () => {
    const set = uniqueId('set');
    const s = await makeSecret({ username: 'svc', password: 'initial-password-123' });
    const [a, b] = [uniqueId('pol'), uniqueId('pol')];
    const file = join(inject('scratchDir'), `${set}.yaml`);
    const yaml = (cadenceA: string) => `version: 1
set: ${set}
defaults: { catchupWindow: 2h }
policies:
  - name: ${a}
    target: { secret: ${s.name}, strategy: single-user, generator: { length: 20 } }
    cadence: ${cadenceA}
    window: "02:00-04:00"
  - name: ${b}
    target: { kmsKey: alias/${b} }
    cadence: { cron: "15 3 * * 1" }
    jitter: 10m
    paused: true
`;
    writeFileSync(file, yaml('{ every: 30d }'));
    const applied = await bulwark(['schedule', 'apply', file, '--json']);
    expect(applied.stderr).toBe('');
    expect(applied.code).toBe(0);
    expect(JSON.parse(applied.stdout).map((r: { action: string }) => r.action)).toEqual(['created', 'created']);

    const da = await h.client.schedule.getHandle(`rotation-${a}`).describe();
    expect(da.spec.intervals).toEqual([{ every: 30 * 86_400_000, offset: 2 * 3_600_000 }]);
    expect(da.spec.jitter).toBe(2 * 3_600_000);
    expect(da.policies).toMatchObject({ overlap: 'SKIP', catchupWindow: 2 * 3_600_000 });
    expect(da.action.workflowType).toBe('scheduledRotationWorkflow');
    expect(da.action.taskQueue).toBe(h.config.temporal.taskQueue);
    expect((da.action.args![0] as ScheduledRotationInput).target).toMatchObject({ kind: 'secret', secretId: s.name, generator: { length: 20 } });
    expect(da.state.paused).toBe(false);
    const db = await h.client.schedule.getHandle(`rotation-${b}`).describe();
    expect(db.state.paused).toBe(true);
    expect(db.spec.calendars?.[0]).toMatchObject({ hour: [{ start: 3, end: 3, step: 1 }], minute: [{ start: 15, end: 15, step: 1 }] });
    expect(db.spec.jitter).toBe(10 * 60_000);
    expect((db.action.args![0] as ScheduledRotationInput).target).toEqual({ kind: 'kms-rotate', keyId: `alias/${b}` });

    expect((await applyRotationFile(h.client, h.config.temporal.taskQueue, yaml('{ every: 30d }'))).map((r) => r.action)).toEqual(['unchanged', 'unchanged']);

    // list reads visibility, which trails a moment behind.
    let listed: { scheduleId: string }[] = [];
    for (let i = 0; i < 50 && listed.length < 2; i++) {
      listed = await listRotationSchedules(h.client, set);
      if (listed.length < 2) await sleep(200);
    }
    expect(listed.map((r) => r.scheduleId)).toEqual([`rotation-${a}`, `rotation-${b}`].sort());

    const onlyA = yaml('{ every: 60d }').split(`  - name: ${b}`)[0]!;
    const rows = await applyRotationFile(h.client, h.config.temporal.taskQueue, onlyA);
    expect(rows.map((r) => [r.scheduleId, r.action])).toEqual([[`rotation-${a}`, 'updated'], [`rotation-${b}`, 'deleted']]);
    expect((await h.client.schedule.getHandle(`rotation-${a}`).describe()).spec.intervals).toEqual([{ every: 60 * 86_400_000, offset: 2 * 3_600_000 }]);
    await expect(h.client.schedule.getHandle(`rotation-${b}`).describe()).rejects.toBeInstanceOf(ScheduleNotFoundError);

    // The schedule's action really rotates: trigger it and watch the secret.
    await h.client.schedule.getHandle(`rotation-${a}`).trigger();
    let stages = await stagesOf(s.arn);
    for (let i = 0; i < 100 && !holder(stages, 'AWSPREVIOUS'); i++) {
      await sleep(100);
      stages = await stagesOf(s.arn);
    }
    expect(stages[s.initialVersionId]).toEqual(['AWSPREVIOUS']);
    expect(JSON.parse(await current(s.arn)).password).toHaveLength(20);
    await h.client.schedule.getHandle(`rotation-${a}`).delete();
  });
});

describe('bulk rotation', () => {
  it('rotate --all --tag: every tagged secret rotated, at most 5 at once, summary, exit 1 when one fails', async () => {
    const tag = uniqueId('bulk');
    const secrets = await Promise.all(Array.from({ length: 20 }, (_, i) => makeSecret({ username: `svc${i}`, password: 'initial-password-123' }, { [tag]: 'yes' })));
    const broken = await makeSecret({ note: 'no credential field here' }, { [tag]: 'yes' });
    await makeSecret({ username: 'other', password: 'initial-password-123' }, { [tag]: 'no' });

    const r = await bulwark(['rotate', '--all', '--tag', `${tag}=yes`, '--concurrency', '5', '--json']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/rotating 21 secret\(s\)/);
    expect(r.stderr).toMatch(/rotating \[#+\] 21\/21, 1 failed/);
    expect(r.stderr).toMatch(/1 of 21 rotation\(s\) failed/);
    const outcomes = JSON.parse(r.stdout) as { secretId: string; workflowId: string; status: string; error?: string }[];
    expect(outcomes).toHaveLength(21);
    expect(outcomes.filter((o) => o.status === 'rotated')).toHaveLength(20);
    expect(outcomes.find((o) => o.secretId === broken.arn)).toMatchObject({ status: 'failed', error: expect.stringMatching(/no credential field/) });
    for (const s of secrets) expect((await stagesOf(s.arn))[s.initialVersionId]).toEqual(['AWSPREVIOUS']);

    // At most 5 rotations were ever running at once (start/close times from Temporal).
    const spans = await Promise.all(outcomes.map(async (o) => {
      const d = await h.client.workflow.getHandle(o.workflowId).describe();
      return [d.startTime.getTime(), d.closeTime!.getTime()] as const;
    }));
    const maxOverlap = Math.max(...spans.map(([start]) => spans.filter(([s2, e2]) => s2 <= start && e2 > start).length));
    expect(maxOverlap).toBeLessThanOrEqual(5);
    expect(maxOverlap).toBeGreaterThan(1);
  });

  it('survives a worker restart half-way through a bulk rotation', async () => {
    const config = testConfig();
    const first = await startHarness({ config });
    const secrets = await Promise.all(Array.from({ length: 12 }, (_, i) => makeSecret({ username: `svc${i}`, password: 'initial-password-123' })));
    let restarted: Promise<{ worker: Worker; running: Promise<void> }> | undefined;
    const outcomes = await rotateMany(first.client, config.temporal.taskQueue, secrets.map((x) => ({ secretId: x.name, strategy: 'single-user' as const })), {
      concurrency: 4,
      onProgress: (done) => {
        // Half-way: stop the worker (in-flight work is handed back) and start a fresh one with its own identity.
        if (done === 5 && !restarted) {
          restarted = first.stopWorker().then(async () => {
            const { worker } = await createBulwarkWorker({ config, clients: h.aws, identity: 'restarted-worker' });
            return { worker, running: worker.run() };
          });
        }
      },
    });
    const second = await restarted!;
    try {
      expect(first.worker!.getState()).toBe('STOPPED');
      expect(outcomes.map((o) => o.status)).toEqual(Array(12).fill('rotated'));
      for (const x of secrets) {
        expect((await stagesOf(x.arn))[x.initialVersionId]).toEqual(['AWSPREVIOUS']);
        expect((await h.aws.sm.send(new ListSecretVersionIdsCommand({ SecretId: x.arn }))).Versions).toHaveLength(2);
      }
      // Rotations started after the restart (the last three) ran on the second worker.
      const finishedBy = await Promise.all(
        outcomes.slice(-3).map(async (o) => {
          const events = (await h.client.workflow.getHandle(o.workflowId).fetchHistory()).events ?? [];
          return events.filter((e) => e.workflowTaskStartedEventAttributes).at(-1)!.workflowTaskStartedEventAttributes!.identity;
        }),
      );
      expect(finishedBy).toEqual(Array(3).fill('restarted-worker'));
    } finally {
      second.worker.shutdown();
      await second.running;
      await first.close();
    }
  });
});
