/**
 * Chaos: process faults. The worker is killed with SIGKILL at every step boundary of every built-in
 * playbook; a dedicated Temporal dev server (persistent SQLite file) is killed and restarted in the
 * middle of incidents; the intake process is killed and restarted during an alert storm whose
 * clients retry. Every run ends with the AWS end state read back from the sandbox and the incident's
 * audit chain verified.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import type { Worker } from '@temporalio/worker';
import { createAwsClients } from '../../activities/clients.js';
import { parseAlert } from '../../domain/alert.js';
import { fingerprint, incidentWorkflowId } from '../../domain/fingerprint.js';
import type { IncidentState } from '../../domain/incident.js';
import { freePort, startTemporal, type RunningServer } from '../../devstack/servers.js';
import { createDeliverer } from '../../intake/app.js';
import { connectClient } from '../../intake/temporal-client.js';
import { createLogger } from '../../telemetry/logger.js';
import { workflowBundle } from '../../worker/bundle.js';
import { createBulwarkWorker } from '../../worker/worker.js';
import { resolveUpdate, stateQuery } from '../../workflows/definitions.js';
import { ledgerWorkflowId } from '../../workflows/waf-block-definitions.js';
import { runCli, startHarness, testConfig, uniqueId, type Harness, waitFor } from '../support.js';
import {
  auditChainOutcome,
  boundaryRuns,
  driveToEnd,
  emptyOutcome,
  FULL,
  fullAlert,
  incidentTally,
  mergeOutcomes,
  recordResult,
  SCALE,
  SCENARIOS,
  scenarioEnv,
  stepsRecordedOnce,
  type Boundary,
  type Driven,
  type Scenario,
} from './support.js';
import { DefaultLogger, Runtime, makeTelemetryFilterString } from '@temporalio/worker';

// Injected faults make every activity retry loud; keep the SDK's own log to errors in chaos runs.
try {
  Runtime.install({ logger: new DefaultLogger('ERROR'), telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'ERROR' }) } } });
} catch {
  // already installed in this process
}

const open: Harness[] = [];
const children = new Set<ChildProcess>();
const servers: RunningServer[] = [];
afterEach(async () => {
  for (const c of children) c.kill('SIGKILL');
  children.clear();
  for (const h of open.splice(0)) await h.close();
});
afterAll(async () => {
  for (const s of servers) await s.stop();
});

function spawnTsx(args: string[], env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], { env: { ...process.env, BULWARK_LOG_LEVEL: 'silent', ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

async function killHard(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await gone;
}

/** Runs `fn` over `items`, at most `limit` at a time, keeping their order in the result. */
async function inParallel<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

/** Where a run's child worker hung (test/chaos/boundary-worker.ts, key `*`). */
interface Reached {
  activity: string;
  when: string;
  workflowId: string;
  workflowType: string;
}

interface BoundaryRun extends Driven {
  boundary: string;
  reached?: Reached;
  /** Seconds from the run's start to each phase's end, for the results' detail. */
  phases: Record<string, number>;
}

function readReached(file: string): Reached | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Reached;
  } catch {
    return undefined;
  }
}

/** Whether the boundary's activity was attempted again in that workflow: proof the killed attempt was retried. */
async function retried(h: Harness, workflowId: string, activity: string): Promise<boolean> {
  const events = (await h.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
  const scheduled = new Set(events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === activity).map((e) => String(e.eventId)));
  return events.some((e) => scheduled.has(String(e.activityTaskStartedEventAttributes?.scheduledEventId)) && (e.activityTaskStartedEventAttributes?.attempt ?? 1) > 1);
}

/** Polls `check` every second (each is a history fetch) until it holds or `timeoutMs` passes. */
async function holdsWithin(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  for (const deadline = Date.now() + timeoutMs; ; await new Promise((r) => setTimeout(r, 1000))) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
  }
}

/**
 * One boundary, one run: its own incident on a task queue of its own, served by its own worker
 * process, which hangs at the boundary (in the incident or in a workflow the incident started on
 * that queue) and gets SIGKILL there; then a fresh worker on the queue must finish the incident.
 */
