import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { DecryptCommand, GenerateDataKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import type { DataConverter, Payload, PayloadCodec } from '@temporalio/common';
import type { Config } from '../temporal.config.js';

/**
 * Envelope encryption of Temporal payloads (issue 8 §1).
 *
 * Each payload is serialised (metadata + data) and sealed with AES-256-GCM under a data key from
 * KMS GenerateDataKey. The payload that reaches the server carries only:
 *   encoding              binary/encrypted
 *   encryption-key-id     ARN of the KMS key that wrapped the data key
 *   encryption-algorithm  AES-256-GCM
 *   encryption-data-key   the data key encrypted by KMS (CiphertextBlob)
 *   encryption-iv         12-byte GCM nonce
 *   data                  ciphertext ‖ 16-byte tag
 * The key id, algorithm and encrypted data key are bound as GCM additional data, so changing any
 * of them, or a byte of the ciphertext, makes decode throw PayloadDecryptionError.
 *
 * Data keys are reused for a bounded time and number of payloads, then replaced. Decoding uses the
 * payload's own encrypted data key (KMS Decrypt, cached), so payloads written before the KMS key
 * rotated — or before the alias moved to a new key — stay readable.
 *
 * Payloads without `binary/encrypted` are passed through on decode, so history written before the
 * codec was enabled stays readable.
 */

export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const ALGORITHM = 'AES-256-GCM';
export const METADATA = {
  encoding: 'encoding',
  keyId: 'encryption-key-id',
  algorithm: 'encryption-algorithm',
  dataKey: 'encryption-data-key',
  iv: 'encryption-iv',
} as const;
/** KMS encryption context of every data key: a data key made for something else will not decrypt here. */
export const ENCRYPTION_CONTEXT = { purpose: 'bulwark/temporal-payload' } as const;

const IV_BYTES = 12;
const TAG_BYTES = 16;

export class PayloadDecryptionError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PayloadDecryptionError';
  }
}

export interface KmsCodecOptions {
  kms: KMSClient;
  /** Key id, ARN or alias of the symmetric KMS key that wraps data keys. */
  keyId: string;
  /** Replace the data key after this long (default 5 min). */
  dataKeyMaxAgeMs?: number;
  /** … or after this many payloads (default 10,000). */
  dataKeyMaxUses?: number;
  /** Decrypted data keys kept for decoding (default 100, least recently used evicted). */
  decryptCacheSize?: number;
  /** How long a decrypted data key stays cached (default 10 min). */
  decryptCacheTtlMs?: number;
  now?: () => number;
}

interface DataKey {
  plaintext: Buffer;
  encrypted: Buffer;
  keyArn: string;
  createdAt: number;
  uses: number;
}

export class KmsEnvelopeCodec implements PayloadCodec {
  /** KMS calls made, for tests and metrics. */
  readonly stats = { generateDataKey: 0, decrypt: 0 };
  private active?: Promise<DataKey>;
  private readonly decrypted = new Map<string, { key: Buffer; expiresAt: number }>();
  private readonly decrypting = new Map<string, Promise<Buffer>>();
  private readonly maxAgeMs: number;
  private readonly maxUses: number;
  private readonly cacheSize: number;
  private readonly cacheTtlMs: number;
  private readonly now: () => number;

  constructor(private readonly opts: KmsCodecOptions) {
    this.maxAgeMs = opts.dataKeyMaxAgeMs ?? 5 * 60_000;
    this.maxUses = opts.dataKeyMaxUses ?? 10_000;
    this.cacheSize = opts.decryptCacheSize ?? 100;
    this.cacheTtlMs = opts.decryptCacheTtlMs ?? 10 * 60_000;
    this.now = opts.now ?? Date.now;
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    if (payloads.length === 0) return [];
    return Promise.all(payloads.map(async (p) => this.seal(p, await this.dataKey())));
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return Promise.all(payloads.map((p) => this.open(p)));
  }

