import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { ScheduleAlreadyRunning, ScheduleNotFoundError, ScheduleOverlapPolicy, type Client, type ScheduleDescription } from '@temporalio/client';
import { parseRotationFile, planSchedule, type PlannedSchedule, type ScheduledRotationInput } from '../../domain/rotation/policy.js';
import { rotationScheduleId } from '../../domain/rotation/ids.js';
import { clientFor, configFrom, type GlobalOptions } from '../context.js';
import { CliError, explain, usageError } from '../errors.js';
import { plainTable } from '../render.js';

/**
 * `bulwark schedule`: rotation policies (rotation.yaml) as Temporal Schedules. apply makes the
 * schedules of the file's `set` match the file: creates missing ones, updates changed ones (a hash
 * of the policy rides in the scheduled workflow's input), deletes the set's schedules the file no
 * longer names. Every schedule uses overlap SKIP and the policy's catch-up window.
 */

export interface ApplyRow {
  scheduleId: string;
  policy: string;
  action: 'created' | 'updated' | 'unchanged' | 'deleted' | 'paused' | 'resumed';
  cadence: string;
}

const MEMO_SET = 'bulwarkRotationSet';
const MEMO_POLICY = 'bulwarkRotationPolicy';

function describeCadence(p: PlannedSchedule): string {
  const parts: string[] = [];
  for (const i of p.spec.intervals ?? []) parts.push(`every ${Math.round(i.every / 3600_000)}h${i.offset ? ` +${Math.round(i.offset / 60_000)}m` : ''}`);
  for (const c of p.spec.cronExpressions ?? []) parts.push(`cron ${c}`);
  if (p.spec.jitter) parts.push(`jitter ${Math.round(p.spec.jitter / 60_000)}m`);
  return parts.join(', ');
}

function scheduleOptions(p: PlannedSchedule, taskQueue: string) {
  return {
    spec: p.spec,
    action: {
      type: 'startWorkflow' as const,
      workflowType: 'scheduledRotationWorkflow',
      taskQueue,
      // Temporal appends the scheduled time to this id; the rotation itself runs as a child under its target's id.
      workflowId: `${p.scheduleId}-run`,
      args: [p.input],
    },
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: p.catchupWindowMs },
    state: { paused: p.paused, note: p.note },
  };
}

async function describeOrUndefined(client: Client, scheduleId: string): Promise<ScheduleDescription | undefined> {
  try {
    return await client.schedule.getHandle(scheduleId).describe();
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return undefined;
    throw err;
  }
}

/** Schedule ids of one set, from visibility (eventually consistent: a schedule created a moment ago may be missing). */
export async function listSetSchedules(client: Client, set?: string): Promise<{ scheduleId: string; set: string; policy: string }[]> {
  const out = [];
  for await (const s of client.schedule.list()) {
    const memo = s.memo ?? {};
    if (typeof memo[MEMO_SET] !== 'string') continue;
    if (set && memo[MEMO_SET] !== set) continue;
    out.push({ scheduleId: s.scheduleId, set: memo[MEMO_SET] as string, policy: String(memo[MEMO_POLICY] ?? '') });
  }
  return out;
}

