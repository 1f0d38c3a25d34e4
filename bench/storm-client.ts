/**
 * Load generator for the storm scenario, run as its own process so it does not share an event loop
 * with the intake it measures. Prints one JSON line: per-request latencies and what came back.
 */
import { Client, Connection } from '@temporalio/client';
import { postSignedAlert } from '../intake/webhook-client.js';
import { openLoop } from './stats.js';

type Job =
  | { mode: 'intake'; url: string; secret: string; alert: unknown; count: number; rate: number }
  | { mode: 'signal'; address: string; taskQueue: string; workflowId: string; count: number; rate: number };

const job = JSON.parse(process.argv[2]!) as Job;

if (job.mode === 'intake') {
  const { latencies, results } = await openLoop(job.count, job.rate, () =>
    postSignedAlert(job.url, job.secret, job.alert).catch((err: Error) => ({ status: 0, body: { error: err.message } })),
  );
  const accepted = results.filter((r) => r.status === 202).map((r) => r.body as { workflowId: string; deduplicated: boolean });
  console.log(
    JSON.stringify({
      latencies,
      accepted: accepted.length,
      refused: results.length - accepted.length,
      workflowIds: [...new Set(accepted.map((a) => a.workflowId))],
      notDeduplicated: accepted.filter((a) => !a.deduplicated).length,
    }),
  );
} else {
  const connection = await Connection.connect({ address: job.address });
  const client = new Client({ connection });
  const { latencies } = await openLoop(job.count, job.rate, () =>
    client.workflow.signalWithStart('baselineCounter', { workflowId: job.workflowId, taskQueue: job.taskQueue, args: [], signal: 'hit', signalArgs: [] }),
  );
  console.log(JSON.stringify({ latencies, accepted: job.count }));
  await connection.close();
}
