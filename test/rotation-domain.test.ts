import { randomInt } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CHARACTER_CLASSES, checkValue, generateValue, GeneratorPolicy } from '../domain/rotation/generator.js';
import { kmsReplaceWorkflowId, normaliseKeyId, normaliseSecretId, secretRotationWorkflowId } from '../domain/rotation/ids.js';
import { checkDeletionWindowDays, checkRotationPeriodDays, checkWriteInterval, explainOnDemandCap } from '../domain/rotation/limits.js';
import { parseRotationFile, planSchedule } from '../domain/rotation/policy.js';
import { credentialParts, nextKeyPairValue, nextSecretValue, otherUser, SecretShapeError } from '../domain/rotation/strategy.js';
import { checkKeyPair, generateKeyPair, KEY_PAIR_ALGORITHMS } from '../domain/rotation/keypair.js';
import { parseConsumerArg, readProbe } from '../domain/rotation/target.js';

describe('password / token generator', () => {
  it('every generated value satisfies its policy (random policies)', () => {
    const policy = fc.record({
      kind: fc.constantFrom('password' as const, 'token' as const),
      length: fc.integer({ min: 12, max: 80 }),
      lowercase: fc.boolean(),
      uppercase: fc.boolean(),
      digits: fc.boolean(),
      symbols: fc.boolean(),
      exclude: fc.constantFrom('', '0O1lI', '!#$', 'abcdef'),
    });
    fc.assert(
      fc.property(policy, (raw) => {
        const parsed = GeneratorPolicy.safeParse(raw);
        fc.pre(parsed.success);
        const p = parsed.data!;
        const value = generateValue(p, randomInt);
        expect(checkValue(value, p)).toEqual([]);
        for (const ch of p.exclude) expect(value).not.toContain(ch);
      }),
      { numRuns: 300 },
    );
  });

  it('uses every enabled class and never a disabled one', () => {
    const p = GeneratorPolicy.parse({ length: 16, symbols: false, exclude: '0O1lI' });
    for (let i = 0; i < 200; i++) {
      const v = generateValue(p, randomInt);
      expect([...v].some((c) => CHARACTER_CLASSES.digits.includes(c))).toBe(true);
      expect([...v].some((c) => CHARACTER_CLASSES.uppercase.includes(c))).toBe(true);
      expect([...v].some((c) => CHARACTER_CLASSES.symbols.includes(c))).toBe(false);
      expect(v).not.toMatch(/[0O1lI]/);
    }
  });

  it('checkValue names what is wrong without quoting the value', () => {
    const p = GeneratorPolicy.parse({ length: 12, symbols: false });
    const problems = checkValue('abcdefghijk!', p);
    expect(problems.join(' ')).toMatch(/outside the policy's alphabet/);
    expect(problems.join(' ')).toMatch(/no uppercase character/);
    expect(problems.join(' ')).not.toContain('abcdefghijk');
  });

  it.each([
    [{ length: 8 }, /at least 12/],
    [{ lowercase: false, uppercase: false, digits: false, symbols: false }, /at least one character class/],
    [{ digits: true, exclude: '0123456789' }, /every character of class digits/],
    [{ colour: 'red' }, /Unrecognized key/i],
  ])('refuses a bad policy %j', (raw, message) => {
    const r = GeneratorPolicy.safeParse(raw);
    expect(r.success).toBe(false);
    expect(r.error!.issues.map((i) => i.message).join(' ')).toMatch(message);
  });
});

describe('strategies', () => {
  const fresh = () => 'NEW-CREDENTIAL';
  it('single-user replaces the password and keeps the other fields', () => {
    const r = nextSecretValue(JSON.stringify({ username: 'svc', password: 'old', host: 'db' }), 'single-user', fresh);
    expect(JSON.parse(r.value)).toEqual({ username: 'svc', password: 'NEW-CREDENTIAL', host: 'db' });
    expect(r.username).toBe('svc');
  });
  it('single-user replaces credential-like fields when there is no password, or the whole string', () => {
    expect(JSON.parse(nextSecretValue(JSON.stringify({ clientId: 'c', clientSecret: 'x' }), 'single-user', fresh).value)).toEqual({ clientId: 'c', clientSecret: 'NEW-CREDENTIAL' });
    expect(nextSecretValue('plain-old', 'single-user', fresh).value).toBe('NEW-CREDENTIAL');
    expect(() => nextSecretValue(JSON.stringify({ note: 'x' }), 'single-user', fresh)).toThrow(SecretShapeError);
  });
  it('alternating-users switches to the clone and back, or within a configured pair', () => {
    const first = nextSecretValue(JSON.stringify({ username: 'app', password: 'p', port: 5432 }), 'alternating-users', fresh);
    expect(JSON.parse(first.value)).toEqual({ username: 'app_clone', password: 'NEW-CREDENTIAL', port: 5432 });
    expect(nextSecretValue(first.value, 'alternating-users', fresh).username).toBe('app');
    expect(otherUser('blue', ['blue', 'green'])).toBe('green');
    expect(otherUser('green', ['blue', 'green'])).toBe('blue');
    expect(() => otherUser('red', ['blue', 'green'])).toThrow(/not one of the configured pair/);
    expect(() => nextSecretValue('not json', 'alternating-users', fresh)).toThrow(/username.*password/);
  });
  it('credentialParts finds the credential and user', () => {
    expect(credentialParts(JSON.stringify({ username: 'u', password: 'p' }), 'alternating-users')).toEqual({ credentials: ['p'], username: 'u', fields: 'password,username' });
  });
});

describe('ids', () => {
  it('a secret ARN and its name give the same workflow id', () => {
    const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/payments/db-AbC123';
    expect(normaliseSecretId(arn)).toBe('prod/payments/db');
    expect(secretRotationWorkflowId(arn)).toBe(secretRotationWorkflowId('prod/payments/db'));
    expect(normaliseKeyId('arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab')).toBe('1234abcd-12ab-34cd-56ef-1234567890ab');
    expect(kmsReplaceWorkflowId('signing')).toBe('rotation-kms-replace-alias/signing');
    expect(kmsReplaceWorkflowId('arn:aws:kms:eu-west-1:123456789012:alias/signing')).toBe('rotation-kms-replace-alias/signing');
  });
});

describe('AWS limits', () => {
  const now = new Date('2026-11-26T12:00:00Z');
  it('the 10-minute write guard', () => {
    expect(checkWriteInterval({ secret: 's', lastWrittenAt: undefined, now }).ok).toBe(true);
    const recent = checkWriteInterval({ secret: 's', lastWrittenAt: new Date(now.getTime() - 9 * 60_000), now });
    expect(recent.ok).toBe(false);
    if (!recent.ok) {
      expect(recent.message).toMatch(/10 minutes/);
      expect(recent.retryAfter).toBe('2026-11-26T12:01:00.000Z');
    }
    expect(checkWriteInterval({ secret: 's', lastWrittenAt: new Date(now.getTime() - 9 * 60_000), now, force: true }).ok).toBe(true);
    expect(checkWriteInterval({ secret: 's', lastWrittenAt: new Date(now.getTime() - 10 * 60_000), now }).ok).toBe(true);
  });
  it('KMS ranges and the on-demand cap explanation', () => {
    expect(checkDeletionWindowDays(6)).toMatch(/between 7 and 30/);
    expect(checkDeletionWindowDays(7)).toBeUndefined();
    expect(checkDeletionWindowDays(31)).toMatch(/between 7 and 30/);
    expect(checkRotationPeriodDays(89)).toMatch(/90 and 2560/);
    expect(checkRotationPeriodDays(365)).toBeUndefined();
    expect(explainOnDemandCap('k1', 25, 'limit exceeded')).toMatch(/has used 25.*ListKeyRotations.*enable-automatic/);
  });
});

describe('rotation.yaml', () => {
  const file = (policies: string) => `version: 1\nset: t\npolicies:\n${policies}`;
  it('the shipped example parses', async () => {
    const { readFileSync } = await import('node:fs');
    const r = parseRotationFile(readFileSync('rotation.yaml', 'utf8'));
    expect(r.ok ? r.file.policies.map((p) => p.name) : r.errors).toEqual(['payments-db', 'partner-api-token', 'data-key', 'signing-key']);
  });
  it('maps every/window to an interval with offset and jitter, cron to a cron expression', () => {
    const r = parseRotationFile(
      file(`  - name: a\n    target: { secret: s1 }\n    cadence: { every: 30d }\n    window: "02:00-04:30"\n  - name: b\n    target: { kmsKey: alias/k }\n    cadence: { cron: "0 3 * * 1" }\n    jitter: 15m\n    catchupWindow: 2h\n`),
    );
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    const [a, b] = r.file.policies.map((p) => planSchedule(p, r.file));
    expect(a!.scheduleId).toBe('rotation-a');
    expect(a!.spec).toEqual({ intervals: [{ every: 30 * 86_400_000, offset: 2 * 3_600_000 }], jitter: 150 * 60_000 });
    expect(a!.catchupWindowMs).toBe(3_600_000);
    expect(a!.input.target).toMatchObject({ kind: 'secret', secretId: 's1', strategy: 'single-user' });
    expect(b!.spec).toEqual({ cronExpressions: ['0 3 * * 1'], jitter: 15 * 60_000 });
    expect(b!.catchupWindowMs).toBe(2 * 3_600_000);
    expect(b!.input.target).toEqual({ kind: 'kms-rotate', keyId: 'alias/k' });
    expect(a!.input.policyHash).not.toBe(b!.input.policyHash);
  });
  it.each([
    ['  - name: a\n    target: { secret: s }\n    cadence: { every: 5m }\n', 'policies[0].cadence.every', /more often than hourly/],
    ['  - name: a\n    target: { secret: s }\n    cadence: { cron: "0 3 * * 1" }\n    window: "01:00-02:00"\n', 'policies[0].window', /window is for `every`/],
    ['  - name: a\n    target: { kmsKey: alias/k, mode: replace, deletionWindowDays: 5 }\n    cadence: { every: 90d }\n', 'policies[0].target.deletionWindowDays', /between 7 and 30/],
    ['  - name: a\n    target: { kmsKey: 1234abcd, mode: replace }\n    cadence: { every: 90d }\n', 'policies[0].target.kmsKey', /needs an alias/],
    ['  - name: a\n    target: { secret: s }\n    cadence: { every: 1d }\n  - name: a\n    target: { secret: t }\n    cadence: { every: 1d }\n', 'policies[1].name', /duplicate policy name/],
    ['  - name: a\n    target: { secret: s }\n    cadence: { every: 36h }\n    window: "01:00-02:00"\n', 'policies[0].window', /whole days/],
    ['  - name: a\n    target: { secret: s, stratgy: x }\n    cadence: { evry: 1d }\n', 'policies[0].cadence', /expected \{ every: 30d \} or \{ cron/],
    ['  - name: A_b\n    target: { secret: s }\n    cadence: { every: 1d }\n', 'policies[0].name', /lower-case/],
    ['  - name: a\n    target: { secret: s, setSecret: { kind: ftp } }\n    cadence: { every: 30d }\n', 'policies[0].target.setSecret.kind', /apigateway-key.*https/],
    ['  - name: a\n    target: { secret: s, setSecret: { kind: https, url: "ftp://x" } }\n    cadence: { every: 30d }\n', 'policies[0].target.setSecret.url', /http\(s\) URL/],
    ['  - name: a\n    target: { secret: s, consumers: [{ name: "a b", url: "http://x" }] }\n    cadence: { every: 30d }\n', 'policies[0].target.consumers[0].name', /short name/],
    ['  - name: a\n    target: { secret: s, grace: soon }\n    cadence: { every: 30d }\n', 'policies[0].target.grace', /duration/],
  ])('refuses a bad policy, naming the field (%#)', (policies, field, message) => {
    const r = parseRotationFile(file(policies));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors).toContainEqual({ field, message: expect.stringMatching(message) });
  });
});

describe('setSecret targets and consumer probes', () => {
  it('a policy passes its target, consumers and grace to the scheduled rotation', () => {
    const r = parseRotationFile(`version: 1\nset: t\npolicies:\n  - name: a\n    target: { secret: s, setSecret: { kind: apigateway-key, usagePlanIds: [p1] }, consumers: [{ name: gw, url: "https://gw/v" }], grace: 2h }\n    cadence: { every: 30d }\n`);
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    expect(planSchedule(r.file.policies[0]!, r.file).input.target).toEqual({
      kind: 'secret',
      secretId: 's',
      strategy: 'single-user',
      setSecret: { kind: 'apigateway-key', usagePlanIds: ['p1'] },
      consumers: [{ name: 'gw', url: 'https://gw/v' }],
      grace: '2h',
    });
  });
  it.each([
    [200, '{"versionId":"v2"}', { confirmed: true, reported: 'v2' }],
    [200, '{"versionId":"v1"}', { confirmed: false, reported: 'v1', why: 'still uses version v1' }],
    [200, '{"version":"v2"}', { confirmed: false, why: 'answered without a versionId' }],
    [200, 'v2', { confirmed: false, why: 'answered something other than JSON {"versionId": …}' }],
    [503, '{"versionId":"v2"}', { confirmed: false, why: 'answered HTTP 503' }],
    [404, '', { confirmed: false, why: 'answered HTTP 404' }],
  ])('probe answer %i %s', (status, body, expected) => {
    expect(readProbe(status, body, 'v2')).toEqual(expected);
  });
  it.each([
    ['gw=https://gw.internal/v', { name: 'gw', url: 'https://gw.internal/v' }],
    ['a=b=http://x/y?z=1', undefined],
    ['=https://x', undefined],
    ['gw', undefined],
    ['gw=ftp://x', undefined],
  ])('consumer argument %s', (text, expected) => {
    if (expected) expect(parseConsumerArg(text)).toEqual(expected);
    else expect(() => parseConsumerArg(text)).toThrow(/expected|consumer/);
  });
});

describe('key-pair generator', () => {
  it.each(KEY_PAIR_ALGORITHMS)('%s: a generated pair checks out; a pair of another algorithm or a mismatched half does not', (algorithm) => {
    const pair = generateKeyPair(algorithm);
    expect(pair.privateKey).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(pair.publicKey).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    expect(checkKeyPair(pair, algorithm)).toEqual([]);
    const other = generateKeyPair(algorithm);
    expect(checkKeyPair({ privateKey: pair.privateKey, publicKey: other.publicKey }, algorithm)).toEqual(['publicKey does not belong to privateKey']);
    const wrong = algorithm === 'ed25519' ? 'ec-p256' : 'ed25519';
    expect(checkKeyPair(pair, wrong)).toEqual([expect.stringMatching(new RegExp(`^the key is ${algorithm}, policy says ${wrong}$`))]);
  });
  it.each([
    [{}, 'expected string fields privateKey and publicKey (PEM)'],
    [{ privateKey: 'not pem', publicKey: 'x' }, 'privateKey is not a PEM private key'],
  ])('refuses %j without quoting it', (pair, message) => {
    expect(checkKeyPair(pair, 'ed25519')).toEqual([message]);
  });
  it('keeps the other fields; refuses non-JSON and alternating users', () => {
    const pair = { privateKey: 'P', publicKey: 'Q' };
    expect(JSON.parse(nextKeyPairValue('{"kid":"k1","privateKey":"old","publicKey":"old"}', 'single-user', pair).value)).toEqual({ kid: 'k1', privateKey: 'P', publicKey: 'Q' });
    expect(JSON.parse(nextKeyPairValue('', 'single-user', pair).value)).toEqual(pair);
    expect(() => nextKeyPairValue('plain', 'single-user', pair)).toThrow(SecretShapeError);
    expect(() => nextKeyPairValue('{}', 'alternating-users', pair)).toThrow(/single-user/);
  });
  it('the policy accepts kind keypair with an algorithm, and refuses an unknown one', () => {
    expect(GeneratorPolicy.parse({ kind: 'keypair' })).toMatchObject({ kind: 'keypair', algorithm: 'ed25519' });
    expect(GeneratorPolicy.safeParse({ kind: 'keypair', algorithm: 'dsa' }).success).toBe(false);
  });
});
