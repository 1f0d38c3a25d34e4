import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mergeCidrs, normaliseCidrs, parseCidr, specialCategory, type Cidr } from '../domain/intel/cidr.js';
import { entriesFromIndicators } from '../domain/intel/entries.js';
import { addressesOfPattern, parseFeed, parsePlainList, parseStixBundle } from '../domain/intel/feeds.js';
import { changeBetween, desiredEntries, msUntilNextExpiry, pruneExpired } from '../domain/intel/holds.js';
import { IndicatorMatcher, intelMatches } from '../domain/intel/match.js';
import { resolvedParams, actionSpec, lenientParams } from '../domain/playbooks/actions.js';
import { parseAlert } from '../domain/alert.js';
import { DEFAULT_PLAYBOOK_SETTINGS } from '../domain/playbook.js';
import { PlaybookCatalog, SHIPPED_PLAYBOOKS_DIR } from '../intake/playbook-catalog.js';
import { stixBundle, stixIndicator } from './support/stix.js';

describe('CIDR parsing and canonical form', () => {
  it.each([
    ['185.220.101.7', '185.220.101.7/32', 4],
    [' 185.220.101.7/24 ', '185.220.101.0/24', 4],
    ['45.155.205.0/24', '45.155.205.0/24', 4],
    ['2A0E:1C80:0000::0001', '2a0e:1c80::1/128', 6],
    ['2a0e:1c80::/29', '2a0e:1c80::/29', 6],
    ['2a0e:1c87:ffff::/29', '2a0e:1c80::/29', 6],
    ['::ffff:185.220.101.7', '185.220.101.7/32', 4],
    ['0.0.0.0/0', '0.0.0.0/0', 4],
  ])('%s → %s', (input, cidr, version) => {
    expect(parseCidr(input)).toMatchObject({ cidr, version });
  });

  it.each([
    ['185.220.101', 'is not an IP address or CIDR'],
    ['185.220.101.256', 'is not an IP address or CIDR'],
    ['010.1.1.1', 'is not an IP address or CIDR'],
    ['185.220.101.7/33', 'invalid prefix length (expected 0-32)'],
    ['2a0e::/129', 'invalid prefix length (expected 0-128)'],
    ['185.220.101.7/24/1', 'is not an IP address or CIDR'],
    ['fe80::1%eth0', 'is not an IP address or CIDR'],
    ['example.com', 'is not an IP address or CIDR'],
  ])('refuses %s: %s', (input, message) => {
    expect(() => parseCidr(input)).toThrow(message);
  });

  it.each([
    ['10.1.2.3', 'private'],
    ['172.31.0.0/16', 'private'],
    ['100.64.1.1', 'private'],
    ['127.0.0.1', 'loopback'],
    ['169.254.169.254', 'link-local'],
    ['224.0.0.1', 'multicast'],
    ['198.51.100.7', 'documentation'],
    ['2001:db8::/32', 'documentation'],
    ['8.0.0.0/6', 'private'], // contains 10.0.0.0/8
    ['0.0.0.0/0', 'reserved'],
    ['fd00::1', 'private'],
    ['fe80::1', 'link-local'],
    ['ff02::1', 'multicast'],
    ['::1', 'loopback'],
    ['185.220.101.7', undefined],
    ['2a0e:1c80::/29', undefined],
  ])('%s is %s', (input, category) => {
    expect(specialCategory(parseCidr(input))).toBe(category);
  });

  it('allowing one category does not let a wider CIDR through that also covers another', () => {
    expect(specialCategory(parseCidr('0.0.0.0/0'), ['reserved'])).toBe('private');
    expect(specialCategory(parseCidr('10.0.0.0/8'), ['private'])).toBeUndefined();
  });

  it('normalise refuses special ranges unless allowed, splits families and merges', () => {
    expect(normaliseCidrs(['185.220.101.0/25', '185.220.101.128/25', '10.0.0.1', '2a0e:1c80::1', 'nope'])).toEqual({
      ipv4: ['185.220.101.0/24'],
      ipv6: ['2a0e:1c80::1/128'],
      rejected: [
        { value: '10.0.0.1', reason: '10.0.0.1/32 is in a private range (allow it explicitly to block it)' },
        { value: 'nope', reason: '"nope" is not an IP address or CIDR (expected e.g. 198.51.100.7, 198.51.100.0/24 or 2001:db8::/32)' },
      ],
    });
    expect(normaliseCidrs(['198.51.100.7'], { allow: ['documentation'] }).ipv4).toEqual(['198.51.100.7/32']);
  });

  it.each([
    [['185.220.101.0/24', '185.220.101.128/25'], ['185.220.101.0/24']],
    [['185.220.100.0/24', '185.220.101.0/24'], ['185.220.100.0/23']],
    [['185.220.101.0/24', '185.220.102.0/24'], ['185.220.101.0/24', '185.220.102.0/24']],
    [['185.220.101.1', '185.220.101.2', '185.220.101.3'], ['185.220.101.1/32', '185.220.101.2/31']],
    [['2a0e:1c80::/30', '2a0e:1c84::/30'], ['2a0e:1c80::/29']],
  ])('merge %j → %j', (input, merged) => {
    expect(mergeCidrs(input.map(parseCidr)).map((c) => c.cidr)).toEqual(merged);
  });
});

