export { incidentWorkflow } from './incident.js';
export { kmsKeyReplaceWorkflow, kmsKeyRotationWorkflow, scheduledRotationWorkflow, secretRotationWorkflow } from './rotation.js';
export { certificateScanWorkflow, certificateWorkflow } from './certificate.js';
export { regulatorNotificationWorkflow } from './notification.js';
export { postureScanWorkflow } from './posture.js';
export { wafIpSetLedgerWorkflow } from './waf-block.js';
export { intelSyncWorkflow } from './intel.js';
