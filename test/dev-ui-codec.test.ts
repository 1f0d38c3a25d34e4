import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateAliasCommand, CreateKeyCommand } from '@aws-sdk/client-kms';
import { defaultPayloadConverter } from '@temporalio/common';
import { createAwsClients } from '../activities/clients.js';
import { devUiCodecEndpoint, devUiCodecOverrides } from '../cli/commands/dev.js';
import { freePort, startTemporal } from '../devstack/servers.js';
import { ENCRYPTED_ENCODING, KmsEnvelopeCodec } from '../intake/codec.js';
import { startIntake } from '../intake/app.js';
import { createCodecServer } from '../intake/codec-server.js';
import { assertDevUiCodecListen, isLoopbackHost } from '../intake/dev-ui-codec-access.js';
import { createLogger } from '../telemetry/logger.js';
import { ConfigError } from '../temporal.config.js';
import { startHarness, testConfig, type Harness } from './support.js';

describe('dev stack: the Temporal Web UI decodes payloads through the intake codec endpoint', () => {
  it.each([
    [{ codec: { kmsKeyId: 'alias/bulwark-codec' } }, 8787, 'http://127.0.0.1:8787/codec'],
    [{ codec: { kmsKeyId: 'alias/bulwark-codec' } }, 9911, 'http://127.0.0.1:9911/codec'],
    [{}, 8787, undefined],
  ])('codec config %j, intake port %i → %s', (overrides, port, expected) => {
    expect(devUiCodecEndpoint(testConfig(overrides), port)).toBe(expected);
  });

  it('the dev server started with the endpoint serves it in the UI settings API', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bulwark-ui-codec-'));
    const [port, uiPort] = [await freePort(), await freePort()];
    const endpoint = 'http://127.0.0.1:18787/codec';
    const server = await startTemporal({ port, uiPort, uiCodecEndpoint: endpoint, logFile: join(dir, 'temporal.log') });
    try {
      let settings: { Codec?: { Endpoint?: string } } | undefined;
      const deadline = Date.now() + 20_000;
      while (!settings && Date.now() < deadline) {
        const res = await fetch(`http://127.0.0.1:${uiPort}/api/v1/settings`).catch(() => undefined);
        if (res?.ok) settings = (await res.json()) as typeof settings;
        else await new Promise((r) => setTimeout(r, 200));
      }
      expect(settings?.Codec?.Endpoint).toBe(endpoint);
      // The dev UI has no login, so it never sends a bearer token: hence the dev-only loopback exception below.
      expect(settings?.Codec).toMatchObject({ PassAccessToken: false });
    } finally {
      await server.stop();
    }
  });
});

/**
 * The dev UI cannot send the codec token (no login): `bulwark dev` lets exactly its own origins
 * through from loopback (intake/dev-ui-codec-access.ts). Real intake, real KMS in moto.
 */