/** Makes the schedules of the file's set match the file. */
export async function applyRotationFile(client: Client, taskQueue: string, text: string, opts: { dryRun?: boolean } = {}): Promise<ApplyRow[]> {
  const parsed = parseRotationFile(text);
  if (!parsed.ok) throw usageError(`invalid rotation policy file:\n${parsed.errors.map((e) => `  - ${e.field}: ${e.message}`).join('\n')}`);
  const file = parsed.file;
  const planned = file.policies.map((p) => planSchedule(p, file));
  const rows: ApplyRow[] = [];
  for (const p of planned) {
    const row = (action: ApplyRow['action']): ApplyRow => ({ scheduleId: p.scheduleId, policy: p.input.policy, action, cadence: describeCadence(p) });
    const existing = await describeOrUndefined(client, p.scheduleId);
    if (existing && existing.memo?.[MEMO_SET] !== undefined && existing.memo[MEMO_SET] !== file.set) {
      throw new CliError(`schedule ${p.scheduleId} belongs to set ${String(existing.memo[MEMO_SET])}, not ${file.set}: rename the policy or apply that set's file`);
    }
    if (!existing) {
      if (!opts.dryRun) {
        try {
          await client.schedule.create({ scheduleId: p.scheduleId, ...scheduleOptions(p, taskQueue), memo: { [MEMO_SET]: file.set, [MEMO_POLICY]: p.input.policy } });
        } catch (err) {
          if (!(err instanceof ScheduleAlreadyRunning)) throw err;
          await client.schedule.getHandle(p.scheduleId).update(() => scheduleOptions(p, taskQueue));
        }
      }
      rows.push(row('created'));
      continue;
    }
    const current = existing.action.args?.[0] as ScheduledRotationInput | undefined;
    if (current?.policyHash !== p.input.policyHash || existing.action.taskQueue !== taskQueue) {
      if (!opts.dryRun) await client.schedule.getHandle(p.scheduleId).update(() => scheduleOptions(p, taskQueue));
      rows.push(row('updated'));
    } else if (existing.state.paused !== p.paused) {
      const h = client.schedule.getHandle(p.scheduleId);
      if (!opts.dryRun) await (p.paused ? h.pause('paused by rotation.yaml') : h.unpause('resumed by rotation.yaml'));
      rows.push(row(p.paused ? 'paused' : 'resumed'));
    } else {
      rows.push(row('unchanged'));
    }
  }
  const wanted = new Set(planned.map((p) => p.scheduleId));
  for (const s of await listSetSchedules(client, file.set)) {
    if (wanted.has(s.scheduleId)) continue;
    if (!opts.dryRun) {
      try {
        await client.schedule.getHandle(s.scheduleId).delete();
      } catch (err) {
        if (!(err instanceof ScheduleNotFoundError)) throw err;
      }
    }
    rows.push({ scheduleId: s.scheduleId, policy: s.policy, action: 'deleted', cadence: '' });
  }
  return rows;
}

export interface ScheduleRow {
  scheduleId: string;
  set: string;
  policy: string;
  paused: boolean;
  target: string;
  intervalsMs: number[];
  cron: string[];
  nextRun?: string;
  lastRun?: string;
  policyHash?: string;
}

function targetText(input: ScheduledRotationInput | undefined): string {
  const t = input?.target;
  if (!t) return '?';
  if (t.kind === 'secret') return `secret ${t.secretId} (${t.strategy})`;
  if (t.kind === 'kms-rotate') return `kms ${t.keyId} (on-demand)`;
  return `kms ${t.aliasName} (replace, grace ${t.graceSeconds}s)`;
}

export async function listRotationSchedules(client: Client, set?: string): Promise<ScheduleRow[]> {
  const rows: ScheduleRow[] = [];
  for (const s of await listSetSchedules(client, set)) {
    const d = await describeOrUndefined(client, s.scheduleId);
    if (!d) continue;
    const input = d.action.args?.[0] as ScheduledRotationInput | undefined;
    rows.push({
      scheduleId: s.scheduleId,
      set: s.set,
      policy: s.policy,
      paused: d.state.paused,
      target: targetText(input),
      intervalsMs: (d.spec.intervals ?? []).map((i) => Number(i.every)),
      cron: (d.spec.calendars ?? []).map((c) => c.comment ?? JSON.stringify({ hour: c.hour, minute: c.minute, dayOfWeek: c.dayOfWeek })),
      nextRun: d.info.nextActionTimes[0]?.toISOString(),
      lastRun: d.info.recentActions.at(-1)?.scheduledAt?.toISOString(),
      policyHash: input?.policyHash,
    });
  }
  return rows.sort((a, b) => a.scheduleId.localeCompare(b.scheduleId));
}

