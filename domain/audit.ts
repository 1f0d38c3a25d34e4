import { z } from 'zod';
import type { TimelineEntry } from './incident.js';
import { canonicalJson } from './canonical.js';

/**
 * The tamper-evident audit trail (issue 8 §2). Pure: no I/O and no Node built-ins, so the workflow
 * sandbox may import it too (SHA-256 is implemented below for that reason; a test cross-checks it
 * against node:crypto).
 *
 * A record is `{ seq, id, at, incidentId, actor, action, resource?, outcome, requestIds?, prevHash, hash }`
 * (plus optional `resources`, `step`, `detail`, `evidence`, `anchor`). `hash` is the SHA-256 (hex) of
 * the canonical JSON of the record without `hash`; `prevHash` is the previous record's `hash`
 * (64 zeros for the first). `seq` starts at 1 and grows by one. Anchor records (`action:
 * audit.anchor`) carry a KMS signature over the chain head they follow.
 */

export const GENESIS_HASH = '0'.repeat(64);
export const ANCHOR_ACTION = 'audit.anchor';
export const ANCHOR_TYPE = 'bulwark-audit-anchor/v1';

export const AUDIT_OUTCOMES = ['succeeded', 'failed', 'requested', 'granted', 'rejected', 'skipped', 'compensated', 'signed', 'info'] as const;
export type AuditOutcome = (typeof AUDIT_OUTCOMES)[number];

const hex64 = z.string().regex(/^[0-9a-f]{64}$/, 'expected a SHA-256 hex digest');
/** Incident ids name files: letters, digits, . _ - only (no path separators). */
export const AuditIncidentId = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'expected letters, digits and . _ - only');

export const AuditAnchor = z.strictObject({
  headSeq: z.number().int().min(1),
  headHash: hex64,
  keyId: z.string().min(1),
  algorithm: z.string().min(1),
  /** Base64 signature by KMS Sign over `anchorMessage(incidentId, headSeq, headHash)`. */
  signature: z.string().min(1),
});
export type AuditAnchor = z.infer<typeof AuditAnchor>;

/** What a caller (the workflow) hands to `appendAudit`: the activity assigns seq, prevHash and hash. */
export const AuditEntryInput = z.strictObject({
  /** Unique within the incident and stable across retries: a retried append with the same id is skipped. */
  id: z.string().min(1).max(200),
  at: z.iso.datetime({ offset: true }),
  /** Who: `operator:alice`, `alert:<source>`, `bulwark` (the worker itself). */
  actor: z.string().min(1).max(256),
  /** What: a timeline kind (`step.succeeded`, `approval.granted`, …) or an activity name. */
  action: z.string().min(1).max(128),
  resource: z.string().min(1).max(2048).optional(),
  resources: z.array(z.string().min(1).max(2048)).max(200).optional(),
  outcome: z.enum(AUDIT_OUTCOMES),
  step: z.string().min(1).max(128).optional(),
  detail: z.string().max(4000).optional(),
  /** AWS request ids (x-amzn-RequestId) and similar, as evidence of the calls made. */
  requestIds: z.array(z.string().min(1).max(256)).max(100).optional(),
  evidence: z.record(z.string(), z.unknown()).optional(),
});
export type AuditEntryInput = z.infer<typeof AuditEntryInput>;

export const AuditRecord = AuditEntryInput.extend({
  seq: z.number().int().min(1),
  incidentId: AuditIncidentId,
  anchor: AuditAnchor.optional(),
  prevHash: hex64,
  hash: hex64,
});
export type AuditRecord = z.infer<typeof AuditRecord>;

// ---------------------------------------------------------------------------------------------
// Canonical JSON and hashing

export { canonicalJson } from './canonical.js';

/** The hash a record must carry: SHA-256 over the canonical JSON of everything but `hash`. */
export function recordHash(record: Record<string, unknown>): string {
  const { hash: _omit, ...rest } = record;
  return sha256Hex(canonicalJson(rest));
}

/** Builds the next records of a chain from inputs, after `head` (undefined for an empty chain). */
export function chainRecords(
  incidentId: string,
  head: { seq: number; hash: string } | undefined,
  entries: (AuditEntryInput & { anchor?: AuditAnchor })[],
): AuditRecord[] {
  let seq = head?.seq ?? 0;
  let prevHash = head?.hash ?? GENESIS_HASH;
  return entries.map((entry) => {
    seq += 1;
    const body = { ...stripUndefined(entry), seq, incidentId, prevHash };
    const record = { ...body, hash: recordHash(body) } as AuditRecord;
    prevHash = record.hash;
    return record;
  });
}

