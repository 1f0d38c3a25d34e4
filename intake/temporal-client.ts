import { AsyncLocalStorage } from 'node:async_hooks';
import { Client, Connection } from '@temporalio/client';
import { temporalConnectionOptions, type Config } from '../temporal.config.js';
import { codecDataConverter } from './codec.js';

/**
 * Whether a signalWithStart started a new run. The server says so (`started` in the response), but
 * the SDK's signalWithStart returns only the run id, so the answer is caught on the way out of the
 * gRPC call and handed back through an AsyncLocalStorage slot scoped to the one call.
 */
const startedSlot = new AsyncLocalStorage<{ started?: boolean }>();

function trackSignalWithStart(connection: Connection): void {
  const service = connection.workflowService as unknown as Record<string, (req: unknown) => Promise<{ started?: boolean }>>;
  const original = service.signalWithStartWorkflowExecution!.bind(service);
  service.signalWithStartWorkflowExecution = async (req: unknown) => {
    const response = await original(req);
    const slot = startedSlot.getStore();
    if (slot) slot.started = Boolean(response.started);
    return response;
  };
}

export async function signalWithStartReportingStart<T>(fn: () => Promise<T>): Promise<{ result: T; started: boolean }> {
  const slot: { started?: boolean } = {};
  const result = await startedSlot.run(slot, fn);
  if (slot.started === undefined) throw new Error('signalWithStart outcome not observed: was the client made by connectClient()?');
  return { result, started: slot.started };
}

export async function connectClient(config: Config): Promise<Client> {
  const connection = await Connection.connect(await temporalConnectionOptions(config));
  trackSignalWithStart(connection);
  // Payload encryption when config.codec is enabled (off by default); workers must use the same codec.
  return new Client({ connection, namespace: config.temporal.namespace, ...codecDataConverter(config) });
}