async function boundaryRun(h: Harness, auditDir: string, bundlePath: string, scenario: Scenario, boundary: Boundary): Promise<BoundaryRun> {
  const started = Date.now();
  const label = `${scenario.playbook}: ${boundary.when} ${boundary.activity}`;
  const dir = mkdtempSync(join(inject('scratchDir'), 'chaos-boundary-'));
  const { env, overrides } = scenarioEnv(join(dir, 'env'));
  const config = testConfig({ audit: { dir: auditDir }, ...overrides });
  const run = await scenario.prepare(h.aws, env);
  const parsed = parseAlert(fullAlert(run));
  if (!parsed.ok) throw new Error(`bad chaos alert: ${JSON.stringify(parsed.errors)}`);
  const { workflowId } = await createDeliverer(config, h.client, createLogger('silent')).deliver(parsed.value);
  const inc: BoundaryRun = { workflowId, run, boundary: label, outcome: emptyOutcome(), done: false, phases: {} };
  const phase = (name: string) => (inc.phases[name] = Math.round((Date.now() - started) / 100) / 10);
  phase('started');
  const fail = (problem: string) => inc.outcome.problems.push(problem);
  const ledgerId = ledgerWorkflowId(env.ipSetName);

  const markerDir = join(dir, 'markers');
  mkdirSync(markerDir);
  const marker = join(markerDir, 'run.json');
  const child = spawnTsx(['test/chaos/boundary-worker.ts'], {
    TEMPORAL_ADDRESS: config.temporal.address,
    AWS_ENDPOINT_URL: config.aws.endpoint!,
    BULWARK_TASK_QUEUE: config.temporal.taskQueue,
    BULWARK_AUDIT_DIR: auditDir,
    BULWARK_CRL_DIR: env.crlDir,
    BULWARK_WAF_IP_SET: env.ipSetName,
    KILL_PLAN: JSON.stringify({ '*': boundary }),
    MARKER_DIR: markerDir,
    WORKFLOW_BUNDLE: bundlePath,
  });
  const childGone = () => child.exitCode !== null || child.signalCode !== null;
  child.stdout?.once('data', () => phase('workerReady'));
  // Approvals and resolutions that come before the boundary are given while the child runs. A
  // boundary in a workflow the incident started (the IP-set ledger) may come after the incident is done.
  await driveToEnd(h.client, [inc], { timeoutMs: 150_000, until: () => existsSync(marker) || childGone() });
  await waitFor(() => existsSync(marker) || childGone(), 'the boundary', 30_000).catch(() => undefined);
  const reachedIt = existsSync(marker);
  const exitedEarly = childGone();
  await killHard(child);
  phase('killed');
  const worker = reachedIt ? (await createBulwarkWorker({ config, clients: h.aws })).worker : undefined;
  const running = worker?.run();
  try {
    if (!reachedIt) {
      fail(`never reached its boundary (${exitedEarly ? `the worker exited with ${child.exitCode ?? child.signalCode}` : `incident ${inc.state?.status}`})`);
      return inc;
    }
    // The marker is written, not renamed into place: read it once it parses.
    await waitFor(() => readReached(marker) !== undefined, 'a complete marker', 5_000);
    const reached = readReached(marker)!;
    inc.reached = reached;
    // The kill is this run's: the boundary was reached in its incident or in a workflow it started.
    const parent = reached.workflowId === workflowId ? workflowId : (await h.client.workflow.getHandle(reached.workflowId).describe().catch(() => undefined))?.parentExecution?.workflowId;
    if (parent !== workflowId && reached.workflowId !== ledgerId) fail(`the boundary was reached in ${reached.workflowType} ${reached.workflowId}, which this incident did not start`);

    inc.done = false;
    await driveToEnd(h.client, [inc], { timeoutMs: FULL ? 300_000 : 150_000 });
    phase('finished');
    if (!inc.done) fail(`did not finish (${inc.state?.status} ${inc.state?.attention ?? ''})`);
    // The ledger is not awaited by the incident: its killed attempt is retried once its 60 s start-to-close timeout has run out.
    const wasRetried = await holdsWithin(() => retried(h, reached.workflowId, boundary.activity), 100_000);
    if (!wasRetried) fail(`${boundary.activity} was not retried in ${reached.workflowType} ${reached.workflowId} after the kill`);
    inc.outcome = mergeOutcomes(inc.outcome, stepsRecordedOnce(inc.state), await run.final({ client: h.client, state: inc.state }), await auditChainOutcome(h.client, auditDir, workflowId));
    phase('checked');
    return inc;
  } finally {
    inc.outcome.problems = inc.outcome.problems.map((p) => `${label}: ${p}`);
    await h.client.workflow.getHandle(ledgerId).terminate('chaos run over').catch(() => undefined);
    if (worker?.getState() === 'RUNNING') worker.shutdown();
    await running;
    phase('done');
  }
}

