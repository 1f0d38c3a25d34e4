import { alphabetOf, type GeneratorPolicy, type GeneratorPolicyInput } from './generator.js';

/**
 * What Amazon Cognito accepts as a custom app-client secret (AddUserPoolClientSecret, API
 * reference): 24 to 64 characters matching [\w+]+, i.e. ASCII letters, digits, `_` and `+`. An app
 * client holds at most two secrets, so a rotation adds the new one next to the current one and
 * deletes the old one when it is retired.
 */
export const COGNITO_SECRET_MIN = 24;
export const COGNITO_SECRET_MAX = 64;
export const COGNITO_SECRETS_PER_CLIENT = 2;
const COGNITO_SECRET_CHARS = /^[A-Za-z0-9_+]*$/;

/**
 * The generator used for a Cognito target when none is given: letters and digits only (the
 * default password policy's symbols are not allowed), 48 characters (~285 bits).
 */
export const COGNITO_SECRET_GENERATOR: GeneratorPolicyInput = { kind: 'password', length: 48, symbols: false };

/** Why a value cannot be a Cognito client secret (empty when it can). Never quotes the value. */
export function checkCognitoSecret(value: string): string[] {
  const problems: string[] = [];
  if (value.length < COGNITO_SECRET_MIN || value.length > COGNITO_SECRET_MAX) problems.push(`length ${value.length}, Cognito accepts ${COGNITO_SECRET_MIN}–${COGNITO_SECRET_MAX}`);
  const outside = [...value].filter((ch) => !COGNITO_SECRET_CHARS.test(ch)).length;
  if (outside > 0) problems.push(`${outside} character(s) other than letters, digits, _ and +`);
  return problems;
}

/** Why a generator policy can produce values Cognito refuses (undefined when every value it makes fits). */
export function cognitoGeneratorProblem(policy: GeneratorPolicy): string | undefined {
  if (policy.kind === 'keypair') return 'a Cognito client secret is a string; a keypair generator cannot make one';
  if (policy.length < COGNITO_SECRET_MIN || policy.length > COGNITO_SECRET_MAX) return `length ${policy.length}: a Cognito client secret has ${COGNITO_SECRET_MIN}–${COGNITO_SECRET_MAX} characters`;
  const bad = [...new Set(alphabetOf(policy))].filter((ch) => !COGNITO_SECRET_CHARS.test(ch));
  if (bad.length) {
    const fix = policy.kind === 'token' ? 'exclude "-"' : 'set symbols: false, or exclude every symbol but _ and +';
    return `the ${policy.kind} alphabet has ${bad.length} character(s) Cognito refuses (${bad.join('')}); a Cognito client secret takes letters, digits, _ and + only: ${fix}`;
  }
  return undefined;
}
