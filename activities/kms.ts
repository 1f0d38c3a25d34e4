import { ApplicationFailure } from '@temporalio/common';
import {
  DescribeKeyCommand,
  DisableKeyCommand,
  EnableKeyCommand,
  ListKeyRotationsCommand,
  RotateKeyOnDemandCommand,
  type KMSClient,
} from '@aws-sdk/client-kms';
import { call, notVerified } from './failures.js';

export interface KeyStateEvidence {
  keyId: string;
  keyArn: string;
  keyState: string;
  /** false when the key was already in the requested state. */
  changed: boolean;
}

export interface KeyRotationEvidence {
  keyId: string;
  keyArn: string;
  rotationDate?: string;
  changed: boolean;
}

/**
 * KMS actions for incidents. Only symmetric AWS-generated keys can rotate in place; asymmetric
 * and HMAC keys need a new key and an alias move, which the rotation engine provides.
 */
export function createKmsActivities({ kms }: { kms: KMSClient }) {
  async function describe(keyId: string) {
    const { KeyMetadata: meta } = await call('DescribeKey', `KMS key ${keyId}`, () => kms.send(new DescribeKeyCommand({ KeyId: keyId })));
    if (!meta?.KeyId || !meta.Arn) throw ApplicationFailure.nonRetryable(`KMS key ${keyId} has no metadata`, 'NotFound');
    return meta;
  }

  async function setEnabled(keyId: string, enabled: boolean): Promise<KeyStateEvidence> {
    const meta = await describe(keyId);
    const want = enabled ? 'Enabled' : 'Disabled';
    if (meta.KeyState === want) return { keyId: meta.KeyId!, keyArn: meta.Arn!, keyState: want, changed: false };
    if (meta.KeyState !== 'Enabled' && meta.KeyState !== 'Disabled') {
      throw ApplicationFailure.nonRetryable(`KMS key ${keyId} is ${meta.KeyState}: only Enabled/Disabled keys can be switched`, 'KMSInvalidStateException');
    }
    const Command = enabled ? EnableKeyCommand : DisableKeyCommand;
    await call(enabled ? 'EnableKey' : 'DisableKey', `KMS key ${keyId}`, () => kms.send(new Command({ KeyId: meta.KeyId! })));
    const after = await describe(keyId);
    if (after.KeyState !== want) throw notVerified(`KMS key ${keyId} reads ${after.KeyState} after ${enabled ? 'EnableKey' : 'DisableKey'}`);
    return { keyId: after.KeyId!, keyArn: after.Arn!, keyState: want, changed: true };
  }

  return {
    async disableKmsKey({ keyId }: { keyId: string }): Promise<KeyStateEvidence> {
      return setEnabled(keyId, false);
    },
    async enableKmsKey({ keyId }: { keyId: string }): Promise<KeyStateEvidence> {
      return setEnabled(keyId, true);
    },
    /**
     * Rotates now. `requestedAt` (the step's start, from workflow time) makes a retry idempotent:
     * a rotation on or after it means this step already rotated the key.
     */
    async rotateKmsKey({ keyId, requestedAt }: { keyId: string; requestedAt: string }): Promise<KeyRotationEvidence> {
      const meta = await describe(keyId);
      if (meta.KeySpec !== 'SYMMETRIC_DEFAULT' || meta.Origin !== 'AWS_KMS') {
        throw ApplicationFailure.nonRetryable(
          `KMS key ${keyId} is ${meta.KeySpec} (${meta.Origin}): AWS rotates only symmetric AWS_KMS keys in place; use the rotation engine for asymmetric or HMAC keys`,
          'UnsupportedOperationException',
        );
      }
      if (meta.KeyState !== 'Enabled') throw ApplicationFailure.nonRetryable(`KMS key ${keyId} is ${meta.KeyState}: only an enabled key can rotate`, 'KMSInvalidStateException');
      const since = Date.parse(requestedAt);
      const latest = async () => {
        const { Rotations } = await call('ListKeyRotations', `KMS key ${keyId}`, () => kms.send(new ListKeyRotationsCommand({ KeyId: meta.KeyId! })));
        return (Rotations ?? []).filter((r) => r.RotationDate && r.RotationDate.getTime() >= since - 1000).at(-1);
      };
      const done = await latest();
      if (done) return { keyId: meta.KeyId!, keyArn: meta.Arn!, rotationDate: done.RotationDate!.toISOString(), changed: false };
      // LimitExceededException (the per-key cap on on-demand rotations) is classified non-retryable.
      await call('RotateKeyOnDemand', `KMS key ${keyId}`, () => kms.send(new RotateKeyOnDemandCommand({ KeyId: meta.KeyId! })));
      const after = await latest();
      return { keyId: meta.KeyId!, keyArn: meta.Arn!, rotationDate: after?.RotationDate?.toISOString(), changed: true };
    },
  };
}