describe('chaos: kill -9 the worker at step boundaries', () => {
  const runs = boundaryRuns(FULL);
  // Most of a run is waiting out the killed attempt's start-to-close timeout, so runs overlap.
  // In `npm test` other files run beside this one on two cores: eight worker processes at once timed
  // out twice in eight runs on a loaded machine, so four at a time.
  const parallel = FULL ? 6 : 4;

  it(`${runs.length} runs (one per playbook step boundary, each its own worker process) each finish once, with the right AWS state and a valid audit chain`, async () => {
    const auditDir = mkdtempSync(join(inject('scratchDir'), 'chaos-audit-'));
    const h = await startHarness({ config: testConfig({ audit: { dir: auditDir } }), worker: false });
    open.push(h);
    // One bundle for every child worker (and this process's recovery workers): bundling is the costly part of a worker start.
    const bundling = Date.now();
    const bundlePath = join(inject('scratchDir'), `${uniqueId('chaos-bundle')}.js`);
    writeFileSync(bundlePath, (await workflowBundle()).code);
    const started = Date.now();
    const bundleSeconds = Math.round((started - bundling) / 1000);
    const incidents = await inParallel(runs, parallel, ({ scenario, boundary }) => boundaryRun(h, auditDir, bundlePath, scenario, boundary));
    const cli = await runCli(h, ['audit', 'verify', incidents[0]!.workflowId, '--no-kms'], { BULWARK_AUDIT_DIR: auditDir });
    const { problems, ...tally } = incidentTally(incidents);
    recordResult({
      suite: 'worker kill -9 at step boundaries',
      ...tally,
      faultsInjected: incidents.filter((i) => i.reached).length,
      lostAlerts: 0,
      fuzzInputs: 0,
      notes: `one worker process and one SIGKILL per boundary, ${parallel} runs at a time, ${Math.round((Date.now() - started) / 1000)} s`,
      detail: { bundleSeconds, boundaries: incidents.map((i) => ({ boundary: i.boundary, reachedIn: i.reached?.workflowType, seconds: i.phases })), problems },
    });
    expect(problems).toEqual([]);
    expect(tally.duplicates).toBe(0);
    expect(cli.code, cli.stderr).toBe(0);
  }, FULL ? 1_500_000 : 600_000);
});

