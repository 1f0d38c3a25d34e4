import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetIPSetCommand, GetWebACLCommand, ListIPSetsCommand, ListWebACLsCommand, UpdateIPSetCommand, WAFV2Client } from '@aws-sdk/client-wafv2';
import { createWafActivities, DEFAULT_WAF_SETTINGS, readLedger, type WafSettings } from '../activities/waf.js';
import { parseAlert } from '../domain/alert.js';
import { AlertDeliverer } from '../intake/deliver.js';
import { PlaybookCatalog } from '../intake/playbook-catalog.js';
import { playbookDefaults } from '../temporal.config.js';
import { abortUpdate } from '../workflows/definitions.js';
import { alertFor, startHarness, uniqueId, waitForState, type Harness, waitForValue } from './support.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.close());

const settings = (over: Partial<WafSettings> = {}): WafSettings => ({ ...DEFAULT_WAF_SETTINGS, ipSetName: uniqueId('bl'), ...over });

/** The entries of `<base>-ipv4|ipv6` as moto holds them now. */
async function entries(base: string, v: 4 | 6 = 4): Promise<string[]> {
  const name = `${base}-ipv${v}`;
  const list = await h.aws.waf.send(new ListIPSetsCommand({ Scope: 'REGIONAL', Limit: 100 }));
  const s = list.IPSets?.find((x) => x.Name === name);
  if (!s) return [];
  const got = await h.aws.waf.send(new GetIPSetCommand({ Name: name, Scope: 'REGIONAL', Id: s.Id! }));
  return [...(got.IPSet?.Addresses ?? [])].sort();
}

const change = (add4: string[] = [], add6: string[] = [], remove4: string[] = [], remove6: string[] = []) => ({ addIpv4: add4, addIpv6: add6, removeIpv4: remove4, removeIpv6: remove6 });

describe('WAF IP sets (activities against the sandbox)', () => {
  it('creates both sets and the blocking rules of the web ACL, adds idempotently and removes exactly', async () => {
    const s = settings({ webAclName: uniqueId('acl') });
    const waf = createWafActivities({ waf: h.aws.waf, settings: s });
    const first = await waf.wafApplyIpSetChange({ change: change(['185.220.101.7', '45.155.205.0/24'], ['2a0e:1c80::/29']) });
    expect(first.ipv4?.added.sort()).toEqual(['185.220.101.7/32', '45.155.205.0/24']);
    expect(await entries(s.ipSetName)).toEqual(['185.220.101.7/32', '45.155.205.0/24']);
    expect(await entries(s.ipSetName, 6)).toEqual(['2a0e:1c80::/29']);

    const again = await waf.wafApplyIpSetChange({ change: change(['185.220.101.7/32']) });
    expect(again.ipv4).toMatchObject({ added: [], alreadyPresent: ['185.220.101.7/32'], entries: 2 });

    await waf.wafApplyIpSetChange({ change: change([], [], ['45.155.205.0/24']) });
    expect(await entries(s.ipSetName)).toEqual(['185.220.101.7/32']);

    const acls = await h.aws.waf.send(new ListWebACLsCommand({ Scope: 'REGIONAL', Limit: 100 }));
    const acl = acls.WebACLs!.find((a) => a.Name === s.webAclName)!;
    const got = await h.aws.waf.send(new GetWebACLCommand({ Name: s.webAclName, Scope: 'REGIONAL', Id: acl.Id! }));
    const blocked = got.WebACL!.Rules!.filter((r) => r.Action?.Block).map((r) => r.Statement?.IPSetReferenceStatement?.ARN);
    expect(blocked).toEqual([first.ipv4!.arn, first.ipv6!.arn]);
  });

  it('retries a stale lock token: a concurrent update between Get and Update is kept, and so is ours', async () => {
    const s = settings();
    await createWafActivities({ waf: h.aws.waf, settings: s }).wafApplyIpSetChange({ change: change(['185.220.101.1']) });
    // A second client whose first UpdateIPSet is preceded, after bulwark's GetIPSet, by someone
    // else's Get→Update: the lock token bulwark read is then stale.
    const racing = new WAFV2Client({ region: h.config.aws.region, endpoint: h.config.aws.endpoint, credentials: { accessKeyId: 'sandbox', secretAccessKey: 'sandbox' } });
    let interfered = 0;
    racing.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'UpdateIPSetCommand' && interfered === 0) {
          interfered++;
          const input = (args as { input: { Name: string; Id: string } }).input;
          const theirs = await h.aws.waf.send(new GetIPSetCommand({ Name: input.Name, Scope: 'REGIONAL', Id: input.Id }));
          await h.aws.waf.send(new UpdateIPSetCommand({ Name: input.Name, Scope: 'REGIONAL', Id: input.Id, LockToken: theirs.LockToken!, Addresses: [...theirs.IPSet!.Addresses!, '91.240.118.0/24'] }));
        }
        return next(args);
      },
      { step: 'initialize', name: 'interfere' },
    );
    const r = await createWafActivities({ waf: racing, settings: s }).wafApplyIpSetChange({ change: change(['193.142.146.9']) });
    expect(interfered).toBe(1);
    expect(r.ipv4?.attempts).toBe(2);
    expect(await entries(s.ipSetName)).toEqual(['185.220.101.1/32', '193.142.146.9/32', '91.240.118.0/24']);
  });

  it('refuses a change past the size limit before applying anything, in either set', async () => {
    const s = settings({ maxEntries: 4 });
    const waf = createWafActivities({ waf: h.aws.waf, settings: s });
    await waf.wafApplyIpSetChange({ change: change(['185.220.101.1', '185.220.101.2', '185.220.101.3']) });
    const err = await waf.wafApplyIpSetChange({ change: change(['185.220.101.4', '185.220.101.5'], ['2a0e:1c80::/29']) }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/would hold 5 entries \(3 now \+ 2 new\), over its limit of 4; nothing was changed/);
    expect(await entries(s.ipSetName)).toEqual(['185.220.101.1/32', '185.220.101.2/32', '185.220.101.3/32']);
    expect(await entries(s.ipSetName, 6)).toEqual([]);
    // Present entries do not count twice: re-adding them plus one new one fits.
    await waf.wafApplyIpSetChange({ change: change(['185.220.101.1', '185.220.101.4']) });
    expect(await entries(s.ipSetName)).toHaveLength(4);
  });

  it('with createIfMissing off, a missing set is a clear not-found error', async () => {
    const s = settings({ createIfMissing: false });
    const err = await createWafActivities({ waf: h.aws.waf, settings: s }).wafApplyIpSetChange({ change: change(['185.220.101.1']) }).catch((e: Error) => e);
    expect((err as Error).message).toBe(`WAF IP set ${s.ipSetName}-ipv4 (REGIONAL) does not exist and waf.createIfMissing is off`);
  });
});

