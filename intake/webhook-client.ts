import { SIGNATURE_HEADER, TIMESTAMP_HEADER, sign } from '../domain/signature.js';

/** Sends one signed alert to an intake server, as a detector integration would. */
export async function postSignedAlert(intakeUrl: string, secret: string, alert: unknown): Promise<{ status: number; body: unknown }> {
  const body = JSON.stringify(alert);
  const timestamp = Math.floor(Date.now() / 1000);
  const res = await fetch(`${intakeUrl}/v1/alerts`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      [TIMESTAMP_HEADER]: String(timestamp),
      [SIGNATURE_HEADER]: sign(secret, timestamp, body),
    },
    body,
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // keep the raw text
  }
  return { status: res.status, body: parsed };
}
