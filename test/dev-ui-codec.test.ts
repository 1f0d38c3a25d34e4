import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { devUiCodecEndpoint } from '../cli/commands/dev.js';
import { freePort, startTemporal } from '../devstack/servers.js';
import { testConfig } from './support.js';

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
    } finally {
      await server.stop();
    }
  });
});
