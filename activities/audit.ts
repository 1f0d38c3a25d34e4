import { mkdir, open, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { DescribeKeyCommand, SignCommand, VerifyCommand, type KMSClient, type SigningAlgorithmSpec } from '@aws-sdk/client-kms';
import { ApplicationFailure } from '@temporalio/common';
import {
  ANCHOR_ACTION,
  AuditEntryInput,
  AuditIncidentId,
  AuditRecord,
  anchorMessage,
  chainRecords,
  describeVerification,
  parseAuditLines,
  verifyChain,
  type ChainVerification,
} from '../domain/audit.js';
import { fieldErrors } from '../domain/alert.js';
import type { S3AuditStore } from './audit-s3.js';
import { call } from './failures.js';

/**
 * The audit store (issue 8 §2): one append-only JSONL file per incident, `<dir>/<incidentId>.jsonl`,
 * hash-chained by domain/audit.ts, with a head file `<incidentId>.head.json` (last seq and hash,
 * so truncation of the tail is noticed) and optional KMS-signed anchors over the chain head.
 *
 * Appends are idempotent by record id (a retried activity does not duplicate), serialised per
 * incident inside the process and across processes on the host (an O_EXCL lock file), and
 * fsync'd before the activity returns. A chain that no longer verifies is never extended: the
 * append fails non-retryably naming the first bad record.
 */

export interface AuditActivityOptions {
  dir: string;
  kms?: KMSClient;
  /** KMS key (SIGN_VERIFY; ECC_NIST_P256 or RSA) for anchors; without it anchorAudit records nothing. */
  signingKeyId?: string;
  /** Optional second store: each record also written to an S3 bucket with Object Lock (activities/audit-s3.ts). */
  s3Store?: S3AuditStore;
  now?: () => Date;
}

export interface AppendAuditInput {
  incidentId: string;
  records: AuditEntryInput[];
}

export interface AppendAuditResult {
  appended: number;
  /** Ids already in the chain (a retry) or repeated within the call: not written again. */
  skipped: string[];
  head?: { seq: number; hash: string };
}

export type AnchorAuditResult =
  | { anchored: true; seq: number; headSeq: number; headHash: string; keyId: string; algorithm: string; alreadyAnchored: boolean }
  | { anchored: false; reason: string };

export function auditFilePath(dir: string, incidentId: string): string {
  return join(resolve(dir), `${checkIncidentId(incidentId)}.jsonl`);
}

function headFilePath(dir: string, incidentId: string): string {
  return join(resolve(dir), `${checkIncidentId(incidentId)}.head.json`);
}

function checkIncidentId(incidentId: string): string {
  const r = AuditIncidentId.safeParse(incidentId);
  if (!r.success) throw ApplicationFailure.nonRetryable(`invalid incidentId for the audit log: ${r.error.issues[0]?.message}`, 'InvalidInput');
  return incidentId;
}

interface ChainState {
  size: number;
  mtimeMs: number;
  head?: { seq: number; hash: string; anchor: boolean };
  ids: Set<string>;
  /** The file does not end with a newline (a torn write) and needs one before appending. */
  needsNewline: boolean;
}

export function createAuditActivities(opts: AuditActivityOptions) {
  const dir = resolve(opts.dir);
  const now = opts.now ?? (() => new Date());
  const cache = new Map<string, ChainState>();
  const queues = new Map<string, Promise<unknown>>();
  const algorithms = new Map<string, SigningAlgorithmSpec>();

  /** Serialises work on one incident's file inside this process; the lock file covers other processes. */
  function serialised<T>(incidentId: string, fn: () => Promise<T>): Promise<T> {
    const prev = queues.get(incidentId) ?? Promise.resolve();
    const run = prev.then(() => withFileLock(join(dir, `${incidentId}.lock`), fn), () => withFileLock(join(dir, `${incidentId}.lock`), fn));
    const tail = run.catch(() => undefined);
    queues.set(incidentId, tail);
    void tail.then(() => {
      if (queues.get(incidentId) === tail) queues.delete(incidentId);
    });
    return run;
  }

  /** The chain's head and ids, re-read and re-verified whenever the file changed behind our back. */
  async function load(incidentId: string): Promise<ChainState> {
    const file = auditFilePath(dir, incidentId);
    const st = await stat(file).catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? undefined : Promise.reject(e)));
    if (!st) return { size: 0, mtimeMs: 0, ids: new Set(), needsNewline: false };
    const cached = cache.get(incidentId);
    if (cached && cached.size === st.size && cached.mtimeMs === st.mtimeMs) return cached;
    let text = await readFile(file, 'utf8');
    let needsNewline = false;
    if (text.length > 0 && !text.endsWith('\n')) {
      // A crash mid-write leaves a partial last line. A complete record only lacks its newline; an
      // incomplete one was never acknowledged to the workflow (the activity retries it): drop it.
      const lastNl = text.lastIndexOf('\n');
      const tail = text.slice(lastNl + 1);
      if (isJson(tail)) needsNewline = true;
      else {
        const fh = await open(file, 'r+');
        try {
          await fh.truncate(Buffer.byteLength(text.slice(0, lastNl + 1)));
          await fh.datasync();
        } finally {
          await fh.close();
        }
        text = text.slice(0, lastNl + 1);
      }
    }
    const lines = parseAuditLines(text);
    const v = verifyChain(lines, { incidentId });
    if (!v.ok) {
      throw ApplicationFailure.nonRetryable(`audit chain of ${incidentId} is broken, refusing to extend it: ${describeVerification(v)}`, 'AuditChainBroken');
    }
    const last = lines[lines.length - 1] as AuditRecord | undefined;
    const after = await stat(file);
    const state: ChainState = {
      size: after.size,
      mtimeMs: after.mtimeMs,
      head: last ? { seq: last.seq, hash: last.hash, anchor: last.action === ANCHOR_ACTION } : undefined,
      ids: new Set(lines.map((l) => (l as AuditRecord).id)),
      needsNewline,
    };
    cache.set(incidentId, state);
    return state;
  }

  /** Appends whole records (one write, fsync'd) and updates the head file. */
  async function write(incidentId: string, state: ChainState, records: AuditRecord[]): Promise<ChainState> {
    const file = auditFilePath(dir, incidentId);
    const created = state.size === 0;
    const text = (state.needsNewline ? '\n' : '') + records.map((r) => JSON.stringify(r)).join('\n') + '\n';
    // S3 first: a retry after a failure in between recomputes the same records (same chain state),
    // finds them in S3 and skips them, then writes the file; the other order could leave S3 short.
    if (opts.s3Store) await opts.s3Store.putRecords(incidentId, records);
    const fh = await open(file, 'a', 0o640);
    try {
      await fh.write(text);
      await fh.datasync();
    } finally {
      await fh.close();
    }
    if (created) await syncDir(dir);
    const last = records[records.length - 1]!;
    const st = await stat(file);
    const next: ChainState = {
      size: st.size,
      mtimeMs: st.mtimeMs,
      head: { seq: last.seq, hash: last.hash, anchor: last.action === ANCHOR_ACTION },
      ids: new Set([...state.ids, ...records.map((r) => r.id)]),
      needsNewline: false,
    };
    cache.set(incidentId, next);
    const head = headFilePath(dir, incidentId);
    await writeFile(`${head}.tmp`, JSON.stringify({ incidentId, seq: last.seq, hash: last.hash, records: next.ids.size, updatedAt: now().toISOString() }));
    await rename(`${head}.tmp`, head);
    return next;
  }

  async function signingAlgorithm(kms: KMSClient, keyId: string): Promise<SigningAlgorithmSpec> {
    let alg = algorithms.get(keyId);
    if (!alg) {
      const d = await call('kms:DescribeKey', keyId, () => kms.send(new DescribeKeyCommand({ KeyId: keyId })));
      const offered = d.KeyMetadata?.SigningAlgorithms ?? [];
      if (d.KeyMetadata?.KeyUsage !== 'SIGN_VERIFY' || offered.length === 0) {
        throw ApplicationFailure.nonRetryable(`audit signing key ${keyId} is not a SIGN_VERIFY key`, 'InvalidSigningKey');
      }
      alg = (['ECDSA_SHA_256', 'RSASSA_PSS_SHA_256', 'RSASSA_PKCS1_V1_5_SHA_256'] as SigningAlgorithmSpec[]).find((a) => offered.includes(a)) ?? offered[0]!;
      algorithms.set(keyId, alg);
    }
    return alg;
  }

  return {
    /**
     * Appends audit records to the incident's chain. Each input's `id` makes the append
     * idempotent: ids already in the chain are skipped, so a retried activity writes nothing twice.
     */
    async appendAudit(input: AppendAuditInput): Promise<AppendAuditResult> {
      const incidentId = checkIncidentId(input?.incidentId);
      const parsed = AuditEntryInput.array().max(1000).safeParse(input?.records);
      if (!parsed.success) {
        const e = fieldErrors(parsed.error)[0]!;
        throw ApplicationFailure.nonRetryable(`invalid audit records: records.${e.field}: ${e.message}`, 'InvalidInput');
      }
      await mkdir(dir, { recursive: true });
      return serialised(incidentId, async () => {
        let state = await load(incidentId);
        const skipped: string[] = [];
        const fresh: AuditEntryInput[] = [];
        const seen = new Set(state.ids);
        for (const r of parsed.data) {
          if (seen.has(r.id)) skipped.push(r.id);
          else {
            seen.add(r.id);
            fresh.push(r);
          }
        }
        if (fresh.length > 0) state = await write(incidentId, state, chainRecords(incidentId, state.head, fresh));
        return { appended: fresh.length, skipped, head: state.head ? { seq: state.head.seq, hash: state.head.hash } : undefined };
      });
    },

    /**
     * Signs the chain head with the KMS signing key and appends an `audit.anchor` record carrying
     * the signature. Nothing new since the last anchor → the existing anchor is returned.
     */
    async anchorAudit(input: { incidentId: string }): Promise<AnchorAuditResult> {
      const incidentId = checkIncidentId(input?.incidentId);
      const { kms, signingKeyId } = opts;
      if (!kms || !signingKeyId) return { anchored: false, reason: 'no audit signing key configured (BULWARK_AUDIT_KMS_KEY)' };
      await mkdir(dir, { recursive: true });
      return serialised(incidentId, async () => {
        const state = await load(incidentId);
        if (!state.head) return { anchored: false, reason: 'the audit chain is empty' };
        if (state.head.anchor) {
          const lines = parseAuditLines(await readFile(auditFilePath(dir, incidentId), 'utf8'));
          const last = lines[lines.length - 1] as AuditRecord;
          return { anchored: true, seq: last.seq, headSeq: last.anchor!.headSeq, headHash: last.anchor!.headHash, keyId: last.anchor!.keyId, algorithm: last.anchor!.algorithm, alreadyAnchored: true };
        }
        const algorithm = await signingAlgorithm(kms, signingKeyId);
        const { seq: headSeq, hash: headHash } = state.head;
        const signed = await call('kms:Sign', signingKeyId, () =>
          kms.send(new SignCommand({ KeyId: signingKeyId, Message: Buffer.from(anchorMessage(incidentId, headSeq, headHash)), MessageType: 'RAW', SigningAlgorithm: algorithm })),
        );
        if (!signed.Signature || !signed.KeyId) throw ApplicationFailure.retryable('KMS Sign returned no signature', 'NotVerified');
        const keyId = signed.KeyId;
        const [record] = chainRecords(incidentId, state.head, [
          {
            id: `${incidentId}/anchor/${headSeq}`,
            at: now().toISOString(),
            actor: 'bulwark',
            action: ANCHOR_ACTION,
            resource: keyId,
            outcome: 'signed',
            detail: `chain head ${headSeq} signed with ${keyId} (${algorithm})`,
            anchor: { headSeq, headHash, keyId, algorithm, signature: Buffer.from(signed.Signature).toString('base64') },
          },
        ]);
        await write(incidentId, state, [record!]);
        return { anchored: true, seq: record!.seq, headSeq, headHash, keyId, algorithm, alreadyAnchored: false };
      });
    },
  };
}

