import { readFileSync } from 'node:fs';
import type { Client } from '@temporalio/client';
import { ConfigError, loadConfig, type Config } from '../temporal.config.js';
import { connectClient } from '../intake/temporal-client.js';
import { DEV_STATE_FILE } from './devstate.js';
import { CliError, explain } from './errors.js';

export interface GlobalOptions {
  verbose?: boolean;
  address?: string;
  namespace?: string;
  taskQueue?: string;
}

/** Config from env, with the global flags on top; a bad value is a usage error naming the field. */
export function configFrom(opts: GlobalOptions, extra: Record<string, unknown> = {}): Config {
  const temporal: Record<string, unknown> = {};
  if (opts.address) temporal.address = opts.address;
  if (opts.namespace) temporal.namespace = opts.namespace;
  if (opts.taskQueue) temporal.taskQueue = opts.taskQueue;
  try {
    return loadConfig(withDevSandbox(process.env), { temporal, ...extra });
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message, 2);
    throw err;
  }
}

/**
 * Commands that call AWS themselves (`inventory scan`, `cert list`, …) find the dev stack's sandbox
 * AWS when `npm start` is running and nothing else names an AWS account: no endpoint, no keys, no
 * profile. Anything that does keeps its meaning, so a real account is never swapped for moto.
 */
function withDevSandbox(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  if (env.AWS_ENDPOINT_URL || env.AWS_ACCESS_KEY_ID || env.AWS_PROFILE || env.AWS_WEB_IDENTITY_TOKEN_FILE || env.AWS_CONTAINER_CREDENTIALS_FULL_URI || env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI) return env;
  let awsEndpoint: unknown;
  try {
    awsEndpoint = (JSON.parse(readFileSync(DEV_STATE_FILE, 'utf8')) as { awsEndpoint?: unknown }).awsEndpoint;
  } catch {
    return env;
  }
  if (typeof awsEndpoint !== 'string') return env;
  // Said once on a terminal, so nobody mistakes the sandbox for their account; scripts stay quiet.
  if (process.stderr.isTTY) process.stderr.write(`bulwark: using the dev stack's sandbox AWS at ${awsEndpoint} (${DEV_STATE_FILE}); set AWS_ENDPOINT_URL or AWS credentials to aim elsewhere\n`);
  return { ...env, AWS_ENDPOINT_URL: awsEndpoint };
}

export async function clientFor(config: Config): Promise<Client> {
  try {
    return await connectClient(config);
  } catch (err) {
    throw new CliError(explain(err, { temporalAddress: config.temporal.address }));
  }
}

export function operator(as?: string): string {
  return as ?? process.env.BULWARK_OPERATOR ?? process.env.USER ?? 'operator';
}
