import { execFile } from 'node:child_process';
import { createHash, createPublicKey, randomBytes, verify as cryptoVerify } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, writeFile, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateKeyCommand, GetPublicKeyCommand, VerifyCommand } from '@aws-sdk/client-kms';
import { CreateAccessKeyCommand, CreateUserCommand } from '@aws-sdk/client-iam';
import { createAuditActivities, auditFilePath, verifyAuditFile } from '../activities/audit.js';
import { createAwsClients, type AwsClients } from '../activities/clients.js';
import { buildProgram } from '../cli/main.js';
import { parseAlert } from '../domain/alert.js';
import {
  GENESIS_HASH,
  anchorMessage,
  auditEntryFromTimeline,
  canonicalJson,
  chainRecords,
  parseAuditLines,
  recordHash,
  sha256Hex,
  verifyChain,
  type AuditEntryInput,
  type AuditRecord,
} from '../domain/audit.js';
import type { TimelineEntry } from '../domain/incident.js';
import { AlertDeliverer } from '../intake/deliver.js';
import { playbookDefaults } from '../temporal.config.js';
import { approveUpdate, resolveUpdate } from '../workflows/definitions.js';
import { alertFor, startHarness, testConfig, uniqueId, waitForState, type Harness } from './support.js';

const run = promisify(execFile);
let aws: AwsClients;
let eccKey: string;
let rsaKey: string;
let scratch: string;

