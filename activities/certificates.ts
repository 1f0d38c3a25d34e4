// @peculiar/x509 resolves its algorithms through tsyringe, which needs the Reflect metadata polyfill loaded first.
import 'reflect-metadata';
import { createCipheriv, createHash, createPublicKey, generateKeyPairSync, randomBytes, X509Certificate as NodeX509 } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretsCommand,
  ListSecretVersionIdsCommand,
  PutSecretValueCommand,
  TagResourceCommand,
  UpdateSecretCommand,
  type DescribeSecretResponse,
  type SecretListEntry,
  type SecretsManagerClient,
  type Tag,
} from '@aws-sdk/client-secrets-manager';
import { CreateAliasCommand, CreateKeyCommand, DescribeKeyCommand, GenerateDataKeyCommand, ListKeysCommand, ListResourceTagsCommand, type KMSClient } from '@aws-sdk/client-kms';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import * as x509 from '@peculiar/x509';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import {
  caEnvelopeAlias,
  caKeyAlias,
  caSecretName,
  certificateNameOf,
  certificateSecretName,
  REVOCATION_REASONS,
  renewAt,
  type CertificateMetadata,
  type CertificateProfile,
  type Finding,
  findingAlert,
  type IssueRequest,
  type RevocationReason,
} from '../domain/certificates/model.js';
import type { Config } from '../temporal.config.js';
import { call, notFound, notVerified, toFailure } from './failures.js';
import { kmsCrypto, kmsSigningKey, type KmsSigningKey } from './kms-signer.js';
import { createIncidentOpener } from './open-incidents.js';
import { rotationToken } from './secrets.js';

/**
 * The private CA and the certificates it issues. The CA's key is an asymmetric KMS key (ECC P-256,
 * SIGN_VERIFY) behind `alias/bulwark/ca/<ca>`; every certificate and CRL is signed by KMS through
 * the provider in kms-signer.ts. The CA certificate (public) and its revocation list live in the
 * secret `bulwark/ca/<ca>`; each certificate in `bulwark/certificates/<name>`, one version per
 * issuance, its private key encrypted under a KMS data key (AES-256-GCM). Private keys are made and
 * encrypted in here and never returned: workflows see serials, dates, fingerprints and ARNs.
 */

export interface CertificatesConfig {
  /** Directory the CRL is written to as `<ca>.crl` (DER); also what the intake serves. */
  crlDir?: string;
  /** With a bucket, the CRL is published to S3 `<crlPrefix><ca>.crl` instead. */
  crlBucket?: string;
  crlPrefix?: string;
  /** Base URL of the published CRLs, written into certificates as their CRL distribution point. */
  crlBaseUrl?: string;
  /** How long a CRL is valid (nextUpdate); regenerated on each revocation and by the scanner. */
  crlValiditySeconds?: number;
}

export interface CaInfo {
  ca: string;
  keyId: string;
  keyArn: string;
  keySpec: string;
  envelopeKeyArn: string;
  secretArn: string;
  subject: string;
  serial: string;
  notBefore: string;
  notAfter: string;
  fingerprint: string;
  created: boolean;
}

interface RevokedEntry {
  serial: string;
  name: string;
  revokedAt: string;
  reason: RevocationReason;
}

/**
 * The CA secret's value: public material only, written once. Revocations are not kept here but as
 * tags on each certificate's own secret (`bulwark:revoked:<serial>`): every certificate's changes
 * are serialised by its workflow id, so revocations of different certificates never race on one
 * shared record (a read-modify-write of a shared list could silently drop a serial).
 */
interface CaState {
  format: 'bulwark-ca/1';
  ca: string;
  keyArn: string;
  envelopeKeyArn: string;
  certificatePem: string;
}

/** A certificate secret's value. The key is only ever stored encrypted. */
export interface CertificateBundle {
  format: 'bulwark-certificate/1';
  metadata: Omit<CertificateMetadata, 'secretArn' | 'versionId' | 'status'>;
  certificatePem: string;
  /** The issuing CA's certificate (the chain up to the root, which is the CA itself). */
  chainPem: string;
  privateKey: {
    format: 'pkcs8-der';
    algorithm: 'AES-256-GCM';
    /** The KMS key the data key was generated under; decrypt the data key with kms:Decrypt and this encryption context. */
    kmsKeyId: string;
    encryptionContext: Record<string, string>;
    encryptedDataKey: string;
    iv: string;
    tag: string;
    ciphertext: string;
  };
}

export interface CrlPublication {
  ca: string;
  crlNumber: number;
  entries: number;
  location: string;
  sha256: string;
  thisUpdate: string;
  nextUpdate: string;
}