export type AuditActivities = ReturnType<typeof createAuditActivities>;

// ---------------------------------------------------------------------------------------------
// Verification (CLI, reports, tests)

export interface AnchorCheck {
  seq: number;
  headSeq: number;
  keyId: string;
  /** true/false from KMS Verify; undefined when no KMS client was given. */
  valid?: boolean;
  /** Why `valid` is false without asking KMS: the anchor names another key than the audit signing key. */
  reason?: string;
  error?: string;
}

export interface AuditFileVerification {
  file: string;
  exists: boolean;
  chain: ChainVerification;
  anchors: AnchorCheck[];
  /**
   * Records after the last anchor (all of them when there is none): no signature covers them, so
   * they could be cut off or rewritten together with the head file. Normal while an incident is
   * open; for a closed one, the workflow anchors last (`--require-anchored` makes it an error).
   */
  unanchored?: { fromSeq: number; toSeq: number };
  /** Chain intact and every anchor signature valid (or unchecked). */
  ok: boolean;
  records: AuditRecord[];
  summary: string;
}

export interface VerifyAuditOptions {
  kms?: KMSClient;
  /**
   * The audit signing key (BULWARK_AUDIT_KMS_KEY: id, ARN or alias). With it, an anchor signed by any
   * other key is invalid: the key an anchor names is the attacker's choice, so a signature that
   * verifies under it proves nothing by itself.
   */
  signingKeyId?: string;
}

