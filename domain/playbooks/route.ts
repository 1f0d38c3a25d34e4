import type { Alert, Subject } from '../alert.js';
import type { PlaybookDoc } from './schema.js';
import { intelMatches } from '../intel/match.js';

/**
 * Routing: an alert runs the most specific playbook that matches it. Specificity counts the
 * constraints a playbook's `match` sets (types, severities, sources, each subject condition), so a
 * playbook for "credential.compromised from guardduty" beats one for "credential.compromised".
 * Two matches of equal specificity are ambiguous: the catalog refuses such a pair at load time.
 */
type Match = PlaybookDoc['match'];

export function specificity(match: Match): number {
  return (match.types ? 1 : 0) + (match.severities ? 1 : 0) + (match.sources ? 1 : 0) + Object.keys(match.subject ?? {}).length + (match.intel ? 1 : 0);
}

const sourceMatches = (pattern: string, source: string) => (pattern.endsWith('*') ? source.startsWith(pattern.slice(0, -1)) : source === pattern);

export function matches(match: Match, alert: Alert): boolean {
  if (match.types && !match.types.includes(alert.type)) return false;
  if (match.severities && !match.severities.includes(alert.severity)) return false;
  if (match.sources && !match.sources.some((p) => sourceMatches(p, alert.source))) return false;
  for (const [field, want] of Object.entries(match.subject ?? {})) {
    const have = alert.subject[field as keyof Subject];
    if (have === undefined) return false;
    if (want !== 'present' && (typeof have !== 'string' || have !== want)) return false;
  }
  if (match.intel && !intelMatches(match.intel, alert.details)) return false;
  return true;
}

export type Route<P> = { kind: 'playbook'; playbook: P } | { kind: 'triage'; reason: string };

export function route<P extends { doc: PlaybookDoc }>(catalog: readonly P[], alert: Alert): Route<P> {
  const candidates = catalog.filter((p) => matches(p.doc.match, alert));
  if (candidates.length === 0) return { kind: 'triage', reason: `no playbook matches ${alert.type}` };
  const best = Math.max(...candidates.map((p) => specificity(p.doc.match)));
  const top = candidates.filter((p) => specificity(p.doc.match) === best);
  if (top.length > 1) return { kind: 'triage', reason: `ambiguous: ${top.map((p) => p.doc.id).join(', ')} match equally` };
  return { kind: 'playbook', playbook: top[0]! };
}

function overlap<T>(a: readonly T[] | undefined, b: readonly T[] | undefined): boolean {
  return !a || !b || a.some((x) => b.includes(x));
}

function sourcesOverlap(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  if (!a || !b) return true;
  return a.some((x) => b.some((y) => sourceMatches(x, y.replace(/\*$/, '')) || sourceMatches(y, x.replace(/\*$/, ''))));
}

/** Whether some alert could match both (equal subject values must agree). */
export function couldBothMatch(a: Match, b: Match): boolean {
  if (!overlap(a.types, b.types) || !overlap(a.severities, b.severities) || !sourcesOverlap(a.sources, b.sources)) return false;
  for (const [field, want] of Object.entries(a.subject ?? {})) {
    const other = b.subject?.[field as keyof Subject];
    if (other && want !== 'present' && other !== 'present' && other !== want) return false;
  }
  return true;
}

/** Pairs of playbooks that some alert would match with equal specificity: a routing tie. */
export function routingTies(docs: readonly PlaybookDoc[]): [string, string][] {
  const ties: [string, string][] = [];
  for (let i = 0; i < docs.length; i++) {
    for (let j = i + 1; j < docs.length; j++) {
      const [a, b] = [docs[i]!, docs[j]!];
      if (specificity(a.match) === specificity(b.match) && couldBothMatch(a.match, b.match)) ties.push([a.id, b.id]);
    }
  }
  return ties;
}