beforeAll(async () => {
  aws = createAwsClients(testConfig().aws);
  eccKey = (await aws.kms.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY', Description: 'audit anchors' }))).KeyMetadata!.Arn!;
  rsaKey = (await aws.kms.send(new CreateKeyCommand({ KeySpec: 'RSA_2048', KeyUsage: 'SIGN_VERIFY', Description: 'audit anchors (rsa)' }))).KeyMetadata!.Arn!;
  scratch = await mkdtemp(join(tmpdir(), 'bulwark-audit-'));
});

const incidentIdOf = () => `incident-${randomBytes(12).toString('hex')}`;
let n = 0;
const freshDir = async () => {
  const d = join(scratch, `d${++n}`);
  await mkdir(d, { recursive: true });
  return d;
};

/** Timeline entries of a typical incident, as the workflow records them. */
function timeline(count: number, t0 = Date.parse('2026-03-01T10:00:00Z')): TimelineEntry[] {
  const kinds: TimelineEntry[] = [
    { at: '', kind: 'incident.status', message: 'opened by operator:bob; playbook aws-credential-compromise v1, 3 step(s)' },
    { at: '', kind: 'alert.received', message: 'aws-credential.compromised (high) from guardduty' },
    { at: '', kind: 'step.started', step: 'deactivate-access-key', message: 'Deactivate the IAM access key' },
    { at: '', kind: 'step.succeeded', step: 'deactivate-access-key', message: 'access key deactivated', resources: ['arn:aws:iam::123456789012:user/svc', 'AKIAEXAMPLE000001'], evidence: { requestIds: ['req-1', 'req-2'] } },
    { at: '', kind: 'approval.requested', step: 'delete-access-key', message: 'Delete the key needs approval (policy security-lead)' },
    { at: '', kind: 'approval.granted', step: 'delete-access-key', message: 'approved by alice: confirmed leak' },
    { at: '', kind: 'step.succeeded', step: 'delete-access-key', message: 'access key deleted', resources: ['AKIAEXAMPLE000001'] },
    { at: '', kind: 'incident.resolved', message: 'resolved by carol: done' },
  ];
  return Array.from({ length: count }, (_, i) => ({ ...kinds[i % kinds.length]!, at: new Date(t0 + i * 1000).toISOString() }));
}

async function writeChain(count: number, opts: { signingKeyId?: string } = {}) {
  const dir = await freshDir();
  const incidentId = incidentIdOf();
  const acts = createAuditActivities({ dir, kms: aws.kms, signingKeyId: opts.signingKeyId });
  const entries = timeline(count).map((e, i) => auditEntryFromTimeline(incidentId, i + 1, e));
  await acts.appendAudit({ incidentId, records: entries });
  const file = auditFilePath(dir, incidentId);
  return { dir, incidentId, acts, entries, file, lines: (await readFile(file, 'utf8')).trimEnd().split('\n') };
}

/** A copy of the chain's directory with the JSONL lines changed by `mutate`. */
async function tamper(src: { dir: string; incidentId: string; lines: string[] }, mutate: (lines: string[]) => string[]) {
  const dir = await freshDir();
  await writeFile(join(dir, `${src.incidentId}.jsonl`), mutate([...src.lines]).join('\n') + '\n');
  await copyFile(join(src.dir, `${src.incidentId}.head.json`), join(dir, `${src.incidentId}.head.json`));
  return verifyAuditFile(dir, src.incidentId, { kms: aws.kms });
}

const rehash = (line: string, change: (r: Record<string, unknown>) => void) => {
  const r = JSON.parse(line) as Record<string, unknown>;
  change(r);
  r.hash = recordHash(r);
  return JSON.stringify(r);
};

describe('hashing (pure)', () => {
  it('the sandbox-safe SHA-256 matches node:crypto on any input', () => {
    for (const s of ['', 'abc', 'a'.repeat(55), 'a'.repeat(56), 'a'.repeat(64), 'é€😀', '\ud800 lone']) {
      expect(sha256Hex(s)).toBe(createHash('sha256').update(s, 'utf8').digest('hex'));
    }
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (s) => sha256Hex(s) === createHash('sha256').update(s, 'utf8').digest('hex')), { numRuns: 500 });
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => sha256Hex(b) === createHash('sha256').update(b).digest('hex')), { numRuns: 300 });
  });

  it('canonical JSON ignores key order and undefined members, so a record hashes the same after a JSON round trip', () => {
    expect(canonicalJson({ b: 1, a: [{ d: 1, c: undefined }, 'x'], e: undefined })).toBe('{"a":[{"d":1},"x"],"b":1}');
    const [r] = chainRecords('incident-x', undefined, [{ id: 'i1', at: '2026-01-01T00:00:00.000Z', actor: 'bulwark', action: 'step.started', outcome: 'info', evidence: { z: 1, a: { y: [1, 2], b: 'é' } } }]);
    expect(r!.prevHash).toBe(GENESIS_HASH);
    expect(r!.seq).toBe(1);
    expect(recordHash(JSON.parse(JSON.stringify(r)))).toBe(r!.hash);
  });

  it('builds audit entries from timeline entries: actor, outcome, resources, request ids, stable ids', () => {
    const [, , , ok, , granted, , resolved] = timeline(8);
    expect(auditEntryFromTimeline('incident-1', 4, ok!)).toEqual({
      id: 'incident-1/t4',
      at: ok!.at,
      actor: 'bulwark',
      action: 'step.succeeded',
      step: 'deactivate-access-key',
      resource: 'arn:aws:iam::123456789012:user/svc',
      resources: ['arn:aws:iam::123456789012:user/svc', 'AKIAEXAMPLE000001'],
      outcome: 'succeeded',
      detail: 'access key deactivated',
      requestIds: ['req-1', 'req-2'],
    });
    expect(auditEntryFromTimeline('incident-1', 6, granted!)).toMatchObject({ actor: 'operator:alice', outcome: 'granted', action: 'approval.granted' });
    expect(auditEntryFromTimeline('incident-1', 8, resolved!)).toMatchObject({ actor: 'operator:carol', outcome: 'info' });
    expect(auditEntryFromTimeline('incident-1', 1, timeline(1)[0]!)).toMatchObject({ actor: 'operator:bob' });
  });
});

