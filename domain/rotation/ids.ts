/**
 * Workflow and schedule ids of the rotation engine. One id per rotated thing is what makes two
 * rotations of the same secret or key impossible at once: Temporal refuses a second running
 * workflow with the same id.
 */

const SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:(.+)-[A-Za-z0-9]{6}$/;
const KEY_ARN = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/(.+)$/;
const ALIAS_ARN = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(alias\/.+)$/;

/**
 * A secret's name, whether given by name or ARN: AWS appends "-" and six random characters to the
 * name in a secret's ARN, so the ARN and the name of one secret map to the same id.
 */
export function normaliseSecretId(secretId: string): string {
  const id = secretId.trim();
  return SECRET_ARN.exec(id)?.[1] ?? id;
}

/** A key id from a key ARN, `alias/x` from an alias ARN; anything else unchanged. */
export function normaliseKeyId(keyId: string): string {
  const id = keyId.trim();
  return KEY_ARN.exec(id)?.[1] ?? ALIAS_ARN.exec(id)?.[1] ?? id;
}

export function normaliseAlias(aliasName: string): string {
  const a = normaliseKeyId(aliasName);
  return a.startsWith('alias/') ? a : `alias/${a}`;
}

export const secretRotationWorkflowId = (secretId: string) => `rotation-secret-${normaliseSecretId(secretId)}`;
export const kmsRotationWorkflowId = (keyId: string) => `rotation-kms-${normaliseKeyId(keyId)}`;
export const kmsReplaceWorkflowId = (aliasName: string) => `rotation-kms-replace-${normaliseAlias(aliasName)}`;
export const rotationScheduleId = (policyName: string) => `rotation-${policyName}`;