/** The bytes a KMS anchor signs: the chain head, bound to its incident. */
export function anchorMessage(incidentId: string, headSeq: number, headHash: string): string {
  return canonicalJson({ type: ANCHOR_TYPE, incidentId, headSeq, headHash });
}

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

// ---------------------------------------------------------------------------------------------
// Verification

export type TamperKind = 'edited' | 'removed' | 'reordered' | 'inserted';

export type ChainVerification =
  | { ok: true; count: number; head?: { seq: number; hash: string }; anchors: number }
  | {
      ok: false;
      /** The seq of the first bad record (for `removed`/`reordered`: the seq missing from its place). */
      firstBad: number;
      /** 1-based line in the file where the break shows. */
      line: number;
      reason: TamperKind;
      message: string;
    };

/** One line of a JSONL file: the parsed value, or a marker for a line that is not JSON. */
export type ParsedLine = unknown;
const MALFORMED = Symbol('malformed');

/** Splits a JSONL file into parsed lines (blank lines are ignored; a line that is not JSON is kept as malformed). */
export function parseAuditLines(text: string): ParsedLine[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      try {
        return JSON.parse(l) as unknown;
      } catch {
        return { [MALFORMED]: l };
      }
    });
}

interface Shape {
  seq: number;
  prevHash: string;
  hash: string;
  incidentId: string;
  anchor?: AuditAnchor;
  action?: string;
}

function shape(x: unknown): Shape | undefined {
  if (!x || typeof x !== 'object' || MALFORMED in x) return undefined;
  return AuditRecord.safeParse(x).success ? (x as Shape) : undefined;
}

/**
 * Checks a chain in file order and names the first bad record and what was done to it:
 *  - `edited`: a record's content no longer matches its hash, or a record was edited and re-hashed
 *    (the next record's prevHash no longer matches), or a line is not a valid record;
 *  - `removed`: a seq is missing and appears nowhere later (also: the chain ends before `expectedHead`);
 *  - `reordered`: a seq is missing from its place but appears later, or a seq goes backwards;
 *  - `inserted`: a line that nothing links to sits between two records that link to each other,
 *    or a line repeats an earlier record.
 * `expectedHead` (from an index or the last KMS anchor) catches truncation of the tail.
 */
