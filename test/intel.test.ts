import { createHmac } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetIPSetCommand, ListIPSetsCommand } from '@aws-sdk/client-wafv2';
import { readLedger } from '../activities/waf.js';
import type { FeedConfig } from '../domain/intel/config.js';
import type { IntelSyncResult } from '../workflows/intel.js';
import { createStage, runCli, startHarness, testConfig, uniqueId, waitForState, workflowExists, type Harness, waitForValue } from './support.js';
import { stixBundle, stixIndicator } from './support/stix.js';

const dir = mkdtempSync(join(tmpdir(), 'bulwark-intel-'));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

const indicator = stixIndicator;
const bundle = stixBundle;

// The feed every test in this file may enrich from: a Tor-exit range, confident.
const enrichFeed = file('tor.json', bundle([indicator(1, "[ipv4-addr:value = '185.220.101.0/24']", { confidence: 90, name: 'tor exits' })]));
const wafIpSet = uniqueId('intake-bl');

let h: Harness;
let feedServer: Server;
let feedUrl: string;
let served = '45.155.205.0/24\n# comment\n\n2a0e:1c80::/29\n';
beforeAll(async () => {
  h = await startHarness({
    intake: true,
    config: testConfig({ intel: { feeds: [{ name: 'tor', source: enrichFeed }], refreshSeconds: 0 }, waf: { ipSetName: wafIpSet } }),
  });
  feedServer = createServer((req, res) => {
    if (req.url === '/drop.txt') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end(served);
    } else res.writeHead(404).end();
  });
  await new Promise<void>((r) => feedServer.listen(0, '127.0.0.1', r));
  feedUrl = `http://127.0.0.1:${(feedServer.address() as AddressInfo).port}`;
});
afterAll(async () => {
  feedServer?.close();
  await h?.close();
});

async function entries(base: string, v: 4 | 6 = 4): Promise<string[]> {
  const name = `${base}-ipv${v}`;
  const s = (await h.aws.waf.send(new ListIPSetsCommand({ Scope: 'REGIONAL', Limit: 100 }))).IPSets?.find((x) => x.Name === name);
  if (!s) return [];
  return [...((await h.aws.waf.send(new GetIPSetCommand({ Name: name, Scope: 'REGIONAL', Id: s.Id! }))).IPSet?.Addresses ?? [])].sort();
}

const sync = (feed: FeedConfig) =>
  h.client.workflow.execute('intelSyncWorkflow', { workflowId: `intel-sync/${feed.name}/${uniqueId('t')}`, taskQueue: h.config.temporal.taskQueue, args: [{ feed: feed.name, inline: feed }] }) as Promise<IntelSyncResult>;

const feedOf = (name: string, source: string, extra: Partial<FeedConfig> = {}): FeedConfig => ({ name, source, allow: [], enrich: true, ...extra });

