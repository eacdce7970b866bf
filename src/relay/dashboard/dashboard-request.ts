/**
 * Request checks of the dashboard: its session cookie, whether it came over
 * TLS (for `Secure`), and whether a state-changing request comes from the
 * dashboard's own page (same origin), as CSRF defences next to SameSite and
 * the per-session CSRF token.
 */
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { ProxyTrust } from '../../http/index.js';

/** Name of the session cookie. */
export const DASHBOARD_SESSION_COOKIE = 'vt_dashboard_session';
/** Header carrying the session's CSRF token on every state-changing request. */
export const CSRF_HEADER = 'X-CSRF-Token';

/** The value of the session cookie in `req`, if any. */
export function sessionCookieOf(req: IncomingMessage): string | undefined {
  const header = req.headers.cookie;
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === DASHBOARD_SESSION_COOKIE) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * A `Set-Cookie` for the session: HttpOnly, SameSite=Strict, Secure over TLS.
 * No `Path`: it defaults to the folder of the login URL (`.../dashboard/api`),
 * which keeps the cookie to the dashboard's API behind any path prefix.
 */
export function sessionCookie(value: string, maxAgeSec: number, secure: boolean): string {
  const parts = [`${DASHBOARD_SESSION_COOKIE}=${value}`, `Max-Age=${Math.max(0, Math.floor(maxAgeSec))}`, 'HttpOnly', 'SameSite=Strict'];
  if (secure) parts.push('Secure');
  return parts.join('; ');
}

/** True when the browser reached us over TLS: our own socket, or a trusted proxy saying `X-Forwarded-Proto: https`. */
export function isOverTls(req: IncomingMessage, trust: ProxyTrust): boolean {
  if ((req.socket as TLSSocket).encrypted === true) return true;
  if (!trust(req.socket.remoteAddress)) return false;
  const proto = req.headers['x-forwarded-proto'];
  return (Array.isArray(proto) ? proto[0] : proto)?.split(',')[0]?.trim().toLowerCase() === 'https';
}

/**
 * True unless the request is visibly cross-site: `Sec-Fetch-Site` (sent by
 * every current browser) must be `same-origin`; without it, an `Origin` must
 * name the host the request was sent to (`X-Forwarded-Host` from a trusted
 * proxy). A request with neither (curl) passes: the CSRF token still applies.
 */
export function isSameOriginRequest(req: IncomingMessage, trust: ProxyTrust): boolean {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined) return site === 'same-origin';
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  const forwardedHost = trust(req.socket.remoteAddress) ? req.headers['x-forwarded-host'] : undefined;
  const host = (Array.isArray(forwardedHost) ? forwardedHost[0] : forwardedHost)?.split(',')[0]?.trim() ?? req.headers.host;
  try {
    return host !== undefined && new URL(origin).host.toLowerCase() === host.toLowerCase();
  } catch {
    return false;
  }
}