/** A catalog with one blocking playbook, its IP set named by the test. */
function blockingCatalog(ipSetName: string, ttl: string) {
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-waf-pb-'));
  writeFileSync(
    join(dir, 'block.yaml'),
    `id: block-source
version: 1
title: block the abusive source address
match:
  types: [endpoint.abuse]
steps:
  - id: block
    action: waf.blockIps
    with: { ips: "\${alert.subject.sourceIp}", ttl: ${ttl}, ipSetName: ${ipSetName} }
`,
  );
  const { catalog, result } = PlaybookCatalog.fromDir(dir);
  expect(result.errors).toEqual([]);
  return catalog;
}

function deliver(catalog: PlaybookCatalog, sourceIp: string, restApiId = uniqueId('api')) {
  const parsed = parseAlert(alertFor({ endpoint: { restApiId, stage: 'prod' }, sourceIp }, { type: 'endpoint.abuse' }));
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return new AlertDeliverer(h.client, h.config.temporal.taskQueue, playbookDefaults(h.config), { catalog }).deliver(parsed.value);
}

describe('waf.blockIps with expiry (playbook → incident workflow → IP-set ledger)', () => {
  it('blocks the alert source IP, then a durable timer removes it when the ttl ends', async () => {
    const ipSetName = uniqueId('bl');
    const { workflowId } = await deliver(blockingCatalog(ipSetName, '2s'), '185.220.101.44');
    const s = await waitForState(h.client, workflowId, (st) => st.steps.some((x) => x.id === 'block' && x.status === 'succeeded'));
    expect(s.timeline.find((e) => e.step === 'block' && e.kind === 'step.succeeded')?.message).toMatch(/^blocked 185\.220\.101\.44\/32 until /);
    expect(await entries(ipSetName)).toEqual(['185.220.101.44/32']);
    await waitForValue('the block to expire', async () => ({ entries: await entries(ipSetName), ledger: await readLedger(h.client, ipSetName) }), (e) => e.entries.length === 0, 15_000);
    expect((await readLedger(h.client, ipSetName))?.holds).toEqual({});
  });

  it('overlapping blocks of one IP by two incidents: the shorter expiring leaves it blocked; aborting the other removes it', async () => {
    const ipSetName = uniqueId('bl');
    const ip = '2a0e:1c80:1::7';
    const short = await deliver(blockingCatalog(ipSetName, '2s'), ip);
    await waitForState(h.client, short.workflowId, (st) => st.steps.some((x) => x.id === 'block' && x.status === 'succeeded'));
    const long = await deliver(blockingCatalog(ipSetName, '1h'), ip);
    await waitForState(h.client, long.workflowId, (st) => st.steps.some((x) => x.id === 'block' && x.status === 'succeeded'));
    expect(await entries(ipSetName, 6)).toEqual(['2a0e:1c80:1::7/128']);

    // After the short block's expiry the ledger holds only the long one, and the address stays blocked.
    const ledger = await waitForValue('the short hold to expire', () => readLedger(h.client, ipSetName), (l) => l !== undefined && Object.keys(l.holds).length === 1, 15_000);
    expect(Object.keys(ledger!.holds)).toEqual([`${long.workflowId}/block`]);
    expect(await entries(ipSetName, 6)).toEqual(['2a0e:1c80:1::7/128']);

    // Compensation: aborting the long incident releases its hold, and nothing else keeps the entry.
    expect(await h.client.workflow.getHandle(long.workflowId).executeUpdate(abortUpdate, { args: [{ by: 'carol', reason: 'false positive' }] })).toBe('aborted');
    expect(await entries(ipSetName, 6)).toEqual([]);
  });

  it('refuses to block a private address: the step fails with the reason and nothing is added', async () => {
    const ipSetName = uniqueId('bl');
    const { workflowId } = await deliver(blockingCatalog(ipSetName, '1h'), '10.1.2.3');
    const s = await waitForState(h.client, workflowId, (st) => st.steps.some((x) => x.id === 'block' && x.status === 'failed'));
    expect(s.steps.find((x) => x.id === 'block')?.error).toMatch(/10\.1\.2\.3\/32 is in a private range/);
    expect(await entries(ipSetName)).toEqual([]);
  });
});
