import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@temporalio/client';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { CreateAliasCommand, CreateKeyCommand, RotateKeyOnDemandCommand, UpdateAliasCommand } from '@aws-sdk/client-kms';
import { createAwsClients, type AwsClients } from '../activities/clients.js';
import { parseAlert } from '../domain/alert.js';
import { ALGORITHM, ENCRYPTED_ENCODING, KmsEnvelopeCodec, METADATA, PayloadDecryptionError, codecFromConfig } from '../intake/codec.js';
import { createCodecServer } from '../intake/codec-server.js';
import { AlertDeliverer } from '../intake/deliver.js';
import { playbookDefaults } from '../temporal.config.js';
import { stateQuery } from '../workflows/definitions.js';
import { runCli, startHarness, testConfig, waitForState, type Harness } from './support.js';

let aws: AwsClients;
let keyArn: string;
const alias = `alias/bulwark-codec-${randomBytes(4).toString('hex')}`;

async function createKey(description: string): Promise<string> {
  return (await aws.kms.send(new CreateKeyCommand({ Description: description }))).KeyMetadata!.Arn!;
}

beforeAll(async () => {
  aws = createAwsClients(testConfig().aws);
  keyArn = await createKey('bulwark codec test');
  await aws.kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: keyArn }));
});

const json = (value: unknown): Payload => defaultPayloadConverter.toPayload(value)!;
const value = (p: Payload) => defaultPayloadConverter.fromPayload(p);
const text = (b: Uint8Array | null | undefined) => Buffer.from(b ?? []).toString('utf8');
const flip = (b: Uint8Array, i: number) => {
  const c = Buffer.from(b);
  c[i] = c[i]! ^ 0x01;
  return c;
};