describe('appendAudit (real files)', () => {
  it('appends a verifiable chain; a retried append with the same ids writes nothing twice', async () => {
    const c = await writeChain(6);
    expect(c.lines).toHaveLength(6);
    const again = await c.acts.appendAudit({ incidentId: c.incidentId, records: c.entries });
    expect(again.appended).toBe(0);
    expect(again.skipped).toHaveLength(6);
    // A retry that overlaps with new records appends only the new ones.
    const more = timeline(8).map((e, i) => auditEntryFromTimeline(c.incidentId, i + 1, e));
    const r = await c.acts.appendAudit({ incidentId: c.incidentId, records: more });
    expect(r).toMatchObject({ appended: 2, head: { seq: 8 } });
    // A second process (fresh activity instance, no cache) sees the ids in the file too.
    const other = createAuditActivities({ dir: c.dir });
    expect((await other.appendAudit({ incidentId: c.incidentId, records: more })).appended).toBe(0);
    const v = await verifyAuditFile(c.dir, c.incidentId);
    expect(v.chain).toMatchObject({ ok: true, count: 8, head: { seq: 8 } });
    expect(v.records.map((x) => x.id)).toEqual(more.map((x) => x.id));
    expect(new Set(v.records.map((x) => x.id)).size).toBe(8);
  });

  it('concurrent appends from two activity instances (two workers) keep one chain with no duplicate', async () => {
    const dir = await freshDir();
    const incidentId = incidentIdOf();
    const a = createAuditActivities({ dir });
    const b = createAuditActivities({ dir });
    const entries = timeline(40).map((e, i) => auditEntryFromTimeline(incidentId, i + 1, e));
    // Overlapping batches, each sent twice (a retry racing the original).
    const batches = Array.from({ length: 10 }, (_, i) => entries.slice(i * 4, i * 4 + 6));
    await Promise.all(batches.flatMap((batch, i) => [a.appendAudit({ incidentId, records: batch }), (i % 2 ? a : b).appendAudit({ incidentId, records: batch })]));
    const v = await verifyAuditFile(dir, incidentId);
    expect(v.chain.ok).toBe(true);
    expect(v.records).toHaveLength(40);
    expect(new Set(v.records.map((r) => r.id)).size).toBe(40);
  });

  it('rejects bad input and path tricks with a non-retryable failure', async () => {
    const { acts } = await writeChain(1);
    await expect(acts.appendAudit({ incidentId: '../etc/passwd', records: [] })).rejects.toMatchObject({ nonRetryable: true, message: expect.stringMatching(/invalid incidentId/) });
    await expect(acts.appendAudit({ incidentId: 'incident-x', records: [{ id: 'x' } as AuditEntryInput] })).rejects.toMatchObject({ nonRetryable: true, message: expect.stringMatching(/records\.0\.at/) });
    // The workflow cannot forge an anchor through appendAudit.
    const forged = { ...auditEntryFromTimeline('incident-x', 1, timeline(1)[0]!), anchor: { headSeq: 1, headHash: GENESIS_HASH, keyId: 'k', algorithm: 'a', signature: 's' } };
    await expect(acts.appendAudit({ incidentId: 'incident-x', records: [forged as AuditEntryInput] })).rejects.toMatchObject({ nonRetryable: true });
  });

  it('refuses to extend a chain that no longer verifies, naming the first bad record', async () => {
    const c = await writeChain(4);
    const lines = [...c.lines];
    lines[1] = lines[1]!.replace('"outcome":"info"', '"outcome":"succeeded"');
    await writeFile(c.file, lines.join('\n') + '\n');
    const fresh = createAuditActivities({ dir: c.dir });
    await expect(fresh.appendAudit({ incidentId: c.incidentId, records: [auditEntryFromTimeline(c.incidentId, 5, timeline(5)[4]!)] })).rejects.toMatchObject({
      nonRetryable: true,
      type: 'AuditChainBroken',
      message: expect.stringMatching(/record 2 .*edited/),
    });
  });

  it('recovers from a torn write (crash mid-line): the partial line is dropped and the retry completes the chain', async () => {
    const c = await writeChain(3);
    const entry = auditEntryFromTimeline(c.incidentId, 4, timeline(4)[3]!);
    const [full] = chainRecords(c.incidentId, { seq: 3, hash: JSON.parse(c.lines[2]!).hash }, [entry]);
    await appendFile(c.file, JSON.stringify(full).slice(0, 40)); // half a record, no newline
    const fresh = createAuditActivities({ dir: c.dir });
    expect((await fresh.appendAudit({ incidentId: c.incidentId, records: [entry] })).appended).toBe(1);
    const v = await verifyAuditFile(c.dir, c.incidentId);
    expect(v.chain).toMatchObject({ ok: true, count: 4 });
  });
});

