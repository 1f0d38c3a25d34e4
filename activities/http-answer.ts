import { ApplicationFailure } from '@temporalio/common';

/**
 * One HTTP request to a third-party endpoint (OAuth servers, the consent store), shared by their
 * activities: network trouble and timeouts are retryable, redirects are refused (they could carry
 * credentials elsewhere), and any server text later quoted in an error is scrubbed of secrets.
 */
export interface HttpAnswer {
  status: number;
  headers: Headers;
  text: string;
  json?: Record<string, unknown>;
}

/** application/x-www-form-urlencoded encoding of one value (RFC 6749 Appendix B). */
export function formEncode(value: string): string {
  return new URLSearchParams([['v', value]]).toString().slice(2);
}

/** Removes every secret value (raw, form- and URL-encoded, base64) from text quoted from a server; one line, bounded. */
export function scrubQuoted(text: string, secrets: string[]): string {
  let out = text;
  for (const s of secrets) {
    if (s.length < 4) continue;
    for (const form of new Set([s, formEncode(s), encodeURIComponent(s), Buffer.from(s).toString('base64')])) out = out.split(form).join('[redacted]');
  }
  // eslint-disable-next-line no-control-regex
  out = out.replace(/[\x00-\x1f\x7f]+/g, ' ').trim();
  return out.length > 200 ? `${out.slice(0, 200)}…` : out;
}

/** Retry-After as milliseconds (seconds or an HTTP date), bounded: a server cannot park a step for longer than 5 minutes per attempt. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(header) - now;
  return Number.isFinite(ms) && ms >= 0 ? Math.min(ms, 300_000) : undefined;
}

export async function sendRequest(doFetch: typeof fetch, what: string, url: URL, init: RequestInit, secrets: string[], timeoutMs: number): Promise<HttpAnswer> {
  let res: Response;
  try {
    res = await doFetch(url, { ...init, redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
    const detail = e.cause?.code ?? e.cause?.message ?? e.message ?? String(err);
    throw ApplicationFailure.retryable(scrubQuoted(`${what} failed: ${e.name ?? 'Error'}: ${detail}`, secrets), e.name === 'TimeoutError' ? 'TimeoutError' : 'NetworkError');
  }
  const text = await res.text().catch(() => '');
  let json: Record<string, unknown> | undefined;
  try {
    const parsed: unknown = text ? JSON.parse(text) : undefined;
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) json = parsed as Record<string, unknown>;
  } catch {
    // Not JSON: only the status matters then.
  }
  return { status: res.status, headers: res.headers, text, json };
}
