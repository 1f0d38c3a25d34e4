/**
 * Chaos: secret rotation under kill -9 (issue #5). Every step of secretRotationWorkflow —
 * createSecret, setSecret (an HTTPS target), testSecret, finishSecret — × {before, after} × both
 * strategies is one rotation of its own secret. All 16 run in one child worker
 * (test/chaos/boundary-worker.ts) that holds each at its own boundary; one SIGKILL leaves all of
 * them there at once, and a new worker must finish every one. A 17th run is the lost rotation: killed
 * after createSecret and then terminated, its AWSPENDING version is left behind for the next rotation
 * of that secret to clean up. Everything is read back from moto, the target's own records and
 * Temporal history. The same 17 runs at every CHAOS_SCALE: one worker start and one kill cover them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { CreateSecretCommand, DescribeSecretCommand, GetSecretValueCommand, ListSecretVersionIdsCommand } from '@aws-sdk/client-secrets-manager';
import type { WorkflowHandle } from '@temporalio/client';
import { rotationToken } from '../../activities/secrets.js';
import { startSecretRotation, type Started } from '../../cli/commands/rotate.js';
import { secretRotationWorkflowId } from '../../domain/rotation/ids.js';
import { otherUser, type RotationStrategy } from '../../domain/rotation/strategy.js';
import type { SecretRotationInput, SecretRotationResult } from '../../workflows/rotation.js';
import { CredentialEndpoint } from '../support/credential-endpoint.js';
import { startHarness, testConfig, uniqueId, waitFor, type Harness } from '../support.js';
import { recordResult } from './support.js';

const STEPS = [
  { step: 'createSecret', activity: 'rotationCreateSecret' },
  { step: 'setSecret', activity: 'rotationSetSecret' },
  { step: 'testSecret', activity: 'rotationTestSecret' },
  { step: 'finishSecret', activity: 'rotationFinishSecret' },
] as const;
const STRATEGIES: RotationStrategy[] = ['single-user', 'alternating-users'];
const WHEN = ['before', 'after'] as const;
/** The first user of each strategy's secret; alternating-users must switch to its partner. */
const FIRST_USER: Record<RotationStrategy, string> = { 'single-user': 'svc', 'alternating-users': 'app' };

type Recovered = SecretRotationResult['recovered'];

/**
 * What createSecret may report on the new worker. Killed before createSecret: nothing was done.
 * Killed after it: the version exists under this rotation's token (resumed). Killed later: the step
 * results the old worker had recorded are replayed (none); steps it ran but had not recorded yet
 * (local activities are recorded per workflow task) run again and find their own version (resumed),
 * or, after finishSecret, find it already AWSCURRENT (finished).
 */
function allowedRecovery(step: (typeof STEPS)[number]['step'], when: 'before' | 'after'): Recovered[] {
  if (step === 'createSecret') return when === 'before' ? ['none'] : ['resumed'];
  if (step === 'finishSecret' && when === 'after') return ['none', 'resumed', 'finished'];
  return ['none', 'resumed'];
}

/**
 * What the killed worker must have left (read before any other worker runs): proof the kill came
 * exactly at the boundary. `calls` is how many times the target had been called.
 */
function leftAtKill(step: string, when: 'before' | 'after', s: { initial: string; token: string; stages: Record<string, string[]>; calls: number }): string | undefined {
  const current = Object.entries(s.stages).find(([, l]) => l.includes('AWSCURRENT'))?.[0];
  const mine = s.stages[s.token];
  const pending = mine?.includes('AWSPENDING') ?? false;
  const where = current === s.token ? 'this version' : current === s.initial ? 'the initial version' : (current ?? 'no version');
  const seen = `this rotation's version ${mine ? mine.join(',') || 'unlabelled' : 'absent'}, AWSCURRENT on ${where}, target called ${s.calls}×`;
  const untouched = current === s.initial;
  const ok =
    step === 'createSecret' && when === 'before' ? !mine && untouched && s.calls === 0
    : step === 'createSecret' || step === 'stale' || (step === 'setSecret' && when === 'before') ? pending && untouched && s.calls === 0
    : step === 'finishSecret' && when === 'after' ? current === s.token && !pending && s.calls >= 1
    : pending && untouched && s.calls >= 1;
  return ok ? undefined : `at the kill (${when} ${step}): ${seen}`;
}

