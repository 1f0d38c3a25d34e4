import { createHash, createPublicKey, randomBytes, verify as cryptoVerify } from 'node:crypto';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateKeyCommand, GetPublicKeyCommand, SignCommand } from '@aws-sdk/client-kms';
import { auditFilePath } from '../activities/audit.js';
import { createAwsClients } from '../activities/clients.js';
import { createS3AuditStore, ensureAuditBucket } from '../activities/audit-s3.js';
import { parseAlert } from '../domain/alert.js';
import { ANCHOR_ACTION, anchorMessage, canonicalJson, GENESIS_HASH, recordHash, type AuditRecord } from '../domain/audit.js';
import { recordedCount, type IncidentState } from '../domain/incident.js';
import { createDeliverer } from '../intake/app.js';
import { createLogger } from '../telemetry/logger.js';
import { resolveUpdate } from '../workflows/definitions.js';
import { alertFor, createTppClient, runCli, startHarness, testConfig, waitFor, waitForState, type Harness } from './support.js';

/**
 * Issue 8 §2 end to end: a real incident (the shipped credential-compromise playbook, run by the
 * worker on the dev server against moto) anchors its audit chain with a KMS signing key when it is
 * contained and when it closes; the anchors verify independently of our code (the public key from
 * KMS, node:crypto, the documented message); `bulwark audit verify` checks them with KMS; and
 * rewriting history is caught by the anchors even when the attacker keeps the chain consistent.
 */

let h: Harness;
let keyArn: string;
let dir: string;
let bucket: string;
let incidentId: string;
let final: IncidentState;
let lines: string[];
let records: AuditRecord[];
let headFile: string;

/** The anchor message as domain/audit.ts documents it (canonical JSON of type, incidentId, headSeq, headHash), built here without our helpers. */
const documentedMessage = (incident: string, headSeq: number, headHash: string) =>
  `{"headHash":${JSON.stringify(headHash)},"headSeq":${headSeq},"incidentId":${JSON.stringify(incident)},"type":"bulwark-audit-anchor/v1"}`;

