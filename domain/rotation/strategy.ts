/**
 * How a rotation shapes the new secret version from the current one.
 *
 * - single-user: the same credential gets a new value. A JSON object keeps every field; `password`
 *   is replaced if present, otherwise every string field whose name looks like a credential
 *   (secret/password/token/key). A non-JSON secret is replaced as a whole.
 * - alternating-users: the secret is JSON `{ "username": …, "password": …, … }` and two database
 *   users take turns. The new version switches to the *other* user with a new password, so the
 *   user in AWSCURRENT keeps working until consumers pick up the new version (AWSPREVIOUS keeps
 *   the old user's credentials). The other user is the configured pair's partner (`userPair:
 *   [app, app_clone]`), or by convention `<user>_clone` (and `x_clone` ↔ `x`). Setting the new
 *   password on the database user itself is the setSecret target's job (pluggable; the built-in
 *   target is "none").
 */
export const STRATEGIES = ['single-user', 'alternating-users'] as const;
export type RotationStrategy = (typeof STRATEGIES)[number];

const CREDENTIAL_FIELD = /secret|password|token|key/i;
const CLONE_SUFFIX = '_clone';

export class SecretShapeError extends Error {
  override name = 'SecretShapeError';
}

/** The partner of `user`: from the configured pair, or the `_clone` convention. */
export function otherUser(user: string, pair?: readonly [string, string]): string {
  if (pair) {
    if (pair[0] === pair[1]) throw new SecretShapeError('userPair names the same user twice');
    if (user === pair[0]) return pair[1];
    if (user === pair[1]) return pair[0];
    throw new SecretShapeError(`the secret's username is not one of the configured pair (${pair.join(', ')})`);
  }
  return user.endsWith(CLONE_SUFFIX) && user.length > CLONE_SUFFIX.length ? user.slice(0, -CLONE_SUFFIX.length) : `${user}${CLONE_SUFFIX}`;
}

function asObject(value: string | undefined): Record<string, unknown> | undefined {
  if (value === undefined) return undefined;
  try {
    const parsed: unknown = JSON.parse(value);
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

export interface NextValue {
  value: string;
  /** The user the new version authenticates as (alternating-users, or a JSON secret with a username). */
  username?: string;
}

/** The new version's value. `fresh()` returns a new random credential on each call. */
export function nextSecretValue(current: string | undefined, strategy: RotationStrategy, fresh: () => string, userPair?: readonly [string, string]): NextValue {
  const obj = asObject(current);
  if (strategy === 'alternating-users') {
    if (!obj || typeof obj.username !== 'string' || typeof obj.password !== 'string') {
      throw new SecretShapeError('alternating-users needs a JSON secret with string fields "username" and "password"');
    }
    const username = otherUser(obj.username, userPair);
    return { value: JSON.stringify({ ...obj, username, password: fresh() }), username };
  }
  if (obj) {
    const fields = typeof obj.password === 'string' ? ['password'] : Object.keys(obj).filter((k) => CREDENTIAL_FIELD.test(k) && typeof obj[k] === 'string');
    if (fields.length === 0) throw new SecretShapeError('the JSON secret has no credential field (password, or a string field named like secret/token/key) to rotate');
    const next = { ...obj };
    for (const f of fields) next[f] = fresh();
    return { value: JSON.stringify(next), username: typeof obj.username === 'string' ? obj.username : undefined };
  }
  return { value: fresh() };
}

/** A key-pair secret's next value: the other fields kept, privateKey/publicKey replaced. */
export function nextKeyPairValue(current: string | undefined, strategy: RotationStrategy, pair: { privateKey: string; publicKey: string }): NextValue {
  if (strategy !== 'single-user') throw new SecretShapeError('a key-pair secret rotates with the single-user strategy');
  const obj = current === undefined || current.trim() === '' ? {} : asObject(current);
  if (!obj) throw new SecretShapeError('a key-pair secret must be JSON (privateKey, publicKey and any other fields)');
  return { value: JSON.stringify({ ...obj, privateKey: pair.privateKey, publicKey: pair.publicKey }), username: typeof obj.username === 'string' ? obj.username : undefined };
}

/** The credential fields of a version (for policy checks), and its username if any. */
export function credentialParts(value: string, strategy: RotationStrategy): { credentials: string[]; username?: string; fields?: string } {
  const obj = asObject(value);
  if (!obj) return { credentials: [value] };
  const fields = Object.keys(obj).sort().join(',');
  const username = typeof obj.username === 'string' ? obj.username : undefined;
  if (strategy === 'alternating-users' || typeof obj.password === 'string') return { credentials: typeof obj.password === 'string' ? [obj.password] : [], username, fields };
  return { credentials: Object.keys(obj).filter((k) => CREDENTIAL_FIELD.test(k) && typeof obj[k] === 'string').map((k) => obj[k] as string), username, fields };
}
