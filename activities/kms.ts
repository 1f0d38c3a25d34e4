import { ApplicationFailure } from '@temporalio/common';
import {
  DescribeKeyCommand,
  DisableKeyCommand,
  EnableKeyCommand,
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

/**
 * KMS actions for incidents: disable a key, re-enable it as compensation. Rotation (on demand, and
 * replacing asymmetric/HMAC keys behind their alias) is the rotation engine's (activities/rotation.ts).
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
  };
}