export function verifyChain(lines: ParsedLine[], opts: { incidentId?: string; expectedHead?: { seq: number; hash: string } } = {}): ChainVerification {
  const recs = lines.map(shape);
  const hashes = recs.map((r, i) => (r ? recordHash(lines[i] as Record<string, unknown>) : undefined));
  const hashOk = (i: number) => recs[i] !== undefined && hashes[i] === recs[i]!.hash;
  const bad = (firstBad: number, i: number, reason: TamperKind, message: string): ChainVerification => ({ ok: false, firstBad, line: i + 1, reason, message });
  let prevSeq = 0;
  let prevHash = GENESIS_HASH;
  let prevPrevHash: string | undefined;
  const seenByHash = new Map<string, number>();
  let anchors = 0;
  const incidentId = opts.incidentId ?? recs.find((r) => r)?.incidentId;

  for (let i = 0; i < recs.length; i++) {
    const r = recs[i];
    const expected = prevSeq + 1;
    const next = recs[i + 1];
    const nextContinuesFromPrev = next !== undefined && hashOk(i + 1) && next.seq === expected && next.prevHash === prevHash;
    if (!r) {
      if (nextContinuesFromPrev) return bad(expected, i, 'inserted', `line ${i + 1} is not an audit record and the chain continues around it`);
      const seq = typeof (lines[i] as { seq?: unknown })?.seq === 'number' ? (lines[i] as { seq: number }).seq : expected;
      return bad(seq, i, 'edited', `line ${i + 1} is not a valid audit record`);
    }
    if (r.seq === expected && r.prevHash === prevHash && hashOk(i) && r.incidentId === incidentId) {
      if (r.anchor) {
        const target = recs.slice(0, i).find((x) => x?.seq === r.anchor!.headSeq);
        if (!target || target.hash !== r.anchor.headHash) return bad(r.anchor.headSeq, i, 'edited', `anchor record ${r.seq} signed head ${r.anchor.headSeq} with a different hash than the chain holds`);
        anchors++;
      }
      seenByHash.set(r.hash, r.seq);
      prevPrevHash = prevHash;
      prevSeq = r.seq;
      prevHash = r.hash;
      continue;
    }
    // Something is wrong at line i. Work out what.
    const linkedTo = recs.some((x, j) => j !== i && x?.prevHash === r.hash);
    const pointsAhead = recs.some((x, j) => j > i && x?.hash === r.prevHash);
    if (r.seq === expected && r.prevHash === prevHash && !hashOk(i) && !(nextContinuesFromPrev && !linkedTo)) {
      return bad(r.seq, i, 'edited', `record ${r.seq} does not match its hash: its content was changed`);
    }
    if (!linkedTo && !pointsAhead && nextContinuesFromPrev) {
      return bad(r.seq, i, 'inserted', `line ${i + 1} (claiming seq ${r.seq}) is not part of the chain: record ${expected} links to the record before it`);
    }
    if (seenByHash.has(r.hash) && hashOk(i)) {
      return bad(r.seq, i, 'inserted', `line ${i + 1} repeats record ${r.seq}`);
    }
    if (!hashOk(i)) return bad(r.seq, i, 'edited', `record ${r.seq} does not match its hash: its content was changed`);
    if (r.incidentId !== incidentId) return bad(r.seq, i, 'edited', `record ${r.seq} names incident ${r.incidentId}, not ${incidentId}`);
    if (r.seq === expected) {
      // Own hash fine, link broken: the previous record was edited and re-hashed.
      return prevSeq === 0
        ? bad(r.seq, i, 'edited', `record ${r.seq} does not start the chain (prevHash is not the genesis hash)`)
        : bad(prevSeq, i - 1, 'edited', `record ${prevSeq} was changed (and re-hashed): record ${r.seq} no longer links to it`);
    }
    if (r.seq > expected) {
      const later = recs.some((x, j) => j > i && x?.seq === expected);
      return later
        ? bad(expected, i, 'reordered', `record ${expected} is out of order: line ${i + 1} holds record ${r.seq}`)
        : bad(expected, i, 'removed', `record${r.seq - expected > 1 ? `s ${expected}–${r.seq - 1} are` : ` ${expected} is`} missing (record ${r.seq} follows record ${prevSeq})`);
    }
    // r.seq < expected: seq went backwards.
    if (r.seq === prevSeq && r.prevHash === prevPrevHash) {
      return bad(prevSeq, i - 1, 'inserted', `line ${i} (claiming seq ${prevSeq}) is not part of the chain: the record after it links to the record before it`);
    }
    return bad(r.seq, i, 'reordered', `record ${r.seq} is out of order: it appears after record ${prevSeq}`);
  }
  if (opts.expectedHead && opts.expectedHead.seq > prevSeq) {
    return bad(prevSeq + 1, recs.length, 'removed', `the chain ends at record ${prevSeq} but record ${opts.expectedHead.seq} was written: records ${prevSeq + 1}–${opts.expectedHead.seq} are missing`);
  }
  if (opts.expectedHead && opts.expectedHead.seq === prevSeq && opts.expectedHead.hash !== prevHash) {
    return bad(prevSeq, recs.length - 1, 'edited', `record ${prevSeq} is not the record that was written (head hash differs)`);
  }
  return { ok: true, count: recs.length, head: prevSeq ? { seq: prevSeq, hash: prevHash } : undefined, anchors };
}

/** A one-line verdict for CLIs and reports. */
export function describeVerification(v: ChainVerification): string {
  return v.ok
    ? `audit chain intact: ${v.count} record(s)${v.head ? `, head ${v.head.seq} ${v.head.hash.slice(0, 16)}…` : ''}, ${v.anchors} anchor(s)`
    : `audit chain BROKEN at record ${v.firstBad} (line ${v.line}): ${v.reason} — ${v.message}`;
}

// ---------------------------------------------------------------------------------------------
// From the incident timeline

const OUTCOME_BY_SUFFIX: Record<string, AuditOutcome> = {
  succeeded: 'succeeded',
  failed: 'failed',
  skipped: 'skipped',
  compensated: 'compensated',
  granted: 'granted',
  rejected: 'rejected',
  requested: 'requested',
};

