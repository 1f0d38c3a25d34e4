import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';

export const WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));
/** What the bundle is built from: the same workflows, each loaded on first use (see the file for why). */
export const BUNDLE_ENTRY_PATH = fileURLToPath(new URL('../workflows/bundle-entry.cjs', import.meta.url));

const cached = new Map<string, Promise<WorkflowBundleWithSourceMap>>();

/**
 * Bundling takes seconds; one bundle per process (and failure converter) serves every worker it
 * creates. A pre-built bundle ignores the worker's dataConverter paths, so a custom failure
 * converter (encrypted failures, intake/codec.ts) must be bundled in here.
 */
export function workflowBundle(opts: { failureConverterPath?: string } = {}): Promise<WorkflowBundleWithSourceMap> {
  const key = opts.failureConverterPath ?? '';
  let bundle = cached.get(key);
  if (!bundle) {
    bundle = bundleWorkflowCode({ workflowsPath: BUNDLE_ENTRY_PATH, logger: quietBundlerLogger, ...(opts.failureConverterPath ? { failureConverterPath: opts.failureConverterPath } : {}) });
    cached.set(key, bundle);
  }
  return bundle;
}

const noop = () => undefined;
const quietBundlerLogger = { trace: noop, debug: noop, info: noop, warn: noop, error: (m: string) => console.error(m), log: noop };