  private seal(payload: Payload, key: DataKey): Payload {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key.plaintext, iv);
    cipher.setAAD(additionalData(key.keyArn, ALGORITHM, key.encrypted));
    const body = Buffer.concat([cipher.update(serialisePayload(payload)), cipher.final(), cipher.getAuthTag()]);
    return {
      metadata: {
        [METADATA.encoding]: Buffer.from(ENCRYPTED_ENCODING),
        [METADATA.keyId]: Buffer.from(key.keyArn),
        [METADATA.algorithm]: Buffer.from(ALGORITHM),
        [METADATA.dataKey]: key.encrypted,
        [METADATA.iv]: iv,
      },
      data: body,
    };
  }

  private async open(payload: Payload): Promise<Payload> {
    const meta = payload.metadata ?? {};
    if (text(meta[METADATA.encoding]) !== ENCRYPTED_ENCODING) return payload;
    const keyArn = text(meta[METADATA.keyId]);
    const algorithm = text(meta[METADATA.algorithm]);
    const encryptedKey = meta[METADATA.dataKey];
    const iv = meta[METADATA.iv];
    const data = payload.data;
    if (!keyArn || !encryptedKey?.length || !iv || iv.length !== IV_BYTES || !data || data.length < TAG_BYTES) {
      throw new PayloadDecryptionError('encrypted payload is missing its key id, data key, IV or tag: it was altered');
    }
    if (algorithm !== ALGORITHM) throw new PayloadDecryptionError(`encrypted payload names algorithm ${JSON.stringify(algorithm)}; only ${ALGORITHM} is accepted`);
    const key = await this.dataKeyFor(Buffer.from(encryptedKey), keyArn);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, iv);
      decipher.setAAD(additionalData(keyArn, algorithm, encryptedKey));
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      const plain = Buffer.concat([decipher.update(data.subarray(0, data.length - TAG_BYTES)), decipher.final()]);
      return deserialisePayload(plain);
    } catch (err) {
      throw new PayloadDecryptionError(`payload failed authentication (key ${keyArn}): it was tampered with or sealed under another key`, { cause: err });
    }
  }

  /** The current data key for encoding: renewed when too old or used too often. */
  private async dataKey(): Promise<DataKey> {
    for (;;) {
      const current = (this.active ??= this.generate());
      let key: DataKey;
      try {
        key = await current;
      } catch (err) {
        if (this.active === current) this.active = undefined;
        throw err;
      }
      if (key.uses < this.maxUses && this.now() - key.createdAt < this.maxAgeMs) {
        key.uses += 1;
        return key;
      }
      if (this.active === current) this.active = undefined;
    }
  }

  private async generate(): Promise<DataKey> {
    this.stats.generateDataKey += 1;
    const out = await this.opts.kms.send(new GenerateDataKeyCommand({ KeyId: this.opts.keyId, KeySpec: 'AES_256', EncryptionContext: { ...ENCRYPTION_CONTEXT } }));
    if (!out.Plaintext || !out.CiphertextBlob || !out.KeyId) throw new Error('KMS GenerateDataKey returned no key');
    const key: DataKey = { plaintext: Buffer.from(out.Plaintext), encrypted: Buffer.from(out.CiphertextBlob), keyArn: out.KeyId, createdAt: this.now(), uses: 0 };
    this.remember(key.encrypted, key.plaintext);
    return key;
  }

  private async dataKeyFor(encrypted: Buffer, keyArn: string): Promise<Buffer> {
    const id = encrypted.toString('base64');
    const hit = this.decrypted.get(id);
    if (hit && hit.expiresAt > this.now()) {
      this.decrypted.delete(id);
      this.decrypted.set(id, hit);
      return hit.key;
    }
    let pending = this.decrypting.get(id);
    if (!pending) {
      pending = (async () => {
        this.stats.decrypt += 1;
        try {
          const out = await this.opts.kms.send(new DecryptCommand({ CiphertextBlob: encrypted, KeyId: keyArn, EncryptionContext: { ...ENCRYPTION_CONTEXT } }));
          if (!out.Plaintext || out.Plaintext.length !== 32) throw new Error('KMS Decrypt returned no 256-bit key');
          const key = Buffer.from(out.Plaintext);
          this.remember(encrypted, key);
          return key;
        } catch (err) {
          const e = err as { name?: string; message?: string };
          throw new PayloadDecryptionError(`cannot unwrap the payload's data key with KMS key ${keyArn}: ${e.name ?? 'Error'}: ${e.message ?? String(err)}`, { cause: err });
        } finally {
          this.decrypting.delete(id);
        }
      })();
      this.decrypting.set(id, pending);
    }
    return pending;
  }

  private remember(encrypted: Buffer, key: Buffer): void {
    const id = encrypted.toString('base64');
    this.decrypted.delete(id);
    this.decrypted.set(id, { key, expiresAt: this.now() + this.cacheTtlMs });
    while (this.decrypted.size > this.cacheSize) this.decrypted.delete(this.decrypted.keys().next().value!);
  }
}

function text(b: Uint8Array | null | undefined): string | undefined {
  return b ? Buffer.from(b).toString('utf8') : undefined;
}