/** Reads, verifies and (with `kms`) checks every anchor signature with KMS Verify. */
export async function verifyAuditFile(dir: string, incidentId: string, opts: VerifyAuditOptions = {}): Promise<AuditFileVerification> {
  const file = auditFilePath(dir, incidentId);
  const text = await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? undefined : Promise.reject(e)));
  if (text === undefined) {
    const chain: ChainVerification = { ok: true, count: 0, anchors: 0 };
    return { file, exists: false, chain, anchors: [], ok: false, records: [], summary: `no audit log for ${incidentId} at ${file}` };
  }
  const lines = parseAuditLines(text);
  const head = await readFile(headFilePath(dir, incidentId), 'utf8')
    .then((t) => JSON.parse(t) as { seq?: unknown; hash?: unknown })
    .catch(() => undefined);
  const expectedHead = head && typeof head.seq === 'number' && typeof head.hash === 'string' ? { seq: head.seq, hash: head.hash } : undefined;
  return { file, exists: true, ...(await verifyAuditLines(lines, incidentId, { ...opts, expectedHead })) };
}

/** Chain and anchor verification of parsed records, whichever store they came from. */
export async function verifyAuditLines(
  lines: ReturnType<typeof parseAuditLines>,
  incidentId: string,
  opts: VerifyAuditOptions & { expectedHead?: { seq: number; hash: string } } = {},
): Promise<Omit<AuditFileVerification, 'file' | 'exists'>> {
  const chain = verifyChain(lines, { incidentId, expectedHead: opts.expectedHead });
  const records = lines.filter((l): l is AuditRecord => AuditRecord.safeParse(l).success);
  const anchors: AnchorCheck[] = [];
  // Anchors carry the ARN KMS Sign answered with; the configured key may be an id or an alias.
  let expectedKey: { arn?: string; error?: string } | undefined;
  if (opts.kms && opts.signingKeyId && records.some((r) => r.anchor)) {
    const keyId = opts.signingKeyId;
    expectedKey = await opts.kms.send(new DescribeKeyCommand({ KeyId: keyId })).then(
      (d) => ({ arn: d.KeyMetadata?.Arn }),
      (err: { name?: string; message?: string }) => ({ error: `audit signing key ${keyId}: ${err.name ?? 'Error'}: ${err.message ?? String(err)}` }),
    );
  }
  for (const r of records) {
    if (!r.anchor) continue;
    const check: AnchorCheck = { seq: r.seq, headSeq: r.anchor.headSeq, keyId: r.anchor.keyId };
    if (expectedKey?.error) check.error = expectedKey.error;
    else if (expectedKey?.arn && r.anchor.keyId !== expectedKey.arn) {
      check.valid = false;
      check.reason = `signed with ${r.anchor.keyId}, not the audit signing key ${expectedKey.arn}`;
    } else if (opts.kms) {
      try {
        const out = await opts.kms.send(
          new VerifyCommand({
            KeyId: r.anchor.keyId,
            Message: Buffer.from(anchorMessage(incidentId, r.anchor.headSeq, r.anchor.headHash)),
            MessageType: 'RAW',
            Signature: Buffer.from(r.anchor.signature, 'base64'),
            SigningAlgorithm: r.anchor.algorithm as SigningAlgorithmSpec,
          }),
        );
        check.valid = out.SignatureValid === true;
      } catch (err) {
        const e = err as { name?: string; message?: string };
        if (e.name === 'KMSInvalidSignatureException') check.valid = false;
        else check.error = `${e.name ?? 'Error'}: ${e.message ?? String(err)}`;
      }
    }
    anchors.push(check);
  }
  const badAnchor = anchors.find((a) => a.valid === false);
  const ok = chain.ok && !badAnchor && !anchors.some((a) => a.error);
  let lastAnchor = records.length - 1;
  while (lastAnchor >= 0 && !records[lastAnchor]!.anchor) lastAnchor--;
  const tail = records.slice(lastAnchor + 1);
  const unanchored = tail.length > 0 ? { fromSeq: tail[0]!.seq, toSeq: tail[tail.length - 1]!.seq } : undefined;
  const anchorLine = anchors.length === 0
    ? 'no KMS anchors'
    : opts.kms
      ? `${anchors.filter((a) => a.valid).length}/${anchors.length} KMS anchor signature(s) valid${badAnchor ? ` — anchor record ${badAnchor.seq} (head ${badAnchor.headSeq}) ${badAnchor.reason ? `is INVALID: ${badAnchor.reason}` : 'has an INVALID signature'}` : ''}${anchors.some((a) => a.error) ? ` — could not check: ${anchors.find((a) => a.error)!.error}` : ''}`
      : `${anchors.length} KMS anchor(s), signatures not checked`;
  const tailLine = anchors.length > 0 && unanchored
    ? `; unanchored tail: record${unanchored.toSeq > unanchored.fromSeq ? `s ${unanchored.fromSeq}–${unanchored.toSeq} follow` : ` ${unanchored.fromSeq} follows`} the last anchor (no signature covers ${unanchored.toSeq > unanchored.fromSeq ? 'them' : 'it'})`
    : '';
  return { chain, anchors, unanchored, ok, records, summary: `${describeVerification(chain)}; ${anchorLine}${tailLine}` };
}

// ---------------------------------------------------------------------------------------------

function isJson(s: string): boolean {
  try {
    JSON.parse(s);
    return true;
  } catch {
    return false;
  }
}

async function syncDir(path: string): Promise<void> {
  try {
    const fh = await open(path, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    // Not every platform can fsync a directory; the file itself is already synced.
  }
}

async function withFileLock<T>(lockPath: string, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      const fh = await open(lockPath, 'wx');
      await fh.writeFile(`${process.pid}\n`);
      await fh.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const st = await stat(lockPath).catch(() => undefined);
      // A lock older than 30 s belongs to a crashed process (an append takes milliseconds).
      if (st && Date.now() - st.mtimeMs > 30_000) {
        await unlink(lockPath).catch(() => undefined);
        continue;
      }
      if (Date.now() > deadline) throw ApplicationFailure.retryable(`audit log is locked by another process (${lockPath})`, 'AuditLocked');
      await new Promise((r) => setTimeout(r, 5 + Math.random() * 20));
    }
  }
  try {
    return await fn();
  } finally {
    await unlink(lockPath).catch(() => undefined);
  }
}