describe('tampering is caught and named (files written by the real activity)', () => {
  let c: Awaited<ReturnType<typeof writeChain>>;
  beforeAll(async () => {
    c = await writeChain(8);
  });

  it('the untouched chain verifies', async () => {
    const v = await tamper(c, (l) => l);
    expect(v.ok).toBe(true);
    expect(v.summary).toMatch(/audit chain intact: 8 record\(s\)/);
  });

  it('edit a field → edited, naming the record', async () => {
    const v = await tamper(c, (l) => {
      l[3] = l[3]!.replace('access key deactivated', 'nothing happened');
      return l;
    });
    expect(v.chain).toMatchObject({ ok: false, reason: 'edited', firstBad: 4, line: 4 });
  });

  it('edit a field and recompute its hash → edited (the next record no longer links to it)', async () => {
    const v = await tamper(c, (l) => {
      l[4] = rehash(l[4]!, (r) => (r.actor = 'operator:mallory'));
      return l;
    });
    expect(v.chain).toMatchObject({ ok: false, reason: 'edited', firstBad: 5 });
  });

  it('delete a line → removed, naming the missing record', async () => {
    const v = await tamper(c, (l) => l.filter((_, i) => i !== 2));
    expect(v.chain).toMatchObject({ ok: false, reason: 'removed', firstBad: 3, line: 3 });
    expect(v.summary).toMatch(/record 3 is missing/);
  });

  it('delete the last line → removed (the head file remembers record 8)', async () => {
    const v = await tamper(c, (l) => l.slice(0, -1));
    expect(v.chain).toMatchObject({ ok: false, reason: 'removed', firstBad: 8 });
  });

  it('swap two lines → reordered', async () => {
    const v = await tamper(c, (l) => {
      [l[2], l[3]] = [l[3]!, l[2]!];
      return l;
    });
    expect(v.chain).toMatchObject({ ok: false, reason: 'reordered', firstBad: 3, line: 3 });
    const last = await tamper(c, (l) => {
      [l[6], l[7]] = [l[7]!, l[6]!];
      return l;
    });
    expect(last.chain).toMatchObject({ ok: false, reason: 'reordered', firstBad: 7 });
  });

  it('insert a line → inserted: a forged, correctly hashed and linked record, a copy of an earlier one, or junk', async () => {
    const forged = (() => {
      const prev = JSON.parse(c.lines[1]!) as AuditRecord;
      const [r] = chainRecords(c.incidentId, { seq: prev.seq, hash: prev.hash }, [{ id: 'forged', at: prev.at, actor: 'operator:mallory', action: 'approval.granted', outcome: 'granted' }]);
      return JSON.stringify(r);
    })();
    const v = await tamper(c, (l) => [...l.slice(0, 2), forged, ...l.slice(2)]);
    expect(v.chain).toMatchObject({ ok: false, reason: 'inserted', firstBad: 3, line: 3 });

    const copy = await tamper(c, (l) => [...l.slice(0, 5), l[1]!, ...l.slice(5)]);
    expect(copy.chain).toMatchObject({ ok: false, reason: 'inserted', firstBad: 2, line: 6 });

    const junk = await tamper(c, (l) => [...l.slice(0, 4), '{"note":"hello"}', ...l.slice(4)]);
    expect(junk.chain).toMatchObject({ ok: false, reason: 'inserted', line: 5 });
  });

  it('any single edit, removal, swap or insertion in a chain of any length is caught and named (property)', () => {
    const base = (len: number) => chainRecords('incident-p', undefined, timeline(len).map((e, i) => auditEntryFromTimeline('incident-p', i + 1, e)));
    const op = fc.constantFrom('edit', 'rehash', 'remove', 'swap', 'insert', 'duplicate');
    fc.assert(
      fc.property(fc.integer({ min: 3, max: 20 }), op, fc.nat(), fc.nat(), (len, kind, a, b) => {
        const recs = base(len);
        const lines: unknown[] = recs.map((r) => JSON.parse(JSON.stringify(r)));
        const i = a % len;
        const expected = { edit: 'edited', rehash: 'edited', remove: 'removed', swap: 'reordered', insert: 'inserted', duplicate: 'inserted' }[kind];
        if (kind === 'edit') (lines[i] as Record<string, unknown>).detail = 'changed';
        if (kind === 'rehash') {
          if (i === len - 1) return true; // re-hashing the last record is only visible to the head/anchor
          lines[i] = JSON.parse(rehash(JSON.stringify(lines[i]), (r) => (r.detail = 'changed')));
        }
        if (kind === 'remove') lines.splice(i, 1);
        if (kind === 'swap') {
          const j = b % len;
          if (i === j) return true;
          [lines[i], lines[j]] = [lines[j], lines[i]];
        }
        if (kind === 'insert') {
          if (i === len - 1) return true; // an append at the end is only visible to the head/anchor
          const [f] = chainRecords('incident-p', { seq: recs[i]!.seq, hash: recs[i]!.hash }, [{ id: 'forged', at: recs[i]!.at, actor: 'x', action: 'y', outcome: 'info' }]);
          lines.splice(i + 1, 0, JSON.parse(JSON.stringify(f)));
        }
        if (kind === 'duplicate') lines.splice(Math.max(i, b % len) + 1, 0, JSON.parse(JSON.stringify(recs[Math.min(i, b % len)])));
        const v = verifyChain(lines, { incidentId: 'incident-p', expectedHead: { seq: len, hash: recs[len - 1]!.hash } });
        if (v.ok) throw new Error(`${kind} at ${i} not detected`);
        if (v.reason !== expected) throw new Error(`${kind} at ${i}/${b % len} of ${len} named ${v.reason}: ${v.message}`);
        return true;
      }),
      { numRuns: 600 },
    );
  });
});

