import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Alert } from '../domain/alert.js';
import { parseMappingsYaml, type SourceMapping } from '../domain/sources/index.js';
import type { Config } from '../temporal.config.js';
import type { AlertDeliverer, Delivered, ResolvedDelivered } from './deliver.js';

/** What the intake needs to serve the native-source endpoints (docs/alert-sources.md). */
export interface SourceSettings {
  /** Alertmanager cannot sign requests: it authenticates with a bearer token or basic auth. */
  alertmanager?: { bearerToken?: string; basicUser?: string; basicPassword?: string };
  /** Generic JSON mappings served at POST /v1/alerts/mapped/<name>. */
  mappings?: readonly SourceMapping[];
}

export class MappingFileError extends Error {
  constructor(
    readonly file: string,
    readonly problems: { field: string; message: string }[],
  ) {
    super(`invalid source mappings in ${file}:\n${problems.map((p) => `  - ${p.field}: ${p.message}`).join('\n')}`);
    this.name = 'MappingFileError';
  }
}

/** Reads `config.sources` (and its mappings file, validated; a bad file is an error, never half-loaded). */
export async function loadSourceSettings(config: Config): Promise<SourceSettings> {
  const settings: SourceSettings = { alertmanager: config.sources?.alertmanager };
  const file = config.sources?.mappingsFile;
  if (file) {
    const parsed = parseMappingsYaml(await readFile(file, 'utf8'), file);
    if (!parsed.ok) throw new MappingFileError(file, parsed.errors);
    settings.mappings = parsed.mappings;
  }
  return settings;
}

// ── Alertmanager auth ───────────────────────────────────────────────────────────────────────────
/** Equal-time comparison of two strings of any length (digests first, so lengths leak nothing). */
export function constantTimeEqual(a: string, b: string): boolean {
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  return timingSafeEqual(da, db);
}

export type AuthCheck = 'ok' | 'unauthorized' | 'not-configured';

export function checkAlertmanagerAuth(authorization: string | undefined, settings: SourceSettings['alertmanager']): AuthCheck {
  const token = settings?.bearerToken;
  const user = settings?.basicUser;
  const password = settings?.basicPassword;
  const basicConfigured = user !== undefined && password !== undefined;
  if (!token && !basicConfigured) return 'not-configured';
  if (!authorization) return 'unauthorized';
  const m = /^(Bearer|Basic)\s+(\S+)\s*$/i.exec(authorization);
  if (!m) return 'unauthorized';
  const scheme = m[1]!.toLowerCase();
  if (scheme === 'bearer') return token && constantTimeEqual(m[2]!, token) ? 'ok' : 'unauthorized';
  if (!basicConfigured) return 'unauthorized';
  const decoded = Buffer.from(m[2]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return 'unauthorized';
  // Both halves are always compared, so a right user with a wrong password takes as long as anything else.
  const userOk = constantTimeEqual(decoded.slice(0, colon), user);
  const passwordOk = constantTimeEqual(decoded.slice(colon + 1), password);
  return userOk && passwordOk ? 'ok' : 'unauthorized';
}

// ── delivery ────────────────────────────────────────────────────────────────────────────────────
export type AlertResult = {
  type: string;
  severity: string;
  status: 'firing' | 'resolved';
  dedupKey?: string;
} & (Delivered | ResolvedDelivered);

/**
 * Delivers the alerts of one payload (firing ones open or join an incident, resolved ones only
 * attach) and returns one result per alert, in payload order. Rejects if Temporal is unreachable
 * for any of them: the sender retries the payload, and repeats only count as duplicates.
 */
export async function deliverAlerts(deliverer: AlertDeliverer, alerts: readonly Alert[], receivedAt = new Date().toISOString()): Promise<AlertResult[]> {
  return Promise.all(
    alerts.map(async (alert) => {
      const delivered = await deliverer.deliverAlert(alert, receivedAt);
      return { type: alert.type, severity: alert.severity, status: alert.status ?? 'firing', dedupKey: alert.dedupKey, ...delivered };
    }),
  );
}
