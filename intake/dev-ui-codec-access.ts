import type { IncomingMessage } from 'node:http';
import ipaddr from 'ipaddr.js';
import { ConfigError } from '../temporal.config.js';
import { header } from './http.js';

/**
 * Token-free codec access for the Temporal Web UI of `bulwark dev` (issue 8).
 *
 * The Temporal UI calls the codec endpoint from the browser (POST …/decode with `X-Namespace`);
 * it adds `Authorization: Bearer <access token>` only when `passAccessToken` is set and the user
 * logged in through the UI's OIDC, and cookies only with `includeCredentials`. The dev server's UI
 * has no login, so it can never present `codec.serverToken`: without this exception the dev UI
 * gets 401 and shows ciphertext.
 *
 * `codec.devUiOrigins` (set only by `bulwark dev` to the UI it just started; no environment
 * variable, no default) lets a request skip the token when ALL of these hold:
 *  - it arrived on a loopback socket (127.0.0.0/8, ::1, ::ffff:127.x): nothing on the network,
 *  - its Host is a loopback name (127.0.0.1 / localhost / [::1]) and it carries no proxy
 *    forwarding header: a tunnel (ngrok, cloudflared, a local reverse proxy exposing the dev
 *    intake for Slack webhooks) connects from loopback, but keeps the public Host or adds
 *    X-Forwarded-For / Forwarded, so its callers are still asked for the token,
 *  - its Origin is exactly one of the dev UI's origins. Browsers set Origin themselves and pages
 *    cannot forge it, so another web page open in the same browser (including DNS rebinding to
 *    127.0.0.1, which still carries the attacker's origin and Host) cannot read decrypted payloads.
 *
 * What remains trusted is any process on the same machine, which can forge Origin and Host. In a
 * sandbox on a developer's laptop those processes already run as the developer, who holds the KMS
 * credentials that decrypt the payloads anyway, so the token adds nothing there. It would matter
 * on a shared or networked host, so the exception is refused outright (config error at startup)
 * when the intake listens on anything but a loopback address: 0.0.0.0 or a LAN address would put
 * the endpoint, and the one check a remote caller could satisfy by forging headers, on the network.
 * Every other request still needs the bearer token, exactly as in production.
 */

const FORWARDING_HEADERS = ['forwarded', 'x-forwarded-for', 'x-forwarded-host', 'x-real-ip', 'cf-connecting-ip', 'true-client-ip'];
const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

/** True for an address literal in a loopback range (IPv4-mapped IPv6 included). */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (!address || !ipaddr.isValid(address)) return false;
  return ipaddr.process(address).range() === 'loopback';
}

/** True when a listen host can only be reached from this machine. */
export function isLoopbackHost(host: string): boolean {
  return LOOPBACK_NAMES.has(host.toLowerCase()) || isLoopbackAddress(host.replace(/^\[|\]$/g, ''));
}

/** The Host header's host part when it names loopback (any port), else false. */
function hostHeaderIsLoopback(host: string | undefined): boolean {
  if (!host) return false;
  const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.replace(/:\d+$/, '');
  return isLoopbackHost(name);
}

/** Whether this request is the dev UI's browser on this machine (see the module comment). */
export function isDevUiRequest(req: IncomingMessage, devUiOrigins: readonly string[]): boolean {
  if (devUiOrigins.length === 0) return false;
  const origin = header(req, 'origin');
  if (origin === undefined || !devUiOrigins.includes(origin)) return false;
  if (!isLoopbackAddress(req.socket.remoteAddress)) return false;
  if (!hostHeaderIsLoopback(header(req, 'host'))) return false;
  return !FORWARDING_HEADERS.some((h) => req.headers[h] !== undefined);
}

/** Refuses the dev UI exception unless the intake listens on loopback only. */
export function assertDevUiCodecListen(intakeHost: string, devUiOrigins: readonly string[] | undefined): void {
  if (!devUiOrigins?.length || isLoopbackHost(intakeHost)) return;
  throw new ConfigError([
    {
      field: 'intake.host',
      message: `the dev UI's token-free codec access (codec.devUiOrigins, set by \`bulwark dev\`) needs the intake on a loopback address (127.0.0.1, ::1 or localhost), got "${intakeHost}"; unset BULWARK_INTAKE_HOST or set it to 127.0.0.1`,
    },
  ]);
}