describe('KMS anchors (real KMS Sign/Verify in moto)', () => {
  it('signs the chain head with an ECC_NIST_P256 key; KMS Verify and the public key both accept the signature', async () => {
    const c = await writeChain(5, { signingKeyId: eccKey });
    const a = await c.acts.anchorAudit({ incidentId: c.incidentId });
    expect(a).toMatchObject({ anchored: true, seq: 6, headSeq: 5, keyId: eccKey, algorithm: 'ECDSA_SHA_256', alreadyAnchored: false });
    const records = parseAuditLines(await readFile(c.file, 'utf8')) as AuditRecord[];
    const anchor = records[5]!;
    expect(anchor).toMatchObject({ action: 'audit.anchor', actor: 'bulwark', outcome: 'signed', prevHash: records[4]!.hash, anchor: { headSeq: 5, headHash: records[4]!.hash } });
    const message = Buffer.from(anchorMessage(c.incidentId, 5, records[4]!.hash));
    const signature = Buffer.from(anchor.anchor!.signature, 'base64');
    const kmsVerdict = await aws.kms.send(new VerifyCommand({ KeyId: eccKey, Message: message, MessageType: 'RAW', Signature: signature, SigningAlgorithm: 'ECDSA_SHA_256' }));
    expect(kmsVerdict.SignatureValid).toBe(true);
    const pub = await aws.kms.send(new GetPublicKeyCommand({ KeyId: eccKey }));
    const key = createPublicKey({ key: Buffer.from(pub.PublicKey!), format: 'der', type: 'spki' });
    expect(cryptoVerify('sha256', message, key, signature)).toBe(true);
    expect(cryptoVerify('sha256', Buffer.from(anchorMessage(c.incidentId, 5, GENESIS_HASH)), key, signature)).toBe(false);

    // Nothing new → no second anchor.
    expect(await c.acts.anchorAudit({ incidentId: c.incidentId })).toMatchObject({ anchored: true, seq: 6, alreadyAnchored: true });
    const v = await verifyAuditFile(c.dir, c.incidentId, { kms: aws.kms });
    expect(v.ok).toBe(true);
    expect(v.anchors).toEqual([{ seq: 6, headSeq: 5, keyId: eccKey, valid: true }]);
    expect(v.summary).toMatch(/1\/1 KMS anchor signature\(s\) valid/);
  });

  it('works with an RSA key too, and without a key it records nothing', async () => {
    const c = await writeChain(2, { signingKeyId: rsaKey });
    expect(await c.acts.anchorAudit({ incidentId: c.incidentId })).toMatchObject({ anchored: true, algorithm: 'RSASSA_PSS_SHA_256' });
    expect((await verifyAuditFile(c.dir, c.incidentId, { kms: aws.kms })).anchors[0]!.valid).toBe(true);
    const unsigned = await writeChain(2);
    expect(await unsigned.acts.anchorAudit({ incidentId: unsigned.incidentId })).toEqual({ anchored: false, reason: expect.stringMatching(/no audit signing key/) });
  });

  it('a rewrite of the whole chain after an edit is caught by the anchor; a forged anchor fails KMS Verify', async () => {
    const c = await writeChain(4, { signingKeyId: eccKey });
    await c.acts.anchorAudit({ incidentId: c.incidentId });
    await c.acts.appendAudit({ incidentId: c.incidentId, records: [auditEntryFromTimeline(c.incidentId, 5, timeline(5)[4]!)] });
    const lines = (await readFile(c.file, 'utf8')).trimEnd().split('\n');
    const src = { ...c, lines };

    // Edit record 2 and re-hash and re-link everything after it (what an attacker with the file can do).
    const rewrite = (l: string[], alsoAnchor: boolean) => {
      const recs = l.map((x) => JSON.parse(x) as Record<string, unknown>);
      recs[1]!.detail = 'rewritten history';
      for (let i = 1; i < recs.length; i++) {
        recs[i]!.prevHash = recs[i - 1]!.hash;
        const anchor = recs[i]!.anchor as { headHash: string } | undefined;
        if (anchor && alsoAnchor) anchor.headHash = recs[i - 1]!.hash as string;
        recs[i]!.hash = recordHash(recs[i]!);
      }
      return recs.map((r) => JSON.stringify(r));
    };
    const head = JSON.parse(lines.at(-1)!) as AuditRecord;
    const relinked = await tamper(src, (l) => rewrite(l, false));
    expect(relinked.chain).toMatchObject({ ok: false, reason: 'edited', firstBad: 4 });
    expect(relinked.summary).toMatch(/anchor record 5 signed head 4 with a different hash/);

    // The head file also knows the true head; give the attacker that too and it is the signature that fails.
    const dir = await freshDir();
    const rewritten = rewrite(lines, true);
    await writeFile(join(dir, `${c.incidentId}.jsonl`), rewritten.join('\n') + '\n');
    const newHead = JSON.parse(rewritten.at(-1)!) as AuditRecord;
    await writeFile(join(dir, `${c.incidentId}.head.json`), JSON.stringify({ seq: newHead.seq, hash: newHead.hash }));
    expect(newHead.hash).not.toBe(head.hash);
    const v = await verifyAuditFile(dir, c.incidentId, { kms: aws.kms });
    expect(v.chain.ok).toBe(true); // structurally consistent…
    expect(v.ok).toBe(false); // …but the KMS signature does not cover it
    expect(v.anchors[0]).toMatchObject({ seq: 5, valid: false });
    expect(v.summary).toMatch(/INVALID signature/);
  });
});

