import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Worker } from '@temporalio/worker';
import { GetStageCommand } from '@aws-sdk/client-api-gateway';
import { CreateAccessKeyCommand, CreateUserCommand, ListAccessKeysCommand } from '@aws-sdk/client-iam';
import { CreateAliasCommand, CreateKeyCommand, DescribeKeyCommand } from '@aws-sdk/client-kms';
import { parseAlert } from '../domain/alert.js';
import type { IncidentState } from '../domain/incident.js';
import { AlertDeliverer } from '../intake/deliver.js';
import { PlaybookCatalog } from '../intake/playbook-catalog.js';
import { playbookDefaults } from '../temporal.config.js';
import { workflowBundle } from '../worker/bundle.js';
import { abortUpdate, approveUpdate, containUpdate, rejectUpdate, resolveUpdate, retryUpdate, skipUpdate } from '../workflows/definitions.js';
import { alertFor, createStage, refusal, startHarness, uniqueId, waitForState, type Harness } from './support.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.close());

/** A catalog of its own in a temp dir, so a test can deploy playbook versions. */
function catalogWith(files: Record<string, string>) {
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-pb-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  const { catalog, result } = PlaybookCatalog.fromDir(dir);
  expect(result.errors).toEqual([]);
  return { dir, catalog };
}

function deliver(catalog: PlaybookCatalog | undefined, alert: Record<string, unknown>, openedBy?: string) {
  const parsed = parseAlert(alert);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return new AlertDeliverer(h.client, h.config.temporal.taskQueue, playbookDefaults(h.config), { catalog }).deliver(parsed.value, undefined, openedBy);
}

async function stageLimits(restApiId: string) {
  const s = (await h.aws.apigw.send(new GetStageCommand({ restApiId, stageName: 'prod' }))).methodSettings?.['*/*'];
  return { rate: s?.throttlingRateLimit, burst: s?.throttlingBurstLimit };
}

