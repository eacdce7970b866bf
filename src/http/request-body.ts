/**
 * Whether a parsed request carries a body, from its framing alone (RFC 9112
 * section 6.3): a request has a body only with `Transfer-Encoding` or a
 * `Content-Length` above 0. Lets a forwarder end its upstream request at
 * once instead of piping an empty body (listeners set up and torn down on
 * every GET).
 */
import type { IncomingHttpHeaders } from 'node:http';

export function requestHasBody(headers: IncomingHttpHeaders): boolean {
  if (headers['transfer-encoding'] !== undefined) return true;
  const length = headers['content-length'];
  return length !== undefined && length !== '0';
}
