import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, readFileSync } from 'node:fs';
import { createServer, connect as tcpConnect } from 'node:net';
import { dirname, join } from 'node:path';
import { Connection } from '@temporalio/client';
import { ensureTools, PROJECT_ROOT } from './tools.js';

export interface RunningServer {
  /** host:port for Temporal, http://host:port for moto. */
  address: string;
  pid?: number;
  /** true when something of the right kind was already listening and is left running. */
  reused: boolean;
  logFile?: string;
  stop(): Promise<void>;
}

const LOG_DIR = join(PROJECT_ROOT, '.bulwark', 'logs');
const children = new Set<ChildProcess>();
// Servers we started must not outlive us, whichever way the process ends.
process.once('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

/** Ports handed out by this process: the OS may offer a just-closed port again before anyone binds it. */
const handedOut = new Set<number>();

export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = createServer();
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const { port: p } = srv.address() as { port: number };
        srv.close(() => resolve(p));
      });
    });
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('no free TCP port found after 20 attempts');
}

function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ port, host: '127.0.0.1' });
    socket.setTimeout(500);
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('timeout', () => (socket.destroy(), resolve(false)));
    socket.once('error', () => resolve(false));
  });
}

async function temporalHealthy(address: string): Promise<boolean> {
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ address, connectTimeout: '1 second' });
    // The default namespace is registered a moment after the port opens; workers need it.
    await connection.workflowService.describeNamespace({ namespace: 'default' });
    return true;
  } catch {
    return false;
  } finally {
    await connection?.close().catch(() => undefined);
  }
}

async function motoHealthy(endpoint: string): Promise<boolean> {
  try {
    const res = await fetch(`${endpoint}/moto-api/`, { signal: AbortSignal.timeout(1000) });
    return res.ok;
  } catch {
    return false;
  }
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-5).join('\n');
  } catch {
    return '(no log)';
  }
}

async function launch(opts: {
  kind: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  logFile: string;
  address: string;
  healthy: () => Promise<boolean>;
  timeoutMs: number;
}): Promise<RunningServer> {
  mkdirSync(dirname(opts.logFile), { recursive: true });
  const log = openSync(opts.logFile, 'a');
  // Own process group: a terminal's Ctrl-C must reach us first, so the worker drains while the
  // server is still up; we stop the server ourselves afterwards.
  const child = spawn(opts.command, opts.args, { env: opts.env ?? process.env, stdio: ['ignore', log, log], detached: true });
  children.add(child);
  let exited: string | undefined;
  child.once('exit', (code, signal) => {
    children.delete(child);
    exited = `exited (${signal ?? code})`;
  });
  // The SDK gives a server only ~5 s; a cold dev server can take longer, so we poll here instead.
  const deadline = Date.now() + opts.timeoutMs;
  while (!(await opts.healthy())) {
    if (exited) throw new Error(`${opts.kind} ${exited} before becoming ready; last log lines (${opts.logFile}):\n${tail(opts.logFile)}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${opts.kind} did not become ready within ${opts.timeoutMs / 1000} s; see ${opts.logFile}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    address: opts.address,
    pid: child.pid,
    reused: false,
    logFile: opts.logFile,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(timer);
    },
  };
}

/** Reuses a healthy server already on the port; refuses a port held by something else. */
async function reuseOrCheckFree(kind: string, port: number, healthy: () => Promise<boolean>, address: string, hint: string): Promise<RunningServer | undefined> {
  if (!(await portAnswers(port))) return undefined;
  if (await healthy()) return { address, reused: true, stop: async () => undefined };
  throw new Error(`port ${port} is taken by something that is not ${kind}: free it or choose another port (${hint})`);
}

export async function startTemporal(opts: {
  port: number;
  uiPort?: number;
  dbFile?: string;
  headless?: boolean;
  namespaces?: string[];
  logFile?: string;
  /** The codec server the Web UI calls to show decrypted payloads (e.g. http://127.0.0.1:8787/codec). */
  uiCodecEndpoint?: string;
}): Promise<RunningServer> {
  const address = `127.0.0.1:${opts.port}`;
  const healthy = () => temporalHealthy(address);
  const reused = await reuseOrCheckFree('a Temporal server', opts.port, healthy, address, '--temporal-port / BULWARK_DEV_TEMPORAL_PORT');
  if (reused) return reused;
  const { temporal } = await ensureTools();
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(opts.port), '--log-level', 'warn', '--sqlite-pragma', 'journal_mode=wal'];
  args.push('--dynamic-config-value', 'frontend.enableExecuteMultiOperation=true');
  args.push('--dynamic-config-value', 'system.enableActivityEagerExecution=true');
  // Correlation of alerts by client looks incidents up by this attribute (intake/correlation.ts).
  args.push('--search-attribute', 'BulwarkClientId=Keyword');
  if (opts.headless || opts.uiPort === undefined) args.push('--headless');
  else args.push('--ui-port', String(opts.uiPort));
  if (opts.uiCodecEndpoint && !args.includes('--headless')) args.push('--ui-codec-endpoint', opts.uiCodecEndpoint);
  if (opts.dbFile) {
    mkdirSync(dirname(opts.dbFile), { recursive: true });
    args.push('--db-filename', opts.dbFile);
  }
  for (const ns of opts.namespaces ?? []) args.push('--namespace', ns);
  return launch({ kind: 'Temporal dev server', command: temporal, args, logFile: opts.logFile ?? join(LOG_DIR, 'temporal.log'), address, healthy, timeoutMs: 60_000 });
}

export async function startMoto(opts: { port: number; logFile?: string }): Promise<RunningServer> {
  const address = `http://127.0.0.1:${opts.port}`;
  const healthy = () => motoHealthy(address);
  const reused = await reuseOrCheckFree('moto', opts.port, healthy, address, '--aws-port / BULWARK_DEV_AWS_PORT');
  if (reused) return reused;
  const { moto } = await ensureTools();
  return launch({
    kind: 'moto (sandbox AWS)',
    command: moto.command,
    args: [...moto.args, '-H', '127.0.0.1', '-p', String(opts.port)],
    env: moto.env,
    logFile: opts.logFile ?? join(LOG_DIR, 'moto.log'),
    address,
    healthy,
    timeoutMs: 30_000,
  });
}
