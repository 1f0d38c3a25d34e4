import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DemoAccount } from '../devstack/seed.js';

/** What `bulwark dev` leaves for `bulwark demo` and friends: where things run, and the demo's webhook secret. */
export interface DevState {
  intakeUrl: string;
  temporalAddress: string;
  temporalUi?: string;
  awsEndpoint: string;
  webhookSecret: string;
  demo?: DemoAccount;
}

export const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));
export const STATE_DIR = process.env.BULWARK_STATE_DIR ?? join(PROJECT_ROOT, '.bulwark');
export const DEV_STATE_FILE = join(STATE_DIR, 'dev.json');

export async function readDevState(): Promise<DevState | undefined> {
  try {
    return JSON.parse(await readFile(DEV_STATE_FILE, 'utf8')) as DevState;
  } catch {
    return undefined;
  }
}

export async function writeDevState(state: DevState): Promise<void> {
  await mkdir(dirname(DEV_STATE_FILE), { recursive: true });
  // The file holds the sandbox webhook secret: readable by the owner only.
  await writeFile(DEV_STATE_FILE, JSON.stringify(state, null, 2), { mode: 0o600 });
}