const keyState = async (keyId: string) => (await h.aws.kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.KeyState;

describe('compensation (saga)', () => {
  it('when step 3 fails with onFailure: compensate, steps 2 and 1 are undone in AWS, last first', async () => {
    const { catalog } = catalogWith({
      'saga.yaml': `id: saga
version: 1
title: throttle, disable key, then rotate a secret that does not exist
match:
  types: [key.exposed]
inputs:
  endpoint: "\${alert.subject.endpoint}"
  keyId: "\${alert.subject.kmsKeyId}"
steps:
  - id: throttle
    action: apigateway.throttle
    with: { endpoint: "\${inputs.endpoint}", rateLimit: 3, burstLimit: 1, ttl: 1h }
  - id: disable-key
    action: kms.disableKey
    with: { keyId: "\${inputs.keyId}" }
  - id: rotate
    action: secrets.rotate
    onFailure: compensate
    with: { secretId: "\${alert.subject.secretId}" }
`,
    });
    const restApiId = await createStage(h.aws, { rate: 100, burst: 50 });
    const keyId = (await h.aws.kms.send(new CreateKeyCommand({ Description: 'saga test' }))).KeyMetadata!.KeyId!;
    const { workflowId } = await deliver(catalog, alertFor({ endpoint: { restApiId, stage: 'prod' }, kmsKeyId: keyId, secretId: uniqueId('missing-secret') }, { type: 'key.exposed' }));

    const s = await waitForState(h.client, workflowId, (st) => st.status === 'needs-attention');
    expect(s.steps.map((x) => [x.id, x.status])).toEqual([
      ['throttle', 'compensated'],
      ['disable-key', 'compensated'],
      ['rotate', 'failed'],
    ]);
    expect(s.attention).toMatch(/step rotate failed: .*undid 2 earlier step/);
    const undone = s.timeline.filter((e) => e.kind === 'step.compensated').map((e) => e.step);
    expect(undone).toEqual(['disable-key', 'throttle']);
    // The observable truth is in AWS, not in our state.
    expect(await stageLimits(restApiId)).toEqual({ rate: 100, burst: 50 });
    expect(await keyState(keyId)).toBe('Enabled');
  });

  it('an operator abort undoes reversible steps and closes the incident as aborted', async () => {
    const restApiId = await createStage(h.aws, { rate: 200, burst: 100 });
    const { workflowId } = await deliver(undefined, alertFor({ endpoint: { restApiId, stage: 'prod' } }, { type: 'endpoint.abuse' }));
    await waitForState(h.client, workflowId, (st) => st.status === 'contained');
    expect((await stageLimits(restApiId)).rate).not.toBe(200);
    const status = await h.client.workflow.getHandle(workflowId).executeUpdate(abortUpdate, { args: [{ by: 'carol', reason: 'false positive' }] });
    expect(status).toBe('aborted');
    expect(await stageLimits(restApiId)).toEqual({ rate: 200, burst: 100 });
  });
});

describe('approvals, conditions and triage', () => {
  it('deactivates the IAM key at once, waits for approval to delete it, and enforces the approval rules', async () => {
    const userName = uniqueId('svc');
    await h.aws.iam.send(new CreateUserCommand({ UserName: userName }));
    const { AccessKey } = await h.aws.iam.send(new CreateAccessKeyCommand({ UserName: userName }));
    const accessKeyId = AccessKey!.AccessKeyId!;
    const { workflowId } = await deliver(undefined, alertFor({ awsAccessKeyId: accessKeyId, iamUserName: userName }, { type: 'aws-credential.compromised', source: 'guardduty' }), 'operator:bob');

    const waiting = await waitForState(h.client, workflowId, (st) => st.status === 'awaiting-approval');
    expect(waiting.steps.map((x) => [x.id, x.status])).toEqual([
      ['deactivate-access-key', 'succeeded'],
      ['revoke-role-sessions', 'skipped'],
      ['delete-access-key', 'awaiting-approval'],
    ]);
    const keys = async () => (await h.aws.iam.send(new ListAccessKeysCommand({ UserName: userName }))).AccessKeyMetadata ?? [];
    expect((await keys()).map((k) => k.Status)).toEqual(['Inactive']);

    const handle = h.client.workflow.getHandle(workflowId);
    expect(await refusal(handle.executeUpdate(approveUpdate, { args: [{ step: 'delete-access-key', by: 'bob' }] }))).toMatch(/bob opened this incident/);
    expect(await refusal(handle.executeUpdate(approveUpdate, { args: [{ step: 'deactivate-access-key', by: 'alice' }] }))).toMatch(/not waiting for approval/);
    expect(await refusal(handle.executeUpdate(approveUpdate, { args: [{ step: 'nope', by: 'alice' }] }))).toMatch(/no step "nope"/);
    expect(await refusal(handle.executeUpdate(rejectUpdate, { args: [{ step: 'delete-access-key', by: 'alice' }] }))).toMatch(/needs a reason/);
    expect(await keys()).toHaveLength(1);

    expect(await handle.executeUpdate(approveUpdate, { args: [{ step: 'delete-access-key', by: 'alice', reason: 'confirmed leak' }] })).toBe('succeeded');
    expect(await keys()).toEqual([]);
    const done = await waitForState(h.client, workflowId, (st) => st.status === 'contained');
    expect(done.steps.find((x) => x.id === 'delete-access-key')?.approvedBy).toBe('alice');
    expect(done.timeline.some((e) => e.kind === 'approval.granted' && /alice: confirmed leak/.test(e.message))).toBe(true);
  });

  it('a rejected step is not run and the incident asks for attention', async () => {
    const userName = uniqueId('svc');
    await h.aws.iam.send(new CreateUserCommand({ UserName: userName }));
    const { AccessKey } = await h.aws.iam.send(new CreateAccessKeyCommand({ UserName: userName }));
    const { workflowId } = await deliver(undefined, alertFor({ awsAccessKeyId: AccessKey!.AccessKeyId!, iamUserName: userName }, { type: 'aws-credential.compromised' }));
    await waitForState(h.client, workflowId, (st) => st.status === 'awaiting-approval');
    await h.client.workflow.getHandle(workflowId).executeUpdate(rejectUpdate, { args: [{ step: 'delete-access-key', by: 'alice', reason: 'keep for forensics' }] });
    const s = await waitForState(h.client, workflowId, (st) => st.status === 'needs-attention');
    expect(s.attention).toMatch(/delete-access-key rejected: rejected by alice: keep for forensics/);
    expect((await h.aws.iam.send(new ListAccessKeysCommand({ UserName: userName }))).AccessKeyMetadata?.map((k) => k.Status)).toEqual(['Inactive']);
  });

  it('an alert no playbook matches opens a triage incident that only notifies', async () => {
    const { workflowId } = await deliver(undefined, alertFor({ clientId: uniqueId('c') }, { type: 'anomaly.detected' }));
    const s = await waitForState(h.client, workflowId, (st) => st.status === 'contained');
    expect(s.plan).toMatchObject({ playbook: 'triage', triage: true });
    expect(s.timeline[0]!.message).toMatch(/no playbook matches anomaly\.detected/);
    expect(s.steps).toEqual([expect.objectContaining({ id: 'notify-operators', status: 'succeeded' })]);
  });
});

describe('playbook versions are pinned per incident', () => {
  const version = (v: number, message: string, extra = '') => `id: pinned
version: ${v}
title: pinned v${v}
match:
  types: [anomaly.detected]
containment:
  operatorBelow: critical
steps:
  - id: disable-key
    action: kms.disableKey
    with: { keyId: "\${alert.subject.kmsKeyId}" }
  - id: say
    action: notify.operators
    with: { message: "${message}" }
${extra}`;
  const newKey = async () => (await h.aws.kms.send(new CreateKeyCommand({ Description: 'pinning test' }))).KeyMetadata!.KeyId!;

  it('an incident started on v1 finishes on v1 after v2 is deployed; both histories replay', async () => {
    const { dir, catalog } = catalogWith({ 'pinned.yaml': version(1, 'from v1') });
    const first = await deliver(catalog, alertFor({ kmsKeyId: await newKey() }, { type: 'anomaly.detected' }));
    await waitForState(h.client, first.workflowId, (st) => st.status === 'awaiting-containment');

    writeFileSync(join(dir, 'pinned.yaml'), version(2, 'from v2', `  - id: wait-a-bit\n    action: wait\n    with: { duration: 1s }\n`));
    expect(catalog.reload().errors).toEqual([]);
    const second = await deliver(catalog, alertFor({ kmsKeyId: await newKey() }, { type: 'anomaly.detected' }));

    for (const { workflowId } of [first, second]) await h.client.workflow.getHandle(workflowId).executeUpdate(containUpdate, { args: [{ by: 'dave' }] });
    const [s1, s2] = await Promise.all([first, second].map(({ workflowId }) => waitForState(h.client, workflowId, (st) => st.status === 'contained')));
    const said = (st: typeof s1) => st!.timeline.find((e) => e.kind === 'step.succeeded' && e.step === 'say')?.message;
    expect([s1!.plan.version, s1!.steps.length, said(s1)]).toEqual([1, 2, 'from v1']);
    expect([s2!.plan.version, s2!.steps.length, said(s2)]).toEqual([2, 3, 'from v2']);

    for (const { workflowId } of [first, second]) {
      const handle = h.client.workflow.getHandle(workflowId);
      await handle.executeUpdate(resolveUpdate, { args: [{ by: 'dave' }] });
      await expect(Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, await handle.fetchHistory(), workflowId)).resolves.toBeUndefined();
    }
  });
});

