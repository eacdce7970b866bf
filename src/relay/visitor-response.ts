/**
 * Responses the relay itself gives visitors (errors, access redirects), on a
 * `ServerResponse` or on the raw socket of an upgrade request, with the
 * `X-Tunnel-Error` conventions of `src/http` plus extra headers such as
 * `WWW-Authenticate`, `Set-Cookie` or `Retry-After`.
 */
import { ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { sendTunnelError, writeRawResponse, type TunnelErrorInfo } from '../http/index.js';

/** Extra response headers (names as written). */
export type ExtraHeaders = Readonly<Record<string, string>>;

/**
 * Sends `info` (rendered as JSON or HTML for `accept`) plus `extra` headers;
 * see `sendTunnelError`, which this is: on a response whose headers already
 * went out, the response is destroyed instead, so a cut response never looks
 * complete. Returns true when written.
 */
export const sendVisitorError: (
  target: ServerResponse | Duplex,
  info: TunnelErrorInfo,
  accept: string | string[] | undefined,
  extra?: ExtraHeaders,
) => boolean = sendTunnelError;

/** Answers `303 See Other` to `location` with `extra` headers (e.g. the access cookie) and no cache. */
export function sendVisitorRedirect(
  target: ServerResponse | Duplex,
  status: 301 | 302 | 303 | 307 | 308,
  location: string,
  extra: ExtraHeaders = {},
): boolean {
  const headers: Record<string, string> = { Location: location, 'Cache-Control': 'no-store', ...extra };
  if (target instanceof ServerResponse) {
    if (target.headersSent || target.destroyed) return false;
    target.writeHead(status, { ...headers, 'Content-Length': '0' });
    target.end();
    return true;
  }
  try {
    return writeRawResponse(target, { status, headers });
  } catch {
    target.destroy();
    return false;
  }
}
