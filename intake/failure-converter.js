// Plain JavaScript on purpose: the SDK require()s this module by path in the worker's and client's
// main thread (where no TypeScript loader may be active, e.g. under vitest) and bundles it into the
// workflow sandbox. Keep it dependency-free apart from @temporalio/common.
import { DefaultFailureConverter } from '@temporalio/common';

/**
 * Failure messages and stack traces move into `encodedAttributes`, a payload, so the payload codec
 * encrypts them: a failed step's reason (which names clients, keys and secrets) is not readable in
 * raw history. The server only sees the message "Encoded failure".
 */
export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