describe('feed sync (workflow → ledger → WAF IP sets in the sandbox)', () => {
  it('a STIX bundle from a file: entries added, one with valid_until removed when it passes, dropped ones removed on the next sync', async () => {
    const ipSetName = uniqueId('feed-bl');
    const soon = new Date(Date.now() + 3000).toISOString();
    const path = file('stix-1.json', bundle([
      indicator(1, "[ipv4-addr:value = '193.142.146.0/25'] OR [ipv4-addr:value = '193.142.146.128/25']", { confidence: 70 }),
      indicator(2, "[ipv4-addr:value = '91.240.118.9']", { valid_until: soon }),
      indicator(3, "[ipv6-addr:value = '2a0e:1c80::/29']"),
      indicator(4, "[ipv4-addr:value = '10.9.9.9']"),
      indicator(5, "[domain-name:value = 'evil.example']"),
    ]));
    const r = await sync(feedOf('stix-1', path, { ipSetName }));
    expect(r).toMatchObject({ indicators: 5, entries: 3, added: 3, skipped: 1, rejected: [{ value: '10.9.9.9/32', reason: 'private range' }] });
    expect(await entries(ipSetName)).toEqual(['193.142.146.0/24', '91.240.118.9/32']);
    expect(await entries(ipSetName, 6)).toEqual(['2a0e:1c80::/29']);

    await waitForValue('valid_until to pass', () => entries(ipSetName), (e) => e.length === 1, 15_000);
    expect(await entries(ipSetName)).toEqual(['193.142.146.0/24']);

    // The feed drops its IPv6 indicator: the next sync's hold no longer has it, so the ledger removes it.
    file('stix-1.json', bundle([indicator(1, "[ipv4-addr:value = '193.142.146.0/24']", { confidence: 70 })]));
    const again = await sync(feedOf('stix-1', path, { ipSetName }));
    expect(again).toMatchObject({ entries: 1, added: 0, alreadyPresent: 1 });
    await waitForValue('the dropped entry to go', () => entries(ipSetName, 6), (e) => e.length === 0);
    expect(await entries(ipSetName)).toEqual(['193.142.146.0/24']);
  });

  it('a malformed bundle fails the sync with the object and field named, and changes nothing', async () => {
    const ipSetName = uniqueId('feed-bl');
    const path = file('bad.json', bundle([indicator(1, "[ipv4-addr:value = '193.142.146.7']"), indicator(2, "[ipv4-addr:value = '193.142.146.999']")]));
    const err = await sync(feedOf('bad', path, { ipSetName })).catch((e: Error) => e);
    const cause = (err as { cause?: { cause?: { message?: string } } }).cause?.cause?.message;
    expect(cause).toMatch(/feed bad is invalid; nothing was applied:\n {2}objects\[1\]\.pattern: "193\.142\.146\.999" is not an IP address/);
    expect(await entries(ipSetName)).toEqual([]);
    expect(await readLedger(h.client, ipSetName)).toBeUndefined();
  });

  it('bulwark intel sync from a local HTTP server: --dry-run changes nothing, then the real sync adds', async () => {
    const ipSetName = uniqueId('cli-bl');
    const dry = await runCli(h, ['intel', 'sync', `${feedUrl}/drop.txt`, '--ip-set', ipSetName, '--ttl', '1h', '--dry-run']);
    expect(dry.stderr).toBe('');
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('feed drop: 2 indicator(s) → 2 IP-set entries');
    expect(dry.stdout).toContain('would add 2: 45.155.205.0/24, 2a0e:1c80::/29');
    expect(dry.stdout).toContain('dry run: nothing was changed');
    expect(await entries(ipSetName)).toEqual([]);

    const real = await runCli(h, ['intel', 'sync', `${feedUrl}/drop.txt`, '--ip-set', ipSetName, '--ttl', '1h', '--json']);
    expect(real.code).toBe(0);
    expect(JSON.parse(real.stdout)).toMatchObject({ feed: 'drop', indicators: 2, entries: 2, added: 2 });
    expect(await entries(ipSetName)).toEqual(['45.155.205.0/24']);
    expect(await entries(ipSetName, 6)).toEqual(['2a0e:1c80::/29']);
    const ledger = await readLedger(h.client, ipSetName);
    expect(ledger?.holds['feed:drop']?.every((e) => e.expiresAt !== undefined)).toBe(true);

    const list = await runCli(h, ['intel', 'list', '--json'], { BULWARK_WAF_IP_SET: ipSetName });
    expect(JSON.parse(list.stdout).ledgers).toEqual([{ ipSet: ipSetName, holds: [{ owner: 'feed:drop', entries: 2, nextExpiry: expect.stringMatching(/^20\d\d-/) }] }]);

    const missing = await runCli(h, ['intel', 'sync', `${feedUrl}/nope.txt`, '--ip-set', ipSetName]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/answered HTTP 404/);
  });

  it('bulwark intel schedule creates a Temporal Schedule for the feed; --help shows examples', async () => {
    const path = file('sched.txt', '45.155.205.7\n');
    const r = await runCli(h, ['intel', 'schedule', path, '--name', 'sched-test', '--every', '1h']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('created schedule intel-sync-sched-test: every 1h');
    const d = await h.client.schedule.getHandle('intel-sync-sched-test').describe();
    expect(d.action).toMatchObject({ workflowType: 'intelSyncWorkflow', workflowId: 'intel-sync/sched-test' });
    expect(d.spec.intervals?.[0]?.every).toBe(3_600_000);
    await h.client.schedule.getHandle('intel-sync-sched-test').delete();
    const help = await runCli(h, ['intel', 'sync', '--help']);
    expect(help.stdout).toContain('bulwark intel sync ./indicators.json --dry-run');
  });
});

// Requests are signed here with node:crypto directly, independently of the code under test.
function signed(secret: string, body: string) {
  const ts = Math.floor(Date.now() / 1000);
  const sig = createHmac('sha256', secret).update(`${ts}.${body}`).digest('hex');
  return { 'content-type': 'application/json', 'x-bulwark-timestamp': String(ts), 'x-bulwark-signature': `v1=${sig}` };
}

async function postAlert(alert: Record<string, unknown>) {
  const body = JSON.stringify(alert);
  const res = await fetch(`${h.intake!.url}/v1/alerts`, { method: 'POST', headers: signed(h.webhookSecret, body), body });
  expect(res.status).toBe(202);
  return (await res.json()) as { workflowId: string };
}

describe('enrichment and routing through the real intake', () => {
  it('an alert from an address on a feed is enriched and routed to intel-block, which blocks it in the WAF', async () => {
    const restApiId = await createStage(h.aws, { rate: 100, burst: 50 });
    const { workflowId } = await postAlert({ source: 'waf-logs', type: 'endpoint.abuse', severity: 'medium', observedAt: new Date().toISOString(), subject: { endpoint: { restApiId, stage: 'prod' }, sourceIp: '185.220.101.33' } });
    const s = await waitForState(h.client, workflowId, (st) => st.steps.find((x) => x.id === 'tell-operators')?.status === 'succeeded');
    expect(s.alert.details?.intel).toEqual({ indicator: '185.220.101.0/24', ref: 'indicator--00000001-1111-4111-8111-111111111111', feed: 'tor', confidence: 90, name: 'tor exits' });
    expect(s.plan?.playbook).toBe('intel-block');
    expect(s.timeline.find((e) => e.step === 'tell-operators' && e.kind === 'step.succeeded')?.message).toBe('Blocked 185.220.101.33: indicator 185.220.101.0/24 from feed tor (confidence 90)');
    expect(await entries(wafIpSet)).toEqual(['185.220.101.33/32']);
  });

  it('an alert from an address on no feed goes to the ordinary playbook, and a forged details.intel is dropped', async () => {
    const restApiId = await createStage(h.aws, { rate: 100, burst: 50 });
    const { workflowId } = await postAlert({
      source: 'waf-logs',
      type: 'endpoint.abuse',
      severity: 'medium',
      observedAt: new Date().toISOString(),
      subject: { endpoint: { restApiId, stage: 'prod' }, sourceIp: '8.8.4.4' },
      details: { intel: { indicator: '8.8.4.4/32', ref: 'x', feed: 'tor', confidence: 100 }, note: 'kept' },
    });
    expect(await workflowExists(h.client, workflowId)).toBe(true);
    const s = await waitForState(h.client, workflowId, (st) => st.plan !== undefined);
    expect(s.plan?.playbook).toBe('endpoint-abuse');
    expect(s.alert.details).toEqual({ note: 'kept' });
  });
});
