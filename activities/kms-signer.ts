// @peculiar/x509 resolves its services through tsyringe, which needs the Reflect metadata polyfill loaded first.
import 'reflect-metadata';
import { createHash, webcrypto } from 'node:crypto';
import { GetPublicKeyCommand, SignCommand, type KMSClient, type SigningAlgorithmSpec } from '@aws-sdk/client-kms';
import type { X509CertificateGenerator } from '@peculiar/x509';
import { ApplicationFailure } from '@temporalio/common';
import { call } from './failures.js';

/**
 * A WebCrypto provider for @peculiar/x509 whose private keys live in KMS. @peculiar/x509 builds
 * the to-be-signed bytes and calls `crypto.subtle.sign(algorithm, key, data)`; for a
 * {@link KmsSigningKey} that call goes to KMS Sign, everything else (digests for key identifiers,
 * verification, imports) to Node's WebCrypto. The private key never exists outside KMS.
 */

export type X509Crypto = NonNullable<Parameters<typeof X509CertificateGenerator.create>[1]>;

/** KMS accepts RAW messages up to 4096 bytes; longer ones (a big CRL) are sent as a SHA-256 digest. */
const RAW_LIMIT = 4096;

const SPECS = {
  ECC_NIST_P256: { algorithm: { name: 'ECDSA', namedCurve: 'P-256' }, signing: { name: 'ECDSA', hash: 'SHA-256' }, kms: 'ECDSA_SHA_256', pointSize: 32 },
  ECC_NIST_P384: { algorithm: { name: 'ECDSA', namedCurve: 'P-384' }, signing: { name: 'ECDSA', hash: 'SHA-384' }, kms: 'ECDSA_SHA_384', pointSize: 48 },
  RSA_2048: { algorithm: { name: 'RSASSA-PKCS1-v1_5', hash: { name: 'SHA-256' } }, signing: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, kms: 'RSASSA_PKCS1_V1_5_SHA_256', pointSize: 0 },
  RSA_3072: { algorithm: { name: 'RSASSA-PKCS1-v1_5', hash: { name: 'SHA-256' } }, signing: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, kms: 'RSASSA_PKCS1_V1_5_SHA_256', pointSize: 0 },
} as const;
export type SupportedKeySpec = keyof typeof SPECS;
export const SUPPORTED_KEY_SPECS = Object.keys(SPECS) as SupportedKeySpec[];

/** Stands in for a CryptoKey: what @peculiar/x509 reads (`algorithm`) plus the KMS key to sign with. */
export class KmsSigningKey {
  readonly type = 'private';
  readonly extractable = false;
  readonly usages = ['sign'];
  constructor(
    readonly kmsKeyArn: string,
    readonly keySpec: SupportedKeySpec,
    /** DER SubjectPublicKeyInfo from GetPublicKey. */
    readonly publicKeySpki: Uint8Array,
  ) {}
  get algorithm() {
    return SPECS[this.keySpec].algorithm;
  }
  /** The `signingAlgorithm` to hand @peculiar/x509's generators. */
  get signingAlgorithm() {
    return SPECS[this.keySpec].signing;
  }
}

/** Reads the public half and spec of a KMS signing key (GetPublicKey). */
export async function kmsSigningKey(kms: KMSClient, keyId: string): Promise<KmsSigningKey> {
  const r = await call('GetPublicKey', `KMS key ${keyId}`, () => kms.send(new GetPublicKeyCommand({ KeyId: keyId })));
  const spec = r.KeySpec ?? r.CustomerMasterKeySpec;
  if (r.KeyUsage !== 'SIGN_VERIFY' || !spec || !(spec in SPECS)) {
    throw ApplicationFailure.nonRetryable(`KMS key ${keyId} is ${spec}/${r.KeyUsage}: a CA key must be SIGN_VERIFY with one of ${SUPPORTED_KEY_SPECS.join(', ')}`, 'UnsupportedKeySpec');
  }
  return new KmsSigningKey(r.KeyId!, spec as SupportedKeySpec, r.PublicKey!);
}

/** ECDSA: KMS returns DER `SEQUENCE { r INTEGER, s INTEGER }`; WebCrypto (and @peculiar/x509) expect r‖s, each left-padded to the curve size. */
export function derToP1363(der: Uint8Array, size: number): Uint8Array {
  let i = 0;
  const fail = () => {
    throw new Error('KMS returned a malformed ECDSA signature');
  };
  if (der[i++] !== 0x30) fail();
  const seqLen = der[i++]!;
  if (seqLen & 0x80) i += seqLen & 0x7f;
  const integer = () => {
    if (der[i++] !== 0x02) fail();
    const len = der[i++]!;
    let v = der.subarray(i, i + len);
    i += len;
    while (v.length > size && v[0] === 0) v = v.subarray(1);
    if (v.length > size) fail();
    const out = new Uint8Array(size);
    out.set(v, size - v.length);
    return out;
  };
  const r = integer();
  const s = integer();
  const out = new Uint8Array(size * 2);
  out.set(r, 0);
  out.set(s, size);
  return out;
}

const bytes = (data: ArrayBuffer | ArrayBufferView): Uint8Array => (data instanceof Uint8Array ? data : ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : new Uint8Array(data));

/** The provider: KMS for KmsSigningKey, Node's WebCrypto for the rest. */
export function kmsCrypto(kms: KMSClient): X509Crypto {
  const subtle = webcrypto.subtle;
  const provider = {
    getRandomValues: <T extends ArrayBufferView | null>(array: T): T => webcrypto.getRandomValues(array as never) as T,
    randomUUID: () => webcrypto.randomUUID(),
    subtle: new Proxy(subtle, {
      get(target, prop, receiver) {
        if (prop !== 'sign') {
          const v = Reflect.get(target, prop, receiver);
          return typeof v === 'function' ? v.bind(target) : v;
        }
        return async (algorithm: unknown, key: unknown, data: ArrayBuffer | ArrayBufferView): Promise<ArrayBuffer> => {
          if (!(key instanceof KmsSigningKey)) return subtle.sign(algorithm as never, key as never, data);
          const spec = SPECS[key.keySpec];
          const message = bytes(data);
          const digest = message.byteLength > RAW_LIMIT;
          const signed = await call('Sign', `KMS key ${key.kmsKeyArn}`, () =>
            kms.send(
              new SignCommand({
                KeyId: key.kmsKeyArn,
                Message: digest ? createHash(spec.signing.hash.replace('-', '').toLowerCase()).update(message).digest() : message,
                MessageType: digest ? 'DIGEST' : 'RAW',
                SigningAlgorithm: spec.kms as SigningAlgorithmSpec,
              }),
            ),
          );
          const signature = signed.Signature!;
          const web = spec.pointSize ? derToP1363(signature, spec.pointSize) : signature;
          return web.buffer.slice(web.byteOffset, web.byteOffset + web.byteLength) as ArrayBuffer;
        };
      },
    }),
  };
  return provider as unknown as X509Crypto;
}
