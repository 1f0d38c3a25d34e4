import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetApiKeyCommand } from '@aws-sdk/client-api-gateway';
import { CreateAccessKeyCommand, CreateUserCommand, ListAccessKeysCommand } from '@aws-sdk/client-iam';
import { createTppClient, runCli, startHarness, uniqueId, waitForState, type Harness } from './support.js';

const dir = mkdtempSync(join(tmpdir(), 'bulwark-pbcli-'));

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.close());

const bulwark = (args: string[]) => runCli(h, args);

function alertFile(alert: Record<string, unknown>): string {
  const file = join(dir, `${uniqueId('alert')}.json`);
  writeFileSync(file, JSON.stringify({ source: 'cli-test', severity: 'high', observedAt: new Date().toISOString(), ...alert }));
  return file;
}

describe('bulwark playbook', () => {
  it('validate: the shipped playbooks pass; a broken file fails with file:line field: message', async () => {
    const ok = await bulwark(['playbook', 'validate']);
    expect(ok.code).toBe(0);
    const { readdirSync } = await import('node:fs');
    expect(ok.stdout.match(/^ok /gm)).toHaveLength(readdirSync('playbooks').filter((f) => f.endsWith('.yaml')).length);

    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'id: bad\nversion: 1\ntitle: bad\nmatch:\n  types: [endpoint.abuse]\nsteps:\n  - id: t\n    action: apigateway.throttle\n    with:\n      endpoint: "${alert.subject.endpoint}"\n      rateLimit: lots\n      burstLimit: 5\n      ttl: 30m\n');
    const r = await bulwark(['playbook', 'validate', bad]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/bad\.yaml:11 steps\[0\]\.with\.rateLimit: expected number, received string/);
  });

  it('validate accepts the certificate-compromise playbook now that certificates.rotate ships', async () => {
    const r = await bulwark(['playbook', 'validate', 'playbooks/certificate-compromise.yaml']);
    expect(r.code).toBe(0);
  });

  it('plan --json resolves parameters and conditions from the alert', async () => {
    const r = await bulwark(['playbook', 'plan', 'playbooks/credential-compromise.yaml', '--alert', alertFile({ type: 'credential.compromised', subject: { apiKeyId: 'k123' } }), '--json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { matches: boolean; plan: { steps: { id: string; with: object }[] } };
    expect(out.matches).toBe(true);
    expect(out.plan.steps.map((s) => [s.id, s.with])).toEqual([
      ['disable-api-keys', { apiKeyId: 'k123' }],
      ['rotate-secret', {}],
      ['revoke-consents', {}],
    ]);
  });

  it('plan refuses an invalid alert with the field that is wrong (exit 2)', async () => {
    const r = await bulwark(['playbook', 'plan', 'playbooks/credential-compromise.yaml', '--alert', alertFile({ type: 'credential.compromised', severity: 'urgent', subject: { clientId: 'x' } })]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/severity: /);
  });

  it('test: a dry run lists what would change in the sandbox and changes nothing', async () => {
    const tpp = await createTppClient(h.aws, { keys: 2 });
    const r = await bulwark(['playbook', 'test', 'playbooks/credential-compromise.yaml', '--alert', alertFile({ type: 'credential.compromised', subject: { clientId: tpp.clientId } })]);
    expect(r.code, r.stderr).toBe(0);
    for (const id of tpp.apiKeyIds) expect(r.stdout).toContain(`would: disable API key ${id}`);
    expect(r.stdout).toMatch(/would: rotate secret test\/.*\/oauth-client/);
    for (const id of tpp.apiKeyIds) expect((await h.aws.apigw.send(new GetApiKeyCommand({ apiKey: id }))).enabled).toBe(true);
  });

  it('test: a resource that does not exist fails the test with a clear message', async () => {
    const r = await bulwark(['playbook', 'test', 'playbooks/credential-compromise.yaml', '--alert', alertFile({ type: 'credential.compromised', subject: { clientId: 'nobody-here' } })]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/PROBLEM: no API Gateway API key is tagged bulwark:client-id=nobody-here/);
    expect(r.stdout).toMatch(/PROBLEM: no Secrets Manager secret is tagged bulwark:client-id=nobody-here/);
  });
});

describe('bulwark incident approve / reject / abort', () => {
  it('approval from the CLI goes through the same validator (four-eyes) and the key is deleted in IAM', async () => {
    const userName = uniqueId('svc');
    await h.aws.iam.send(new CreateUserCommand({ UserName: userName }));
    const accessKeyId = (await h.aws.iam.send(new CreateAccessKeyCommand({ UserName: userName }))).AccessKey!.AccessKeyId!;
    const opened = await bulwark(['incident', 'open', '--type', 'aws-credential', '--access-key', accessKeyId, '--iam-user', userName, '--as', 'bob', '--json']);
    expect(opened.code, opened.stderr).toBe(0);
    const { incidentId } = JSON.parse(opened.stdout) as { incidentId: string };
    await waitForState(h.client, incidentId, (s) => s.status === 'awaiting-approval');

    const own = await bulwark(['incident', 'approve', incidentId, 'delete-access-key', '--as', 'bob']);
    expect(own.code).toBe(1);
    expect(own.stderr).toMatch(/refused: bob opened this incident/);

    const ok = await bulwark(['incident', 'approve', incidentId, 'delete-access-key', '--as', 'alice', '--comment', 'leak confirmed']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/delete-access-key: succeeded/);
    expect((await h.aws.iam.send(new ListAccessKeysCommand({ UserName: userName }))).AccessKeyMetadata).toEqual([]);

    const show = await bulwark(['incident', 'show', incidentId]);
    expect(show.stdout).toMatch(/delete-access-key.*succeeded.*approval \(security-lead\) ✓ alice/);
  });

  it('reject and abort need a reason', async () => {
    for (const args of [['incident', 'reject', 'x', 'step'], ['incident', 'abort', 'x']]) {
      const r = await bulwark(args);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/required option '--reason <text>'/);
    }
  });
});