// Addresses in a small IPv4 window so random CIDRs overlap often.
const arbCidr = fc.tuple(fc.integer({ min: 0, max: 4095 }), fc.integer({ min: 20, max: 32 })).map(([n, len]) => parseCidr(`185.220.${(n >> 8) & 255}.${n & 255}/${len}`));
const covered = (cidrs: Cidr[], addr: bigint) => cidrs.some((c) => addr >= c.start && addr <= c.end);
const base = parseCidr('185.220.0.0/32').start;

describe('CIDR merge properties', () => {
  it('is idempotent', () => {
    fc.assert(
      fc.property(fc.array(arbCidr, { maxLength: 30 }), (cidrs) => {
        const once = mergeCidrs(cidrs).map((c) => c.cidr);
        expect(mergeCidrs(mergeCidrs(cidrs)).map((c) => c.cidr)).toEqual(once);
      }),
    );
  });

  it('covers exactly the same addresses, with no two merged CIDRs overlapping or adjacent-mergeable', () => {
    fc.assert(
      fc.property(fc.array(arbCidr, { maxLength: 30 }), fc.array(fc.integer({ min: -512, max: 4096 + 4096 }), { minLength: 50, maxLength: 50 }), (cidrs, probes) => {
        const merged = mergeCidrs(cidrs);
        for (const p of probes) expect(covered(merged, base + BigInt(p))).toBe(covered(cidrs, base + BigInt(p)));
        for (let i = 1; i < merged.length; i++) expect(merged[i]!.start > merged[i - 1]!.end).toBe(true);
        const size = (cs: Cidr[]) => cs.reduce((n, c) => n + (c.end - c.start + 1n), 0n);
        // The merged list's total equals the union's size (no address counted twice).
        expect(size(merged)).toBe(size(mergeCidrs(merged)));
      }),
    );
  });

  it('canonical form is stable: parsing a canonical CIDR returns it unchanged (IPv4 and IPv6)', () => {
    const v6 = fc.tuple(fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 }), fc.integer({ min: 0, max: 128 })).map(([parts, len]) => `${parts.map((p) => p.toString(16)).join(':')}/${len}`);
    fc.assert(
      fc.property(fc.oneof(arbCidr.map((c) => c.cidr), v6), (text) => {
        const c = parseCidr(text);
        expect(parseCidr(c.cidr)).toEqual(c);
      }),
    );
  });
});

const bundle = stixBundle;
const indicator = stixIndicator;
const NOW = new Date('2026-11-26T12:00:00Z');