describe('KMS envelope codec (real KMS in moto)', () => {
  it('seals payloads with AES-256-GCM and puts key id, algorithm, encrypted data key and IV in the metadata', async () => {
    const codec = new KmsEnvelopeCodec({ kms: aws.kms, keyId: alias });
    const secret = { clientId: 'tpp-secret-client', note: 'a value that must not be readable' };
    const [sealed] = await codec.encode([json(secret)]);
    expect(text(sealed!.metadata![METADATA.encoding])).toBe(ENCRYPTED_ENCODING);
    expect(text(sealed!.metadata![METADATA.algorithm])).toBe(ALGORITHM);
    expect(text(sealed!.metadata![METADATA.keyId])).toBe(keyArn);
    expect(sealed!.metadata![METADATA.iv]).toHaveLength(12);
    expect(sealed!.metadata![METADATA.dataKey]!.length).toBeGreaterThan(32);
    const everything = Buffer.concat([...Object.values(sealed!.metadata!).map((v) => Buffer.from(v!)), Buffer.from(sealed!.data!)]).toString('latin1');
    expect(everything).not.toContain('tpp-secret-client');
    expect(everything).not.toContain('json/plain');
    const [opened] = await codec.decode([sealed!]);
    expect(value(opened!)).toEqual(secret);
    // Two encodings of the same value differ (fresh IV each time).
    const [again] = await codec.encode([json(secret)]);
    expect(Buffer.from(again!.data!).equals(Buffer.from(sealed!.data!))).toBe(false);
  });

  it('a tampered payload fails loudly: ciphertext, tag, IV, key id, algorithm or encrypted data key', async () => {
    const codec = new KmsEnvelopeCodec({ kms: aws.kms, keyId: alias });
    const [sealed] = await codec.encode([json({ amount: 100, to: 'GB33BUKB20201555555555' })]);
    const m = sealed!.metadata!;
    const otherArn = await createKey('another key');
    const variants: [string, Payload][] = [
      ['ciphertext byte', { metadata: m, data: flip(sealed!.data!, 3) }],
      ['auth tag byte', { metadata: m, data: flip(sealed!.data!, sealed!.data!.length - 1) }],
      ['truncated', { metadata: m, data: sealed!.data!.subarray(0, 10) }],
      ['IV', { metadata: { ...m, [METADATA.iv]: flip(m[METADATA.iv]!, 0) }, data: sealed!.data }],
      ['key id', { metadata: { ...m, [METADATA.keyId]: Buffer.from(otherArn) }, data: sealed!.data }],
      ['algorithm', { metadata: { ...m, [METADATA.algorithm]: Buffer.from('AES-128-GCM') }, data: sealed!.data }],
      ['encrypted data key', { metadata: { ...m, [METADATA.dataKey]: flip(m[METADATA.dataKey]!, m[METADATA.dataKey]!.length - 2) }, data: sealed!.data }],
      ['missing data key', { metadata: { ...m, [METADATA.dataKey]: new Uint8Array() }, data: sealed!.data }],
    ];
    for (const [what, payload] of variants) {
      // A fresh codec, so nothing comes from the decrypt cache.
      const reader = new KmsEnvelopeCodec({ kms: aws.kms, keyId: alias });
      const err = await reader.decode([payload]).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, `tampered ${what} must not decode`).toBeInstanceOf(PayloadDecryptionError);
    }
    // The untouched payload still decodes.
    expect(value((await new KmsEnvelopeCodec({ kms: aws.kms, keyId: alias }).decode([sealed!]))[0]!)).toEqual({ amount: 100, to: 'GB33BUKB20201555555555' });
  });

  it('reuses a data key for a bounded number of payloads and time, and caches decrypted data keys', async () => {
    let now = 1_000_000;
    const codec = new KmsEnvelopeCodec({ kms: aws.kms, keyId: alias, dataKeyMaxUses: 3, dataKeyMaxAgeMs: 60_000, now: () => now });
    const sealed = [];
    for (let i = 0; i < 3; i++) sealed.push(...(await codec.encode([json(i)])));
    expect(codec.stats.generateDataKey).toBe(1);
    sealed.push(...(await codec.encode([json(3)])));
    expect(codec.stats.generateDataKey).toBe(2); // 4th payload: use count exhausted
    now += 61_000;
    sealed.push(...(await codec.encode([json(4)])));
    expect(codec.stats.generateDataKey).toBe(3); // too old
    const keys = new Set(sealed.map((p) => Buffer.from(p.metadata![METADATA.dataKey]!).toString('base64')));
    expect(keys.size).toBe(3);
    // Its own data keys are known: decoding needs no KMS call.
    expect((await codec.decode(sealed)).map(value)).toEqual([0, 1, 2, 3, 4]);
    expect(codec.stats.decrypt).toBe(0);
    // A fresh reader unwraps each data key once, however many payloads share it.
    const reader = new KmsEnvelopeCodec({ kms: aws.kms, keyId: alias });
    expect((await reader.decode([...sealed, ...sealed])).map(value)).toEqual([0, 1, 2, 3, 4, 0, 1, 2, 3, 4]);
    expect(reader.stats.decrypt).toBe(3);
  });

  it('payloads written before the key rotated, or before the alias moved to a new key, stay decryptable', async () => {
    const rotAlias = `alias/bulwark-rot-${randomBytes(4).toString('hex')}`;
    const oldKey = await createKey('old codec key');
    await aws.kms.send(new CreateAliasCommand({ AliasName: rotAlias, TargetKeyId: oldKey }));
    const before = await new KmsEnvelopeCodec({ kms: aws.kms, keyId: rotAlias }).encode([json({ era: 'old' })]);
    expect(text(before[0]!.metadata![METADATA.keyId])).toBe(oldKey);

    await aws.kms.send(new RotateKeyOnDemandCommand({ KeyId: oldKey }));
    const newKey = await createKey('new codec key');
    await aws.kms.send(new UpdateAliasCommand({ AliasName: rotAlias, TargetKeyId: newKey }));

    const codec = new KmsEnvelopeCodec({ kms: aws.kms, keyId: rotAlias });
    const after = await codec.encode([json({ era: 'new' })]);
    expect(text(after[0]!.metadata![METADATA.keyId])).toBe(newKey);
    expect((await codec.decode([...before, ...after])).map(value)).toEqual([{ era: 'old' }, { era: 'new' }]);
    expect(codec.stats.decrypt).toBe(1); // the old payload's data key, via its own metadata
  });

  it('passes unencrypted payloads through on decode (history from before the codec was enabled)', async () => {
    const codec = new KmsEnvelopeCodec({ kms: aws.kms, keyId: alias });
    const plain = json({ legacy: true });
    expect(value((await codec.decode([plain]))[0]!)).toEqual({ legacy: true });
  });
});