describe('correlation by client', () => {
  it('an abuse alert for a client whose credential incident is open joins that incident, and the timeline shows it', async () => {
    const { createDeliverer } = await import('../intake/app.js');
    const { createLogger } = await import('../telemetry/logger.js');
    const deliverer = createDeliverer(h.config, h.client, createLogger('silent'));
    const clientId = uniqueId('tpp');
    const cred = parseAlert(alertFor({ clientId }, { type: 'anomaly.detected', severity: 'medium' }));
    const abuse = parseAlert(alertFor({ clientId, endpoint: { restApiId: 'r1', stage: 'prod' } }, { type: 'endpoint.abuse', severity: 'critical', source: 'waf' }));
    if (!cred.ok || !abuse.ok) throw new Error('bad test alerts');
    const first = await deliverer.deliver(cred.value);
    const second = await deliverer.deliver(abuse.value);
    expect(second).toMatchObject({ workflowId: first.workflowId, correlated: true });
    const s = await waitForState(h.client, first.workflowId, (st) => st.timeline.some((e) => e.kind === 'alert.correlated'));
    expect(s.alertCount).toBe(2);
    expect(s.severity).toBe('critical');
    expect(s.timeline.find((e) => e.kind === 'alert.correlated')?.message).toMatch(new RegExp(`endpoint\\.abuse alert\\(s\\) \\(critical\\) from waf joined: same client ${clientId}`));
    // No incident of its own was opened for the abuse alert.
    const own = `incident-${(await import('../domain/fingerprint.js')).fingerprint(abuse.value)}`;
    await expect(h.client.workflow.getHandle(own).describe()).rejects.toThrow();

    // Another intake instance (no local cache) finds it through Temporal visibility.
    const other = createDeliverer(h.config, h.client, createLogger('silent'));
    const third = parseAlert(alertFor({ clientId }, { type: 'key.exposed', source: 'scanner', subject: { clientId, secretId: 'whatever' } }));
    if (!third.ok) throw new Error('bad test alert');
    expect(await other.deliver(third.value)).toMatchObject({ workflowId: first.workflowId, correlated: true });
  });

  it('with the window at 0, alerts of other types open their own incident', async () => {
    const { createDeliverer } = await import('../intake/app.js');
    const { createLogger } = await import('../telemetry/logger.js');
    const deliverer = createDeliverer({ ...h.config, intake: { ...h.config.intake, correlationWindowSeconds: 0 } }, h.client, createLogger('silent'));
    const clientId = uniqueId('tpp');
    const a = parseAlert(alertFor({ clientId }, { type: 'anomaly.detected' }));
    const b = parseAlert(alertFor({ clientId }, { type: 'anomaly.detected', source: 'other' }));
    if (!a.ok || !b.ok) throw new Error('bad test alerts');
    const [x, y] = [await deliverer.deliver(a.value), await deliverer.deliver(b.value)];
    expect(x.workflowId).not.toBe(y.workflowId);
  });
});

