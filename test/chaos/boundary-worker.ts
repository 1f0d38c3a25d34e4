/**
 * The worker process the chaos suite kills with SIGKILL (test/chaos/process-faults.test.ts). It runs
 * the real activities; KILL_PLAN maps each incident's workflow id to one step boundary — an activity
 * and `before` (it has started, nothing done) or `after` (its AWS calls are done, the completion not
 * yet reported). On reaching its boundary an incident's activity writes MARKER_DIR/<workflowId> and
 * hangs, so when the test kills the process every incident is exactly at its boundary.
 *
 * Only the first attempt hangs, unless the boundary says `everyAttempt`: then a retry that reaches
 * this process (the hung attempt's start-to-close timeout ran out before the kill) hangs again at
 * the same boundary, so the attempt that completes is certainly the new worker's, whatever the
 * timing. WORKER_IDENTITY, if set, is the worker's identity in history, which tells the killed
 * worker's work from the new one's. (test/chaos/rotation-crash.test.ts uses both.)
 *
 * The key `*` is for a worker polling a task queue of one run alone (process-faults.test.ts starts
 * one such process per boundary): the first attempt of that activity in any workflow of the queue
 * hangs — the run's incident, the certificate workflow it runs as a child, the IP-set ledger its
 * block starts — and MARKER_DIR/run.json says where it was reached ({ activity, when, workflowId,
 * workflowType }), so the test can check the kill belongs to its run. WORKFLOW_BUNDLE, if set, is
 * the path of a workflow bundle the test built once, so a dozen of these processes do not each bundle.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Context } from '@temporalio/activity';
import { loadConfig } from '../../temporal.config.js';
import { createBulwarkWorker } from '../../worker/worker.js';
import { DefaultLogger, Runtime, makeTelemetryFilterString } from '@temporalio/worker';

// Injected faults make every activity retry loud; keep the SDK's own log to errors in chaos runs.
try {
  Runtime.install({ logger: new DefaultLogger('ERROR'), telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'ERROR' }) } } });
} catch {
  // already installed in this process
}

type Plan = Record<string, { activity: string; when: 'before' | 'after'; everyAttempt?: boolean }>;
const plan = JSON.parse(process.env.KILL_PLAN ?? '{}') as Plan;
const markerDir = process.env.MARKER_DIR!;
const config = loadConfig(process.env);
const watched = new Set(Object.values(plan).map((b) => b.activity));

const hang = (workflowId: string, what: string) => {
  writeFileSync(join(markerDir, workflowId), what);
  return new Promise<never>(() => undefined);
};
// One boundary per process for `*`: a second activity of the same name (a later step) runs normally.
let anyReached = false;

const { worker } = await createBulwarkWorker({
  config,
  identity: process.env.WORKER_IDENTITY || undefined,
  ...(process.env.WORKFLOW_BUNDLE ? { workflowBundle: { codePath: process.env.WORKFLOW_BUNDLE } } : {}),
  wrapActivities: <T extends object>(activities: T): T => {
    const all = activities as Record<string, (...a: unknown[]) => Promise<unknown>>;
    const wrapped: Record<string, (...a: unknown[]) => Promise<unknown>> = { ...all };
    for (const name of watched) {
      const real = all[name];
      if (!real) throw new Error(`KILL_PLAN names unknown activity ${name}`);
      wrapped[name] = async (...args: unknown[]) => {
        const info = Context.current().info;
        const workflowId = info.workflowExecution?.workflowId ?? '';
        const own = plan[workflowId];
        const any = own || anyReached ? undefined : plan['*'];
        const boundary = own ?? any;
        if (!boundary || boundary.activity !== name || (info.attempt > 1 && !boundary.everyAttempt)) return real(...args);
        if (any) anyReached = true;
        const mark = () =>
          any ? hang('run.json', JSON.stringify({ activity: name, when: any.when, workflowId, workflowType: info.workflowType })) : hang(workflowId, `${boundary.when} ${name}`);
        if (boundary.when === 'before') return mark();
        await real(...args);
        return mark();
      };
    }
    return wrapped as T;
  },
});
process.stdout.write('ready\n');
await worker.run();