describe('dev stack: token-free codec access for the dev Web UI only', () => {
  const uiPort = 18233;
  const devUi = `http://127.0.0.1:${uiPort}`;
  const prodUi = 'https://temporal.example.com';
  const token = randomBytes(16).toString('hex');
  const secret = { iban: 'DE89370400440532013000', note: 'dev ui decode' };
  const alias = `alias/bulwark-dev-ui-${randomBytes(4).toString('hex')}`;
  let sealed: { metadata: Record<string, string>; data: string };
  let dev: Harness; // codec on, dev UI flag, a token for everyone else, a production UI origin too
  let plain: Harness; // codec on, token, no dev flag (production shape)

  beforeAll(async () => {
    const aws = createAwsClients(testConfig().aws);
    const keyId = (await aws.kms.send(new CreateKeyCommand({ Description: 'bulwark dev ui codec test' }))).KeyMetadata!.KeyId!;
    await aws.kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: keyId }));
    const [p] = await new KmsEnvelopeCodec({ kms: aws.kms, keyId: alias }).encode([defaultPayloadConverter.toPayload(secret)!]);
    sealed = {
      metadata: Object.fromEntries(Object.entries(p!.metadata!).map(([k, v]) => [k, Buffer.from(v!).toString('base64')])),
      data: Buffer.from(p!.data!).toString('base64'),
    };
    const overrides = devUiCodecOverrides(uiPort, {});
    dev = await startHarness({
      intake: true,
      worker: false,
      config: testConfig({ codec: { kmsKeyId: alias, serverToken: token, devUiOrigins: overrides.codec.devUiOrigins, allowedOrigins: [...overrides.codec.allowedOrigins!, prodUi] } }),
    });
    plain = await startHarness({ intake: true, worker: false, config: testConfig({ codec: { kmsKeyId: alias, serverToken: token, allowedOrigins: [devUi, prodUi] } }) });
  });
  afterAll(async () => {
    await dev?.close();
    await plain?.close();
  });

  const portOf = (h: Harness) => Number(new URL(h.intake!.url).port);
  const decode = (h: Harness, headers: Record<string, string>) => http(portOf(h), 'POST', '/codec/decode', { payloads: [sealed] }, { 'x-namespace': 'default', ...headers });
  const decodedValue = (body: string) => {
    const out = JSON.parse(body).payloads[0];
    return defaultPayloadConverter.fromPayload({ metadata: Object.fromEntries(Object.entries(out.metadata as Record<string, string>).map(([k, v]) => [k, Buffer.from(v, 'base64')])), data: Buffer.from(out.data, 'base64') });
  };

  it('the payload under test is really encrypted', () => {
    expect(Buffer.from(sealed.metadata.encoding!, 'base64').toString()).toBe(ENCRYPTED_ENCODING);
    expect(Buffer.from(sealed.data, 'base64').toString('latin1')).not.toContain(secret.iban);
  });

  it('`bulwark dev` settings: the dev UI origins, both trusted and CORS-allowed; BULWARK_CODEC_ALLOWED_ORIGINS keeps its CORS list', () => {
    expect(devUiCodecOverrides(8233, {})).toEqual({ codec: { devUiOrigins: ['http://127.0.0.1:8233', 'http://localhost:8233'], allowedOrigins: ['http://127.0.0.1:8233', 'http://localhost:8233'] } });
    expect(devUiCodecOverrides(9000, { BULWARK_CODEC_ALLOWED_ORIGINS: prodUi })).toEqual({ codec: { devUiOrigins: ['http://127.0.0.1:9000', 'http://localhost:9000'] } });
    expect(testConfig().codec.devUiOrigins).toBeUndefined(); // never a default
  });

  it('with the flag: the UI preflight passes, and POST /codec/decode from loopback with the UI origin and no token → 200, decoded', async () => {
    for (const origin of [devUi, `http://localhost:${uiPort}`]) {
      const pre = await http(portOf(dev), 'OPTIONS', '/codec/decode', undefined, { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-namespace' });
      expect(pre.status).toBe(204);
      expect(pre.headers['access-control-allow-origin']).toBe(origin);
      const r = await decode(dev, { origin });
      expect(r.status).toBe(200);
      expect(r.headers['access-control-allow-origin']).toBe(origin);
      expect(decodedValue(r.body)).toEqual(secret);
    }
  });

  it('with the flag, everything but the dev UI still needs the token: other allowed origin, no origin, forged Host, proxied request → 401', async () => {
    const cases: Record<string, string>[] = [
      { origin: prodUi }, // the production UI: CORS-allowed, but not the dev UI
      {}, // curl from the same machine without an Origin
      { origin: devUi, host: 'bulwark-dev.ngrok.app' }, // a tunnel keeps the public Host
      { origin: devUi, 'x-forwarded-for': '203.0.113.9' }, // …or says it forwarded
      { origin: devUi, forwarded: 'for=203.0.113.9' },
    ];
    for (const headers of cases) {
      const r = await decode(dev, headers);
      expect({ headers, status: r.status }).toEqual({ headers, status: 401 });
      expect(r.body).not.toContain(Buffer.from(secret.iban).toString('base64').slice(0, 12));
    }
    // A foreign web page, or another local port (another origin), is refused by CORS before auth, as before.
    expect((await decode(dev, { origin: 'https://evil.example' })).status).toBe(403);
    expect((await decode(dev, { origin: `http://127.0.0.1:${uiPort + 1}` })).status).toBe(403);
    // The token path is unchanged under the flag.
    const withToken = await decode(dev, { origin: prodUi, authorization: `Bearer ${token}` });
    expect(withToken.status).toBe(200);
    expect(decodedValue(withToken.body)).toEqual(secret);
  });

  it('without the flag, the dev UI origin from loopback with no token → 401 (production behaviour)', async () => {
    const r = await decode(plain, { origin: devUi });
    expect(r.status).toBe(401);
    expect(r.headers['www-authenticate']).toBe('Bearer');
    expect((await decode(plain, { origin: devUi, authorization: `Bearer ${token}` })).status).toBe(200);
  });

  it('a request from a non-loopback socket with the dev UI origin → 401 even under the flag', async (ctx) => {
    const lan = Object.values(networkInterfaces()).flat().find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
    if (!lan) return ctx.skip(); // no non-loopback interface on this machine
    const server = createCodecServer({ codec: new KmsEnvelopeCodec({ kms: dev.aws.kms, keyId: alias }), token, allowedOrigins: [devUi], devUiOrigins: [devUi] });
    await new Promise<void>((r) => server.listen(0, lan, r));
    try {
      const port = (server.address() as AddressInfo).port;
      const r = await http(port, 'POST', '/codec/decode', { payloads: [sealed] }, { origin: devUi, host: `127.0.0.1:${port}` }, lan);
      expect(r.status).toBe(401);
    } finally {
      server.close();
    }
  });

  it.each([
    ['127.0.0.1', true],
    ['localhost', true],
    ['::1', true],
    ['127.0.0.2', true],
    ['0.0.0.0', false],
    ['::', false],
    ['192.168.1.10', false],
    ['bulwark.internal', false],
  ])('intake host %s is loopback: %s', (host, loopback) => {
    expect(isLoopbackHost(host)).toBe(loopback);
    if (loopback) expect(() => assertDevUiCodecListen(host, ['http://127.0.0.1:8233'])).not.toThrow();
    else expect(() => assertDevUiCodecListen(host, ['http://127.0.0.1:8233'])).toThrow(/intake\.host.*loopback/s);
    expect(() => assertDevUiCodecListen(host, undefined)).not.toThrow(); // no flag, no constraint
  });

  it('the flag with a non-loopback intake host is a config error at startup: the intake refuses to start', async () => {
    const config = testConfig({ intake: { host: '0.0.0.0' }, codec: { kmsKeyId: alias, devUiOrigins: [devUi] } });
    const err = await startIntake({ config, client: dev.client, logger: createLogger('silent'), webhookSecret: randomBytes(24).toString('hex') }).then(
      async (intake) => {
        await intake.close();
        return undefined;
      },
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems[0]!.field).toBe('intake.host');
  });

  it('`bulwark dev` with the codec on and BULWARK_INTAKE_HOST=0.0.0.0 exits 2 before starting anything', async () => {
    const ports = [await freePort(), await freePort(), await freePort(), await freePort()];
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', 'cli/bulwark.ts', 'dev', '--temporal-port', String(ports[0]), '--ui-port', String(ports[1]), '--aws-port', String(ports[2]), '--intake-port', String(ports[3])],
        { env: { ...process.env, BULWARK_INTAKE_HOST: '0.0.0.0', BULWARK_CODEC_KMS_KEY: alias, NO_COLOR: '1' }, timeout: 30_000 },
        (error, _stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? null) : 0, stderr }),
      );
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/intake\.host.*loopback/s);
    expect(r.stderr).not.toMatch(/starting Temporal/);
  });

  it('a loopback origin is the only kind `codec.devUiOrigins` accepts', () => {
    expect(() => testConfig({ codec: { devUiOrigins: ['http://10.0.0.5:8233'] } })).toThrow(/codec\.devUiOrigins.*loopback http origin/s);
    expect(() => testConfig({ codec: { devUiOrigins: ['*'] } })).toThrow(ConfigError);
  });
});

function http(port: number, method: string, path: string, body: unknown, headers: Record<string, string>, host = '127.0.0.1') {
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request({ host, port, method, path, headers: { ...(payload ? { 'content-type': 'application/json' } : {}), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    if (payload) req.write(payload);
    req.end();
  });
}