describe('approval policies', () => {
  const playbook = `id: gated
version: 1
title: gated steps
match:
  types: [key.exposed]
steps:
  - id: disable-key
    action: kms.disableKey
    approval: two-people
    with: { keyId: "\${alert.subject.kmsKeyId}" }
  - id: rotate-key
    action: kms.rotate
    approval: hurry
    with: { keyId: "\${alert.subject.kmsKeyId}" }
`;
  const approvals = {
    groups: { leads: ['alice', 'carol', 'erin'] },
    policies: {
      'two-people': { approvers: ['group:leads'], required: 2, expiry: '1h', escalation: [], onExpiry: 'reject' as const },
      hurry: { approvers: ['group:leads'], required: 1, expiry: '2s', escalation: [{ after: '1s', notify: ['dave'] }], onExpiry: 'reject' as const },
    },
  };

  it('needs two distinct listed approvers, refuses outsiders, stale digests and repeats; an unanswered step expires to its default', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bulwark-ap-'));
    writeFileSync(join(dir, 'gated.yaml'), playbook);
    const { catalog } = PlaybookCatalog.fromDir(dir, approvals);
    const keyId = (await h.aws.kms.send(new CreateKeyCommand({ Description: 'approval test' }))).KeyMetadata!.KeyId!;
    const { workflowId } = await deliver(catalog, alertFor({ kmsKeyId: keyId }, { type: 'key.exposed' }));
    const handle = h.client.workflow.getHandle(workflowId);
    const waiting = await waitForState(h.client, workflowId, (st) => st.steps[0]!.status === 'awaiting-approval');
    expect(waiting.timeline.find((e) => e.kind === 'approval.requested')?.message).toMatch(/two-people: 2 of alice, carol, erin/);

    const approve = (by: string, digest?: string) => handle.executeUpdate(approveUpdate, { args: [{ step: 'disable-key', by, digest }] });
    expect(await refusal(approve('mallory'))).toMatch(/mallory is not an approver under policy two-people/);
    expect(await refusal(approve('alice', '0000000000000000'))).toMatch(/changed since it was shown to you/);
    expect(await approve('alice', waiting.steps[0]!.digest)).toBe('awaiting-approval');
    expect(await refusal(approve('alice'))).toMatch(/alice has already approved this step; it needs 2 different people/);
    expect(await keyState(keyId)).toBe('Enabled');
    expect(await approve('carol')).toBe('succeeded');
    expect(await keyState(keyId)).toBe('Disabled');

    // rotate-key: nobody answers; after 1 s the on-call is paged, after 2 s the policy rejects.
    const s = await waitForState(h.client, workflowId, (st) => st.steps[1]!.status === 'rejected', 20_000);
    expect(s.steps[1]!.skippedBecause).toMatch(/approval expired at .* \(policy hurry: reject\)/);
    expect(s.timeline.some((e) => e.kind === 'approval.escalated' && /paging dave/.test(e.message))).toBe(true);
    expect(s.status).toBe('needs-attention');
  });
});

