import type { Client } from '@temporalio/client';
import { decodeMapFromPayloads } from '@temporalio/common/lib/internal-non-workflow/codec-helpers.js';
import type { IncidentMemo } from '../domain/incident.js';

export interface IncidentRow {
  id: string;
  /** The incident's own status while it runs; how its workflow closed otherwise. */
  status: string;
  type: string;
  severity: string;
  subject: string;
  opened: string;
}

const RUNNING = 1;
const CLOSED_STATUS: Record<number, string> = { 2: 'resolved', 3: 'failed', 4: 'canceled', 5: 'terminated', 6: 'continued', 7: 'timed-out' };

/**
 * Incidents from Temporal visibility, newest first, for `bulwark incident list` and Slack's
 * `/bulwark list`. Raw visibility pages with each memo decoded on its own: an incident whose memo
 * this client cannot decode (encrypted under a codec key it lacks) is counted in `unreadable` and
 * listed without details, instead of failing the whole list.
 */
export async function listIncidents(client: Client, opts: { all?: boolean; limit: number }): Promise<{ rows: IncidentRow[]; unreadable: number; more: boolean }> {
  const query = `WorkflowType = 'incidentWorkflow'${opts.all ? '' : ` AND ExecutionStatus = 'Running'`}`;
  const rows: IncidentRow[] = [];
  let unreadable = 0;
  let more = false;
  let nextPageToken: Uint8Array | undefined;
  do {
    const page = await client.workflowService.listWorkflowExecutions({ namespace: client.options.namespace, query, pageSize: Math.min(opts.limit + 1, 100), nextPageToken });
    for (const wf of page.executions ?? []) {
      if (rows.length >= opts.limit) {
        more = true;
        break;
      }
      let memo: Partial<IncidentMemo> = {};
      try {
        memo = ((await decodeMapFromPayloads(client.options.loadedDataConverter, wf.memo?.fields)) ?? {}) as Partial<IncidentMemo>;
      } catch {
        unreadable++;
      }
      rows.push({
        id: wf.execution?.workflowId ?? '?',
        status: wf.status === RUNNING ? (memo.status ?? 'unknown') : (CLOSED_STATUS[wf.status ?? 0] ?? 'unknown'),
        type: memo.type ?? '?',
        severity: memo.severity ?? '?',
        subject: memo.subject ?? '',
        opened: wf.startTime?.seconds ? new Date(Number(wf.startTime.seconds) * 1000).toISOString() : '',
      });
    }
    nextPageToken = page.nextPageToken?.length && !more ? page.nextPageToken : undefined;
  } while (nextPageToken);
  return { rows, unreadable, more };
}
