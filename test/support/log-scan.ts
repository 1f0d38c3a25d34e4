/**
 * The full-run proof that no secret reaches a log (issue 8 §3): every secret value that exists in the
 * sandbox at the end of a test run (all versions of all secrets, Cognito client secrets, API key
 * values) is searched for in every file under the run's log directory. test/global-setup.ts runs it
 * at teardown; test/log-scan.test.ts shows it finds a planted value.
 *
 * Reports name the secret and the file, never the value: the report itself is printed to a console
 * that CI keeps.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { GetApiKeysCommand } from '@aws-sdk/client-api-gateway';
import { DescribeUserPoolClientCommand, ListUserPoolClientsCommand, ListUserPoolsCommand } from '@aws-sdk/client-cognito-identity-provider';
import { GetSecretValueCommand, ListSecretVersionIdsCommand, ListSecretsCommand } from '@aws-sdk/client-secrets-manager';
import type { AwsClients } from '../../activities/clients.js';

/** A value that must not appear in any log, and how to name it in a report. */
export interface SecretValue {
  name: string;
  value: string;
}

/** Shorter values are not searched: a 6-character password would match unrelated text somewhere in megabytes of logs. */
export const MIN_SECRET_LENGTH = 12;

/**
 * Fields of JSON secret values that hold identifiers or public material (ids, names, URLs, public
 * keys and certificates, KMS envelope parameters), which logs legitimately name. Every other string
 * field is treated as secret: an unknown field name errs towards searching.
 */
const NOT_SECRET_FIELD =
  /^(?:id|arn|name|user|username|login|email|host|hostname|port|url|uri|endpoint|region|engine|dbname|database|format|algorithm|alg|kid|type|kind|issuer|subject|serial|fingerprint|description|scope|audience|status|metadata|encryptionContext|certificate|certificatePem|chain|chainPem|publicKey|publicKeyPem|iv|tag|encryptedDataKey|ciphertext|kmsKeyId|keyArn|envelopeKeyArn|ca)$|(?:Id|Arn|Name|Url|Uri|At)$/;

const PEM = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

/**
 * A PEM block is logged JSON-escaped (\n) or re-wrapped, so it is searched by 40 characters of its
 * base64 body taken from within one line, past the ASN.1 header every key of a type shares.
 */
export function pemSlice(body: string): string | undefined {
  const lines = body.split(/\r?\n/).map((l) => l.trim()).filter((l) => /^[A-Za-z0-9+/=]+$/.test(l));
  if (lines.length === 0) return undefined;
  const line = lines[Math.floor(lines.length / 2)]!;
  if (line.length < 40) return line.length >= MIN_SECRET_LENGTH ? line : undefined;
  if (lines.length === 1) return line.slice(-40); // a one-line body (Ed25519) starts with the shared header
  const start = Math.min(12, line.length - 40);
  return line.slice(start, start + 40);
}

/** Private-key PEM blocks in `text`, as searchable slices; public keys and certificates are left out. */
function privateKeySlices(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(PEM)) {
    if (!/PRIVATE KEY/.test(m[1]!)) continue;
    const slice = pemSlice(m[2]!);
    if (slice) out.push(slice);
  }
  return out;
}

/**
 * The searchable values of one secret version: the whole value, each secret-looking string field of a
 * JSON value (nested ones too, named by their path), and a slice of each private key it holds.
 * Returns also how many values were too short to search.
 */
