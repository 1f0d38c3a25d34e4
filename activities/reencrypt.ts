import { DescribeKeyCommand, ListAliasesCommand, type KMSClient } from '@aws-sdk/client-kms';
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretsCommand,
  PutSecretValueCommand,
  UpdateSecretCommand,
  type SecretListEntry,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { Context } from '@temporalio/activity';
import { call, notFound, notVerified, toFailure } from './failures.js';
import { rotationToken } from './secrets.js';

/**
 * Re-encryption after a KMS key compromise: every secret encrypted under the key gets a new
 * AWSCURRENT version written under fresh key material — the same key after an on-demand rotation,
 * or a replacement key (`newKeyId`), which the secret is switched to first. The value does not
 * change, so consumers are unaffected; the old ciphertext stays only in AWSPREVIOUS.
 */

export interface ReencryptedSecret {
  secretArn: string;
  name: string;
  versionId: string;
  kmsKeyId: string;
  /** false when an earlier attempt of this step already wrote the version. */
  changed: boolean;
}

/** The names a secret's KmsKeyId may use for one key: id, ARN and its aliases (name and ARN). */
async function namesOf(kms: KMSClient, keyId: string): Promise<{ keyArn: string; keyId: string; names: Set<string> }> {
  const meta = (await call('DescribeKey', `KMS key ${keyId}`, () => kms.send(new DescribeKeyCommand({ KeyId: keyId })))).KeyMetadata;
  if (!meta?.KeyId || !meta.Arn) throw notFound(`KMS key ${keyId} has no metadata`);
  const names = new Set([meta.KeyId, meta.Arn]);
  let Marker: string | undefined;
  do {
    const page = await call('ListAliases', `KMS key ${meta.KeyId}`, () => kms.send(new ListAliasesCommand({ KeyId: meta.KeyId, Marker })));
    for (const a of page.Aliases ?? []) {
      if (a.AliasName) names.add(a.AliasName);
      if (a.AliasArn) names.add(a.AliasArn);
    }
    Marker = page.Truncated ? page.NextMarker : undefined;
  } while (Marker);
  return { keyArn: meta.Arn, keyId: meta.KeyId, names };
}

export function createReencryptActivities({ sm, kms }: { sm: SecretsManagerClient; kms: KMSClient }) {
  async function secretsUnder(names: Set<string>): Promise<SecretListEntry[]> {
    const out: SecretListEntry[] = [];
    let NextToken: string | undefined;
    do {
      const page = await call('ListSecrets', 'secrets', () => sm.send(new ListSecretsCommand({ NextToken, MaxResults: 100 })));
      out.push(...(page.SecretList ?? []).filter((s) => s.KmsKeyId && names.has(s.KmsKeyId)));
      NextToken = page.NextToken;
    } while (NextToken);
    return out;
  }

  return {
    /**
     * Finds the secrets encrypted under `keyId` and re-encrypts each (idempotent per step and
     * secret: the new version's token is derived from `idempotencyKey`). Heartbeats the count done,
     * so a retry after a crash skips nothing and repeats nothing (the token makes a repeat a no-op).
     */
    async reencryptSecrets(input: { keyId: string; newKeyId?: string; idempotencyKey: string }): Promise<{ keyArn: string; secrets: ReencryptedSecret[] }> {
      const compromised = await namesOf(kms, input.keyId);
      const target = input.newKeyId ? await namesOf(kms, input.newKeyId) : compromised;
      // After a switch the secrets name the new key, so a retried attempt looks for both.
      const found = await secretsUnder(new Set([...compromised.names, ...(input.newKeyId ? target.names : [])]));
      const out: ReencryptedSecret[] = [];
      for (const s of found) {
        const where = `secret ${s.Name}`;
        const token = rotationToken(`${input.idempotencyKey}/${s.ARN}`);
        const before = await call('DescribeSecret', where, () => sm.send(new DescribeSecretCommand({ SecretId: s.ARN })));
        const ours = before.VersionIdsToStages?.[token];
        if (!ours) {
          if (input.newKeyId && !target.names.has(before.KmsKeyId ?? '')) {
            await call('UpdateSecret', where, () => sm.send(new UpdateSecretCommand({ SecretId: s.ARN, KmsKeyId: target.keyArn })));
          }
          const current = await call('GetSecretValue', where, () => sm.send(new GetSecretValueCommand({ SecretId: s.ARN, VersionStage: 'AWSCURRENT' })));
          try {
            await sm.send(new PutSecretValueCommand({ SecretId: s.ARN, ClientRequestToken: token, ...(current.SecretBinary ? { SecretBinary: current.SecretBinary } : { SecretString: current.SecretString }) }));
          } catch (err) {
            // The version exists under our token: an earlier attempt whose answer was lost.
            if ((err as { name?: string }).name !== 'ResourceExistsException') throw toFailure(err, 'PutSecretValue', where);
          }
        }
        const after = await call('DescribeSecret', where, () => sm.send(new DescribeSecretCommand({ SecretId: s.ARN })));
        if (!after.VersionIdsToStages?.[token]?.includes('AWSCURRENT')) throw notVerified(`${where}: the re-encrypted version ${token} is not AWSCURRENT`);
        if (input.newKeyId && !target.names.has(after.KmsKeyId ?? '')) throw notVerified(`${where}: still names KMS key ${after.KmsKeyId}, not ${target.keyId}`);
        out.push({ secretArn: s.ARN!, name: s.Name!, versionId: token, kmsKeyId: after.KmsKeyId ?? target.keyArn, changed: !ours });
        Context.current().heartbeat({ done: out.length, of: found.length });
      }
      return { keyArn: target.keyArn, secrets: out };
    },
  };
}