// ---------------------------------------------------------------------------------------------
// CLI (child process) and the evidence report from a live incident

const root = new URL('..', import.meta.url);
/** Until cli/main.ts registers these commands, the child process registers them itself on the real program. */
const wired = (() => {
  const p = buildProgram();
  return p.commands.some((c) => c.name() === 'audit') && Boolean(p.commands.find((c) => c.name() === 'incident')?.commands.some((c) => c.name() === 'report'));
})();
const shim = `
import { CommanderError } from 'commander';
import { buildProgram } from ${JSON.stringify(new URL('cli/main.ts', root).href)};
import { registerAuditCommands, registerReportCommand } from ${JSON.stringify(new URL('cli/commands/audit.ts', root).href)};
import { CliError, explain } from ${JSON.stringify(new URL('cli/errors.ts', root).href)};
const program = buildProgram();
registerAuditCommands(program);
registerReportCommand(program);
for (const c of [program, ...program.commands, ...program.commands.flatMap((c) => c.commands)]) c.exitOverride();
let code = 0;
try { await program.parseAsync(JSON.parse(process.env.BULWARK_TEST_ARGV), { from: 'user' }); }
catch (err) {
  if (err instanceof CommanderError) code = err.exitCode === 0 ? 0 : 2;
  else { console.error('bulwark: ' + (err instanceof CliError ? err.message : explain(err))); code = err instanceof CliError ? err.exitCode : 1; }
}
process.exit(code);
`;