describe('chaos: the Temporal dev server is killed and restarted mid-incident', () => {
  it('incidents in flight finish after the restart, once, from the persisted state', async () => {
    const dir = mkdtempSync(join(inject('scratchDir'), 'chaos-temporal-'));
    const port = await freePort();
    const serverOpts = { port, headless: true, dbFile: join(dir, 'temporal.db'), logFile: join(dir, 'temporal.log') };
    let server = await startTemporal(serverOpts);
    servers.push(server);
    const config = testConfig({ temporal: { address: server.address }, audit: { dir: join(dir, 'audit') } });
    const client = await connectClient(config);
    const aws = createAwsClients(testConfig().aws);
    open.push({ close: () => client.connection.close() } as Harness);

    // Hold every incident inside its secret rotation until the server is down.
    let arrived = 0;
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const wrapActivities = <T extends object>(activities: T): T => {
      const all = activities as Record<string, (...a: unknown[]) => Promise<unknown>>;
      const real = all.finishSecret!;
      return {
        ...all,
        finishSecret: async (...args: unknown[]) => {
          arrived++;
          await released;
          return real(...args);
        },
      } as T;
    };
    let worker: Worker | undefined;
    let workerFailures = 0;
    const runWorker = async () => {
      worker = (await createBulwarkWorker({ config, wrapActivities })).worker;
      void worker.run().catch(() => workerFailures++);
    };
    await runWorker();

    const count = FULL ? 6 : 2;
    const scenario = SCENARIOS.find((s) => s.playbook === 'credential-compromise')!;
    const deliverer = createDeliverer(config, client, createLogger('silent'));
    const incidents: Driven[] = [];
    for (let i = 0; i < count; i++) {
      const run = await scenario.prepare(aws);
      const parsed = parseAlert(fullAlert(run));
      if (!parsed.ok) throw new Error('bad chaos alert');
      incidents.push({ workflowId: (await deliverer.deliver(parsed.value)).workflowId, run, outcome: { problems: [], duplicates: 0 }, done: false });
    }
    await waitFor(() => arrived >= count, 'every incident to reach finishSecret', 90_000);

    process.kill(server.pid!, 'SIGKILL');
    const pid = server.pid!;
    await waitFor(() => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    }, 'the server process to be gone', 10_000);
    // The AWS work completes while Temporal is away; its completion cannot be recorded.
    release();
    await new Promise((r) => setTimeout(r, 1500));
    server = await startTemporal(serverOpts);
    servers.push(server);
    // A worker whose connection gave up during the outage is replaced, as a supervisor would.
    if (workerFailures > 0 || worker?.getState() !== 'RUNNING') await runWorker();

    await driveToEnd(client, incidents, { timeoutMs: 120_000 });
    for (const inc of incidents) {
      if (!inc.done) inc.outcome.problems.push(`${inc.workflowId}: did not finish (${inc.state?.status} ${inc.state?.attention ?? ''})`);
      inc.outcome = mergeOutcomes(inc.outcome, await inc.run.final(), await auditChainOutcome(client, config.audit.dir, inc.workflowId));
    }
    if (worker?.getState() === 'RUNNING') worker.shutdown();
    const { problems, ...tally } = incidentTally(incidents);
    recordResult({
      suite: 'temporal server kill -9 + restart',
      ...tally,
      faultsInjected: 1,
      lostAlerts: 0,
      fuzzInputs: 0,
      detail: { workerReplaced: workerFailures > 0, problems },
    });
    expect(problems).toEqual([]);
  }, 400_000);
});

