import 'reflect-metadata';
import { createDecipheriv, createHash, createPrivateKey, createPublicKey, sign, verify, X509Certificate as NodeX509 } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import * as x509 from '@peculiar/x509';
import { CreateSecretCommand, DescribeSecretCommand, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { DecryptCommand, GetPublicKeyCommand } from '@aws-sdk/client-kms';
import { CreateBucketCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import type { WorkflowHandle } from '@temporalio/client';
import { createCertificateActivities, type CertificateBundle } from '../activities/certificates.js';
import { derToP1363 } from '../activities/kms-signer.js';
import { parseAlert } from '../domain/alert.js';
import {
  caKeyAlias,
  certificateNameOf,
  certificateSecretName,
  certificateStatus,
  certificateWorkflowId,
  cronPeriodSeconds,
  DistinguishedName,
  IssueRequest,
  renewalRequest,
  secretStatus,
  type CertificateMetadata,
} from '../domain/certificates/model.js';
import type { IncidentState } from '../domain/incident.js';
import { AlertDeliverer } from '../intake/deliver.js';
import { playbookDefaults } from '../temporal.config.js';
import { stateQuery } from '../workflows/definitions.js';
import type { CertificateScanResult, CertificateWorkflowInput, CertificateWorkflowResult } from '../workflows/certificate.js';
import { runCli, startHarness, testConfig, uniqueId, waitForState, workflowExists, type Harness, historyText, failureOf } from './support.js';

let h: Harness;
let crlDir: string;
// One CA per run of this file, so its revocation list holds only this file's serials.
const CA = uniqueId('ca');

beforeAll(async () => {
  crlDir = mkdtempSync(join(inject('scratchDir'), 'crl-'));
  h = await startHarness({ intake: true, config: testConfig({ certificates: { crlDir } }) });
});
afterAll(() => h?.close());

async function runCert(input: CertificateWorkflowInput): Promise<{ result: CertificateWorkflowResult; handle: WorkflowHandle }> {
  const name = certificateNameOf(input.certificate)!;
  const handle = await h.client.workflow.start('certificateWorkflow', { taskQueue: h.config.temporal.taskQueue, workflowId: certificateWorkflowId(name), args: [input], workflowIdConflictPolicy: 'FAIL' });
  return { result: (await handle.result()) as CertificateWorkflowResult, handle };
}

const issue = (name: string, over: Record<string, unknown> = {}) =>
  runCert({ action: 'issue', certificate: name, request: { name, ca: CA, subject: `CN=${name}.internal.test, O=Bulwark Test`, dnsNames: [`${name}.internal.test`], validitySeconds: 30 * 86_400, ...over }, requestedBy: 'alice' });

async function bundleOf(name: string, stage = 'AWSCURRENT'): Promise<CertificateBundle> {
  const v = await h.aws.sm.send(new GetSecretValueCommand({ SecretId: certificateSecretName(name), VersionStage: stage }));
  return JSON.parse(v.SecretString!) as CertificateBundle;
}

/** The CA's public key, fetched from KMS (not from anything bulwark stored). */
async function caPublicKey() {
  const { PublicKey } = await h.aws.kms.send(new GetPublicKeyCommand({ KeyId: caKeyAlias(CA) }));
  return { der: Buffer.from(PublicKey!), key: createPublicKey({ key: Buffer.from(PublicKey!), format: 'der', type: 'spki' }) };
}


/** Unseals the bundle's private key the way a consumer would: KMS Decrypt of the data key, then AES-256-GCM. */
async function privateKeyOf(bundle: CertificateBundle) {
  const k = bundle.privateKey;
  const { Plaintext } = await h.aws.kms.send(new DecryptCommand({ CiphertextBlob: Buffer.from(k.encryptedDataKey, 'base64'), EncryptionContext: k.encryptionContext, KeyId: k.kmsKeyId }));
  const d = createDecipheriv('aes-256-gcm', Buffer.from(Plaintext!), Buffer.from(k.iv, 'base64'));
  d.setAAD(Buffer.from(`${bundle.metadata.name}/${bundle.metadata.serial}`));
  d.setAuthTag(Buffer.from(k.tag, 'base64'));
  const pkcs8 = Buffer.concat([d.update(Buffer.from(k.ciphertext, 'base64')), d.final()]);
  return { pkcs8, key: createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }) };
}