describe('resolution and the audit trail', () => {
  it('resolving ends temporary measures only: a deactivated IAM key stays inactive', async () => {
    const userName = uniqueId('svc');
    await h.aws.iam.send(new CreateUserCommand({ UserName: userName }));
    const { AccessKey } = await h.aws.iam.send(new CreateAccessKeyCommand({ UserName: userName }));
    const { workflowId } = await deliver(undefined, alertFor({ awsAccessKeyId: AccessKey!.AccessKeyId!, iamUserName: userName }, { type: 'aws-credential.compromised' }));
    await waitForState(h.client, workflowId, (st) => st.status === 'awaiting-approval');
    const handle = h.client.workflow.getHandle(workflowId);
    await handle.executeUpdate(rejectUpdate, { args: [{ step: 'delete-access-key', by: 'alice', reason: 'keep for forensics' }] });
    expect(await handle.executeUpdate(resolveUpdate, { args: [{ by: 'alice' }] })).toBe('resolved');
    expect((await h.aws.iam.send(new ListAccessKeysCommand({ UserName: userName }))).AccessKeyMetadata?.map((k) => k.Status)).toEqual(['Inactive']);
  });

  it('every timeline entry is in the incident’s hash-chained audit file, and the chain verifies', async () => {
    const { verifyAuditFile } = await import('../activities/audit.js');
    const { workflowId } = await deliver(undefined, alertFor({ clientId: uniqueId('c') }, { type: 'anomaly.detected' }));
    await waitForState(h.client, workflowId, (st) => st.status === 'contained');
    const final = await h.client.workflow.getHandle(workflowId).executeUpdate(resolveUpdate, { args: [{ by: 'alice', reason: 'benign' }] });
    expect(final).toBe('resolved');
    const state = (await h.client.workflow.getHandle(workflowId).result()) as IncidentState;
    const v = await verifyAuditFile(h.config.audit.dir, workflowId);
    expect(v).toMatchObject({ ok: true, exists: true, chain: { ok: true } });
    // No anchors without a signing key; every timeline entry is a record, in order.
    expect(v.records.map((r) => r.id)).toEqual(state.timeline.map((_, i) => `${workflowId}/t${i + 1}`));
    expect(v.records.at(-1)?.action).toBe('incident.resolved');
  });
});