async function bulwark(args: string[], env: Record<string, string> = {}) {
  const argv = wired ? ['--import', 'tsx', 'cli/bulwark.ts', ...args] : ['--import', 'tsx', '--input-type=module', '-e', shim];
  try {
    const { stdout, stderr } = await run(process.execPath, argv, {
      cwd: root.pathname,
      env: { ...process.env, NO_COLOR: '1', AWS_ENDPOINT_URL: testConfig().aws.endpoint, BULWARK_TEST_ARGV: JSON.stringify(args), ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('bulwark audit verify (child process)', () => {
  it('exits 0 on an intact anchored chain, 1 naming the first bad record, 1 when there is no log', async () => {
    const c = await writeChain(6, { signingKeyId: eccKey });
    await c.acts.anchorAudit({ incidentId: c.incidentId });
    const ok = await bulwark(['audit', 'verify', c.incidentId, '--dir', c.dir]);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/audit chain intact: 7 record\(s\).*1\/1 KMS anchor signature\(s\) valid/);

    // Same incident by its bare fingerprint, and the directory from the environment.
    const byEnv = await bulwark(['audit', 'verify', c.incidentId.replace(/^incident-/, '')], { BULWARK_AUDIT_DIR: c.dir });
    expect(byEnv.code).toBe(0);

    const lines = (await readFile(c.file, 'utf8')).trimEnd().split('\n');
    await writeFile(c.file, lines.filter((_, i) => i !== 3).join('\n') + '\n');
    const broken = await bulwark(['audit', 'verify', c.incidentId, '--dir', c.dir]);
    expect(broken.code).toBe(1);
    expect(broken.stderr.trim().split('\n')).toHaveLength(1);
    expect(broken.stderr).toMatch(/audit chain BROKEN at record 4 \(line 4\): removed — record 4 is missing/);

    const json = await bulwark(['audit', 'verify', c.incidentId, '--dir', c.dir, '--json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, chain: { ok: false, firstBad: 4, reason: 'removed' } });

    const none = await bulwark(['audit', 'verify', 'incident-000000000000000000000000', '--dir', c.dir]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no audit log for incident-000000000000000000000000/);
  });
});

describe('bulwark incident report (live incident + audit chain)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(() => h?.close());

  it('html and json evidence packs carry the steps, approvers, durations and the chain verification', async () => {
    const userName = uniqueId('svc');
    await h.aws.iam.send(new CreateUserCommand({ UserName: userName }));
    const { AccessKey } = await h.aws.iam.send(new CreateAccessKeyCommand({ UserName: userName }));
    const parsed = parseAlert(alertFor({ awsAccessKeyId: AccessKey!.AccessKeyId!, iamUserName: userName }, { type: 'aws-credential.compromised', source: 'guardduty', observedAt: new Date(Date.now() - 90_000).toISOString() }));
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
    const { workflowId } = await new AlertDeliverer(h.client, h.config.temporal.taskQueue, playbookDefaults(h.config)).deliver(parsed.value, undefined, 'operator:bob');
    await waitForState(h.client, workflowId, (s) => s.status === 'awaiting-approval');
    const handle = h.client.workflow.getHandle(workflowId);
    await handle.executeUpdate(approveUpdate, { args: [{ step: 'delete-access-key', by: 'alice', reason: 'confirmed leak' }] });
    await waitForState(h.client, workflowId, (s) => s.status === 'contained');
    await handle.executeUpdate(resolveUpdate, { args: [{ by: 'carol', reason: 'keys rotated' }] });
    const state = await waitForState(h.client, workflowId, (s) => s.status === 'resolved');

    // What the workflow will do once it calls the activity: one audit entry per timeline entry.
    const dir = await freshDir();
    const acts = createAuditActivities({ dir, kms: h.aws.kms, signingKeyId: eccKey });
    await acts.appendAudit({ incidentId: workflowId, records: state.timeline.map((e, i) => auditEntryFromTimeline(workflowId, i + 1 + state.timelineDropped, e)) });
    await acts.anchorAudit({ incidentId: workflowId });

    const env = { TEMPORAL_ADDRESS: h.config.temporal.address, BULWARK_TASK_QUEUE: h.config.temporal.taskQueue, BULWARK_AUDIT_DIR: dir };
    const htmlFile = join(dir, 'report.html');
    const html = await bulwark(['incident', 'report', workflowId, '--format', 'html', '--out', htmlFile], env);
    expect(html.stderr).toBe('');
    expect(html.code).toBe(0);
    const page = await readFile(htmlFile, 'utf8');
    expect(page).toMatch(/^<!doctype html>/);
    expect(page).not.toMatch(/<(script|link)\b|src="http/); // self-contained
    for (const step of ['deactivate-access-key', 'revoke-role-sessions', 'delete-access-key']) expect(page).toContain(step);
    expect(page).toMatch(/<td>delete-access-key<\/td><td>iam\.deleteAccessKey<\/td><td>succeeded<\/td><td>security-lead<\/td><td>alice<\/td>/);
    expect(page).toMatch(/<td>granted<\/td><td>delete-access-key<\/td><td>alice<\/td>/);
    expect(page).toContain(AccessKey!.AccessKeyId!);
    expect(page).toMatch(/id="audit-verification">audit chain intact: \d+ record\(s\), head \d+ [0-9a-f]{16}…, 1 anchor\(s\); 1\/1 KMS anchor signature\(s\) valid/);
    expect(page).toMatch(/MTTD<\/dt><dd>1m 3\ds/); // observed 90 s before delivery
    expect(page).toContain('<svg class="chart"');

    const json = await bulwark(['incident', 'report', workflowId.replace(/^incident-/, ''), '--format', 'json'], env);
    expect(json.code).toBe(0);
    const pack = JSON.parse(json.stdout);
    expect(pack).toMatchObject({
      format: 'bulwark-evidence/v1',
      incident: { id: workflowId, status: 'resolved', type: 'aws-credential.compromised', openedBy: 'operator:bob', resolvedBy: 'carol' },
      audit: { ok: true, exists: true, records: state.timeline.length + 1 },
    });
    expect(pack.steps.find((s: { id: string }) => s.id === 'delete-access-key')).toMatchObject({ status: 'succeeded', approvalPolicy: 'security-lead', approvedBy: 'alice' });
    expect(pack.approvals).toEqual([expect.objectContaining({ decision: 'granted', step: 'delete-access-key', by: 'alice' })]);
    expect(pack.durations.mttdSeconds).toBeGreaterThanOrEqual(89);
    expect(pack.durations.mttcSeconds).toBeGreaterThanOrEqual(0);
    expect(pack.durations.mttrSeconds).toBeGreaterThanOrEqual(pack.durations.mttcSeconds);
    expect(pack.resources.map((r: { resource: string }) => r.resource)).toContain(AccessKey!.AccessKeyId!);

    // Tamper with the audit file: the report says so.
    const file = auditFilePath(dir, workflowId);
    const lines = (await readFile(file, 'utf8')).trimEnd().split('\n');
    await writeFile(file, [lines[0], lines[2], lines[1], ...lines.slice(3)].join('\n') + '\n');
    const after = await bulwark(['incident', 'report', workflowId, '--format', 'html'], env);
    expect(after.code).toBe(0);
    expect(after.stdout).toMatch(/class="bad" id="audit-verification">audit chain BROKEN at record 2 \(line 2\): reordered/);

    // The PDF (test/report-pdf.test.ts checks its content) is written to a non-terminal stdout too.
    const pdf = await bulwark(['incident', 'report', workflowId, '--format', 'pdf'], env);
    expect(pdf.code, pdf.stderr).toBe(0);
    expect(pdf.stdout.startsWith('%PDF-')).toBe(true);
  });
});
