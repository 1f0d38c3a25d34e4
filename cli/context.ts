import type { Client } from '@temporalio/client';
import { ConfigError, loadConfig, type Config } from '../temporal.config.js';
import { connectClient } from '../intake/temporal-client.js';
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
    return loadConfig(process.env, { temporal, ...extra });
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message, 2);
    throw err;
  }
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