describe('chaos: the intake process is killed and restarted during an alert storm', () => {
  it('clients retry; every alert answered 202 is counted in its incident', async () => {
    const total = Math.round(Math.min(2000, 150 * SCALE));
    const fingerprints = FULL ? 12 : 4;
    const restarts = FULL ? 2 : 1;
    const auditDir = mkdtempSync(join(inject('scratchDir'), 'chaos-audit-'));
    const config = testConfig({ audit: { dir: auditDir } });
    const h = await startHarness({ config });
    open.push(h);
    const secret = randomBytes(24).toString('hex');
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const startIntakeProcess = async () => {
      const child = spawnTsx(['cli/bulwark.ts', 'serve'], {
        TEMPORAL_ADDRESS: config.temporal.address,
        BULWARK_TASK_QUEUE: config.temporal.taskQueue,
        BULWARK_WEBHOOK_SECRET: secret,
        BULWARK_INTAKE_PORT: String(port),
        BULWARK_AUDIT_DIR: auditDir,
      });
      await waitFor(() => fetch(`${url}/healthz`).then((r) => r.ok, () => false), 'the intake to answer', 60_000);
      return child;
    };
    let intake = await startIntakeProcess();

    const run = uniqueId('storm');
    const alerts = Array.from({ length: total }, (_, i) => ({
      source: 'chaos-storm',
      type: 'anomaly.detected',
      severity: 'high',
      observedAt: new Date().toISOString(),
      dedupKey: `${run}-${i % fingerprints}`,
      subject: {},
    }));
    const workflowOf = (alert: (typeof alerts)[number]) => {
      const parsed = parseAlert(alert);
      if (!parsed.ok) throw new Error('bad storm alert');
      return incidentWorkflowId(fingerprint(parsed.value));
    };
    const accepted = new Map<string, number>();
    const statuses = new Map<number, number>();
    let retries = 0;
    let next = 0;
    let acceptedTotal = 0;
    const send = async (alert: (typeof alerts)[number]) => {
      const body = JSON.stringify(alert);
      for (;;) {
        const ts = String(Math.floor(Date.now() / 1000));
        const sig = createHmac('sha256', secret).update(`${ts}.${body}`).digest('hex');
        const status = await fetch(`${url}/v1/alerts`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-bulwark-timestamp': ts, 'x-bulwark-signature': `v1=${sig}` },
          body,
          signal: AbortSignal.timeout(15_000),
        }).then(
          async (r) => (await r.arrayBuffer(), r.status),
          () => 0,
        );
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        if (status === 202) {
          const wf = workflowOf(alert);
          accepted.set(wf, (accepted.get(wf) ?? 0) + 1);
          acceptedTotal++;
          return;
        }
        // Connection refused/reset (intake down) or 503 (Temporal unreachable): nothing was accepted; send again.
        if (status !== 0 && status !== 503) throw new Error(`alert refused with HTTP ${status}`);
        retries++;
        await new Promise((r) => setTimeout(r, 100 + Math.random() * 200));
      }
    };
    const senders = Array.from({ length: 16 }, async () => {
      while (next < alerts.length) await send(alerts[next++]!);
    });
    let restarted = 0;
    const chaos = (async () => {
      for (let k = 1; k <= restarts; k++) {
        await waitFor(() => acceptedTotal >= (total * k) / (restarts + 1) || next >= alerts.length, 'storm progress', 120_000);
        await killHard(intake);
        restarted++;
        await new Promise((r) => setTimeout(r, 300));
        intake = await startIntakeProcess();
      }
    })();
    await Promise.all([...senders, chaos]);

    // Every accepted alert must be counted; an answer lost with the process may be counted twice.
    let lost = 0;
    let countedTwice = 0;
    const states: IncidentState[] = [];
    for (const [workflowId, n] of accepted) {
      let s: IncidentState | undefined;
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline) {
        s = await h.client.workflow.getHandle(workflowId).query(stateQuery).catch(() => undefined);
        if (s && s.alertCount >= n && s.status === 'contained') break;
        await new Promise((r) => setTimeout(r, 250));
      }
      lost += Math.max(0, n - (s?.alertCount ?? 0));
      countedTwice += Math.max(0, (s?.alertCount ?? 0) - n);
      if (s) states.push(s);
    }
    // Timeline entries after containment (the repeats) reach the audit file at the next safe point:
    // resolving closes each incident and flushes its chain.
    for (const wf of accepted.keys()) await h.client.workflow.getHandle(wf).executeUpdate(resolveUpdate, { args: [{ by: 'alice', reason: 'storm over' }] }).catch(() => undefined);
    const audits = await Promise.all([...accepted.keys()].map((wf) => auditChainOutcome(h.client, auditDir, wf)));
    const problems = audits.flatMap((a) => a.problems);
    recordResult({
      suite: 'intake kill -9 + restart in a storm',
      runs: 1,
      faultsInjected: restarted,
      incidentsCompleted: states.filter((s) => s.status === 'contained').length,
      duplicates: audits.reduce((s, a) => s + a.duplicates, 0),
      lostAlerts: lost,
      fuzzInputs: 0,
      notes: `${total} alerts, ${acceptedTotal} accepted, ${retries} client retries, ${countedTwice} counted twice (answer lost with the process)`,
      detail: { statuses: Object.fromEntries(statuses), problems },
    });
    expect(restarted).toBe(restarts);
    expect(acceptedTotal).toBe(total);
    expect(retries).toBeGreaterThan(0);
    expect(accepted.size).toBe(fingerprints);
    expect(lost).toBe(0);
    expect(states.map((s) => s.status)).toEqual(Array(fingerprints).fill('contained'));
    expect(problems).toEqual([]);
  }, 600_000);
});
