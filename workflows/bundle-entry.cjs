// The workflow bundle's entry point (worker/bundle.ts); workflows/index.ts is the same list for
// everything else (clients, tests, type imports).
//
// Why it is lazy: in the reusable V8 context each workflow run evaluates its own copy of every
// module it reaches, and the SDK only reads `entry[workflowType]`. An entry that imports every
// workflow would make each secret rotation build the incident workflow's playbook schemas, and
// each incident build the rotation, certificate, posture and regulator modules. Here a getter
// loads one workflow module (and what that module imports) the first time its name is read.
// test/bundle.test.ts keeps these names equal to workflows/index.ts's exports.
'use strict';

const modules = {
  incidentWorkflow: () => require('./incident.js'),
  kmsKeyReplaceWorkflow: () => require('./rotation.js'),
  kmsKeyRotationWorkflow: () => require('./rotation.js'),
  scheduledRotationWorkflow: () => require('./rotation.js'),
  secretRotationWorkflow: () => require('./rotation.js'),
  certificateScanWorkflow: () => require('./certificate.js'),
  certificateWorkflow: () => require('./certificate.js'),
  regulatorNotificationWorkflow: () => require('./notification.js'),
  postureScanWorkflow: () => require('./posture.js'),
  wafIpSetLedgerWorkflow: () => require('./waf-block.js'),
  intelSyncWorkflow: () => require('./intel.js'),
};

for (const [name, load] of Object.entries(modules)) {
  Object.defineProperty(exports, name, { enumerable: true, get: () => load()[name] });
}
