import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import type { Command } from 'commander';
import Table from 'cli-table3';
import { ScheduleNotFoundError, ScheduleOverlapPolicy, WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import { createAwsClients } from '../../activities/clients.js';
import { loadFeed, redactUrl } from '../../activities/intel.js';
import { createWafActivities, readLedger } from '../../activities/waf.js';
import { parseDurationSeconds } from '../../domain/duration.js';
import { FeedConfig } from '../../domain/intel/config.js';
import type { Config } from '../../temporal.config.js';
import { intelSyncWorkflowId, type IntelSyncResult } from '../../workflows/intel.js';
import { clientFor, configFrom, type GlobalOptions } from '../context.js';
import { CliError, explain, usageError } from '../errors.js';

/**
 * `bulwark intel`: threat-intelligence feeds into the WAF IP sets. A feed is a configured name
 * (BULWARK_INTEL_FEEDS) or a file path / URL given directly. `sync` runs one sync now (as a
 * workflow on the worker, or locally read-only with --dry-run); `schedule` makes it periodic;
 * `list` shows feeds, schedules and what the IP-set ledger holds.
 */

interface FeedFlags {
  name?: string;
  format?: string;
  allow?: string;
  ttl?: string;
  ipSet?: string;
}

export const intelScheduleId = (feed: string) => `intel-sync-${feed}`;

/** The feed a command names: configured, or built from a path/URL and the flags (validated like config). */
export function resolveFeed(config: Config, arg: string, flags: FeedFlags): { feed: FeedConfig; inline: boolean } {
  const configured = config.intel.feeds.find((f) => f.name === arg);
  if (configured) return { feed: { ...configured, ...(flags.ipSet ? { ipSetName: flags.ipSet } : {}) }, inline: false };
  const isSource = /^https?:\/\//i.test(arg) || existsSync(arg);
  if (!isSource) {
    throw usageError(`"${arg}" is neither a configured feed (${config.intel.feeds.map((f) => f.name).join(', ') || 'none configured: BULWARK_INTEL_FEEDS'}) nor a readable file or http(s) URL`);
  }
  const derived = (flags.name ?? basename(arg.replace(/[?#].*$/, '')).replace(/\.[^.]*$/, ''))
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '');
  const r = FeedConfig.safeParse({
    name: derived || 'feed',
    source: arg,
    ...(flags.format ? { format: flags.format } : {}),
    ...(flags.allow ? { allow: flags.allow.split(',').map((s) => s.trim()) } : {}),
    ...(flags.ttl ? { ttl: flags.ttl } : {}),
    ...(flags.ipSet ? { ipSetName: flags.ipSet } : {}),
  });
  if (!r.success) throw usageError(`invalid feed options:\n${r.error.issues.map((i) => `  - ${i.path.join('.') || 'feed'}: ${i.message}`).join('\n')}`);
  return { feed: r.data, inline: true };
}

export interface DryRun {
  feed: string;
  ipSetName: string;
  indicators: number;
  entries: number;
  wouldAdd: string[];
  alreadyPresent: number;
  skipped: { ref: string; reason: string }[];
  rejected: { value: string; ref: string; reason: string }[];
  limit: number;
  setSizes: { ipv4: number; ipv6: number };
}

/** Reads and validates the feed and the current IP sets; changes nothing. */
export async function dryRunSync(config: Config, feed: FeedConfig): Promise<DryRun> {
  let loaded;
  try {
    loaded = await loadFeed(feed);
  } catch (err) {
    throw new CliError((err as Error).message);
  }
  const ipSetName = feed.ipSetName ?? config.waf.ipSetName;
  const waf = createWafActivities({ waf: createAwsClients(config.aws).waf, settings: config.waf });
  const current = await waf.wafDescribeIpSets({ ipSetName });
  const present = new Set([...current.ipv4, ...current.ipv6]);
  const wouldAdd = loaded.entries.filter((e) => !present.has(e.cidr)).map((e) => e.cidr);
  return {
    feed: feed.name,
    ipSetName,
    indicators: loaded.indicators.length,
    entries: loaded.entries.length,
    wouldAdd,
    alreadyPresent: loaded.entries.length - wouldAdd.length,
    skipped: loaded.skipped,
    rejected: loaded.rejected,
    limit: config.waf.maxEntries,
    setSizes: { ipv4: current.ipv4.length, ipv6: current.ipv6.length },
  };
}

function feedFlags(cmd: Command): Command {
  return cmd
    .option('--name <name>', 'feed name for a path/URL (default: from the file name)')
    .option('--format <format>', 'plain or stix (default: detected)')
    .option('--allow <categories>', 'special ranges this feed may block: private,documentation,reserved,…')
    .option('--ttl <duration>', 'expiry for entries without valid_until (e.g. 24h)')
    .option('--ip-set <name>', 'IP-set pair base name (default: waf.ipSetName)');
}

export function registerIntelCommands(program: Command): void {
  const globals = () => program.opts<GlobalOptions>();
  const intel = program.command('intel').description('threat-intelligence feeds → WAF IP sets with expiry: sync, schedule, list');

  async function withClient<T>(config: Config, fn: (client: Client) => Promise<T>): Promise<T> {
    const client = await clientFor(config);
    try {
      return await fn(client);
    } catch (err) {
      if (err instanceof CliError) throw err;
      throw new CliError(explain(err, { temporalAddress: config.temporal.address }));
    } finally {
      await client.connection.close();
    }
  }

  feedFlags(intel.command('sync <feed>'))
    .description('sync one feed into the IP sets now (new entries added, dropped and expired ones removed by the ledger)')
    .option('--dry-run', 'read and validate the feed and the IP sets; show what would be added; change nothing')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      `
Examples:
  bulwark intel sync tor-exits                          a feed configured in BULWARK_INTEL_FEEDS
  bulwark intel sync ./indicators.json --dry-run        a STIX 2.1 bundle on disk: what would change
  bulwark intel sync https://feeds.example/drop.txt --format plain --ttl 24h
A malformed feed fails whole with each bad line or objects[i].field named; nothing is applied.`,
    )
    .action(async (arg: string, o: FeedFlags & { dryRun?: boolean; json?: boolean }) => {
      const config = configFrom(globals());
      const { feed, inline } = resolveFeed(config, arg, o);
      if (o.dryRun) {
        const r = await dryRunSync(config, feed);
        if (o.json) return void console.log(JSON.stringify(r, null, 2));
        console.log(`feed ${r.feed}: ${r.indicators} indicator(s) → ${r.entries} IP-set entr${r.entries === 1 ? 'y' : 'ies'} (after merging)`);
        console.log(`IP sets ${r.ipSetName}-ipv4/-ipv6 hold ${r.setSizes.ipv4} / ${r.setSizes.ipv6} entries (limit ${r.limit} each)`);
        console.log(`would add ${r.wouldAdd.length}${r.wouldAdd.length ? `: ${r.wouldAdd.slice(0, 10).join(', ')}${r.wouldAdd.length > 10 ? ', …' : ''}` : ''}; already present ${r.alreadyPresent}`);
        if (r.skipped.length) console.log(`skipped ${r.skipped.length}: ${summarise(r.skipped.map((s) => s.reason))}`);
        if (r.rejected.length) console.log(`rejected ${r.rejected.length} (special-purpose ranges; --allow to block them): ${r.rejected.slice(0, 5).map((x) => `${x.value} (${x.reason})`).join(', ')}`);
        console.log('dry run: nothing was changed');
        return;
      }
      const result = await withClient(config, async (client) => {
        try {
          return await client.workflow.execute('intelSyncWorkflow', {
            workflowId: intelSyncWorkflowId(feed.name),
            taskQueue: config.temporal.taskQueue,
            args: [{ feed: feed.name, ...(inline ? { inline: feed } : {}) }],
          }) as IntelSyncResult;
        } catch (err) {
          if (err instanceof WorkflowExecutionAlreadyStartedError) throw new CliError(`a sync of feed ${feed.name} is already running (${intelSyncWorkflowId(feed.name)})`);
          const cause = (err as { cause?: { cause?: { message?: string }; message?: string } }).cause;
          throw new CliError(`sync of feed ${feed.name} failed: ${cause?.cause?.message ?? cause?.message ?? (err as Error).message}`);
        }
      });
      if (o.json) return void console.log(JSON.stringify(result, null, 2));
      console.log(`feed ${result.feed}: ${result.indicators} indicator(s) → ${result.entries} entr${result.entries === 1 ? 'y' : 'ies'}; added ${result.added}, already present ${result.alreadyPresent}${result.skipped ? `, skipped ${result.skipped}` : ''}${result.rejected.length ? `, rejected ${result.rejected.length} special-purpose range(s)` : ''}`);
      console.log(`held by ${result.ledgerId}: entries the feed no longer lists, and those past valid_until, are removed by it`);
    });

  feedFlags(intel.command('schedule <feed>'))
    .description('sync a feed periodically (a Temporal Schedule; overlapping runs are skipped)')
    .option('--every <duration>', 'interval, e.g. 15m, 1h, 1d (default: the feed’s `every`, else 1h)')
    .option('--pause', 'create or update the schedule paused')
    .option('--delete', 'delete the feed’s schedule')
    .addHelpText(
      'after',
      `
Examples:
  bulwark intel schedule tor-exits --every 1h
  bulwark intel schedule ./indicators.json --name partner-stix --every 15m
  bulwark intel schedule tor-exits --delete`,
    )
    .action(async (arg: string, o: FeedFlags & { every?: string; pause?: boolean; delete?: boolean }) => {
      const config = configFrom(globals());
      const { feed, inline } = resolveFeed(config, arg, o);
      const scheduleId = intelScheduleId(feed.name);
      await withClient(config, async (client) => {
        if (o.delete) {
          try {
            await client.schedule.getHandle(scheduleId).delete();
          } catch (err) {
            if (err instanceof ScheduleNotFoundError) throw new CliError(`no schedule ${scheduleId}`);
            throw err;
          }
          console.log(`deleted schedule ${scheduleId}`);
          return;
        }
        const every = o.every ?? feed.every ?? '1h';
        let seconds: number;
        try {
          seconds = parseDurationSeconds(every);
        } catch (err) {
          throw usageError(`--every: ${(err as Error).message}`);
        }
        if (seconds < 60) throw usageError('--every: feeds are synced at most once a minute');
        const options = {
          spec: { intervals: [{ every: seconds * 1000 }] },
          action: {
            type: 'startWorkflow' as const,
            workflowType: 'intelSyncWorkflow',
            taskQueue: config.temporal.taskQueue,
            workflowId: intelSyncWorkflowId(feed.name),
            args: [{ feed: feed.name, ...(inline ? { inline: feed } : {}) }],
          },
          policies: { overlap: ScheduleOverlapPolicy.SKIP },
          state: { paused: Boolean(o.pause), note: `threat-intel feed ${feed.name}` },
        };
        try {
          await client.schedule.getHandle(scheduleId).update((prev) => ({ ...prev, ...options, state: { ...prev.state, paused: Boolean(o.pause), note: options.state.note } }));
          console.log(`updated schedule ${scheduleId}: every ${every}${o.pause ? ' (paused)' : ''}`);
        } catch (err) {
          if (!(err instanceof ScheduleNotFoundError)) throw err;
          await client.schedule.create({ scheduleId, ...options });
          console.log(`created schedule ${scheduleId}: every ${every}${o.pause ? ' (paused)' : ''}`);
        }
      });
    });

  intel
    .command('list')
    .description('configured feeds, their schedules, and what each IP set’s ledger holds')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  bulwark intel list')
    .action(async (o: { json?: boolean }) => {
      const config = configFrom(globals());
      const out = await withClient(config, async (client) => {
        const feeds = [];
        for (const f of config.intel.feeds) {
          let schedule = 'none';
          try {
            const d = await client.schedule.getHandle(intelScheduleId(f.name)).describe();
            const every = d.spec.intervals?.[0]?.every;
            schedule = `${d.state.paused ? 'paused, ' : ''}every ${typeof every === 'number' ? `${Math.round(every / 60_000)}m` : String(every)}`;
          } catch (err) {
            if (!(err instanceof ScheduleNotFoundError)) throw err;
          }
          feeds.push({ name: f.name, source: /^https?:/i.test(f.source) ? redactUrl(f.source) : f.source, format: f.format ?? 'auto', ttl: f.ttl ?? '-', ipSet: f.ipSetName ?? config.waf.ipSetName, schedule });
        }
        const setNames = [...new Set([config.waf.ipSetName, ...config.intel.feeds.map((f) => f.ipSetName ?? config.waf.ipSetName)])];
        const ledgers = [];
        for (const name of setNames) {
          const l = await readLedger(client, name);
          ledgers.push({ ipSet: name, holds: Object.entries(l?.holds ?? {}).map(([owner, entries]) => ({ owner, entries: entries.length, nextExpiry: entries.map((e) => e.expiresAt).filter(Boolean).sort()[0] ?? null })), lastError: l?.lastError });
        }
        return { feeds, ledgers };
      });
      if (o.json) return void console.log(JSON.stringify(out, null, 2));
      if (out.feeds.length === 0) console.log('no feeds configured (BULWARK_INTEL_FEEDS); `bulwark intel sync <file|url>` works without one');
      else {
        const t = new Table({ head: ['feed', 'source', 'format', 'ttl', 'ip set', 'schedule'] });
        for (const f of out.feeds) t.push([f.name, f.source, f.format, f.ttl, f.ipSet, f.schedule]);
        console.log(t.toString());
      }
      for (const l of out.ledgers) {
        console.log(`\nIP set ${l.ipSet}: ${l.holds.length} hold(s)${l.lastError ? ` — last error: ${l.lastError}` : ''}`);
        if (l.holds.length) {
          const t = new Table({ head: ['owner', 'entries', 'next expiry'] });
          for (const h of l.holds) t.push([h.owner, h.entries, h.nextExpiry ?? 'until released']);
          console.log(t.toString());
        }
      }
    });
}

function summarise(reasons: string[]): string {
  const counts = new Map<string, number>();
  for (const r of reasons) counts.set(r.replace(/ at .*$/, ''), (counts.get(r.replace(/ at .*$/, '')) ?? 0) + 1);
  return [...counts].map(([r, n]) => `${n} ${r}`).join(', ');
}