interface Secret {
  name: string;
  arn: string;
  initialVersionId: string;
  value: string;
}

interface Run {
  label: string;
  strategy: RotationStrategy;
  step: (typeof STEPS)[number]['step'] | 'stale';
  activity: string;
  when: 'before' | 'after';
  secret: Secret;
  workflowId: string;
  runId: string;
  started: Started<SecretRotationResult>;
  problems: string[];
  duplicates: number;
  /** For the results' detail: how the new worker found things, and how often the target was called. */
  recovered?: Recovered;
  targetCalls?: number;
}

const children = new Set<ChildProcess>();
const open: Harness[] = [];
const endpoints: CredentialEndpoint[] = [];
afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  for (const h of open.splice(0)) await h.close();
  for (const e of endpoints) await e.stop();
});

async function killHard(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await gone;
}

/** Resolves with the result, or with the failure's text, so one stuck run cannot hide the others. */
async function settle(p: Promise<SecretRotationResult>, ms: number): Promise<SecretRotationResult | string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((r) => (timer = setTimeout(() => r(`no result within ${ms / 1000}s`), ms)));
  try {
    return await Promise.race([p.catch((err: unknown) => `failed: ${(err as { cause?: { message?: string } }).cause?.message ?? (err as Error).message}`), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The identities of the workers that completed `activity` in this run: from ActivityTaskCompleted
 * for a (remote) activity, or from the workflow task that recorded a local activity's marker.
 */
async function completedBy(handle: WorkflowHandle, activity: string): Promise<string[]> {
  const events = (await handle.fetchHistory()).events ?? [];
  const byId = new Map(events.map((e) => [String(e.eventId), e]));
  const out: string[] = [];
  for (const e of events) {
    const done = e.activityTaskCompletedEventAttributes;
    if (done && byId.get(String(done.scheduledEventId))?.activityTaskScheduledEventAttributes?.activityType?.name === activity) out.push(done.identity ?? '');
    const marker = e.markerRecordedEventAttributes;
    const data = marker?.markerName === 'core_local_activity' ? marker.details?.data?.payloads?.[0]?.data : undefined;
    if (data && Buffer.from(data).toString('utf8').includes(`"${activity}"`)) {
      out.push(byId.get(String(marker!.workflowTaskCompletedEventId))?.workflowTaskCompletedEventAttributes?.identity ?? '');
    }
  }
  return out;
}

describe('chaos: kill -9 the worker at every step of a secret rotation', () => {
  it('2 strategies × 4 steps × before/after: each rotation finishes once; a lost rotation’s stale AWSPENDING is cleaned by the next', async () => {
    const t0 = Date.now();
    const config = testConfig();
    const h = await startHarness({ config, worker: false });
    open.push(h);
    const endpoint = new CredentialEndpoint();
    endpoints.push(endpoint);
    await endpoint.start();
    const target = { kind: 'https' as const, url: `${endpoint.url}/credentials` };
    const markerDir = mkdtempSync(join(inject('scratchDir'), 'rotation-crash-'));
    const childIdentity = uniqueId('rotation-crash-killed-worker');

    const makeSecret = async (strategy: RotationStrategy): Promise<Secret> => {
      // No '/' in the name: the boundary worker names its marker file after the workflow id.
      const name = uniqueId('chaos-rot-crash');
      const value = JSON.stringify({ username: FIRST_USER[strategy], password: randomBytes(18).toString('base64url'), host: 'db.internal' });
      const s = await h.aws.sm.send(new CreateSecretCommand({ Name: name, SecretString: value }));
      return { name, arn: s.ARN!, initialVersionId: s.VersionId!, value };
    };
    const start = async (cell: Omit<Run, 'secret' | 'workflowId' | 'runId' | 'started' | 'problems' | 'duplicates'>): Promise<Run> => {
      const secret = await makeSecret(cell.strategy);
      const input: SecretRotationInput = { secretId: secret.name, strategy: cell.strategy, target, requestedBy: 'chaos', reason: cell.label };
      const started = await startSecretRotation(h.client, config.temporal.taskQueue, input);
      const runId = (await started.handle.describe()).runId;
      return { ...cell, secret, workflowId: secretRotationWorkflowId(secret.name), runId, started, problems: [], duplicates: 0 };
    };

    // Every rotation waits for a worker until the child starts: all are on their way at once.
    const runs: Run[] = [];
    for (const strategy of STRATEGIES) {
      for (const { step, activity } of STEPS) {
        for (const when of WHEN) runs.push(await start({ label: `${strategy}: ${when} ${step}`, strategy, step, activity, when }));
      }
    }
    const stale = await start({ label: 'lost rotation: after createSecret, then terminated', strategy: 'single-user', step: 'stale', activity: 'rotationCreateSecret', when: 'after' });
    const all = [...runs, stale];
    const plan = Object.fromEntries(all.map((r) => [r.workflowId, { activity: r.activity, when: r.when, everyAttempt: true }]));

    const child = spawn(process.execPath, ['--import', 'tsx', 'test/chaos/boundary-worker.ts'], {
      env: {
        // Level and log file inherited (test/setup-logs.ts): the killed worker's logs are grepped for secrets too.
        ...process.env,
        TEMPORAL_ADDRESS: config.temporal.address,
        AWS_ENDPOINT_URL: config.aws.endpoint!,
        BULWARK_TASK_QUEUE: config.temporal.taskQueue,
        KILL_PLAN: JSON.stringify(plan),
        MARKER_DIR: markerDir,
        WORKER_IDENTITY: childIdentity,
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    children.add(child);
    const atBoundary = (r: Run) => existsSync(join(markerDir, r.workflowId));
    await waitFor(() => all.every(atBoundary) || child.exitCode !== null, 'every rotation to reach its boundary in the child worker', 240_000).catch(() => undefined);
    expect(all.filter((r) => !atBoundary(r)).map((r) => r.label), 'rotations that never reached their boundary').toEqual([]);
    const reachedAt = Date.now();
    // The lost rotation's version: its run's token (left AWSPENDING, checked below with the others).
    const staleVersion = rotationToken(`${stale.workflowId}/${stale.runId}`);
    await killHard(child);
    const killedAt = Date.now();
    for (const run of all) {
      const stages = (await h.aws.sm.send(new DescribeSecretCommand({ SecretId: run.secret.arn }))).VersionIdsToStages ?? {};
      const token = rotationToken(`${run.workflowId}/${run.runId}`);
      const wrong = leftAtKill(run.step, run.when, { initial: run.secret.initialVersionId, token, stages, calls: endpoint.requestsFor(run.secret.name).length });
      if (wrong) run.problems.push(wrong);
    }

    // The lost rotation: nobody will finish it. Terminated before a worker can pick it up again.
    await h.client.workflow
      .getHandle(stale.workflowId, stale.runId)
      .terminate('chaos: simulating a lost rotation')
      .catch((err: unknown) => stale.problems.push(`could not terminate the lost rotation: ${(err as Error).message}`));

    const recovered = await startHarness({ config });
    open.push(recovered);
    const next = await startSecretRotation(h.client, config.temporal.taskQueue, { secretId: stale.secret.name, strategy: 'single-user', target, requestedBy: 'chaos', reason: 'after a lost rotation' });
    const nextRunId = (await next.handle.describe()).runId;
    const results = await Promise.all(all.map((r) => settle(r === stale ? next.result() : r.started.result(), 180_000)));
    const finishedAt = Date.now();

    for (const [i, run] of all.entries()) {
      const problem = (p: string) => run.problems.push(p);
      const r = results[i]!;
      if (typeof r === 'string') {
        problem(`rotation ${r}`);
        continue;
      }
      const runId = run === stale ? nextRunId : run.runId;
      const want = rotationToken(`${run.workflowId}/${runId}`);
      const { secret } = run;

      // The result reports success, with this rotation's own version.
      if (r.versionId !== want) problem(`result version ${r.versionId}, expected this rotation's token ${want}`);
      if (r.previousVersionId !== secret.initialVersionId) problem(`result AWSPREVIOUS ${r.previousVersionId}, expected ${secret.initialVersionId}`);
      const expectRecovered: Recovered[] = run === stale ? ['cleaned'] : allowedRecovery(run.step as (typeof STEPS)[number]['step'], run.when);
      if (!expectRecovered.includes(r.recovered)) problem(`recovered ${r.recovered}, expected ${expectRecovered.join(' or ')}`);
      const status = (await h.client.workflow.getHandle(run.workflowId, runId).describe()).status.name;
      if (status !== 'COMPLETED') problem(`workflow ${status}`);

      // Exactly one new version (deprecated, label-less ones counted too), AWSCURRENT moved once.
      const versions = ((await h.aws.sm.send(new ListSecretVersionIdsCommand({ SecretId: secret.arn, IncludeDeprecated: true }))).Versions ?? []).map((v) => v.VersionId!);
      const expected = new Set([secret.initialVersionId, want, ...(run === stale ? [staleVersion] : [])]);
      const extra = versions.filter((v) => !expected.has(v));
      if (extra.length) {
        run.duplicates += extra.length;
        problem(`duplicate: extra secret version(s) ${extra.join(', ')}`);
      }
      if (!versions.includes(want) || !versions.includes(secret.initialVersionId)) problem(`versions ${versions.join(', ')}: missing the initial or the new one`);
      const stages = (await h.aws.sm.send(new DescribeSecretCommand({ SecretId: secret.arn }))).VersionIdsToStages ?? {};
      const holders = (label: string) => Object.entries(stages).filter(([, l]) => l.includes(label)).map(([v]) => v);
      if (holders('AWSCURRENT').join() !== want) problem(`AWSCURRENT on ${holders('AWSCURRENT').join(', ') || 'nothing'}, expected ${want}`);
      if (holders('AWSPREVIOUS').join() !== secret.initialVersionId) problem(`AWSPREVIOUS on ${holders('AWSPREVIOUS').join(', ') || 'nothing'}, expected the old current ${secret.initialVersionId}`);
      if (holders('AWSPENDING').length) problem(`AWSPENDING left on ${holders('AWSPENDING').join(', ')}`);

      // The value satisfies the strategy: same fields, new password, the user switched (alternating).
      const now = await h.aws.sm.send(new GetSecretValueCommand({ SecretId: secret.arn, VersionStage: 'AWSCURRENT' }));
      const previous = await h.aws.sm.send(new GetSecretValueCommand({ SecretId: secret.arn, VersionStage: 'AWSPREVIOUS' }));
      const before = JSON.parse(secret.value) as { username: string; password: string; host: string };
      const after = JSON.parse(now.SecretString ?? '{}') as Partial<typeof before>;
      const user = run.strategy === 'alternating-users' ? otherUser(before.username) : before.username;
      if (now.VersionId !== want) problem(`AWSCURRENT reads as version ${now.VersionId}`);
      if (previous.SecretString !== secret.value) problem('AWSPREVIOUS no longer holds the old value');
      if (after.username !== user) problem(`new version authenticates as ${after.username}, expected ${user}`);
      // A rotation that finds its version already AWSCURRENT does not read the value again (no username then).
      if (r.username !== user) problem(`result names user ${r.username}, expected ${user}`);
      if (after.host !== before.host || Object.keys(after).sort().join() !== 'host,password,username') problem(`fields changed: ${Object.keys(after).sort().join(',')}`);
      if (!after.password || after.password === before.password) problem('the password did not change');

      // The target got the new credential: accepted exactly once, every repeat the same version and value.
      const seen = endpoint.requestsFor(secret.name);
      run.recovered = r.recovered;
      run.targetCalls = seen.length;
      const accepted = seen.filter((q) => q.status === 201);
      if (accepted.length !== 1) problem(`target accepted ${accepted.length} credential(s), expected 1`);
      if (accepted.length > 1) run.duplicates += accepted.length - 1;
      const foreign = seen.filter((q) => q.versionId !== want);
      if (foreign.length) problem(`target was handed version(s) ${[...new Set(foreign.map((q) => q.versionId))].join(', ')}, expected only ${want}`);
      const refused = seen.filter((q) => q.status !== 201 && q.status !== 409);
      if (refused.length) problem(`target answered ${refused.map((q) => q.status).join(', ')} (a repeat with a different credential, or a bad request)`);
      const held = endpoint.held(secret.name, want);
      if (held?.credential !== after.password || held?.username !== user) problem('the credential the target holds is not the new AWSCURRENT one');
      // The calls the rotation made: one, unless the kill came after the target was already called.
      const repeatable = run.step === 'setSecret' ? run.when === 'after' : run.step === 'testSecret' || run.step === 'finishSecret';
      if (run.step === 'setSecret' && run.when === 'after' && seen.length < 2) problem(`target called ${seen.length} time(s): the retry after the kill did not reach it`);
      if (!repeatable && seen.length !== 1) problem(`target called ${seen.length} times, expected once`);

      // The step the worker died in was completed by the new worker, never by the killed one.
      const by = await completedBy(h.client.workflow.getHandle(run.workflowId, runId), run.activity);
      if (by.length !== 1) problem(`${run.activity} recorded ${by.length} times in history`);
      if (run !== stale && by.some((id) => !id || id === childIdentity)) problem(`${run.activity} completed by ${by.join(', ')}, expected the new worker`);
    }

    // The lost rotation: what it left, and how the next rotation of that secret dealt with it.
    const staleResult = results[all.indexOf(stale)]!;
    const staleProblem = (p: string) => stale.problems.push(p);
    const terminated = (await h.client.workflow.getHandle(stale.workflowId, stale.runId).describe()).status.name;
    if (terminated !== 'TERMINATED') staleProblem(`the lost rotation is ${terminated}, expected TERMINATED`);
    if (typeof staleResult !== 'string') {
      if (staleResult.staleVersionId !== staleVersion) staleProblem(`next rotation cleaned ${staleResult.staleVersionId}, expected ${staleVersion}`);
      if (!staleResult.progress.some((p) => p.message.includes(`removed stale AWSPENDING from version ${staleVersion}`))) staleProblem('progress does not report the clean-up');
      const stages = (await h.aws.sm.send(new DescribeSecretCommand({ SecretId: stale.secret.arn }))).VersionIdsToStages ?? {};
      if ((stages[staleVersion] ?? []).length) staleProblem(`the stale version still has ${stages[staleVersion]!.join(',')}`);
    }

    const problems = all.flatMap((r) => r.problems.map((p) => `${r.label}: ${p}`));
    const duplicates = all.reduce((s, r) => s + r.duplicates, 0);
    recordResult({
      suite: 'secret rotation kill -9 at every step',
      runs: all.length,
      faultsInjected: 1,
      incidentsCompleted: all.filter((r) => r.problems.length === 0).length,
      duplicates,
      lostAlerts: 0,
      fuzzInputs: 0,
      notes: `2 strategies × 4 steps × before/after + a lost rotation's stale AWSPENDING; one SIGKILL; ${Math.round((reachedAt - t0) / 1000)}s to the boundaries, ${Math.round((finishedAt - killedAt) / 1000)}s to recover`,
      detail: { runs: all.map((r) => ({ run: r.label, workflowId: r.workflowId, recovered: r.recovered, targetCalls: r.targetCalls, problems: r.problems })) },
    });
    expect(problems).toEqual([]);
    expect(duplicates).toBe(0);
  }, 600_000);
});