describe('certificate lifecycle math (pure)', () => {
  it.each([
    // [notBefore, notAfter, now, status]
    ['2026-01-01T00:00:00Z', '2026-04-01T00:00:00Z', '2026-01-10T00:00:00Z', 'ok'],
    ['2026-01-01T00:00:00Z', '2026-04-01T00:00:00Z', '2026-02-20T00:00:00Z', 'expiring'],
    ['2026-01-01T00:00:00Z', '2026-04-01T00:00:00Z', '2026-03-05T00:00:00Z', 'overdue'],
    ['2026-01-01T00:00:00Z', '2026-04-01T00:00:00Z', '2026-04-01T00:00:00Z', 'expired'],
  ])('a certificate %s → %s judged at %s is %s (renewal at 2/3, warn 14 days)', (nb, na, now, status) => {
    const renewAt = new Date(Date.parse(nb) + ((Date.parse(na) - Date.parse(nb)) * 2) / 3).toISOString();
    expect(certificateStatus({ renewAt, notAfter: na }, new Date(now), 14 * 86_400)).toBe(status);
  });

  it.each([
    ['0 3 * * 1', 7 * 86_400],
    ['0 3 1 * *', 31 * 86_400],
    ['30 2 * * *', 86_400],
    ['*/5 * * * *', 3_600],
    ['@weekly', 7 * 86_400],
  ])('cron %s counts as a period of %i seconds', (cron, seconds) => expect(cronPeriodSeconds(cron)).toBe(seconds));

  it('secrets: overdue once the cadence has passed since the last rotation', () => {
    const last = new Date('2026-01-01T00:00:00Z');
    expect(secretStatus(last, 30 * 86_400, new Date('2026-01-10T00:00:00Z'), 7 * 86_400).status).toBe('ok');
    expect(secretStatus(last, 30 * 86_400, new Date('2026-01-26T00:00:00Z'), 7 * 86_400).status).toBe('expiring');
    expect(secretStatus(last, 30 * 86_400, new Date('2026-02-01T00:00:00Z'), 7 * 86_400)).toEqual({ status: 'overdue', dueAt: new Date('2026-01-31T00:00:00Z') });
  });

  it.each([
    ['api', 'api'],
    ['bulwark/certificates/api', 'api'],
    ['arn:aws:secretsmanager:eu-west-1:123456789012:secret:bulwark/certificates/api.v2-AbC123', 'api.v2'],
    ['arn:aws:secretsmanager:eu-west-1:123456789012:secret:other/secret-AbC123', undefined],
    ['Not A Name', undefined],
  ])('certificate reference %s → %s', (ref, name) => expect(certificateNameOf(ref)).toBe(name));

  it('requests are validated with the field named', () => {
    const bad = IssueRequest.safeParse({ name: 'Bad Name', subject: 'O=no common name', validitySeconds: 10 });
    expect(bad.success).toBe(false);
    expect(bad.error!.issues.map((i) => i.path.join('.')).sort()).toEqual(['name', 'subject', 'validitySeconds']);
    expect(DistinguishedName.safeParse('CN=api.example.com, O=Acme, C=GB').success).toBe(true);
  });

  it('renewal keeps subject, names, profile, lifetime and renewal fraction', () => {
    const r = renewalRequest({ name: 'a', ca: 'c', subject: 'CN=a', dnsNames: ['a.test'], profile: 'client', notBefore: '2026-01-01T00:00:00.000Z', notAfter: '2026-01-31T00:00:00.000Z', renewAt: '2026-01-21T00:00:00.000Z' });
    expect(r).toMatchObject({ name: 'a', ca: 'c', subject: 'CN=a', dnsNames: ['a.test'], profile: 'client', validitySeconds: 30 * 86_400 });
    expect(r.renewAtFraction).toBeCloseTo(2 / 3, 3);
  });

  it('ECDSA DER signatures become r‖s of the curve size (leading zeros kept, sign bytes dropped)', () => {
    const der = Uint8Array.from([0x30, 0x09, 0x02, 0x03, 0x00, 0x81, 0x02, 0x02, 0x02, 0x01, 0x05]);
    const raw = derToP1363(der, 4);
    expect(Buffer.from(raw).toString('hex')).toBe('0000810200000105');
  });
});