const REVOKED_PREFIX = 'bulwark:revoked:';
const TAG = {
  certificate: 'bulwark:certificate',
  ca: 'bulwark:ca',
  serial: 'bulwark:serial',
  notBefore: 'bulwark:not-before',
  notAfter: 'bulwark:not-after',
  renewAt: 'bulwark:renew-at',
  fingerprint: 'bulwark:fingerprint',
  profile: 'bulwark:profile',
  status: 'bulwark:status',
} as const;

const sha256 = (data: Uint8Array | string) => createHash('sha256').update(data).digest('hex');
const hex = (b: ArrayBuffer | Uint8Array) => Buffer.from(b instanceof Uint8Array ? b : new Uint8Array(b)).toString('hex');
const name = (e: unknown) => (e as { name?: string })?.name;

/** A positive 128-bit serial derived from the issuance's idempotency token: a retried issuance signs the same serial. */
function serialFor(token: string): string {
  const b = createHash('sha256').update(`serial/${token}`).digest().subarray(0, 16);
  b[0] = (b[0]! & 0x7f) | 0x40;
  return b.toString('hex');
}

/** A description (tags may not hold commas or `*`): what the current version is, in one line. */
function describe(m: Omit<CertificateMetadata, 'secretArn' | 'versionId' | 'status'>): string {
  return `bulwark certificate | subject: ${m.subject} | serial: ${m.serial} | not after: ${m.notAfter} | sha256: ${m.fingerprint}${m.dnsNames.length ? ` | dns: ${m.dnsNames.join(' ')}` : ''}`.slice(0, 2048);
}

/** The activity attempt, 1 outside a worker (the CLI and tests call some of these directly). */
function attempt(): number {
  try {
    return Context.current().info.attempt;
  } catch {
    return 1;
  }
}

const tagsOf = (list: Tag[] | undefined) => Object.fromEntries((list ?? []).map((t) => [t.Key!, t.Value ?? '']));

/** Metadata of a certificate secret's current version, from its tags and description (no value read). */
export function metadataFromListing(s: Pick<SecretListEntry, 'ARN' | 'Tags' | 'Description'>): CertificateMetadata | undefined {
  const t = tagsOf(s.Tags);
  if (!t[TAG.certificate] || !t[TAG.serial] || !t[TAG.notAfter]) return undefined;
  const d = s.Description ?? '';
  return {
    name: t[TAG.certificate]!,
    ca: t[TAG.ca] ?? 'bulwark',
    serial: t[TAG.serial]!,
    subject: /subject: ([^|]*?) \|/.exec(d)?.[1] ?? '',
    issuer: '',
    notBefore: t[TAG.notBefore] ?? '',
    notAfter: t[TAG.notAfter]!,
    renewAt: t[TAG.renewAt] ?? t[TAG.notAfter]!,
    fingerprint: t[TAG.fingerprint] ?? '',
    profile: (t[TAG.profile] as CertificateProfile) ?? 'server',
    dnsNames: /dns: (.*)$/.exec(d)?.[1]?.split(' ').filter(Boolean) ?? [],
    secretArn: s.ARN!,
    versionId: '',
    status: t[TAG.status] === 'revoked' ? 'revoked' : 'active',
  };
}

/** DER INTEGER of a non-negative safe integer (the CRL number extension's value). Arithmetic, not bit operations: those truncate to 32 bits. */
function derInteger(n: number): Uint8Array {
  const out: number[] = [];
  let v = n;
  do {
    out.unshift(v % 256);
    v = Math.floor(v / 256);
  } while (v > 0);
  if (out[0]! & 0x80) out.unshift(0);
  return Uint8Array.from([0x02, out.length, ...out]);
}

/**
 * `worker` is the worker's config: `certificates` (CRL location) when present, and for the scanner's
 * incidents `temporal` + `playbooks` (its own client, from connectClient, and the same playbook
 * routing as intake). `config` overrides `worker.certificates` (tests, the CLI).
 */
