export { incidentWorkflow } from './incident.js';
export { kmsKeyReplaceWorkflow, kmsKeyRotationWorkflow, scheduledRotationWorkflow, secretRotationWorkflow } from './rotation.js';