describe('STIX 2.1 bundles', () => {
  it('reads ipv4/ipv6 indicators with OR patterns, confidence and valid_until; skips what is not an IP pattern', () => {
    const r = parseStixBundle(
      bundle([
        { type: 'identity', id: 'identity--1', name: 'feed owner' },
        indicator(1, "[ipv4-addr:value = '198.51.100.7']", { confidence: 80, valid_until: '2026-12-01T00:00:00Z', name: 'c2' }),
        indicator(2, "[ipv6-addr:value = '2001:db8::/32'] OR [ipv4-addr:value = '203.0.113.0/24' OR ipv4-addr:value = '185.220.101.7']"),
        indicator(3, "[domain-name:value = 'evil.example']"),
        indicator(4, "[ipv4-addr:value = '185.220.101.8']", { valid_until: '2026-11-20T00:00:00Z' }),
        indicator(5, "[ipv4-addr:value = '185.220.101.9']", { revoked: true }),
      ]),
      'acme',
      NOW,
    );
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.indicators.map((i) => [i.value, i.version, i.confidence, i.validUntil])).toEqual([
      ['198.51.100.7/32', 4, 80, '2026-12-01T00:00:00.000Z'],
      ['2001:db8::/32', 6, undefined, undefined],
      ['203.0.113.0/24', 4, undefined, undefined],
      ['185.220.101.7/32', 4, undefined, undefined],
    ]);
    expect(r.skipped.map((s) => s.reason)).toEqual(['not an IP address pattern', 'expired at 2026-11-20T00:00:00Z', 'revoked']);
  });

  it.each([
    ['not JSON', '{"type": "bundle",', '(root)', /not JSON/],
    ['not a bundle', JSON.stringify({ type: 'indicator', id: 'x', objects: [] }), 'type', /expected type "bundle"/],
    ['objects missing', JSON.stringify({ type: 'bundle', id: 'bundle--1' }), 'objects', /expected array/],
    ['bad pattern', bundle([indicator(1, "[ipv4-addr:value = '185.220.101.7']"), indicator(2, "[ipv4-addr:value = '999.1.1.1']")]), 'objects[1].pattern', /not an IP address/],
    ['AND pattern', bundle([indicator(1, "[ipv4-addr:value = '185.220.101.7' AND ipv4-addr:value = '185.220.101.8']")]), 'objects[0].pattern', /only OR-combined/],
    ['family mismatch', bundle([indicator(1, "[ipv4-addr:value = '2a0e::1']")]), 'objects[0].pattern', /IPv6 value/],
    ['unbalanced', bundle([indicator(1, "[ipv4-addr:value = '185.220.101.7'")]), 'objects[0].pattern', /end with "\]"/],
    ['confidence out of range', bundle([indicator(1, "[ipv4-addr:value = '185.220.101.7']", { confidence: 101 })]), 'objects[0].confidence', /100/],
    ['bad valid_until', bundle([indicator(1, "[ipv4-addr:value = '185.220.101.7']", { valid_until: 'tomorrow' })]), 'objects[0].valid_until', /datetime/i],
    ['valid_until before valid_from', bundle([indicator(1, "[ipv4-addr:value = '185.220.101.7']", { valid_until: '2026-10-01T00:00:00Z' })]), 'objects[0].valid_until', /later than valid_from/],
    ['bad id', bundle([{ ...indicator(1, "[ipv4-addr:value = '185.220.101.7']"), id: 'indicator-1' }]), 'objects[0].id', /indicator--<uuid>/],
  ])('%s → an error naming %s, and no indicators', (_, text, field, message) => {
    const r = parseStixBundle(text, 'acme', NOW);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors.some((e) => e.field === field && message.test(e.message))).toBe(true);
    expect('indicators' in r).toBe(false);
  });

  it('property: any bundle with one corrupted indicator is refused whole, naming that object', () => {
    const good = fc.array(fc.tuple(fc.integer({ min: 1, max: 223 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 20 });
    const corruption = fc.constantFrom(
      { pattern: "[ipv4-addr:value = '300.1.1.1']" },
      { pattern: "[ipv4-addr:value = '1.2.3.4' AND ipv4-addr:value = '1.2.3.5']" },
      { pattern: '' },
      { confidence: -1 },
      { valid_until: 'soon' },
      { id: 'nope' },
      { pattern: "[ipv6-addr:value = '1.2.3.4']" },
      { pattern: "ipv4-addr:value = '1.2.3.4'" },
    );
    fc.assert(
      fc.property(good, fc.nat(), corruption, (addrs, at, bad) => {
        const objects: Record<string, unknown>[] = addrs.map(([a, b], i) => indicator(i, `[ipv4-addr:value = '${a}.${b}.1.1']`));
        const index = at % objects.length;
        objects[index] = { ...objects[index], ...bad };
        const r = parseStixBundle(bundle(objects), 'acme', NOW);
        expect(r.ok).toBe(false);
        if (!r.ok) expect(r.errors.every((e) => e.field.startsWith(`objects[${index}]`))).toBe(true);
      }),
    );
  });

  it.each([
    ["[ipv4-addr:value = '185.220.101.7']", ['185.220.101.7/32']],
    ["[ipv4-addr:value='185.220.101.7' OR ipv6-addr:value = '2a0e::/16']", ['185.220.101.7/32', '2a0e::/16']],
    ["[ipv4-addr:value = '185.220.101.7'] OR [ipv4-addr:value = '185.220.101.0/24']", ['185.220.101.7/32', '185.220.101.0/24']],
    ["[file:hashes.'SHA-256' = 'aa']", undefined],
  ])('pattern %s', (pattern, values) => {
    expect(addressesOfPattern(pattern)?.map((a) => a.value)).toEqual(values);
  });
});