export function registerScheduleCommands(program: Command): void {
  const globals = () => program.opts<GlobalOptions>();
  const schedule = program.command('schedule').description('rotation policies (rotation.yaml) as Temporal Schedules: apply, list, pause, resume, trigger, backfill');

  async function withClient<T>(fn: (client: Client, taskQueue: string) => Promise<T>): Promise<T> {
    const config = configFrom(globals());
    const client = await clientFor(config);
    try {
      return await fn(client, config.temporal.taskQueue);
    } catch (err) {
      if (err instanceof CliError) throw err;
      if (err instanceof ScheduleNotFoundError) throw new CliError(`no such schedule (${err.message}); see \`bulwark schedule list\``);
      throw new CliError(explain(err, { temporalAddress: config.temporal.address }));
    }
  }

  schedule
    .command('apply [file]')
    .description('create, update and delete schedules so the file’s set matches the file (default ./rotation.yaml)')
    .option('--dry-run', 'show what would change, change nothing')
    .option('--json', 'print JSON')
    .action(async (file: string | undefined, o: { dryRun?: boolean; json?: boolean }) => {
      const path = file ?? 'rotation.yaml';
      let text: string;
      try {
        text = readFileSync(path, 'utf8');
      } catch (err) {
        throw usageError(`cannot read ${path}: ${(err as Error).message}`);
      }
      const rows = await withClient((client, taskQueue) => applyRotationFile(client, taskQueue, text, { dryRun: o.dryRun }));
      if (o.json) {
        console.log(JSON.stringify(rows, null, 2));
        return;
      }
      const t = plainTable(['schedule', 'policy', o.dryRun ? 'would be' : 'action', 'cadence']);
      for (const r of rows) t.push([r.scheduleId, r.policy, r.action, r.cadence]);
      console.log(rows.length ? t.toString() : 'no policies and no schedules to delete');
    });

  schedule
    .command('list')
    .description('rotation schedules: target, cadence, paused, next run')
    .option('--set <name>', 'only this set')
    .option('--json', 'print JSON')
    .action(async (o: { set?: string; json?: boolean }) => {
      const rows = await withClient((client) => listRotationSchedules(client, o.set));
      if (o.json) {
        console.log(JSON.stringify(rows, null, 2));
        return;
      }
      if (rows.length === 0) {
        console.log('no rotation schedules (bulwark schedule apply rotation.yaml)');
        return;
      }
      const t = plainTable(['schedule', 'target', 'cadence', 'paused', 'next run', 'last run']);
      for (const r of rows) t.push([r.scheduleId, r.target, [...r.intervalsMs.map((ms) => `every ${Math.round(ms / 86_400_000)}d`), ...r.cron].join(', '), r.paused ? 'yes' : '', r.nextRun ?? '', r.lastRun ?? '']);
      console.log(t.toString());
    });

  for (const [name, what] of [
    ['pause', 'stop starting rotations for a policy until resumed'],
    ['resume', 'start rotations for a paused policy again'],
    ['trigger', 'run a policy’s rotation now (skipped if one is running)'],
  ] as const) {
    schedule
      .command(`${name} <policy>`)
      .description(what)
      .option('--note <text>', 'why, shown on the schedule')
      .action(async (policy: string, o: { note?: string }) => {
        const id = policy.startsWith('rotation-') ? policy : rotationScheduleId(policy);
        await withClient(async (client) => {
          const h = client.schedule.getHandle(id);
          if (name === 'pause') await h.pause(o.note ?? 'paused with bulwark schedule pause');
          else if (name === 'resume') await h.unpause(o.note ?? 'resumed with bulwark schedule resume');
          else await h.trigger(ScheduleOverlapPolicy.SKIP);
        });
        console.log(`${id}: ${name === 'trigger' ? 'triggered' : name === 'pause' ? 'paused' : 'resumed'}`);
      });
  }

  schedule
    .command('backfill <policy>')
    .description('run the rotations a policy would have run in a past period (overlap SKIP)')
    .requiredOption('--from <iso>', 'start of the period (ISO 8601)')
    .requiredOption('--to <iso>', 'end of the period (ISO 8601)')
    .action(async (policy: string, o: { from: string; to: string }) => {
      const start = new Date(o.from);
      const end = new Date(o.to);
      if (Number.isNaN(start.getTime()) || Number.isNaN(end.getTime()) || end <= start) throw usageError('--from and --to must be ISO dates with --from before --to');
      const id = policy.startsWith('rotation-') ? policy : rotationScheduleId(policy);
      await withClient((client) => client.schedule.getHandle(id).backfill([{ start, end, overlap: ScheduleOverlapPolicy.SKIP }]));
      console.log(`${id}: backfill ${start.toISOString()} – ${end.toISOString()} requested`);
    });
}
