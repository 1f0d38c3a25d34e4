import { z } from 'zod';

/**
 * Random password / token generation by policy. Pure: the caller supplies `randomInt(max)` (an
 * unbiased integer in [0, max)); activities pass `crypto.randomInt`, so values are generated inside
 * the activity and never appear in workflow inputs, results or history.
 */
export const CHARACTER_CLASSES = {
  lowercase: 'abcdefghijklmnopqrstuvwxyz',
  uppercase: 'ABCDEFGHIJKLMNOPQRSTUVWXYZ',
  digits: '0123456789',
  // No quotes, backslash, slash, backtick or pipe: the characters that most often break
  // connection strings, shell snippets and config files. Exclude more with `exclude`.
  symbols: '!#$%&()*+,-.:;<=>?@[]^_{}~',
} as const;
export type CharacterClass = keyof typeof CHARACTER_CLASSES;
/** Key-pair algorithms (generation lives in keypair.ts, outside the workflow bundle: it needs node:crypto). */
export const KEY_PAIR_ALGORITHMS = ['ed25519', 'ec-p256', 'rsa-2048', 'rsa-3072'] as const;
export type KeyPairAlgorithm = (typeof KEY_PAIR_ALGORITHMS)[number];
const TOKEN_ALPHABET = `${CHARACTER_CLASSES.uppercase}${CHARACTER_CLASSES.lowercase}${CHARACTER_CLASSES.digits}-_`;

export const GeneratorPolicy = z
  .strictObject({
    /** password: characters from the enabled classes; token: URL-safe base64 alphabet; keypair: a new key pair (JSON privateKey/publicKey PEM). */
    kind: z.enum(['password', 'token', 'keypair']).default('password'),
    /** keypair only. */
    algorithm: z.enum(KEY_PAIR_ALGORITHMS).default('ed25519'),
    length: z.number().int().min(12, 'at least 12 characters').max(4096).default(32),
    lowercase: z.boolean().default(true),
    uppercase: z.boolean().default(true),
    digits: z.boolean().default(true),
    symbols: z.boolean().default(true),
    /** Characters never used, e.g. "0O1lI" for values read aloud. */
    exclude: z.string().max(256).default(''),
    /** Every enabled class appears at least once (password only). */
    requireEachClass: z.boolean().default(true),
  })
  .superRefine((p, ctx) => {
    if (p.kind === 'keypair') return;
    if (p.kind === 'token') {
      if (alphabetOf(p).length < 16) ctx.addIssue({ code: 'custom', path: ['exclude'], message: 'excludes too much of the token alphabet (fewer than 16 characters left)' });
      return;
    }
    const classes = enabledClasses(p);
    if (classes.length === 0) ctx.addIssue({ code: 'custom', path: ['lowercase'], message: 'enable at least one character class' });
    for (const c of classes) {
      if (charsOf(c, p.exclude).length === 0) ctx.addIssue({ code: 'custom', path: ['exclude'], message: `excludes every character of class ${c}` });
    }
    if (p.requireEachClass && p.length < classes.length) ctx.addIssue({ code: 'custom', path: ['length'], message: `shorter than the ${classes.length} required classes` });
  });
export type GeneratorPolicy = z.infer<typeof GeneratorPolicy>;
export type GeneratorPolicyInput = z.input<typeof GeneratorPolicy>;

export const DEFAULT_GENERATOR: GeneratorPolicy = GeneratorPolicy.parse({});

function enabledClasses(p: GeneratorPolicy): CharacterClass[] {
  return (Object.keys(CHARACTER_CLASSES) as CharacterClass[]).filter((c) => p[c]);
}

function charsOf(c: CharacterClass, exclude: string): string {
  return [...CHARACTER_CLASSES[c]].filter((ch) => !exclude.includes(ch)).join('');
}

/** The characters a password or token policy draws from. */
export function alphabetOf(p: GeneratorPolicy): string {
  if (p.kind === 'token') return [...TOKEN_ALPHABET].filter((ch) => !p.exclude.includes(ch)).join('');
  return enabledClasses(p).map((c) => charsOf(c, p.exclude)).join('');
}

/** A fresh value under the policy. `randomInt(max)` must be uniform on [0, max) and cryptographically strong. */
export function generateValue(policy: GeneratorPolicy, randomInt: (max: number) => number): string {
  const alphabet = alphabetOf(policy);
  const pick = (chars: string) => chars[randomInt(chars.length)]!;
  const out: string[] = [];
  if (policy.kind === 'password' && policy.requireEachClass) for (const c of enabledClasses(policy)) out.push(pick(charsOf(c, policy.exclude)));
  while (out.length < policy.length) out.push(pick(alphabet));
  // Fisher–Yates, so the guaranteed characters are not always at the front.
  for (let i = out.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out.join('');
}

/** What is wrong with a value under the policy (empty when it complies). Messages never quote the value. */
export function checkValue(value: string, policy: GeneratorPolicy): string[] {
  const problems: string[] = [];
  if (value.length !== policy.length) problems.push(`length ${value.length}, policy says ${policy.length}`);
  const alphabet = alphabetOf(policy);
  const outside = [...value].filter((ch) => !alphabet.includes(ch)).length;
  if (outside > 0) problems.push(`${outside} character(s) outside the policy's alphabet (excluded or disabled class)`);
  if (policy.kind === 'password' && policy.requireEachClass) {
    for (const c of enabledClasses(policy)) if (![...value].some((ch) => CHARACTER_CLASSES[c].includes(ch))) problems.push(`no ${c} character`);
  }
  return problems;
}