export function secretValues(name: string, secretString: string): { values: SecretValue[]; tooShort: number } {
  const values: SecretValue[] = [];
  let tooShort = 0;
  const add = (label: string, value: string) => {
    if (value.length >= MIN_SECRET_LENGTH) values.push({ name: label, value });
    else if (value.length > 0) tooShort++;
  };
  const addPem = (pem: string) => {
    for (const slice of privateKeySlices(pem)) add(`${name} (private key)`, slice);
  };
  add(name, secretString);
  let parsed: unknown;
  try {
    parsed = JSON.parse(secretString);
  } catch {
    addPem(secretString);
    return { values, tooShort };
  }
  const walk = (v: unknown, path: string) => {
    if (typeof v === 'string') {
      // PEM: a private key by a slice of its body (inside JSON text it was one line, \n-escaped); public ones not at all.
      if (v.includes('-----BEGIN')) addPem(v);
      else add(`${name} (${path})`, v);
    } else if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${path}[${i}]`));
    else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) if (!NOT_SECRET_FIELD.test(k)) walk(x, path ? `${path}.${k}` : k);
    }
  };
  if (parsed && typeof parsed === 'object') walk(parsed, '');
  else if (typeof parsed === 'string') addPem(parsed);
  return { values, tooShort };
}

export interface SandboxSecrets {
  values: SecretValue[];
  secrets: number;
  versions: number;
  cognitoClients: number;
  apiKeys: number;
  /** Values under MIN_SECRET_LENGTH (not searched). */
  tooShort: number;
  /** Versions that could not be read (secrets scheduled for deletion). */
  unreadable: number;
}

async function inBatches<T>(items: T[], size: number, fn: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}

const errorName = (err: unknown) => (err as { name?: string }).name ?? '';
const ignoreNotFound = (err: unknown): undefined => {
  if (errorName(err) === 'ResourceNotFoundException') return undefined;
  throw err;
};

/**
 * Every secret value in the sandbox account: each version of each secret (deprecated versions and
 * secrets scheduled for deletion included, where still readable), Cognito app client secrets and
 * API Gateway key values.
 */
export async function collectSandboxSecrets(aws: Pick<AwsClients, 'sm' | 'cognito' | 'apigw'>): Promise<SandboxSecrets> {
  const out: SandboxSecrets = { values: [], secrets: 0, versions: 0, cognitoClients: 0, apiKeys: 0, tooShort: 0, unreadable: 0 };
  const push = (r: { values: SecretValue[]; tooShort: number }) => {
    out.values.push(...r.values);
    out.tooShort += r.tooShort;
  };

  const secrets: { arn: string; name: string }[] = [];
  let next: string | undefined;
  do {
    const page = await aws.sm.send(new ListSecretsCommand({ NextToken: next, MaxResults: 100, IncludePlannedDeletion: true }));
    for (const s of page.SecretList ?? []) secrets.push({ arn: s.ARN!, name: s.Name! });
    next = page.NextToken;
  } while (next);
  out.secrets = secrets.length;

  await inBatches(secrets, 8, async (s) => {
    const versionIds: string[] = [];
    let token: string | undefined;
    try {
      do {
        const page = await aws.sm.send(new ListSecretVersionIdsCommand({ SecretId: s.arn, IncludeDeprecated: true, NextToken: token, MaxResults: 100 }));
        for (const v of page.Versions ?? []) versionIds.push(v.VersionId!);
        token = page.NextToken;
      } while (token);
    } catch (err) {
      if (errorName(err) !== 'InvalidRequestException' && errorName(err) !== 'ResourceNotFoundException') throw err;
      out.unreadable++;
      return;
    }
    for (const versionId of versionIds) {
      out.versions++;
      try {
        const v = await aws.sm.send(new GetSecretValueCommand({ SecretId: s.arn, VersionId: versionId }));
        const label = `secret ${s.name} version ${versionId}`;
        if (v.SecretString !== undefined) push(secretValues(label, v.SecretString));
        if (v.SecretBinary) {
          const bytes = Buffer.from(v.SecretBinary);
          push(secretValues(`${label} (binary, base64)`, bytes.toString('base64')));
          const text = bytes.toString('utf8');
          if (/^[\x20-\x7e\r\n\t]+$/.test(text)) push(secretValues(`${label} (binary, text)`, text));
        }
      } catch (err) {
        if (errorName(err) !== 'InvalidRequestException' && errorName(err) !== 'ResourceNotFoundException') throw err;
        out.unreadable++;
      }
    }
  });

  let poolToken: string | undefined;
  do {
    const pools = await aws.cognito.send(new ListUserPoolsCommand({ MaxResults: 60, NextToken: poolToken }));
    for (const pool of pools.UserPools ?? []) {
      let clientToken: string | undefined;
      do {
        // A pool or client deleted meanwhile (a test still running, when this runs mid-suite) has nothing left to leak.
        const clients = await aws.cognito.send(new ListUserPoolClientsCommand({ UserPoolId: pool.Id!, MaxResults: 60, NextToken: clientToken })).catch(ignoreNotFound);
        for (const c of clients?.UserPoolClients ?? []) {
          const d = await aws.cognito.send(new DescribeUserPoolClientCommand({ UserPoolId: pool.Id!, ClientId: c.ClientId! })).catch(ignoreNotFound);
          out.cognitoClients++;
          if (d?.UserPoolClient?.ClientSecret) push(secretValues(`cognito client ${pool.Id}/${c.ClientName ?? c.ClientId} secret`, d.UserPoolClient.ClientSecret));
        }
        clientToken = clients?.NextToken;
      } while (clientToken);
    }
    poolToken = pools.NextToken;
  } while (poolToken);

  let position: string | undefined;
  do {
    const page = await aws.apigw.send(new GetApiKeysCommand({ includeValues: true, limit: 500, position }));
    for (const k of page.items ?? []) {
      out.apiKeys++;
      if (k.value) push(secretValues(`API key ${k.name ?? k.id} (${k.id})`, k.value));
    }
    position = page.position;
  } while (position);
  return out;
}

export interface LogHit {
  /** The log file, relative to the scanned directory. */
  file: string;
  /** The secret's name (never its value). */
  secret: string;
}

export interface ScanResult {
  files: number;
  bytes: number;
  /** Distinct search strings (values and their JSON-escaped forms). */
  patterns: number;
  hits: LogHit[];
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

/**
 * Searches every file under `dir` for each value, raw and as it looks inside a JSON string (a value
 * with quotes, backslashes or newlines is escaped in a JSON log line). One hit per file and secret.
 */
export function scanLogs(dir: string, values: SecretValue[]): ScanResult {
  const byPattern = new Map<string, Set<string>>();
  for (const { name, value } of values) {
    for (const form of new Set([value, JSON.stringify(value).slice(1, -1)])) {
      if (!byPattern.has(form)) byPattern.set(form, new Set());
      byPattern.get(form)!.add(name);
    }
  }
  const patterns = [...byPattern].map(([form, names]) => ({ bytes: Buffer.from(form, 'utf8'), names }));
  const hits: LogHit[] = [];
  let bytes = 0;
  const files = filesUnder(dir);
  for (const file of files) {
    const content = readFileSync(file);
    bytes += content.length;
    const found = new Set<string>();
    for (const p of patterns) if (content.indexOf(p.bytes) !== -1) for (const n of p.names) found.add(n);
    for (const secret of [...found].sort()) hits.push({ file: relative(dir, file), secret });
  }
  return { files: files.length, bytes, patterns: patterns.length, hits };
}

/** The failure message for hits: which secret, in which file; no values. */
export function describeHits(dir: string, hits: LogHit[]): string {
  return [
    `secret values found in the logs of this test run (${hits.length}; files under ${dir}):`,
    ...hits.slice(0, 100).map((h) => `  ${h.file}: ${h.secret}`),
    ...(hits.length > 100 ? [`  … and ${hits.length - 100} more`] : []),
    'Fix the redaction (telemetry/scrub.ts value rules, telemetry/logger.ts REDACT_PATHS) or the code that logs the value; do not weaken the check.',
  ].join('\n');
}