describe('plain lists', () => {
  it('ignores comments and blank lines, keeps the first token, names bad lines', () => {
    const r = parsePlainList('# Spamhaus-style\n\n185.220.101.0/24 ; SBL123\n  2a0e:1c80::/29  \n45.155.205.7 # scanner\n', 'drop');
    expect(r.ok && r.indicators.map((i) => [i.value, i.ref])).toEqual([
      ['185.220.101.0/24', 'line:3'],
      ['2a0e:1c80::/29', 'line:4'],
      ['45.155.205.7/32', 'line:5'],
    ]);
    const bad = parsePlainList('185.220.101.0/24\nnot-an-ip\n1.2.3.4/40\n', 'drop');
    expect(bad).toEqual({
      ok: false,
      errors: [
        { field: 'line 2', message: expect.stringContaining('"not-an-ip" is not an IP address or CIDR') },
        { field: 'line 3', message: '"1.2.3.4/40" has an invalid prefix length (expected 0-32)' },
      ],
    });
  });

  it('parseFeed picks STIX for a JSON object and the plain list otherwise', () => {
    expect(parseFeed(bundle([indicator(1, "[ipv4-addr:value = '185.220.101.7']")]), 'f').ok).toBe(true);
    expect(parseFeed('185.220.101.7\n', 'f').ok).toBe(true);
  });
});