describe('issuing from the KMS-backed CA', () => {
  let issued: CertificateMetadata;
  const name = uniqueId('api');

  it('issues a certificate that independent parsers accept and whose signature verifies with the CA key from KMS', async () => {
    const { result, handle } = await issue(name);
    expect(result.outcome).toBe('issued');
    issued = result.certificate!;
    expect(result.ca).toMatchObject({ ca: CA, created: true });
    const bundle = await bundleOf(name);

    // node:crypto
    const cert = new NodeX509(bundle.certificatePem);
    const caCert = new NodeX509(bundle.chainPem);
    const { der: caSpki, key: caKey } = await caPublicKey();
    expect(cert.verify(caKey)).toBe(true);
    expect(cert.checkIssued(caCert)).toBe(true);
    expect(caCert.verify(caKey)).toBe(true); // the root is self-signed by the same KMS key
    expect(caCert.ca).toBe(true);
    expect(cert.serialNumber.toLowerCase()).toBe(issued.serial);
    expect(cert.subject).toContain(`CN=${name}.internal.test`);
    expect(cert.subjectAltName).toBe(`DNS:${name}.internal.test`);
    expect(cert.fingerprint256.replaceAll(':', '').toLowerCase()).toBe(issued.fingerprint);
    expect(new Date(cert.validTo).getTime()).toBe(Math.floor(Date.parse(issued.notAfter) / 1000) * 1000);
    expect(cert.checkHost(`${name}.internal.test`)).toBe(`${name}.internal.test`);

    // @peculiar/x509
    const p = new x509.X509Certificate(bundle.certificatePem);
    expect(await p.verify({ publicKey: await new x509.PublicKey(caSpki).export(), signatureOnly: true })).toBe(true);
    expect(p.serialNumber.toLowerCase()).toBe(issued.serial);
    expect(p.getExtension(x509.ExtendedKeyUsageExtension)!.usages).toEqual([x509.ExtendedKeyUsage.serverAuth]);
    expect(p.getExtension(x509.BasicConstraintsExtension)!.ca).toBe(false);
    expect(p.signatureAlgorithm).toMatchObject({ name: 'ECDSA', hash: { name: 'SHA-256' } });

    // The private key decrypts with KMS and belongs to the certificate.
    const { pkcs8, key } = await privateKeyOf(bundle);
    expect(createPublicKey(key).export({ type: 'spki', format: 'der' }).equals(cert.publicKey.export({ type: 'spki', format: 'der' }))).toBe(true);
    expect(cert.checkPrivateKey(key)).toBe(true);
    const sig = sign('sha256', Buffer.from('hello'), key);
    expect(verify('sha256', Buffer.from('hello'), cert.publicKey, sig)).toBe(true);

    // Metadata: tags and description on the secret.
    const d = await h.aws.sm.send(new DescribeSecretCommand({ SecretId: certificateSecretName(name) }));
    const tags = Object.fromEntries(d.Tags!.map((t) => [t.Key, t.Value]));
    expect(tags).toMatchObject({ 'bulwark:serial': issued.serial, 'bulwark:fingerprint': issued.fingerprint, 'bulwark:not-after': issued.notAfter, 'bulwark:renew-at': issued.renewAt, 'bulwark:ca': CA, 'bulwark:status': 'active' });
    expect(d.Description).toContain(`CN=${name}.internal.test`);

    // No private key material in the workflow's history (nor the sealed form).
    const text = await historyText(handle);
    expect(text).toContain(issued.serial); // the decoding works: metadata is there…
    for (const secret of [pkcs8.toString('base64'), pkcs8.toString('hex'), key.export({ type: 'pkcs8', format: 'pem' }).toString().split('\n')[1]!, bundle.privateKey.ciphertext, bundle.privateKey.encryptedDataKey]) {
      expect(text).not.toContain(secret);
    }
    expect(text).not.toMatch(/PRIVATE KEY/);
  });

  it('renewal is refused before the renewal point, then (forced) issues a new serial as a new version; the old one becomes AWSPREVIOUS', async () => {
    const early = await runCert({ action: 'renew', certificate: name });
    expect(early.result.outcome).toBe('not-due');
    const { result } = await runCert({ action: 'renew', certificate: certificateSecretName(name), force: true });
    expect(result.outcome).toBe('renewed');
    expect(result.previous!.serial).toBe(issued.serial);
    expect(result.certificate!.serial).not.toBe(issued.serial);
    expect(result.certificate!.subject).toBe(issued.subject);
    expect(Date.parse(result.certificate!.notAfter) - Date.parse(result.certificate!.notBefore)).toBe(Date.parse(issued.notAfter) - Date.parse(issued.notBefore));
    const current = await bundleOf(name);
    const previous = await bundleOf(name, 'AWSPREVIOUS');
    expect(current.metadata.serial).toBe(result.certificate!.serial);
    expect(previous.metadata.serial).toBe(issued.serial);
    expect(new NodeX509(current.certificatePem).verify((await caPublicKey()).key)).toBe(true);
    expect(result.ca!.created).toBe(false); // the CA was created once
    issued = result.certificate!;
  });

  it('revocation: the CRL lists the serial, its KMS signature verifies, and the intake serves it', async () => {
    const { result } = await runCert({ action: 'revoke', certificate: name, reason: 'superseded', requestedBy: 'bob' });
    expect(result.outcome).toBe('revoked');
    expect(result.revoked).toMatchObject({ serial: issued.serial, reason: 'superseded' });
    const file = join(crlDir, `${CA}.crl`);
    expect(result.crl!.location).toBe(file);
    const der = readFileSync(file);
    expect(createHash('sha256').update(der).digest('hex')).toBe(result.crl!.sha256);

    const crl = new x509.X509Crl(der);
    const { der: caSpki } = await caPublicKey();
    expect(await crl.verify({ publicKey: await new x509.PublicKey(caSpki).export() })).toBe(true);
    const entry = crl.findRevoked(issued.serial);
    expect(entry).not.toBeNull();
    expect(entry!.reason).toBe(x509.X509CrlReason.superseded);
    expect(crl.issuer).toBe(new x509.X509Certificate((await bundleOf(name)).chainPem).subject);

    // Served by the intake at GET /crl/<ca>.crl.
    const res = await fetch(`${h.intake!.url}/crl/${CA}.crl`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/pkix-crl');
    expect(Buffer.from(await res.arrayBuffer()).equals(der)).toBe(true);
    expect((await fetch(`${h.intake!.url}/crl/no-such-ca.crl`)).status).toBe(404);

    // The secret's tags say revoked; a second revocation is reported, not repeated.
    const d = await h.aws.sm.send(new DescribeSecretCommand({ SecretId: certificateSecretName(name) }));
    expect(d.Tags!.find((t) => t.Key === 'bulwark:status')!.Value).toBe('revoked');
    const again = await runCert({ action: 'revoke', certificate: name });
    expect(again.result.outcome).toBe('already-revoked');
    expect(new x509.X509Crl(readFileSync(file)).entries.filter((e) => e.serialNumber.toLowerCase() === issued.serial)).toHaveLength(1);

    // Renewing a revoked certificate is refused with the way out.
    const f = await failureOf(runCert({ action: 'renew', certificate: name, force: true }).then((r) => r.result));
    expect(f.message).toMatch(/is revoked: re-issue it/);
  });

  it('a request naming no common name fails at once with the field, and nothing is stored', async () => {
    const bad = uniqueId('bad');
    const f = await failureOf(runCert({ action: 'issue', certificate: bad, request: { name: bad, ca: CA, subject: 'O=Acme', validitySeconds: 3600 } }).then((r) => r.result));
    expect(f.message).toMatch(/subject: the subject needs a CN=/);
    await expect(h.aws.sm.send(new DescribeSecretCommand({ SecretId: certificateSecretName(bad) }))).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
  });

  it('issuing twice under one idempotency key (a retried activity) stores one version with one serial', async () => {
    const acts = createCertificateActivities({ sm: h.aws.sm, kms: h.aws.kms, s3: h.aws.s3, config: { crlDir } });
    const n = uniqueId('idem');
    const request = IssueRequest.parse({ name: n, ca: CA, subject: `CN=${n}`, validitySeconds: 86_400 });
    // Outside a worker there is no activity context; certificatesIssue needs none once the CA exists.
    const first = await acts.certificatesIssue({ request, idempotencyKey: `test/${n}` });
    const second = await acts.certificatesIssue({ request, idempotencyKey: `test/${n}` });
    expect(second).toEqual(first);
    const d = await h.aws.sm.send(new DescribeSecretCommand({ SecretId: certificateSecretName(n) }));
    expect(Object.keys(d.VersionIdsToStages!)).toEqual([first.versionId]);
  });
});

describe('concurrent revocations under one CA', () => {
  it('four certificates revoked and published at once: the final CRL lists every serial', async () => {
    const acts = createCertificateActivities({ sm: h.aws.sm, kms: h.aws.kms, s3: h.aws.s3, config: { crlDir } });
    await acts.certificatesEnsureCa({ ca: CA }); // exists already unless this test runs alone
    const certs = await Promise.all(
      Array.from({ length: 4 }, async (_, i) => {
        const n = uniqueId(`race${i}`);
        return acts.certificatesIssue({ request: IssueRequest.parse({ name: n, ca: CA, subject: `CN=${n}`, validitySeconds: 86_400 }), idempotencyKey: `test/${n}` });
      }),
    );
    await Promise.all(
      certs.map(async (c) => {
        await acts.certificatesRevoke({ ca: CA, serial: c.serial, name: c.name, reason: 'cessationOfOperation', revokedAt: new Date().toISOString() });
        await acts.certificatesPublishCrl({ ca: CA });
      }),
    );
    const crl = new x509.X509Crl(readFileSync(join(crlDir, `${CA}.crl`)));
    const listed = crl.entries.map((e) => e.serialNumber.toLowerCase());
    for (const c of certs) expect(listed, c.name).toContain(c.serial);
    for (const c of certs) expect(crl.findRevoked(c.serial)?.reason, c.name).toBe(x509.X509CrlReason.cessationOfOperation);
  });
});

describe('CRL published to S3', () => {
  it('with a bucket configured, the CRL is an S3 object that verifies', async () => {
    const Bucket = uniqueId('crl-bucket');
    await h.aws.s3.send(new CreateBucketCommand({ Bucket, CreateBucketConfiguration: { LocationConstraint: h.config.aws.region as never } }));
    const acts = createCertificateActivities({ sm: h.aws.sm, kms: h.aws.kms, s3: h.aws.s3, config: { crlBucket: Bucket, crlPrefix: 'pki/' } });
    const p = await acts.certificatesPublishCrl({ ca: CA });
    expect(p.location).toBe(`s3://${Bucket}/pki/${CA}.crl`);
    const obj = await h.aws.s3.send(new GetObjectCommand({ Bucket, Key: `pki/${CA}.crl` }));
    expect(obj.ContentType).toBe('application/pkix-crl');
    const crl = new x509.X509Crl(Buffer.from(await obj.Body!.transformToByteArray()));
    expect(await crl.verify({ publicKey: await new x509.PublicKey((await caPublicKey()).der).export() })).toBe(true);
    expect(crl.entries.length).toBe(p.entries);
  });
});

describe('incident playbook: certificate-compromise', () => {
  it('a certificate.compromised alert re-issues the certificate, revokes the old serial (keyCompromise) and publishes the CRL', async () => {
    const name = uniqueId('mtls');
    const { result } = await issue(name, { profile: 'client' });
    const old = result.certificate!;
    const alert = parseAlert({ source: 'test-detector', type: 'certificate.compromised', severity: 'critical', observedAt: new Date().toISOString(), subject: { certificateArn: old.secretArn } });
    if (!alert.ok) throw new Error(JSON.stringify(alert.errors));
    const { workflowId } = await new AlertDeliverer(h.client, h.config.temporal.taskQueue, playbookDefaults(h.config)).deliver(alert.value);
    const state = await waitForState(h.client, workflowId, (s: IncidentState) => s.status === 'contained' || s.status === 'needs-attention', 60_000);
    expect(state.status).toBe('contained');
    const step = state.steps.find((s) => s.id === 'replace-certificate')!;
    expect(step.status).toBe('succeeded');

    const now = await bundleOf(name);
    expect(now.metadata.serial).not.toBe(old.serial);
    expect(now.metadata.profile).toBe('client');
    expect(new NodeX509(now.certificatePem).verify((await caPublicKey()).key)).toBe(true);
    const crl = new x509.X509Crl(readFileSync(join(crlDir, `${CA}.crl`)));
    expect(crl.findRevoked(old.serial)?.reason).toBe(x509.X509CrlReason.keyCompromise);
    expect(crl.findRevoked(now.metadata.serial)).toBeNull();
    expect(state.timeline.some((e) => e.step === 'replace-certificate' && e.message.includes(`serial ${old.serial} revoked`))).toBe(true);
    // The re-issue ran under the certificate's own workflow id (never beside a renewal of it).
    expect(await workflowExists(h.client, certificateWorkflowId(name))).toBe(true);
  });
});

describe('expiry scanner', () => {
  it('finds an overdue certificate and opens an incident for it; reports a secret overdue under its policy (what-if)', async () => {
    const name = uniqueId('short');
    // Issued backdated by a minute: with a 2-minute lifetime and renewal at half of it, it is due at once.
    await issue(name, { validitySeconds: 120, renewAtFraction: 0.5 });
    const secret = await h.aws.sm.send(new CreateSecretCommand({ Name: `test/${uniqueId('scan')}`, SecretString: 'x'.repeat(20) }));
    const handle = await h.client.workflow.start('certificateScanWorkflow', {
      taskQueue: h.config.temporal.taskQueue,
      workflowId: uniqueId('scan'),
      args: [{ renew: false, warnSeconds: 600, secretPolicies: [{ policy: 'hourly', secret: secret.ARN!, cadenceSeconds: 3600 }] }],
    });
    const r = (await handle.result()) as CertificateScanResult;
    const f = r.findings.find((x) => x.name === name)!;
    expect(f).toMatchObject({ kind: 'certificate', status: 'overdue' });
    expect(r.findings.find((x) => x.arn === secret.ARN)).toMatchObject({ kind: 'secret', status: 'ok' });
    const incident = r.incidents.find((i) => i.name === name)!;
    expect(incident.deduplicated).toBe(false);
    const state = await h.client.workflow.getHandle(incident.incidentId).query(stateQuery);
    expect(state.alert).toMatchObject({ type: 'certificate.expiring', source: 'bulwark-expiry-scanner', subject: { certificateArn: f.arn } });
    expect(r.incidents.some((i) => i.kind === 'secret')).toBe(false);

    // A second scan joins the open incident instead of opening another.
    const again = (await (await h.client.workflow.start('certificateScanWorkflow', { taskQueue: h.config.temporal.taskQueue, workflowId: uniqueId('scan'), args: [{ renew: false }] })).result()) as CertificateScanResult;
    expect(again.incidents.find((i) => i.name === name)).toMatchObject({ incidentId: incident.incidentId, deduplicated: true });

    // What-if two hours later: the hourly secret is overdue; no incident is opened for a what-if.
    const later = new Date(Date.now() + 2 * 3600_000).toISOString();
    const whatIf = (await (await h.client.workflow.start('certificateScanWorkflow', { taskQueue: h.config.temporal.taskQueue, workflowId: uniqueId('scan'), args: [{ asOf: later, secretPolicies: [{ policy: 'hourly', secret: secret.ARN!, cadenceSeconds: 3600 }] }] })).result()) as CertificateScanResult;
    expect(whatIf.findings.find((x) => x.arn === secret.ARN)).toMatchObject({ status: 'overdue' });
    expect(whatIf.incidents).toEqual([]);
    expect(whatIf.renewed).toEqual([]);
  });

  it('with renew on, an overdue certificate is renewed by the scan and no incident is opened for it', async () => {
    const name = uniqueId('auto');
    const first = (await issue(name, { validitySeconds: 120, renewAtFraction: 0.5 })).result.certificate!;
    const r = (await (await h.client.workflow.start('certificateScanWorkflow', { taskQueue: h.config.temporal.taskQueue, workflowId: uniqueId('scan'), args: [{ openIncidents: true }] })).result()) as CertificateScanResult;
    const renewed = r.renewed.find((x) => x.name === name)!;
    expect(renewed.outcome).toBe('renewed');
    expect((await bundleOf(name)).metadata.serial).toBe(renewed.serial);
    expect(renewed.serial).not.toBe(first.serial);
    expect(r.incidents.find((i) => i.name === name)).toBeUndefined();
  });
});

describe('CLI', () => {
  // Each CLI run is a fresh process (TypeScript compiled on start): a few seconds apiece on a busy machine.
  const name = uniqueId('cli');
  let serial = '';

  it('cert issue and cert list', async () => {
    const issued = await runCli(h, ['cert', 'issue', name, '--ca', CA, '--subject', `CN=${name}.test`, '--dns', `${name}.test`, '--days', '10', '--json']);
    expect(issued.code, issued.stderr).toBe(0);
    const out = JSON.parse(issued.stdout) as CertificateWorkflowResult;
    expect(out.certificate!.subject).toBe(`CN=${name}.test`);
    expect(out.certificate!.notAfter).toBe(new Date(Date.parse(out.certificate!.notBefore) + 10 * 86_400_000).toISOString());
    const list = await runCli(h, ['cert', 'list', '--ca', CA]);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain(name);
    expect(list.stdout).toContain(out.certificate!.serial);
    const root = await runCli(h, ['cert', 'ca', '--ca', CA, '--pem']);
    expect(root.code, root.stderr).toBe(0);
    expect(new NodeX509(root.stdout).verify((await caPublicKey()).key)).toBe(true);
  }, 180_000);

  it('rotate cert --force renews; cert revoke revokes the new serial into the CRL', async () => {
    const rotated = await runCli(h, ['rotate', 'cert', name, '--force', '--json']);
    expect(rotated.code, rotated.stderr).toBe(0);
    const renewed = JSON.parse(rotated.stdout) as CertificateWorkflowResult;
    expect(renewed.outcome).toBe('renewed');
    serial = renewed.certificate!.serial;
    const revoked = await runCli(h, ['cert', 'revoke', name, '--reason', 'keyCompromise']);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toContain(`revoked: serial ${serial} (keyCompromise)`);
    expect(new x509.X509Crl(readFileSync(join(crlDir, `${CA}.crl`))).findRevoked(serial)?.reason).toBe(x509.X509CrlReason.keyCompromise);
  }, 180_000);

  it('cert scan --schedule makes a Temporal Schedule of the scan with rotation.yaml secrets; a triggered run opens an incident for a missing secret', async () => {
    const made = await runCli(h, ['cert', 'scan', '--schedule', '24h', '--rotation-file', 'rotation.yaml', '--no-renew']);
    expect(made.code, made.stderr).toBe(0);
    const handle = h.client.schedule.getHandle('certificate-scan');
    try {
      const d = await handle.describe();
      expect(d.action).toMatchObject({ type: 'startWorkflow', workflowType: 'certificateScanWorkflow', taskQueue: h.config.temporal.taskQueue });
      expect(d.spec.intervals?.map((i) => i.every)).toEqual([86_400_000]);
      const input = d.action.args![0] as { secretPolicies: { policy: string; secret: string; cadenceSeconds: number }[]; renew: boolean };
      expect(input.renew).toBe(false);
      expect(input.secretPolicies).toContainEqual({ policy: 'payments-db', secret: 'prod/payments/db', cadenceSeconds: 30 * 86_400 });
      expect(input.secretPolicies).toContainEqual({ policy: 'partner-api-token', secret: 'prod/partner/api-token', cadenceSeconds: 7 * 86_400 });

      await handle.trigger();
      let runId: string | undefined;
      for (let i = 0; i < 100 && !runId; i++) {
        runId = (await handle.describe()).info.recentActions[0]?.action.workflow.workflowId;
        if (!runId) await new Promise((r) => setTimeout(r, 200));
      }
      const r = (await h.client.workflow.getHandle(runId!).result()) as CertificateScanResult;
      expect(r.findings.find((f) => f.name === 'prod/payments/db')).toMatchObject({ kind: 'secret', status: 'overdue', detail: expect.stringMatching(/does not exist/) });
      const incident = r.incidents.find((i) => i.name === 'prod/payments/db')!;
      const state = await h.client.workflow.getHandle(incident.incidentId).query(stateQuery);
      expect(state.alert).toMatchObject({ type: 'secret.rotation-overdue', subject: { secretId: 'prod/payments/db' } });
    } finally {
      const gone = await runCli(h, ['cert', 'scan', '--unschedule']);
      expect(gone.code).toBe(0);
    }
    await expect(handle.describe()).rejects.toThrow();
  }, 180_000);

  it('bad input is a usage error naming the field; --help has examples', async () => {
    const [bad, badReason, help] = await Promise.all([
      runCli(h, ['cert', 'issue', 'x-cert', '--subject', 'O=nobody', '--days', '10']),
      runCli(h, ['cert', 'revoke', 'x-cert', '--reason', 'bored']),
      runCli(h, ['cert', '--help']),
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/subject: the subject needs a CN=/);
    expect(badReason.code).toBe(2);
    expect(badReason.stderr).toMatch(/--reason must be one of/);
    expect(help.stdout).toMatch(/Examples:[\s\S]*bulwark cert issue/);
  }, 180_000);
});