/**
 * An audit entry for a timeline entry. Safe in the workflow sandbox.
 * `ordinal` must be stable for the entry across replays and continue-as-new: use
 * `state.timeline.length + state.timelineDropped` right after `pushTimeline` (1-based count of
 * every entry ever recorded). The id is `<incidentId>/t<ordinal>`, so a retried append is skipped.
 * The actor is `actor` if given, else read from the message ("approved by X" → operator:X), else
 * `bulwark`.
 */
export function auditEntryFromTimeline(incidentId: string, ordinal: number, entry: TimelineEntry, actor?: string): AuditEntryInput {
  const suffix = entry.kind.split('.').pop() ?? '';
  const by = /\b(?:approved|rejected|resolved|aborted|extended until \S+|opened) by ([\w.@:+-]{0,127}[\w.@+-])/.exec(entry.message)?.[1];
  const requestIds = Array.isArray(entry.evidence?.requestIds) ? (entry.evidence!.requestIds as unknown[]).filter((x): x is string => typeof x === 'string') : undefined;
  return stripUndefined({
    id: `${incidentId}/t${ordinal}`,
    at: entry.at,
    actor: actor ?? (by ? (by.includes(':') ? by : `operator:${by}`) : 'bulwark'),
    action: entry.kind,
    step: entry.step,
    resource: entry.resources?.[0],
    resources: entry.resources && entry.resources.length > 1 ? entry.resources : undefined,
    outcome: OUTCOME_BY_SUFFIX[suffix] ?? 'info',
    detail: entry.message.slice(0, 4000),
    requestIds: requestIds?.length ? requestIds : undefined,
  });
}

// ---------------------------------------------------------------------------------------------
// SHA-256 (FIPS 180-4), pure, for the workflow sandbox.

const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
  0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
  0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

/** UTF-8 bytes of a string (lone surrogates become U+FFFD, as TextEncoder does). */
export function utf8(s: string): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      c = 0x10000 + ((c - 0xd800) << 10) + (s.charCodeAt(++i) - 0xdc00);
    } else if (c >= 0xd800 && c <= 0xdfff) {
      c = 0xfffd;
    }
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return Uint8Array.from(out);
}

export function sha256Hex(input: string | Uint8Array): string {
  const msg = typeof input === 'string' ? utf8(input) : input;
  const bitLen = msg.length * 8;
  const padded = new Uint8Array(((msg.length + 9 + 63) >> 6) << 6);
  padded.set(msg);
  padded[msg.length] = 0x80;
  const view = new DataView(padded.buffer);
  view.setUint32(padded.length - 8, Math.floor(bitLen / 0x100000000));
  view.setUint32(padded.length - 4, bitLen >>> 0);
  const H = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
  const W = new Uint32Array(64);
  for (let off = 0; off < padded.length; off += 64) {
    for (let t = 0; t < 16; t++) W[t] = view.getUint32(off + t * 4);
    for (let t = 16; t < 64; t++) {
      const w15 = W[t - 15]!;
      const w2 = W[t - 2]!;
      const s0 = ((w15 >>> 7) | (w15 << 25)) ^ ((w15 >>> 18) | (w15 << 14)) ^ (w15 >>> 3);
      const s1 = ((w2 >>> 17) | (w2 << 15)) ^ ((w2 >>> 19) | (w2 << 13)) ^ (w2 >>> 10);
      W[t] = (W[t - 16]! + s0 + W[t - 7]! + s1) >>> 0;
    }
    let a = H[0]!, b = H[1]!, c = H[2]!, d = H[3]!, e = H[4]!, f = H[5]!, g = H[6]!, h = H[7]!;
    for (let t = 0; t < 64; t++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const ch = (e & f) ^ (~e & g);
      const t1 = (h + S1 + ch + K[t]! + W[t]!) >>> 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const maj = (a & b) ^ (a & c) ^ (b & c);
      const t2 = (S0 + maj) >>> 0;
      h = g;
      g = f;
      f = e;
      e = (d + t1) >>> 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) >>> 0;
    }
    H[0] = (H[0]! + a) >>> 0;
    H[1] = (H[1]! + b) >>> 0;
    H[2] = (H[2]! + c) >>> 0;
    H[3] = (H[3]! + d) >>> 0;
    H[4] = (H[4]! + e) >>> 0;
    H[5] = (H[5]! + f) >>> 0;
    H[6] = (H[6]! + g) >>> 0;
    H[7] = (H[7]! + h) >>> 0;
  }
  return Array.from(H, (x) => x.toString(16).padStart(8, '0')).join('');
}