describe('feed entries and the block ledger', () => {
  it('merges only entries that expire together; duplicates keep the latest expiry; special ranges are rejected', () => {
    const r = entriesFromIndicators([
      { value: '185.220.100.0/24', version: 4, feed: 'f', ref: 'a', validUntil: '2026-12-01T00:00:00.000Z' },
      { value: '185.220.101.0/24', version: 4, feed: 'f', ref: 'b', validUntil: '2026-12-01T00:00:00.000Z' },
      { value: '185.220.102.0/24', version: 4, feed: 'f', ref: 'c' },
      { value: '45.155.205.7/32', version: 4, feed: 'f', ref: 'd', validUntil: '2026-11-27T00:00:00.000Z' },
      { value: '45.155.205.7/32', version: 4, feed: 'f', ref: 'e', validUntil: '2026-11-29T00:00:00.000Z' },
      { value: '10.0.0.0/8', version: 4, feed: 'f', ref: 'g' },
    ]);
    expect(r.entries).toEqual([
      { cidr: '185.220.102.0/24', version: 4 },
      { cidr: '45.155.205.7/32', version: 4, expiresAt: '2026-11-29T00:00:00.000Z' },
      { cidr: '185.220.100.0/23', version: 4, expiresAt: '2026-12-01T00:00:00.000Z' },
    ]);
    expect(r.rejected).toEqual([{ value: '10.0.0.0/8', ref: 'g', reason: 'private range' }]);
  });

  it('an entry leaves the set only when its last live hold ends', () => {
    const t = (s: string) => `2026-11-26T12:00:${s}Z`;
    const holds = {
      'incident-a/block': [{ cidr: '185.220.101.7/32', version: 4 as const, expiresAt: t('10') }],
      'incident-b/block': [
        { cidr: '185.220.101.7/32', version: 4 as const, expiresAt: t('50') },
        { cidr: '2a0e::1/128', version: 6 as const, expiresAt: t('20') },
      ],
      'feed:x': [{ cidr: '45.155.205.0/24', version: 4 as const }],
    };
    const at = (s: string) => Date.parse(t(s));
    expect(msUntilNextExpiry(holds, at('00'))).toBe(10_000);
    // A hold that arrives already expired (or expires while an activity runs) is due now, not never.
    expect(msUntilNextExpiry(holds, at('12'))).toBe(0);
    const applied = desiredEntries(holds, at('00'));
    expect([...applied.keys()].sort()).toEqual(['185.220.101.7/32', '2a0e::1/128', '45.155.205.0/24']);
    // At :15 incident a's hold is over but b still holds the address: nothing to remove.
    expect(changeBetween(applied, desiredEntries(pruneExpired(holds, at('15')), at('15')))).toEqual({ addIpv4: [], addIpv6: [], removeIpv4: [], removeIpv6: [] });
    // At :30 b's IPv6 entry is over.
    expect(changeBetween(applied, desiredEntries(holds, at('30')))).toEqual({ addIpv4: [], addIpv6: [], removeIpv4: [], removeIpv6: ['2a0e::1/128'] });
    // At :55 only the feed's entry (no expiry) remains.
    expect(Object.keys(pruneExpired(holds, at('55')))).toEqual(['feed:x']);
    expect(msUntilNextExpiry(pruneExpired(holds, at('55')), at('55'))).toBeUndefined();
  });
});

describe('indicator matching and routing conditions', () => {
  const m = new IndicatorMatcher([
    { value: '185.220.0.0/16', version: 4, feed: 'broad', ref: 'r1', confidence: 40 },
    { value: '185.220.101.0/24', version: 4, feed: 'tor', ref: 'r2', confidence: 90, name: 'tor exits' },
    { value: '45.155.205.7/32', version: 4, feed: 'old', ref: 'r3', validUntil: '2026-11-01T00:00:00.000Z' },
    { value: '2a0e:1c80::/29', version: 6, feed: 'tor', ref: 'r4' },
  ]);
  it.each([
    ['185.220.101.7', { indicator: '185.220.101.0/24', feed: 'tor', confidence: 90 }],
    ['185.220.5.1', { indicator: '185.220.0.0/16', feed: 'broad', confidence: 40 }],
    ['2a0e:1c81::5', { indicator: '2a0e:1c80::/29', feed: 'tor' }],
    ['45.155.205.7', undefined],
    ['8.8.8.8', undefined],
    ['garbage', undefined],
  ])('%s → %j', (ip, want) => {
    const got = m.match(ip, NOW);
    if (want === undefined) expect(got).toBeUndefined();
    else expect(got).toMatchObject(want);
  });

  it.each([
    [{}, { intel: { feed: 'tor', confidence: 90 } }, true],
    [{ feeds: ['tor'] }, { intel: { feed: 'broad', confidence: 90 } }, false],
    [{ minConfidence: 80 }, { intel: { feed: 'tor', confidence: 70 } }, false],
    [{ minConfidence: 80 }, { intel: { feed: 'tor', confidence: 85 } }, true],
    [{}, undefined, false],
    [{}, { intel: 'forged' }, false],
  ])('match.intel %j on details %j → %s', (cond, details, want) => {
    expect(intelMatches(cond, details as Record<string, unknown> | undefined)).toBe(want);
  });
});