describe('encrypted workflow history (real worker and client with the codec on)', () => {
  let h: Harness;
  const canary = randomBytes(6).toString('hex');
  const clientId = `tpp-canary-${canary}`;
  const source = `canary-detector-${canary}`;
  let workflowId: string;

  beforeAll(async () => {
    const config = testConfig({ codec: { kmsKeyId: alias } });
    expect(config.codec.enabled).toBe(true);
    h = await startHarness({ config });
    const parsed = parseAlert({
      source,
      type: 'anomaly.detected',
      severity: 'high',
      observedAt: new Date().toISOString(),
      subject: { clientId, sourceIp: '203.0.113.77' },
      details: { note: `canary ${canary}` },
    });
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
    // No correlator: the BulwarkClientId search attribute would carry the client id in clear (see report).
    const deliverer = new AlertDeliverer(h.client, h.config.temporal.taskQueue, playbookDefaults(h.config));
    ({ workflowId } = await deliverer.deliver(parsed.value));
  });
  afterAll(() => h?.close());

  it('runs the incident, and the decoded state query shows the alert', async () => {
    const s = await waitForState(h.client, workflowId, (st) => st.status === 'contained');
    expect(s.alert.subject.clientId).toBe(clientId);
    expect(s.alert.source).toBe(source);
    expect(s.plan.playbook).toBe('triage');
    expect(s.steps).toEqual([expect.objectContaining({ id: 'notify-operators', status: 'succeeded' })]);
    // The memo (what `incident list` reads) is encrypted too, and the codec client decodes it.
    const desc = await h.client.workflow.getHandle(workflowId).describe();
    expect(desc.memo).toMatchObject({ status: 'contained', subject: clientId });
  });

  it('`incident list` without the codec key still lists it (details withheld) instead of failing', async () => {
    await waitForState(h.client, workflowId, (st) => st.status === 'contained');
    const r = await runCli(h, ['incident', 'list', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const rows = JSON.parse(r.stdout) as { id: string; type: string; subject: string }[];
    expect(rows).toContainEqual(expect.objectContaining({ id: workflowId, type: '?', subject: '' }));
    expect(r.stderr).toMatch(/memos this client cannot decode/);
    expect(r.stdout + r.stderr).not.toContain(clientId);
  });

  it('the raw history on the server holds no plaintext incident data: every payload is encrypted', async () => {
    await waitForState(h.client, workflowId, (st) => st.status === 'contained');
    const events: unknown[] = [];
    let nextPageToken: Uint8Array | undefined;
    do {
      const page = await h.client.workflowService.getWorkflowExecutionHistory({
        namespace: h.config.temporal.namespace,
        execution: { workflowId },
        maximumPageSize: 500,
        nextPageToken,
      });
      events.push(...(page.history?.events ?? []));
      nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
    } while (nextPageToken);
    expect(events.length).toBeGreaterThan(10);

    const needles = [clientId, source, canary, '203.0.113.77', 'anomaly.detected', 'no playbook matches'];
    const found: string[] = [];
    let encrypted = 0;
    const plaintextPayloads: string[] = [];
    const walk = (node: unknown, path: string) => {
      if (node == null) return;
      if (node instanceof Uint8Array) {
        const s = Buffer.from(node).toString('latin1');
        for (const n of needles) if (s.includes(n)) found.push(`${path} contains ${n}`);
        return;
      }
      if (typeof node === 'string') {
        for (const n of needles) if (node.includes(n)) found.push(`${path} = ${node.slice(0, 80)}`);
        return;
      }
      if (typeof node !== 'object') return;
      const o = node as Record<string, unknown>;
      const meta = o.metadata as Record<string, Uint8Array> | undefined;
      if (meta && typeof meta === 'object' && meta.encoding instanceof Uint8Array && 'data' in o) {
        if (text(meta.encoding) === ENCRYPTED_ENCODING) encrypted++;
        // Markers are written by the SDK core, not through the codec: patch markers hold the patch id,
        // local-activity markers the audit append's result (counts and the chain head hash) — no
        // incident data, which the needle search above checks for everywhere.
        else if (!path.includes('searchAttributes') && !path.includes('header') && !path.includes('markerRecordedEventAttributes.details')) plaintextPayloads.push(`${path}: ${text(meta.encoding)}`);
      }
      for (const [k, v] of Object.entries(o)) walk(v, `${path}.${k}`);
    };
    events.forEach((e, i) => walk(e, `events[${i}]`));
    expect(found).toEqual([]);
    expect(plaintextPayloads).toEqual([]);
    // Input, signal, memo, activity input/result… all went through the codec.
    expect(encrypted).toBeGreaterThanOrEqual(5);

    // A client without the codec cannot read the state: the query result is ciphertext to it.
    const plainClient = new Client({ connection: h.client.connection, namespace: h.config.temporal.namespace });
    await expect(plainClient.workflow.getHandle(workflowId).query(stateQuery)).rejects.toThrow(/encoding|binary\/encrypted|Unknown/i);
  });

  it('a failed step: its reason (which names incident data) is encrypted in raw history, yet the CLI shows it decoded', async () => {
    // key.exposed with a key that does not exist: kms.rotate fails with a message naming the key.
    const missingKey = `alias/canary-missing-${canary}`;
    const parsed = parseAlert({ source, type: 'key.exposed', severity: 'high', observedAt: new Date().toISOString(), subject: { kmsKeyId: missingKey } });
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
    const deliverer = new AlertDeliverer(h.client, h.config.temporal.taskQueue, playbookDefaults(h.config));
    const { workflowId: failedId } = await deliverer.deliver(parsed.value);
    const s = await waitForState(h.client, failedId, (st) => st.steps.some((x) => x.id === 'rotate-kms-key' && x.status === 'failed'));
    const reason = s.steps.find((x) => x.id === 'rotate-kms-key')!.error!;
    expect(reason).toContain(missingKey);

    const events = await rawHistory(h, failedId);
    const failures = events.filter((e) => e.activityTaskFailedEventAttributes).map((e) => e.activityTaskFailedEventAttributes!.failure!);
    expect(failures.length).toBeGreaterThan(0);
    for (const f of failures) {
      // What the server stores: a placeholder message, no stack, and the real ones in an encrypted payload.
      expect(f.message).toBe('Encoded failure');
      expect(f.stackTrace ?? '').toBe('');
      expect(text(f.encodedAttributes!.metadata!.encoding)).toBe(ENCRYPTED_ENCODING);
    }
    const raw = JSON.stringify(events, (_k, v) => (v instanceof Uint8Array ? Buffer.from(v).toString('latin1') : v));
    expect(raw).not.toContain(missingKey);
    expect(raw).not.toContain(`canary-missing-${canary}`);

    // The CLI, with the codec key, shows the reason in clear; without it, it cannot read the incident at all.
    const shown = await runCli(h, ['incident', 'show', failedId, '--json'], { BULWARK_CODEC_KMS_KEY: alias });
    expect(shown.code, shown.stderr).toBe(0);
    const state = JSON.parse(shown.stdout) as { steps: { id: string; status: string; error?: string }[] };
    expect(state.steps.find((x) => x.id === 'rotate-kms-key')).toMatchObject({ status: 'failed', error: reason });
    const text_ = await runCli(h, ['incident', 'show', failedId], { BULWARK_CODEC_KMS_KEY: alias });
    expect(text_.stdout).toContain(missingKey);
  });

  it('the codec server decodes a real payload from the history for an authorised caller', async () => {
    const page = await h.client.workflowService.getWorkflowExecutionHistory({ namespace: h.config.temporal.namespace, execution: { workflowId }, maximumPageSize: 5 });
    const started = page.history!.events!.find((e) => e.workflowExecutionStartedEventAttributes)!;
    const input = started.workflowExecutionStartedEventAttributes!.input!.payloads![0]!;
    const token = randomBytes(16).toString('hex');
    const server = createCodecServer({ codec: codecFromConfig(h.config)!, token, allowedOrigins: ['http://localhost:8233'] });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const port = (server.address() as AddressInfo).port;
      const body = { payloads: [{ metadata: Object.fromEntries(Object.entries(input.metadata!).map(([k, v]) => [k, Buffer.from(v!).toString('base64')])), data: Buffer.from(input.data!).toString('base64') }] };
      const r = await http(port, 'POST', '/codec/decode', body, { authorization: `Bearer ${token}`, origin: 'http://localhost:8233' });
      expect(r.status).toBe(200);
      const decoded = JSON.parse(r.body).payloads[0];
      expect(Buffer.from(decoded.metadata.encoding, 'base64').toString()).toBe('json/plain');
      const incidentInput = JSON.parse(Buffer.from(decoded.data, 'base64').toString());
      expect(incidentInput.alert.subject.clientId).toBe(clientId);
    } finally {
      server.close();
    }
  });
});

describe('codec server (real HTTP)', () => {
  const token = randomBytes(16).toString('hex');
  let port: number;
  let close: () => void;
  const ui = 'http://localhost:8233';

  beforeAll(async () => {
    const server = createCodecServer({ codec: new KmsEnvelopeCodec({ kms: aws.kms, keyId: alias }), token, allowedOrigins: [ui] });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
    close = () => server.close();
  });
  afterAll(() => close?.());

  const plainBody = { payloads: [{ metadata: { encoding: Buffer.from('json/plain').toString('base64') }, data: Buffer.from(JSON.stringify({ iban: 'DE89370400440532013000' })).toString('base64') }] };

  it('answers the CORS preflight of the Temporal UI without a token, and refuses other origins', async () => {
    const pre = await http(port, 'OPTIONS', '/codec/decode', undefined, {
      origin: ui,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization,content-type,x-namespace',
    });
    expect(pre.status).toBe(204);
    expect(pre.headers['access-control-allow-origin']).toBe(ui);
    expect(pre.headers['access-control-allow-methods']).toMatch(/POST/);
    expect(String(pre.headers['access-control-allow-headers'])).toMatch(/authorization/);
    expect(String(pre.headers['access-control-allow-headers'])).toMatch(/x-namespace/);

    const evil = await http(port, 'OPTIONS', '/codec/decode', undefined, { origin: 'https://evil.example', 'access-control-request-method': 'POST' });
    expect(evil.status).toBe(403);
    expect(evil.headers['access-control-allow-origin']).toBeUndefined();
    const evilPost = await http(port, 'POST', '/codec/decode', plainBody, { origin: 'https://evil.example', authorization: `Bearer ${token}` });
    expect(evilPost.status).toBe(403);
  });

  it('401 without the bearer token or with a wrong one', async () => {
    expect((await http(port, 'POST', '/codec/encode', plainBody, { origin: ui })).status).toBe(401);
    const wrong = await http(port, 'POST', '/codec/decode', plainBody, { origin: ui, authorization: `Bearer ${token.slice(0, -1)}x` });
    expect(wrong.status).toBe(401);
    expect(wrong.headers['www-authenticate']).toBe('Bearer');
    expect(wrong.headers['access-control-allow-origin']).toBe(ui); // so the UI can read the 401
  });

  it('round-trips encode → decode, and rejects a tampered payload with 400', async () => {
    const enc = await http(port, 'POST', '/codec/encode', plainBody, { origin: ui, authorization: `Bearer ${token}`, 'x-namespace': 'default' });
    expect(enc.status).toBe(200);
    const sealed = JSON.parse(enc.body).payloads[0];
    expect(Buffer.from(sealed.metadata.encoding, 'base64').toString()).toBe(ENCRYPTED_ENCODING);
    expect(Buffer.from(sealed.data, 'base64').toString('latin1')).not.toContain('DE89370400440532013000');
    const dec = await http(port, 'POST', '/codec/decode', { payloads: [sealed] }, { origin: ui, authorization: `Bearer ${token}` });
    expect(dec.status).toBe(200);
    expect(JSON.parse(dec.body)).toEqual(plainBody);

    const data = Buffer.from(sealed.data, 'base64');
    data[5] = data[5]! ^ 0xff;
    const bad = await http(port, 'POST', '/codec/decode', { payloads: [{ ...sealed, data: data.toString('base64') }] }, { authorization: `Bearer ${token}` });
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body).error).toMatch(/failed authentication/);
  });

  it('refuses to serve at all without a configured token (503), and rejects bad bodies (400)', async () => {
    const server = createCodecServer({ codec: new KmsEnvelopeCodec({ kms: aws.kms, keyId: alias }), token: undefined, allowedOrigins: [ui] });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const r = await http((server.address() as AddressInfo).port, 'POST', '/codec/decode', plainBody, { authorization: 'Bearer anything-at-all-here' });
      expect(r.status).toBe(503);
    } finally {
      server.close();
    }
    expect((await http(port, 'POST', '/codec/decode', { nope: 1 }, { authorization: `Bearer ${token}` })).status).toBe(400);
    expect((await http(port, 'GET', '/codec/decode', undefined, { authorization: `Bearer ${token}` })).status).toBe(405);
    expect((await http(port, 'POST', '/elsewhere', plainBody, { authorization: `Bearer ${token}` })).status).toBe(404);
  });
});

type HistoryEvent = NonNullable<Awaited<ReturnType<Client['workflowService']['getWorkflowExecutionHistory']>>['history']>['events'] extends (infer E)[] | null | undefined ? E : never;

async function rawHistory(h: Harness, workflowId: string): Promise<HistoryEvent[]> {
  const events: HistoryEvent[] = [];
  let nextPageToken: Uint8Array | undefined;
  do {
    const page = await h.client.workflowService.getWorkflowExecutionHistory({ namespace: h.config.temporal.namespace, execution: { workflowId }, maximumPageSize: 500, nextPageToken });
    events.push(...(page.history?.events ?? []));
    nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
  } while (nextPageToken);
  return events;
}

function http(port: number, method: string, path: string, body: unknown, headers: Record<string, string>) {
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request({ host: '127.0.0.1', port, method, path, headers: { ...(payload ? { 'content-type': 'application/json' } : {}), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    if (payload) req.write(payload);
    req.end();
  });
}