beforeAll(async () => {
  const aws = createAwsClients(testConfig().aws);
  keyArn = (await aws.kms.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY', Description: 'audit anchors (audit-anchor test)' }))).KeyMetadata!.Arn!;
  bucket = `bulwark-anchor-${randomBytes(4).toString('hex')}`;
  await ensureAuditBucket(aws.s3, bucket, testConfig().aws.region);
  dir = await mkdtemp(join(tmpdir(), 'bulwark-audit-anchor-'));
  h = await startHarness({ config: testConfig({ audit: { dir, signingKeyId: keyArn, s3Bucket: bucket, s3LockMode: 'GOVERNANCE', s3RetentionDays: 1 } }) });

  // The production entry point: the deliverer asks for anchors because a signing key is configured.
  const tpp = await createTppClient(h.aws);
  const parsed = parseAlert(alertFor({ clientId: tpp.clientId }));
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  ({ workflowId: incidentId } = await createDeliverer(h.config, h.client, createLogger('silent')).deliver(parsed.value, undefined, 'operator:bob'));
  await waitForState(h.client, incidentId, (s) => s.status === 'contained' && s.steps.every((x) => ['succeeded', 'skipped'].includes(x.status)), 60_000);
  const file = auditFilePath(dir, incidentId);
  // The anchor taken at containment, before the incident is closed (so the chain has records after it).
  await waitFor(async () => (await readFile(file, 'utf8').catch(() => '')).includes(`"action":"${ANCHOR_ACTION}"`), 'the containment anchor');
  const handle = h.client.workflow.getHandle(incidentId);
  await handle.executeUpdate(resolveUpdate, { args: [{ by: 'carol', reason: 'keys disabled, secret rotated' }] });
  final = (await handle.result()) as IncidentState;
  lines = (await readFile(file, 'utf8')).trimEnd().split('\n');
  records = lines.map((l) => JSON.parse(l) as AuditRecord);
  headFile = join(dir, `${incidentId}.head.json`);
}, 120_000);
afterAll(() => h?.close());

const anchors = () => records.filter((r) => r.action === ANCHOR_ACTION);
const env = (auditDir = dir, withKey = true) => ({ BULWARK_AUDIT_DIR: auditDir, BULWARK_AUDIT_S3_BUCKET: bucket, ...(withKey ? { BULWARK_AUDIT_KMS_KEY: keyArn } : {}) });

let copies = 0;
/** A copy of the audit directory with the chain's records changed by `mutate`; the head file is the original unless `rehead`. */
async function tampered(mutate: (recs: Record<string, unknown>[]) => Record<string, unknown>[] | Promise<Record<string, unknown>[]>, opts: { rehead?: boolean } = {}): Promise<string> {
  const copy = join(dir, `tampered-${++copies}`);
  await mkdir(copy, { recursive: true });
  const recs = await mutate(lines.map((l) => JSON.parse(l) as Record<string, unknown>));
  await writeFile(join(copy, `${incidentId}.jsonl`), recs.map((r) => JSON.stringify(r)).join('\n') + '\n');
  const last = recs[recs.length - 1]!;
  await writeFile(join(copy, `${incidentId}.head.json`), opts.rehead ? JSON.stringify({ incidentId, seq: last.seq, hash: last.hash }) : await readFile(headFile, 'utf8'));
  return copy;
}

/** What an attacker with write access to the file does after an edit: re-link and re-hash every later record (optionally pointing anchors at the new hashes). */
function rehashFrom(recs: Record<string, unknown>[], index: number, opts: { anchors: boolean }): Record<string, unknown>[] {
  for (let i = index; i < recs.length; i++) {
    if (i > 0) recs[i]!.prevHash = recs[i - 1]!.hash;
    const anchor = recs[i]!.anchor as { headSeq: number; headHash: string } | undefined;
    if (anchor && opts.anchors) anchor.headHash = recs.find((r) => r.seq === anchor.headSeq)!.hash as string;
    recs[i]!.hash = recordHash(recs[i]!);
  }
  return recs;
}

async function publicKey() {
  const pub = await h.aws.kms.send(new GetPublicKeyCommand({ KeyId: keyArn }));
  const key = createPublicKey({ key: Buffer.from(pub.PublicKey!), format: 'der', type: 'spki' });
  // moto leaves KeySpec out of GetPublicKey; the key itself says what it is.
  expect([key.asymmetricKeyType, key.asymmetricKeyDetails?.namedCurve]).toEqual(['ec', 'prime256v1']);
  return key;
}

describe('KMS anchoring through a real incident (credential-compromise playbook, dev server + moto)', () => {
  it('anchors at containment and at close; the last anchor covers the final head, after every timeline entry', () => {
    expect(final.status).toBe('resolved');
    expect(final.steps.map((s) => [s.id, s.status])).toEqual([
      ['disable-api-keys', 'succeeded'],
      ['rotate-secret', 'succeeded'],
      ['revoke-consents', 'skipped'],
    ]);
    const a = anchors();
    expect(a.length).toBeGreaterThanOrEqual(2);
    for (const r of a) expect(r).toMatchObject({ actor: 'bulwark', outcome: 'signed', resource: keyArn, anchor: { keyId: keyArn, algorithm: 'ECDSA_SHA_256' } });
    // The containment anchor comes before the resolution; the closing one is the chain's last record.
    const resolved = records.find((r) => r.action === 'incident.resolved')!;
    expect(a[0]!.seq).toBeLessThan(resolved.seq);
    const last = records[records.length - 1]!;
    expect(last.action).toBe(ANCHOR_ACTION);
    expect(last.anchor!.headSeq).toBe(last.seq - 1);
    expect(last.anchor!.headHash).toBe(records[records.length - 2]!.hash);
    expect(last.anchor!.headSeq).toBeGreaterThan(resolved.seq - 1);
    // Every timeline entry of the finished incident is in the chain, under the closing anchor.
    expect(records.filter((r) => r.action !== ANCHOR_ACTION)).toHaveLength(recordedCount(final));
    expect(final.auditBroken).toBeUndefined();
  });

  it('each anchor signature verifies independently: KMS public key, node:crypto, the documented message over a chain re-hashed with node:crypto', async () => {
    // The chain itself, recomputed with node:crypto (not the workflow-safe SHA-256 in domain/audit.ts).
    let prev = GENESIS_HASH;
    for (const [i, r] of records.entries()) {
      const { hash, ...rest } = r;
      expect(r.seq).toBe(i + 1);
      expect(r.prevHash).toBe(prev);
      expect(createHash('sha256').update(canonicalJson(rest)).digest('hex')).toBe(hash);
      prev = hash;
    }
    const key = await publicKey();
    for (const r of anchors()) {
      const { headSeq, headHash, signature } = r.anchor!;
      expect(records[headSeq - 1]!.hash).toBe(headHash);
      const message = documentedMessage(incidentId, headSeq, headHash);
      expect(anchorMessage(incidentId, headSeq, headHash)).toBe(message);
      expect(cryptoVerify('sha256', Buffer.from(message), key, Buffer.from(signature, 'base64')), `anchor ${r.seq}`).toBe(true);
      // Bound to the incident and the head: the same signature does not verify for another head or incident.
      expect(cryptoVerify('sha256', Buffer.from(documentedMessage(incidentId, headSeq, GENESIS_HASH)), key, Buffer.from(signature, 'base64'))).toBe(false);
      expect(cryptoVerify('sha256', Buffer.from(documentedMessage(`${incidentId}x`, headSeq, headHash)), key, Buffer.from(signature, 'base64'))).toBe(false);
    }
  });

  it('`bulwark audit verify` checks every anchor with KMS, locally and in the Object Lock bucket (which holds the anchors too)', async () => {
    const n = anchors().length;
    const r = await runCli(h, ['audit', 'verify', incidentId], env());
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`audit chain intact: ${records.length} record(s)`);
    expect(r.stdout).toContain(`${n}/${n} KMS anchor signature(s) valid`);
    expect(r.stdout).not.toMatch(/unanchored/);
    const strict = await runCli(h, ['audit', 'verify', incidentId, '--require-anchored', '--json'], env());
    expect(strict.code, strict.stderr).toBe(0);
    expect(JSON.parse(strict.stdout)).toMatchObject({ ok: true, unanchored: null, anchors: anchors().map((a) => ({ seq: a.seq, headSeq: a.anchor!.headSeq, keyId: keyArn, valid: true })) });

    const s3 = await createS3AuditStore({ s3: h.aws.s3, bucket, mode: 'GOVERNANCE', retentionDays: 1 }).readRecords(incidentId);
    expect(s3.records).toEqual(records);
    expect(s3.overwritten).toEqual([]);
    const fromS3 = await runCli(h, ['audit', 'verify', incidentId, '--source', 's3'], env());
    expect(fromS3.code, fromS3.stderr).toBe(0);
    expect(fromS3.stdout).toContain(`${n}/${n} KMS anchor signature(s) valid`);
  });
});