describe('waf.blockIps parameters', () => {
  const spec = actionSpec('waf.blockIps')!;
  it.each([
    [{ ips: '${alert.subject.sourceIp}', ttl: '1h' }, true],
    [{ ips: ['185.220.101.7', '${alert.subject.sourceIp}'], ttl: '30m', ipSetName: 'edge' }, true],
    [{ ips: 'not-an-ip', ttl: '1h' }, false],
    [{ ips: '185.220.101.7', ttl: 'forever' }, false],
    [{ ips: [], ttl: '1h' }, false],
    [{ ips: '185.220.101.7', ttl: '1h', allow: ['private'] }, true],
    [{ ips: '185.220.101.7', ttl: '1h', allow: ['everything'] }, false],
  ])('load-time %j → valid %s', (params, ok) => {
    expect(lenientParams(spec).safeParse(params).success).toBe(ok);
  });
  it('run-time refuses an unresolved value with the field named', () => {
    const r = resolvedParams(spec).safeParse({ ips: '999.1.1.1', ttl: '1h' });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.path).toEqual(['ips']);
  });
});

describe('routing on threat-intel enrichment (shipped playbooks)', () => {
  const { catalog } = PlaybookCatalog.fromDir(SHIPPED_PLAYBOOKS_DIR);
  const abuse = (details?: Record<string, unknown>) => {
    const r = parseAlert({ source: 'waf-logs', type: 'endpoint.abuse', severity: 'medium', observedAt: '2026-11-26T10:00:00Z', subject: { endpoint: { restApiId: 'r', stage: 'prod' }, sourceIp: '185.220.101.7' }, ...(details ? { details } : {}) });
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    return r.value;
  };
  it.each([
    ['no match', undefined, 'endpoint-abuse'],
    ['a confident match', { intel: { indicator: '185.220.101.0/24', ref: 'x', feed: 'tor', confidence: 90 } }, 'intel-block'],
    ['a match below the playbook\'s minimum confidence', { intel: { indicator: '185.220.101.0/24', ref: 'x', feed: 'tor', confidence: 20 } }, 'endpoint-abuse'],
  ])('%s → %s', (_, details, playbook) => {
    expect(catalog.plan(abuse(details), DEFAULT_PLAYBOOK_SETTINGS).plan.playbook).toBe(playbook);
  });
  it('intel-block blocks the source for 24h first, with its evidence in the operator message', () => {
    const p = catalog.plan(abuse({ intel: { indicator: '185.220.101.0/24', ref: 'x', feed: 'tor', confidence: 90 } }), DEFAULT_PLAYBOOK_SETTINGS).plan;
    expect(p.steps.map((s) => [s.id, s.action, s.gate, s.effect])).toEqual([
      ['block-source', 'waf.blockIps', undefined, 'reversible'],
      ['throttle-endpoint', 'apigateway.throttle', undefined, 'reversible'],
      ['tell-operators', 'notify.operators', undefined, 'informational'],
    ]);
    expect(p.steps[0]!.with).toEqual({ ips: '185.220.101.7', ttl: '24h' });
    expect(p.steps[2]!.with.message).toBe('Blocked 185.220.101.7: indicator 185.220.101.0/24 from feed tor (confidence 90)');
  });
});