/** GCM additional data: the metadata an attacker could otherwise swap. */
function additionalData(keyArn: string, algorithm: string, encryptedKey: Uint8Array): Buffer {
  const k = Buffer.from(keyArn);
  const a = Buffer.from(algorithm);
  const head = Buffer.alloc(12);
  head.writeUInt32BE(k.length, 0);
  head.writeUInt32BE(a.length, 4);
  head.writeUInt32BE(encryptedKey.length, 8);
  return Buffer.concat([Buffer.from('bulwark-codec/v1'), head, k, a, encryptedKey]);
}

/** version(1) ‖ count(u16) ‖ { keyLen(u16) key valueLen(u32) value }* ‖ data */
export function serialisePayload(p: Payload): Buffer {
  const entries = Object.entries(p.metadata ?? {}).filter(([, v]) => v != null) as [string, Uint8Array][];
  const parts: Buffer[] = [];
  const head = Buffer.alloc(3);
  head.writeUInt8(1, 0);
  head.writeUInt16BE(entries.length, 1);
  parts.push(head);
  for (const [k, v] of entries) {
    const kb = Buffer.from(k);
    const len = Buffer.alloc(6);
    len.writeUInt16BE(kb.length, 0);
    len.writeUInt32BE(v.length, 2);
    parts.push(len.subarray(0, 2), kb, len.subarray(2), Buffer.from(v));
  }
  parts.push(Buffer.from(p.data ?? new Uint8Array()));
  return Buffer.concat(parts);
}

export function deserialisePayload(b: Buffer): Payload {
  if (b.readUInt8(0) !== 1) throw new Error('unknown inner payload version');
  const count = b.readUInt16BE(1);
  let off = 3;
  const metadata: Record<string, Uint8Array> = {};
  for (let i = 0; i < count; i++) {
    const kl = b.readUInt16BE(off);
    const key = b.subarray(off + 2, off + 2 + kl).toString('utf8');
    off += 2 + kl;
    const vl = b.readUInt32BE(off);
    metadata[key] = new Uint8Array(b.subarray(off + 4, off + 4 + vl));
    off += 4 + vl;
  }
  if (off > b.length) throw new Error('truncated inner payload');
  return { metadata, data: new Uint8Array(b.subarray(off)) };
}

// ---------------------------------------------------------------------------------------------
// Wiring from config: one codec per process and key, shared by the client and the worker.

const shared = new Map<string, KmsEnvelopeCodec>();

function kmsClientFor(aws: Config['aws']): KMSClient {
  const sandbox = aws.endpoint !== undefined;
  return new KMSClient({
    region: aws.region,
    maxAttempts: aws.maxAttempts,
    ...(sandbox ? { endpoint: aws.endpoint, credentials: { accessKeyId: 'sandbox', secretAccessKey: 'sandbox' } } : {}),
  });
}

/** The configured codec, or undefined when `codec.enabled` is false. */
export function codecFromConfig(config: Pick<Config, 'codec' | 'aws'>, kms?: KMSClient): KmsEnvelopeCodec | undefined {
  const c = config.codec;
  if (!c?.enabled) return undefined;
  if (!c.kmsKeyId) throw new Error('codec.enabled needs codec.kmsKeyId (BULWARK_CODEC_KMS_KEY)');
  const cacheKey = JSON.stringify([c.kmsKeyId, config.aws.region, config.aws.endpoint ?? '', c.dataKeyMaxAgeSeconds, c.dataKeyMaxUses]);
  let codec = shared.get(cacheKey);
  if (!codec) {
    codec = new KmsEnvelopeCodec({
      kms: kms ?? kmsClientFor(config.aws),
      keyId: c.kmsKeyId,
      dataKeyMaxAgeMs: c.dataKeyMaxAgeSeconds * 1000,
      dataKeyMaxUses: c.dataKeyMaxUses,
    });
    shared.set(cacheKey, codec);
  }
  return codec;
}

/**
 * The failure converter that moves failure messages and stacks into an encoded payload, so the codec
 * encrypts them too. A path, because the worker must bundle it into the workflow sandbox as well.
 */
export const FAILURE_CONVERTER_PATH = fileURLToPath(new URL('./failure-converter.js', import.meta.url));

/**
 * `{ dataConverter }` for Client / Worker options: empty when the codec is off, so nothing changes.
 * With the codec on, failures are encrypted as well (the worker also needs FAILURE_CONVERTER_PATH in
 * its workflow bundle: see worker/bundle.ts).
 */
export function codecDataConverter(config: Pick<Config, 'codec' | 'aws'>, kms?: KMSClient): { dataConverter?: DataConverter } {
  const codec = codecFromConfig(config, kms);
  return codec ? { dataConverter: { payloadCodecs: [codec], failureConverterPath: FAILURE_CONVERTER_PATH } } : {};
}