describe('tampering with the anchored chain of that incident', () => {
  const firstAnchor = () => anchors()[0]!;

  it('(1) a record before an anchor edited and the chain re-hashed from there on: only the anchor catches it', async () => {
    const edited = 1; // record 2, well before the containment anchor
    expect(records[edited]!.seq).toBeLessThan(firstAnchor().anchor!.headSeq);
    const edit = (recs: Record<string, unknown>[]) => {
      recs[edited]!.detail = 'nothing happened here';
      return recs;
    };
    // Anchors' headHash pointed at the new hashes and the head file rewritten: the chain is consistent.
    const consistent = await tampered((recs) => rehashFrom(edit(recs), edited, { anchors: true }), { rehead: true });
    const json = await runCli(h, ['audit', 'verify', incidentId, '--json'], env(consistent));
    expect(json.code).toBe(1);
    const v = JSON.parse(json.stdout) as { chain: { ok: boolean }; anchors: { seq: number; valid: boolean }[] };
    expect(v.chain.ok).toBe(true);
    expect(v.anchors.every((a) => a.valid === false)).toBe(true);
    const r = await runCli(h, ['audit', 'verify', incidentId], env(consistent));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`anchor record ${firstAnchor().seq} (head ${firstAnchor().anchor!.headSeq}) has an INVALID signature`);
    // Independently: the signature does not cover the rewritten head.
    const rewritten = (await readFile(join(consistent, `${incidentId}.jsonl`), 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l) as AuditRecord);
    const a = rewritten.find((x) => x.seq === firstAnchor().seq)!.anchor!;
    expect(a.headHash).not.toBe(firstAnchor().anchor!.headHash);
    expect(cryptoVerify('sha256', Buffer.from(documentedMessage(incidentId, a.headSeq, a.headHash)), await publicKey(), Buffer.from(a.signature, 'base64'))).toBe(false);

    // Anchors left as they were: the anchor's own head hash names the break.
    const relinked = await tampered((recs) => rehashFrom(edit(recs), edited, { anchors: false }), { rehead: true });
    const b = await runCli(h, ['audit', 'verify', incidentId], env(relinked));
    expect(b.code).toBe(1);
    expect(b.stderr).toContain(`anchor record ${firstAnchor().seq} signed head ${firstAnchor().anchor!.headSeq} with a different hash than the chain holds`);
  });

  it('(2) an anchor’s signature replaced (and the record re-hashed) fails: another genuine signature, or a signature by a key that is not the audit key', async () => {
    const last = records[records.length - 1]!;
    const lastIndex = records.length - 1;
    // The containment anchor's genuine signature (same key) pasted into the closing anchor.
    const swapped = await tampered((recs) => {
      (recs[lastIndex]!.anchor as { signature: string }).signature = firstAnchor().anchor!.signature;
      return rehashFrom(recs, lastIndex, { anchors: false });
    }, { rehead: true });
    const r = await runCli(h, ['audit', 'verify', incidentId], env(swapped));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`anchor record ${last.seq} (head ${last.anchor!.headSeq}) has an INVALID signature`);

    // A valid signature over the right message, by a key the attacker controls, named in the anchor.
    const other = (await h.aws.kms.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY', Description: 'not the audit key' }))).KeyMetadata!.Arn!;
    const forged = await h.aws.kms.send(
      new SignCommand({ KeyId: other, Message: Buffer.from(documentedMessage(incidentId, last.anchor!.headSeq, last.anchor!.headHash)), MessageType: 'RAW', SigningAlgorithm: 'ECDSA_SHA_256' }),
    );
    const resigned = await tampered((recs) => {
      Object.assign(recs[lastIndex]!.anchor as object, { keyId: other, signature: Buffer.from(forged.Signature!).toString('base64') });
      return rehashFrom(recs, lastIndex, { anchors: false });
    }, { rehead: true });
    // Trusting the key the record names, KMS Verify says yes…
    const trusting = await runCli(h, ['audit', 'verify', incidentId], env(resigned, false));
    expect(trusting.code, trusting.stderr).toBe(0);
    // …with the configured audit key, the anchor is refused, naming both keys.
    const checked = await runCli(h, ['audit', 'verify', incidentId], env(resigned));
    expect(checked.code).toBe(1);
    expect(checked.stderr).toContain(`anchor record ${last.seq} (head ${last.anchor!.headSeq}) is INVALID: signed with ${other}, not the audit signing key ${keyArn}`);
    expect(cryptoVerify('sha256', Buffer.from(documentedMessage(incidentId, last.anchor!.headSeq, last.anchor!.headHash)), await publicKey(), Buffer.from(forged.Signature!))).toBe(false);
  });

  it('(3) the last anchor removed: the head file names the missing record; with the head file rewritten too, the unanchored tail is reported (and fails --require-anchored)', async () => {
    const last = records[records.length - 1]!;
    const cut = await tampered((recs) => recs.slice(0, -1));
    const r = await runCli(h, ['audit', 'verify', incidentId], env(cut));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`audit chain BROKEN at record ${last.seq}`);
    expect(r.stderr).toContain(`the chain ends at record ${last.seq - 1} but record ${last.seq} was written`);

    const reheaded = await tampered((recs) => recs.slice(0, -1), { rehead: true });
    const from = anchors().at(-2)!.seq + 1; // after the anchor that remains last
    const to = last.seq - 1;
    const tail = from === to ? `record ${from} follows the last anchor (no signature covers it)` : `records ${from}–${to} follow the last anchor (no signature covers them)`;
    const lenient = await runCli(h, ['audit', 'verify', incidentId], env(reheaded));
    // The earlier anchor still verifies, so by itself the chain is not broken (an open incident looks like this)…
    expect(lenient.code, lenient.stderr).toBe(0);
    expect(lenient.stdout).toContain(`unanchored tail: ${tail}`);
    // …but a closed incident's chain must end with its closing anchor.
    const strict = await runCli(h, ['audit', 'verify', incidentId, '--require-anchored'], env(reheaded));
    expect(strict.code).toBe(1);
    expect(strict.stderr).toContain(`${from === to ? `record ${from} is` : `records ${from}–${to} are`} not covered by a KMS anchor (--require-anchored)`);
    // The Object Lock copy is untouched by edits to the local file: it still ends with the closing anchor.
    const s3 = await runCli(h, ['audit', 'verify', incidentId, '--source', 's3', '--require-anchored'], env(reheaded));
    expect(s3.code, s3.stderr).toBe(0);
  });
});
