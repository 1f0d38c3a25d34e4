/**
 * The worker process the chaos suite kills with SIGKILL (test/chaos/process-faults.test.ts). It runs
 * the real activities; KILL_PLAN maps each incident's workflow id to one step boundary — an activity
 * and `before` (it has started, nothing done) or `after` (its AWS calls are done, the completion not
 * yet reported). On reaching its boundary an incident's activity writes MARKER_DIR/<workflowId> and
 * hangs, so when the test kills the process every incident is exactly at its boundary.
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

type Plan = Record<string, { activity: string; when: 'before' | 'after' }>;
const plan = JSON.parse(process.env.KILL_PLAN ?? '{}') as Plan;
const markerDir = process.env.MARKER_DIR!;
const config = loadConfig(process.env);
const watched = new Set(Object.values(plan).map((b) => b.activity));

const hang = (workflowId: string, what: string) => {
  writeFileSync(join(markerDir, workflowId), what);
  return new Promise<never>(() => undefined);
};

const { worker } = await createBulwarkWorker({
  config,
  wrapActivities: <T extends object>(activities: T): T => {
    const all = activities as Record<string, (...a: unknown[]) => Promise<unknown>>;
    const wrapped: Record<string, (...a: unknown[]) => Promise<unknown>> = { ...all };
    for (const name of watched) {
      const real = all[name];
      if (!real) throw new Error(`KILL_PLAN names unknown activity ${name}`);
      wrapped[name] = async (...args: unknown[]) => {
        const info = Context.current().info;
        const workflowId = info.workflowExecution?.workflowId ?? '';
        const boundary = plan[workflowId];
        if (!boundary || boundary.activity !== name || info.attempt > 1) return real(...args);
        if (boundary.when === 'before') return hang(workflowId, `before ${name}`);
        await real(...args);
        return hang(workflowId, `after ${name}`);
      };
    }
    return wrapped as T;
  },
});
process.stdout.write('ready\n');
await worker.run();
