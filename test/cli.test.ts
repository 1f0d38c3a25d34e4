import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetApiKeyCommand } from '@aws-sdk/client-api-gateway';
import { createTppClient, runCli, startHarness, type Harness } from './support.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.close());

const bulwark = (args: string[], env: Record<string, string> = {}) => runCli(h, args, env);

describe('bulwark CLI', () => {
  it('--help lists the commands and exits 0', async () => {
    const r = await bulwark(['--help']);
    expect(r.code).toBe(0);
    for (const cmd of ['dev', 'worker', 'serve', 'demo', 'incident']) expect(r.stdout).toContain(cmd);
  });

  it.each([
    [['no-such-command'], /unknown command/],
    [['incident', 'open'], /required option '-t, --type <type>'/],
    [['incident', 'open', '--type', 'sabotage', '--client', 'x'], /--type must be one of/],
    [['incident', 'open', '--type', 'credential'], /subject: credential.compromised needs subject.clientId/],
    [['incident', 'extend', 'x', '--ttl', 'forever'], /--ttl: expected a duration/],
  ])('usage errors exit 2 with one line: %j', async (args, message) => {
    const r = await bulwark(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('bad configuration exits 2 naming the variable', async () => {
    const r = await bulwark(['incident', 'list'], { TEMPORAL_ADDRESS: 'nonsense' });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/TEMPORAL_ADDRESS \(temporal.address\): expected host:port/);
  });

  it('an unknown incident exits 1 with a readable line', async () => {
    const r = await bulwark(['incident', 'show', 'incident-000000000000000000000000']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/no such incident/);
  });

  it('open → show → list → resolve, acting on the sandbox AWS', async () => {
    const tpp = await createTppClient(h.aws, { keys: 1 });
    const opened = await bulwark(['incident', 'open', '--type', 'credential', '--client', tpp.clientId, '--as', 'alice', '--json']);
    expect(opened.code).toBe(0);
    const { workflowId, deduplicated } = JSON.parse(opened.stdout);
    expect(deduplicated).toBe(false);

    let shown: { status: string; openedBy: string } | undefined;
    for (let i = 0; i < 100 && shown?.status !== 'contained'; i++) {
      shown = JSON.parse((await bulwark(['incident', 'show', workflowId, '--json'])).stdout);
      if (shown?.status !== 'contained') await new Promise((r) => setTimeout(r, 200));
    }
    expect(shown).toMatchObject({ status: 'contained', openedBy: 'operator:alice' });
    expect((await h.aws.apigw.send(new GetApiKeyCommand({ apiKey: tpp.apiKeyIds[0]! }))).enabled).toBe(false);

    const text = await bulwark(['incident', 'show', workflowId]);
    expect(text.stdout).toMatch(/step.succeeded\s+\[disable-api-keys\] disabled 1 API key/);
    // Listed from visibility (memo), so workflows of other files with no worker left do not slow it.
    const list = await bulwark(['incident', 'list', '--json']);
    expect(JSON.parse(list.stdout)).toContainEqual(expect.objectContaining({ id: workflowId, status: 'contained', subject: tpp.clientId }));

    const resolved = await bulwark(['incident', 'resolve', workflowId.replace('incident-', ''), '--as', 'bob']);
    expect(resolved).toMatchObject({ code: 0 });
    expect(resolved.stdout).toContain('resolved');
    const again = await bulwark(['incident', 'contain', workflowId, '--as', 'bob']);
    expect(again.code).toBe(1);
  });
});
