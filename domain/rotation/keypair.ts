import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import type { KeyPairAlgorithm } from './generator.js';

/**
 * Key pairs as rotated secrets: the secret is JSON `{ "privateKey": PEM (PKCS#8), "publicKey": PEM
 * (SPKI), … }`. Generated inside the createSecret activity like passwords; the public half is what
 * a setSecret target receives (the private key never leaves Secrets Manager through bulwark).
 */
export { KEY_PAIR_ALGORITHMS, type KeyPairAlgorithm } from './generator.js';

export interface KeyPairPem {
  privateKey: string;
  publicKey: string;
}

export function generateKeyPair(algorithm: KeyPairAlgorithm): KeyPairPem {
  const pair =
    algorithm === 'ed25519'
      ? generateKeyPairSync('ed25519')
      : algorithm === 'ec-p256'
        ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
        : generateKeyPairSync('rsa', { modulusLength: algorithm === 'rsa-2048' ? 2048 : 3072 });
  return {
    privateKey: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    publicKey: pair.publicKey.export({ type: 'spki', format: 'pem' }) as string,
  };
}

function describe(key: KeyObject): KeyPairAlgorithm | string {
  const d = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'ed25519') return 'ed25519';
  if (key.asymmetricKeyType === 'ec') return d.namedCurve === 'prime256v1' ? 'ec-p256' : `ec-${d.namedCurve}`;
  if (key.asymmetricKeyType === 'rsa') return `rsa-${d.modulusLength}`;
  return String(key.asymmetricKeyType);
}

/** What is wrong with a stored pair (empty when it is a matching pair of the algorithm). Never quotes key material. */
export function checkKeyPair(pair: Partial<KeyPairPem>, algorithm: KeyPairAlgorithm): string[] {
  if (typeof pair.privateKey !== 'string' || typeof pair.publicKey !== 'string') return ['expected string fields privateKey and publicKey (PEM)'];
  let priv: KeyObject;
  let pub: KeyObject;
  try {
    priv = createPrivateKey(pair.privateKey);
  } catch {
    return ['privateKey is not a PEM private key'];
  }
  try {
    pub = createPublicKey(pair.publicKey);
  } catch {
    return ['publicKey is not a PEM public key'];
  }
  const problems: string[] = [];
  const kind = describe(priv);
  if (kind !== algorithm) problems.push(`the key is ${kind}, policy says ${algorithm}`);
  const derived = createPublicKey(priv).export({ type: 'spki', format: 'der' });
  if (!derived.equals(pub.export({ type: 'spki', format: 'der' }))) problems.push('publicKey does not belong to privateKey');
  return problems;
}
