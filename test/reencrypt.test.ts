import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateAliasCommand, CreateKeyCommand } from '@aws-sdk/client-kms';
import { CreateSecretCommand, DescribeSecretCommand, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { parseAlert } from '../domain/alert.js';
import { AlertDeliverer } from '../intake/deliver.js';
import { playbookDefaults } from '../temporal.config.js';
import { alertFor, startHarness, uniqueId, waitForState, type Harness } from './support.js';

/**
 * A leaked KMS key (the shipped key-exposure playbook): the key is rotated on demand, then every
 * secret encrypted under it gets a new AWSCURRENT version (same value) under the new material;
 * secrets under other keys are left alone. Read back from moto.
 */
let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h?.close());

const labels = async (id: string) => (await h.aws.sm.send(new DescribeSecretCommand({ SecretId: id }))).VersionIdsToStages ?? {};
const holder = (map: Record<string, string[]>, label: string) => Object.entries(map).find(([, l]) => l.includes(label))?.[0];

describe('re-encryption after a KMS key compromise', () => {
  it('key-exposure re-encrypts the secrets under the key (by id, ARN or alias) and leaves the others', async () => {
    const key = (await h.aws.kms.send(new CreateKeyCommand({ Description: 'leaked' }))).KeyMetadata!;
    const other = (await h.aws.kms.send(new CreateKeyCommand({ Description: 'unrelated' }))).KeyMetadata!;
    const alias = `alias/${uniqueId('leaked')}`;
    await h.aws.kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: key.KeyId! }));
    const make = async (kmsKeyId: string, value: string) => {
      const s = await h.aws.sm.send(new CreateSecretCommand({ Name: `test/${uniqueId('enc')}`, SecretString: value, KmsKeyId: kmsKeyId }));
      return { arn: s.ARN!, versionId: s.VersionId!, value };
    };
    const byId = await make(key.KeyId!, 'value-under-key-id');
    const byArn = await make(key.Arn!, JSON.stringify({ token: 'value-under-key-arn' }));
    const byAlias = await make(alias, 'value-under-alias');
    const untouched = await make(other.KeyId!, 'value-under-other-key');

    const parsed = parseAlert(alertFor({ kmsKeyId: key.KeyId! }, { type: 'key.exposed' }));
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
    const { workflowId } = await new AlertDeliverer(h.client, h.config.temporal.taskQueue, playbookDefaults(h.config), {}).deliver(parsed.value);
    const state = await waitForState(h.client, workflowId, (s) => s.steps.find((x) => x.id === 'reencrypt-secrets')?.status === 'succeeded', 60_000);

    for (const s of [byId, byArn, byAlias]) {
      const map = await labels(s.arn);
      const current = holder(map, 'AWSCURRENT');
      expect(current).not.toBe(s.versionId);
      expect(map[s.versionId]).toEqual(['AWSPREVIOUS']);
      expect((await h.aws.sm.send(new GetSecretValueCommand({ SecretId: s.arn, VersionStage: 'AWSCURRENT' }))).SecretString).toBe(s.value);
    }
    expect(holder(await labels(untouched.arn), 'AWSCURRENT')).toBe(untouched.versionId);

    const step = state.steps.find((x) => x.id === 'reencrypt-secrets')!;
    expect((step.output as { secrets: { secretArn: string }[] }).secrets.map((s) => s.secretArn).sort()).toEqual([byId.arn, byArn.arn, byAlias.arn].sort());
    const progress = state.timeline.filter((e) => e.kind === 'step.progress' && e.step === 'reencrypt-secrets').map((e) => e.message);
    expect(progress).toHaveLength(3);
    expect(progress.every((m) => /^re-encrypted test\/enc-\w+: version [\w-]+ is AWSCURRENT under /.test(m))).toBe(true);
    // The rotation of the key itself happened first (same playbook).
    expect(state.steps.find((x) => x.id === 'rotate-kms-key')?.status).toBe('succeeded');
  });

  it('with a replacement key the secrets are switched to it; running the step again writes nothing new', async () => {
    const { createReencryptActivities } = await import('../activities/reencrypt.js');
    const { MockActivityEnvironment } = await import('@temporalio/testing');
    const key = (await h.aws.kms.send(new CreateKeyCommand({ Description: 'old' }))).KeyMetadata!;
    const next = (await h.aws.kms.send(new CreateKeyCommand({ Description: 'new' }))).KeyMetadata!;
    const s = await h.aws.sm.send(new CreateSecretCommand({ Name: `test/${uniqueId('swap')}`, SecretString: 'swap-me', KmsKeyId: key.KeyId! }));
    const acts = createReencryptActivities({ sm: h.aws.sm, kms: h.aws.kms });
    const env = new MockActivityEnvironment();
    const input = { keyId: key.KeyId!, newKeyId: next.KeyId!, idempotencyKey: uniqueId('step') };
    type Result = Awaited<ReturnType<typeof acts.reencryptSecrets>>;
    const first = (await env.run(acts.reencryptSecrets, input)) as Result;
    const mine = first.secrets.filter((x) => x.secretArn === s.ARN);
    expect(mine).toHaveLength(1);
    expect(mine[0]!.changed).toBe(true);
    const d = await h.aws.sm.send(new DescribeSecretCommand({ SecretId: s.ARN! }));
    expect([next.KeyId, next.Arn]).toContain(d.KmsKeyId);
    expect(holder(d.VersionIdsToStages ?? {}, 'AWSCURRENT')).toBe(mine[0]!.versionId);
    // A retry (same idempotency key) finds its own version and changes nothing.
    const again = ((await env.run(acts.reencryptSecrets, input)) as Result).secrets.filter((x) => x.secretArn === s.ARN);
    expect(again).toEqual([{ ...mine[0]!, changed: false }]);
    expect(Object.keys((await h.aws.sm.send(new DescribeSecretCommand({ SecretId: s.ARN! }))).VersionIdsToStages ?? {})).toHaveLength(2);
  });
});