export function createCertificateActivities({ sm, kms, s3, config: explicit, worker }: { sm: SecretsManagerClient; kms: KMSClient; s3: S3Client; config?: CertificatesConfig; worker?: Partial<Config> }) {
  const crypto = kmsCrypto(kms);
  const config: CertificatesConfig = explicit ?? worker?.certificates ?? {};
  const crlDir = config.crlDir ?? '.bulwark/crl';
  const openIncidents = createIncidentOpener(worker);

  async function describeSecret(secretId: string): Promise<DescribeSecretResponse | undefined> {
    try {
      return await sm.send(new DescribeSecretCommand({ SecretId: secretId }));
    } catch (err) {
      if (name(err) === 'ResourceNotFoundException') return undefined;
      throw toFailure(err, 'DescribeSecret', `secret ${secretId}`);
    }
  }

  async function readVersion(secretId: string, by: { VersionId?: string; VersionStage?: string }) {
    // Always by version or stage: a bare GetSecretValue can return a stale value after labels move.
    return call('GetSecretValue', `secret ${secretId}`, () => sm.send(new GetSecretValueCommand({ SecretId: secretId, ...by })));
  }

  /** A key behind an alias, created (with the alias) when missing. A retry after a crash between CreateKey and CreateAlias finds its key by tag. */
  async function ensureKey(alias: string, spec: 'ECC_NIST_P256' | 'SYMMETRIC_DEFAULT', ca: string): Promise<{ keyId: string; keyArn: string; keySpec: string; created: boolean }> {
    const find = async () => {
      try {
        const m = (await kms.send(new DescribeKeyCommand({ KeyId: alias }))).KeyMetadata!;
        return { keyId: m.KeyId!, keyArn: m.Arn!, keySpec: m.KeySpec!, created: false };
      } catch (err) {
        if (name(err) === 'NotFoundException') return undefined;
        throw toFailure(err, 'DescribeKey', alias);
      }
    };
    const existing = await find();
    if (existing) return existing;
    let keyId: string | undefined;
    if (attempt() > 1) keyId = await findKeyByTag(alias);
    if (!keyId) {
      const made = await call('CreateKey', alias, () =>
        kms.send(
          new CreateKeyCommand({
            KeySpec: spec,
            KeyUsage: spec === 'SYMMETRIC_DEFAULT' ? 'ENCRYPT_DECRYPT' : 'SIGN_VERIFY',
            Description: spec === 'SYMMETRIC_DEFAULT' ? `bulwark CA ${ca}: data keys for certificate private keys` : `bulwark CA ${ca}: certificate signing key`,
            Tags: [{ TagKey: TAG.ca, TagValue: ca }, { TagKey: 'bulwark:alias', TagValue: alias }],
          }),
        ),
      );
      keyId = made.KeyMetadata!.KeyId!;
    }
    try {
      await kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: keyId }));
    } catch (err) {
      // Another issuer created the CA at the same moment: its alias wins, our key stays unused.
      if (name(err) !== 'AlreadyExistsException') throw toFailure(err, 'CreateAlias', alias);
    }
    const after = await find();
    if (!after) throw notVerified(`${alias} does not resolve after CreateAlias`);
    return { ...after, created: after.keyId === keyId };
  }

  async function findKeyByTag(alias: string): Promise<string | undefined> {
    let Marker: string | undefined;
    do {
      const page = await call('ListKeys', 'KMS keys', () => kms.send(new ListKeysCommand({ Marker })));
      for (const k of page.Keys ?? []) {
        const { Tags } = await call('ListResourceTags', `KMS key ${k.KeyId}`, () => kms.send(new ListResourceTagsCommand({ KeyId: k.KeyId! })));
        if (Tags?.some((t) => t.TagKey === 'bulwark:alias' && t.TagValue === alias)) return k.KeyId!;
      }
      Marker = page.Truncated ? page.NextMarker : undefined;
    } while (Marker);
    return undefined;
  }

  async function loadCa(ca: string): Promise<{ state: CaState; versionId: string; secretArn: string; cert: x509.X509Certificate; signer: KmsSigningKey }> {
    const v = await readVersion(caSecretName(ca), { VersionStage: 'AWSCURRENT' }).catch((err) => {
      if ((err as ApplicationFailure).type === 'ResourceNotFoundException') {
        throw notFound(`no CA named ${ca}: issue a certificate (bulwark cert issue) to create it`);
      }
      throw err;
    });
    const state = JSON.parse(v.SecretString!) as CaState;
    if (state.format !== 'bulwark-ca/1') throw ApplicationFailure.nonRetryable(`secret ${caSecretName(ca)} is not a bulwark CA (format ${String(state.format)})`, 'InvalidCa');
    const cert = new x509.X509Certificate(state.certificatePem);
    const signer = await kmsSigningKey(kms, state.keyArn);
    return { state, versionId: v.VersionId!, secretArn: v.ARN!, cert, signer };
  }

  /** The CA certificate must carry the KMS key's public key: otherwise the alias or the secret was changed behind our back. */
  function checkCaKey(cert: x509.X509Certificate, signer: KmsSigningKey, ca: string): void {
    if (hex(cert.publicKey.rawData) !== hex(signer.publicKeySpki)) {
      throw ApplicationFailure.nonRetryable(`CA ${ca}: the certificate in ${caSecretName(ca)} does not match the public key of KMS key ${signer.kmsKeyArn}`, 'InvalidCa');
    }
  }

  function caInfo(ca: string, state: CaState, cert: x509.X509Certificate, signer: KmsSigningKey, secretArn: string, created: boolean): CaInfo {
    return {
      ca,
      keyId: signer.kmsKeyArn.split('/').pop()!,
      keyArn: signer.kmsKeyArn,
      keySpec: signer.keySpec,
      envelopeKeyArn: state.envelopeKeyArn,
      secretArn,
      subject: cert.subject,
      serial: cert.serialNumber,
      notBefore: cert.notBefore.toISOString(),
      notAfter: cert.notAfter.toISOString(),
      fingerprint: sha256(new Uint8Array(cert.rawData)),
      created,
    };
  }

  async function certificateSecret(ref: string) {
    const certName = certificateNameOf(ref);
    if (!certName) throw ApplicationFailure.nonRetryable(`"${ref}" is not a certificate name or a bulwark certificate secret (bulwark/certificates/<name>)`, 'InvalidParameters');
    return { certName, secret: await describeSecret(certificateSecretName(certName)) };
  }

  async function currentBundle(secretArn: string): Promise<{ bundle: CertificateBundle; versionId: string }> {
    const v = await readVersion(secretArn, { VersionStage: 'AWSCURRENT' });
    return { bundle: JSON.parse(v.SecretString!) as CertificateBundle, versionId: v.VersionId! };
  }

  /** The CA's revocations: `bulwark:revoked:<serial>` tags on its certificates' secrets (ListSecrets returns tags: no value is read). */
  async function revokedEntries(ca: string): Promise<RevokedEntry[]> {
    const out: RevokedEntry[] = [];
    let NextToken: string | undefined;
    do {
      const page = await call('ListSecrets', `certificates of CA ${ca}`, () => sm.send(new ListSecretsCommand({ Filters: [{ Key: 'tag-key', Values: [TAG.certificate] }], NextToken, MaxResults: 100 })));
      for (const secret of page.SecretList ?? []) {
        const t = tagsOf(secret.Tags);
        if (t[TAG.ca] !== ca) continue;
        for (const [key, value] of Object.entries(t)) {
          if (!key.startsWith(REVOKED_PREFIX)) continue;
          const [reason, revokedAt] = value.split('@') as [string, string];
          out.push({ serial: key.slice(REVOKED_PREFIX.length), name: t[TAG.certificate]!, reason: (reason in REVOCATION_REASONS ? reason : 'unspecified') as RevocationReason, revokedAt });
        }
      }
      NextToken = page.NextToken;
    } while (NextToken);
    return out.sort((a, b) => a.serial.localeCompare(b.serial));
  }

  return {
    /**
     * The CA, created once: the KMS signing key and the envelope key behind their aliases, and a
     * self-signed root (signed by KMS) stored in `bulwark/ca/<ca>` with a ClientRequestToken derived
     * from the CA name and key, so concurrent or repeated calls converge on one root.
     */
    async certificatesEnsureCa(input: { ca: string; subject?: string; validityDays?: number }): Promise<CaInfo> {
      const existing = await describeSecret(caSecretName(input.ca));
      if (existing) {
        const { state, cert, signer, secretArn } = await loadCa(input.ca);
        checkCaKey(cert, signer, input.ca);
        return caInfo(input.ca, state, cert, signer, secretArn, false);
      }
      const signing = await ensureKey(caKeyAlias(input.ca), 'ECC_NIST_P256', input.ca);
      const envelope = await ensureKey(caEnvelopeAlias(input.ca), 'SYMMETRIC_DEFAULT', input.ca);
      const signer = await kmsSigningKey(kms, signing.keyArn);
      const token = rotationToken(`ca/${input.ca}/${signing.keyArn}`);
      const notBefore = new Date(Date.now() - 5 * 60_000);
      const subject = input.subject ?? `CN=bulwark ${input.ca} CA, O=bulwark`;
      const cert = await x509.X509CertificateGenerator.create(
        {
          serialNumber: serialFor(token),
          subject,
          issuer: subject,
          notBefore,
          notAfter: new Date(notBefore.getTime() + (input.validityDays ?? 3650) * 86_400_000),
          publicKey: signer.publicKeySpki,
          signingKey: signer as never,
          signingAlgorithm: signer.signingAlgorithm,
          extensions: [
            new x509.BasicConstraintsExtension(true, 0, true),
            new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
            await x509.SubjectKeyIdentifierExtension.create(signer.publicKeySpki, false, crypto),
          ],
        },
        crypto,
      );
      if (!(await cert.verify({ publicKey: signer.publicKeySpki, signatureOnly: true }))) throw notVerified(`CA ${input.ca}: the root signed by KMS does not verify with the key's public key`);
      const state: CaState = { format: 'bulwark-ca/1', ca: input.ca, keyArn: signing.keyArn, envelopeKeyArn: envelope.keyArn, certificatePem: cert.toString('pem') };
      let created = true;
      try {
        await sm.send(
          new CreateSecretCommand({
            Name: caSecretName(input.ca),
            ClientRequestToken: token,
            SecretString: JSON.stringify(state),
            Description: `bulwark private CA ${input.ca}: root certificate (key in KMS ${signing.keyArn})`,
            Tags: [{ Key: TAG.ca, Value: input.ca }, { Key: 'bulwark:kind', Value: 'ca' }],
          }),
        );
      } catch (err) {
        if (name(err) !== 'ResourceExistsException') throw toFailure(err, 'CreateSecret', caSecretName(input.ca));
        created = false; // created meanwhile (or by the lost response of an earlier attempt): use what is stored
      }
      const stored = await loadCa(input.ca);
      checkCaKey(stored.cert, stored.signer, input.ca);
      return caInfo(input.ca, stored.state, stored.cert, stored.signer, stored.secretArn, created);
    },

    /** The CA as it stands (root certificate PEM included: it is what relying parties trust); `found: false` before its first issuance. */
    async certificatesDescribeCa(input: { ca: string }): Promise<{ found: false } | { found: true; ca: CaInfo; certificatePem: string; revoked: number }> {
      if (!(await describeSecret(caSecretName(input.ca)))) return { found: false };
      const { state, cert, signer, secretArn } = await loadCa(input.ca);
      checkCaKey(cert, signer, input.ca);
      return { found: true, ca: caInfo(input.ca, state, cert, signer, secretArn, false), certificatePem: state.certificatePem, revoked: (await revokedEntries(input.ca)).length };
    },

    /**
     * Issues one certificate: a key pair made here, the certificate signed by the CA's KMS key and
     * checked against the CA public key, the private key encrypted under a fresh KMS data key, and
     * the bundle stored as a new version of `bulwark/certificates/<name>` under a ClientRequestToken
     * derived from the idempotency key — a retry finds its version instead of issuing again. Tags and
     * description are set to the new version's metadata and read back.
     */
    async certificatesIssue(input: { request: IssueRequest; idempotencyKey: string }): Promise<CertificateMetadata> {
      const req = input.request;
      const token = rotationToken(input.idempotencyKey);
      const secretName = certificateSecretName(req.name);
      const existing = await describeSecret(secretName);
      if (existing?.VersionIdsToStages?.[token]) return finish(existing.ARN!, token);

      const { state, cert: caCert, signer } = await loadCa(req.ca);
      checkCaKey(caCert, signer, req.ca);
      const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const spki = publicKey.export({ type: 'spki', format: 'der' });
      const serial = serialFor(token);
      const notBefore = new Date(Date.now() - 60_000); // tolerate a minute of clock skew at relying parties
      const notAfter = new Date(notBefore.getTime() + req.validitySeconds * 1000);
      const extensions: x509.Extension[] = [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
        new x509.ExtendedKeyUsageExtension([req.profile === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth]),
        await x509.SubjectKeyIdentifierExtension.create(spki, false, crypto),
        await x509.AuthorityKeyIdentifierExtension.create(signer.publicKeySpki, false, crypto),
      ];
      if (req.dnsNames.length) extensions.push(new x509.SubjectAlternativeNameExtension(req.dnsNames.map((value) => ({ type: 'dns' as const, value }))));
      if (config.crlBaseUrl) {
        extensions.push(new x509.CRLDistributionPointsExtension([`${config.crlBaseUrl.replace(/\/$/, '')}/${req.ca}.crl`]));
      }
      const cert = await x509.X509CertificateGenerator.create(
        { serialNumber: serial, subject: req.subject, issuer: caCert.subject, notBefore, notAfter, publicKey: spki, signingKey: signer as never, signingAlgorithm: signer.signingAlgorithm, extensions },
        crypto,
      );
      // The end state that matters: an independent parser accepts the certificate and its signature verifies with the CA's KMS public key.
      const parsed = new NodeX509(Buffer.from(cert.rawData));
      if (!parsed.verify(createPublicKey({ key: Buffer.from(signer.publicKeySpki), format: 'der', type: 'spki' }))) throw notVerified(`certificate ${req.name}: the KMS signature does not verify with the CA public key`);

      const encryptionContext = { 'bulwark:certificate': req.name, 'bulwark:serial': serial };
      const dk = await call('GenerateDataKey', `KMS key ${state.envelopeKeyArn}`, () => kms.send(new GenerateDataKeyCommand({ KeyId: state.envelopeKeyArn, KeySpec: 'AES_256', EncryptionContext: encryptionContext })));
      const plaintextKey = Buffer.from(dk.Plaintext!);
      const iv = randomBytes(12);
      const pkcs8 = privateKey.export({ type: 'pkcs8', format: 'der' });
      let ciphertext: Buffer;
      let tag: Buffer;
      try {
        const cipher = createCipheriv('aes-256-gcm', plaintextKey, iv);
        cipher.setAAD(Buffer.from(`${req.name}/${serial}`));
        ciphertext = Buffer.concat([cipher.update(pkcs8), cipher.final()]);
        tag = cipher.getAuthTag();
      } finally {
        plaintextKey.fill(0);
        pkcs8.fill(0);
      }
      const metadata: CertificateBundle['metadata'] = {
        name: req.name,
        ca: req.ca,
        serial,
        subject: cert.subject,
        issuer: cert.issuer,
        notBefore: notBefore.toISOString(),
        notAfter: notAfter.toISOString(),
        renewAt: renewAt(notBefore, notAfter, req.renewAtFraction).toISOString(),
        fingerprint: sha256(new Uint8Array(cert.rawData)),
        profile: req.profile,
        dnsNames: req.dnsNames,
      };
      const bundle: CertificateBundle = {
        format: 'bulwark-certificate/1',
        metadata,
        certificatePem: cert.toString('pem'),
        chainPem: state.certificatePem,
        privateKey: {
          format: 'pkcs8-der',
          algorithm: 'AES-256-GCM',
          kmsKeyId: dk.KeyId ?? state.envelopeKeyArn,
          encryptionContext,
          encryptedDataKey: Buffer.from(dk.CiphertextBlob!).toString('base64'),
          iv: iv.toString('base64'),
          tag: tag.toString('base64'),
          ciphertext: ciphertext.toString('base64'),
        },
      };
      const SecretString = JSON.stringify(bundle);
      let arn = existing?.ARN;
      if (!existing) {
        try {
          arn = (await sm.send(new CreateSecretCommand({ Name: secretName, ClientRequestToken: token, SecretString, Description: describe(metadata), Tags: [{ Key: TAG.certificate, Value: req.name }, { Key: TAG.ca, Value: req.ca }] }))).ARN;
        } catch (err) {
          if (name(err) !== 'ResourceExistsException') throw toFailure(err, 'CreateSecret', secretName);
        }
      }
      if (!arn || existing) {
        const d = await describeSecret(secretName);
        if (!d) throw notVerified(`secret ${secretName} does not exist after CreateSecret`);
        arn = d.ARN!;
        if (!d.VersionIdsToStages?.[token]) {
          try {
            await sm.send(new PutSecretValueCommand({ SecretId: arn, ClientRequestToken: token, SecretString, VersionStages: ['AWSCURRENT'] }));
          } catch (err) {
            if (name(err) !== 'ResourceExistsException') throw toFailure(err, 'PutSecretValue', secretName);
          }
        }
      }
      return finish(arn!, token);

      /** Tags and description follow the version just written; everything is read back from Secrets Manager. */
      async function finish(secretArn: string, versionId: string): Promise<CertificateMetadata> {
        const v = await readVersion(secretArn, { VersionId: versionId });
        const stored = JSON.parse(v.SecretString!) as CertificateBundle;
        const m = stored.metadata;
        const der = new NodeX509(stored.certificatePem).raw;
        if (sha256(der) !== m.fingerprint) throw ApplicationFailure.nonRetryable(`certificate ${m.name}: stored certificate does not match its recorded fingerprint`, 'NotVerified');
        const current = (await describeSecret(secretArn))?.VersionIdsToStages ?? {};
        if (!current[versionId]?.includes('AWSCURRENT')) throw notVerified(`certificate ${m.name}: version ${versionId} is not AWSCURRENT`);
        await call('TagResource', secretName, () =>
          sm.send(
            new TagResourceCommand({
              SecretId: secretArn,
              Tags: [
                { Key: TAG.certificate, Value: m.name },
                { Key: TAG.ca, Value: m.ca },
                { Key: TAG.serial, Value: m.serial },
                { Key: TAG.notBefore, Value: m.notBefore },
                { Key: TAG.notAfter, Value: m.notAfter },
                { Key: TAG.renewAt, Value: m.renewAt },
                { Key: TAG.fingerprint, Value: m.fingerprint },
                { Key: TAG.profile, Value: m.profile },
                { Key: TAG.status, Value: 'active' },
              ],
            }),
          ),
        );
        await call('UpdateSecret', secretName, () => sm.send(new UpdateSecretCommand({ SecretId: secretArn, Description: describe(m) })));
        const after = await describeSecret(secretArn);
        if (tagsOf(after?.Tags)[TAG.serial] !== m.serial) throw notVerified(`certificate ${m.name}: tags do not show serial ${m.serial} after TagResource`);
        return { ...m, secretArn, versionId, status: 'active' };
      }
    },

    /** The current version of a certificate, from its bundle (the certificate itself, not only tags); `found: false` when there is none. */
    async certificatesDescribe(input: { certificate: string }): Promise<{ found: false; name?: string } | { found: true; certificate: CertificateMetadata }> {
      const { certName, secret } = await certificateSecret(input.certificate);
      if (!secret) return { found: false, name: certName };
      const { bundle, versionId } = await currentBundle(secret.ARN!);
      const status = tagsOf(secret.Tags)[TAG.status] === 'revoked' && tagsOf(secret.Tags)[TAG.serial] === bundle.metadata.serial ? 'revoked' : 'active';
      return { found: true, certificate: { ...bundle.metadata, secretArn: secret.ARN!, versionId, status } };
    },

    /** Every bulwark certificate (current versions), from tags: no secret value is read. */
    async certificatesList(input: { ca?: string } = {}): Promise<CertificateMetadata[]> {
      const out: CertificateMetadata[] = [];
      let NextToken: string | undefined;
      do {
        const page = await call('ListSecrets', 'certificates', () => sm.send(new ListSecretsCommand({ Filters: [{ Key: 'tag-key', Values: [TAG.certificate] }], NextToken, MaxResults: 100 })));
        for (const s of page.SecretList ?? []) {
          const m = metadataFromListing(s);
          if (m && (!input.ca || m.ca === input.ca)) out.push(m);
        }
        NextToken = page.NextToken;
      } while (NextToken);
      return out.sort((a, b) => a.name.localeCompare(b.name));
    },

    /**
     * Revokes a serial of a certificate: the tag `bulwark:revoked:<serial>` = `<reason>@<time>` on
     * the certificate's secret (read back), and `bulwark:status=revoked` when that serial is the
     * current version. Already revoked → reported, unchanged. The CRL is built from these tags.
     */
    async certificatesRevoke(input: { ca: string; serial: string; name: string; reason: RevocationReason; revokedAt: string }): Promise<{ serial: string; alreadyRevoked: boolean; revokedAt: string }> {
      if (!(input.reason in REVOCATION_REASONS)) throw ApplicationFailure.nonRetryable(`reason must be one of ${Object.keys(REVOCATION_REASONS).join(', ')}`, 'InvalidParameters');
      const serial = input.serial.toLowerCase();
      const secretName = certificateSecretName(input.name);
      const secret = await describeSecret(secretName);
      if (!secret) throw notFound(`no certificate named ${input.name}`);
      const tags = tagsOf(secret.Tags);
      if (tags[TAG.ca] !== input.ca) throw ApplicationFailure.nonRetryable(`certificate ${input.name} belongs to CA ${tags[TAG.ca]}, not ${input.ca}`, 'InvalidParameters');
      const key = `${REVOKED_PREFIX}${serial}`;
      const existing = tags[key];
      const add: Tag[] = [];
      if (!existing) add.push({ Key: key, Value: `${input.reason}@${input.revokedAt}` });
      if (tags[TAG.serial] === serial && tags[TAG.status] !== 'revoked') add.push({ Key: TAG.status, Value: 'revoked' });
      if (add.length) await call('TagResource', secretName, () => sm.send(new TagResourceCommand({ SecretId: secret.ARN!, Tags: add })));
      const after = tagsOf((await describeSecret(secretName))?.Tags);
      if (!after[key]) throw notVerified(`certificate ${input.name}: serial ${serial} is not tagged revoked after TagResource`);
      return { serial, alreadyRevoked: Boolean(existing), revokedAt: after[key]!.split('@')[1] ?? input.revokedAt };
    },

    /**
     * Builds the CA's CRL from the revocation tags, signs it with the CA's KMS key, checks the
     * signature, and publishes it (S3 object or file `<ca>.crl`, DER), reading the published bytes
     * back. The CRL number is the build time in milliseconds (monotonic without shared state). Two
     * publications can interleave, so after writing, the revocations are listed again and the CRL is
     * rebuilt until what was published is what is revoked: the last writer is never stale.
     */
    async certificatesPublishCrl(input: { ca: string }): Promise<CrlPublication> {
      const { cert, signer } = await loadCa(input.ca);
      checkCaKey(cert, signer, input.ca);
      const key = (entries: RevokedEntry[]) => entries.map((e) => e.serial).join(',');
      let entries = await revokedEntries(input.ca);
      for (let round = 0; round < 5; round++) {
        const published = await publishOnce(entries);
        const now = await revokedEntries(input.ca);
        if (key(now) === key(entries)) return published;
        entries = now;
      }
      throw notVerified(`CRL of CA ${input.ca}: revocations kept changing while publishing; retrying`);

      async function publishOnce(list: RevokedEntry[]): Promise<CrlPublication> {
        const thisUpdate = new Date();
        const crlNumber = thisUpdate.getTime();
        const nextUpdate = new Date(thisUpdate.getTime() + (config.crlValiditySeconds ?? 7 * 86_400) * 1000);
        const crl = await x509.X509CrlGenerator.create(
          {
            issuer: cert.subject,
            thisUpdate,
            nextUpdate,
            signingKey: signer as never,
            signingAlgorithm: signer.signingAlgorithm,
            entries: list.map((r) => ({ serialNumber: r.serial, revocationDate: new Date(r.revokedAt), reason: REVOCATION_REASONS[r.reason] as number as x509.X509CrlReason })),
            extensions: [await x509.AuthorityKeyIdentifierExtension.create(signer.publicKeySpki, false, crypto), new x509.Extension('2.5.29.20', false, derInteger(crlNumber))],
          },
          crypto,
        );
        if (!(await crl.verify({ publicKey: await new x509.PublicKey(signer.publicKeySpki).export() }))) throw notVerified(`CRL of CA ${input.ca}: the KMS signature does not verify`);
        const der = Buffer.from(crl.rawData);
        const digest = sha256(der);
        let location: string;
        let back: Buffer;
        if (config.crlBucket) {
          const Key = `${config.crlPrefix ?? 'crl/'}${input.ca}.crl`;
          location = `s3://${config.crlBucket}/${Key}`;
          await call('PutObject', location, () => s3.send(new PutObjectCommand({ Bucket: config.crlBucket, Key, Body: der, ContentType: 'application/pkix-crl', CacheControl: 'max-age=300' })));
          const got = await call('GetObject', location, () => s3.send(new GetObjectCommand({ Bucket: config.crlBucket, Key })));
          back = Buffer.from(await got.Body!.transformToByteArray());
        } else {
          location = join(crlDir, `${input.ca}.crl`);
          await mkdir(dirname(location), { recursive: true });
          // Write then rename, so the intake never serves half a CRL.
          const tmp = `${location}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
          await writeFile(tmp, der);
          await rename(tmp, location);
          back = await readFile(location);
        }
        // What is published now (ours, or a concurrent publisher's) must be a valid CRL of this CA listing at least our serials.
        if (sha256(back) !== digest) {
          let ok = false;
          try {
            const there = new x509.X509Crl(back);
            const serials = new Set(there.entries.map((e) => e.serialNumber.toLowerCase()));
            ok = (await there.verify({ publicKey: await new x509.PublicKey(signer.publicKeySpki).export() })) && list.every((e) => serials.has(e.serial));
          } catch {
            ok = false;
          }
          if (!ok) throw notVerified(`${location} does not hold a CRL with the revocations just published`);
        }
        return { ca: input.ca, crlNumber, entries: list.length, location, sha256: digest, thisUpdate: thisUpdate.toISOString(), nextUpdate: nextUpdate.toISOString() };
      }
    },

    /**
     * When each secret was last rotated: the newer of Secrets Manager's LastRotatedDate (set by
     * RotateSecret) and the creation of its AWSCURRENT version (bulwark's own rotations move labels
     * without RotateSecret), else the secret's creation. Missing secrets are reported, not thrown.
     */
    async certificatesSecretAges(input: { secrets: string[] }): Promise<{ secret: string; arn?: string; name?: string; lastRotatedAt?: string; missing?: boolean }[]> {
      const out = [];
      for (const secret of input.secrets) {
        const d = await describeSecret(secret);
        if (!d) {
          out.push({ secret, missing: true });
          continue;
        }
        const currentVersion = Object.entries(d.VersionIdsToStages ?? {}).find(([, l]) => l.includes('AWSCURRENT'))?.[0];
        let versionCreated: Date | undefined;
        if (currentVersion) {
          const versions = await call('ListSecretVersionIds', `secret ${secret}`, () => sm.send(new ListSecretVersionIdsCommand({ SecretId: d.ARN! })));
          versionCreated = versions.Versions?.find((v) => v.VersionId === currentVersion)?.CreatedDate;
        }
        const candidates = [d.LastRotatedDate, versionCreated].filter((x): x is Date => x instanceof Date);
        const last = candidates.length ? new Date(Math.max(...candidates.map((x) => x.getTime()))) : d.CreatedDate;
        out.push({ secret, arn: d.ARN!, name: d.Name!, lastRotatedAt: last?.toISOString() });
      }
      return out;
    },

    /**
     * Opens (or joins) an incident per finding through the same path as alerts — AlertDeliverer's
     * signalWithStart on `incident-<fingerprint>`, with playbook routing — using the worker's
     * Temporal client. The dedup key names the serial (certificates) or due date (secrets), so a daily
     * scan joins the open incident instead of opening another.
     */
    async certificatesOpenIncidents(input: { findings: Finding[]; observedAt: string }): Promise<{ name: string; kind: Finding['kind']; incidentId: string; deduplicated: boolean }[]> {
      const opened = await openIncidents(input.findings.map((f) => findingAlert(f, input.observedAt)), input.observedAt, 'scanner:certificate-scan');
      return input.findings.map((f, i) => ({ name: f.name, kind: f.kind, ...opened[i]! }));
    },
  };
}

export type CertificateActivities = ReturnType<typeof createCertificateActivities>;
