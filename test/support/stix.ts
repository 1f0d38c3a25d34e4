/** STIX 2.1 test documents: an indicator per pattern, and a bundle of objects. */
export const stixIndicator = (n: number, pattern: string, extra: Record<string, unknown> = {}) => ({
  type: 'indicator',
  spec_version: '2.1',
  id: `indicator--${String(n).padStart(8, '0')}-1111-4111-8111-111111111111`,
  created: '2026-11-01T00:00:00Z',
  modified: '2026-11-01T00:00:00Z',
  pattern,
  pattern_type: 'stix',
  valid_from: '2026-11-01T00:00:00Z',
  ...extra,
});

export const stixBundle = (objects: unknown[]) => JSON.stringify({ type: 'bundle', id: 'bundle--5d0092c5-5f74-4287-9642-33f4c354e56d', objects });