describe('operators act on a failed step', () => {
  it('retry runs the failed step again once its cause is fixed; skip (with a reason) lets the playbook go on', async () => {
    const alias = `alias/${uniqueId('later')}`;
    const { catalog } = catalogWith({
      'retry.yaml': `id: retry
version: 1
title: a step that fails until its key exists
match:
  types: [key.exposed]
steps:
  - id: disable-key
    action: kms.disableKey
    with: { keyId: "\${alert.subject.kmsKeyId}" }
  - id: missing-secret
    action: secrets.rotate
    with: { secretId: "\${alert.subject.secretId}" }
  - id: tell
    action: notify.operators
    with: { message: done }
`,
    });
    const { workflowId } = await deliver(catalog, alertFor({ kmsKeyId: alias, secretId: uniqueId('nope') }, { type: 'key.exposed' }));
    const handle = h.client.workflow.getHandle(workflowId);
    let s = await waitForState(h.client, workflowId, (st) => st.status === 'needs-attention');
    expect(s.steps.map((x) => x.status)).toEqual(['failed', 'pending', 'pending']);
    expect(await refusal(handle.executeUpdate(retryUpdate, { args: [{ step: 'tell', by: 'alice' }] }))).toMatch(/tell is pending.*only a step that stopped the playbook/);

    // Fix the cause (the alias now exists), retry: the step runs, then the next one fails.
    const keyId = (await h.aws.kms.send(new CreateKeyCommand({ Description: 'retry test' }))).KeyMetadata!.KeyId!;
    await h.aws.kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: keyId }));
    expect(await handle.executeUpdate(retryUpdate, { args: [{ step: 'disable-key', by: 'alice', reason: 'alias created' }] })).toBe('succeeded');
    expect(await keyState(keyId)).toBe('Disabled');
    s = await waitForState(h.client, workflowId, (st) => st.status === 'needs-attention' && st.steps[1]!.status === 'failed');

    expect(await refusal(handle.executeUpdate(skipUpdate, { args: [{ step: 'missing-secret', by: 'alice' }] }))).toMatch(/needs a reason/);
    expect(await handle.executeUpdate(skipUpdate, { args: [{ step: 'missing-secret', by: 'alice', reason: 'secret retired already' }] })).toBe('skipped');
    s = await waitForState(h.client, workflowId, (st) => st.status === 'contained');
    expect(s.steps.map((x) => x.status)).toEqual(['succeeded', 'skipped', 'succeeded']);
    expect(s.timeline.some((e) => e.kind === 'step.skipped' && /skipped by alice: secret retired already/.test(e.message))).toBe(true);
  });
});

describe('key exposure (shipped playbook)', () => {
  it('rotates the KMS key on demand and the signing secret, in parallel', async () => {
    const { ListKeyRotationsCommand } = await import('@aws-sdk/client-kms');
    const { CreateSecretCommand, ListSecretVersionIdsCommand } = await import('@aws-sdk/client-secrets-manager');
    const keyId = (await h.aws.kms.send(new CreateKeyCommand({ Description: 'exposure test' }))).KeyMetadata!.KeyId!;
    const secret = await h.aws.sm.send(new CreateSecretCommand({ Name: uniqueId('signing'), SecretString: JSON.stringify({ key: 'x'.repeat(32) }) }));
    const { workflowId } = await deliver(undefined, alertFor({ kmsKeyId: keyId, secretId: secret.ARN! }, { type: 'key.exposed' }));
    const s = await waitForState(h.client, workflowId, (st) => st.status === 'contained');
    expect(s.steps.map((x) => [x.id, x.status])).toEqual([
      ['rotate-kms-key', 'succeeded'],
      ['rotate-signing-secret', 'succeeded'],
      ['reencrypt-secrets', 'succeeded'],
      ['tell-operators', 'succeeded'],
    ]);
    const rotations = (await h.aws.kms.send(new ListKeyRotationsCommand({ KeyId: keyId }))).Rotations ?? [];
    expect(rotations.filter((r) => r.RotationType === 'ON_DEMAND')).toHaveLength(1);
    const versions = (await h.aws.sm.send(new ListSecretVersionIdsCommand({ SecretId: secret.ARN! }))).Versions ?? [];
    expect(versions.find((v) => v.VersionStages?.includes('AWSCURRENT'))?.VersionId).not.toBe(secret.VersionId);
  });
});
