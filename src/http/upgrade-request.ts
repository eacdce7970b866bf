/**
 * Upgrade detection: a request asks to switch protocols when `Connection`
 * carries the `upgrade` token and an `Upgrade` header names a protocol, for
 * any protocol (WebSocket in any spelling, h2c, ...), as RFC 9110 section 7.8
 * defines it. The Go client matched only three spellings of `websocket`.
 */
import { connectionTokens, type HeaderMap } from './hop-by-hop-headers.js';

/** The value of header `name` (matched case-insensitively) in `headers`. */
function headerValue(headers: HeaderMap, name: string): string | readonly string[] | number | undefined {
  const exact = headers[name];
  if (exact !== undefined) return exact;
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === name) return value;
  }
  return undefined;
}

/**
 * The protocols named by the `Upgrade` header, in order, as sent (e.g.
 * `['websocket']`, `['h2c']`); empty when absent.
 */
export function upgradeProtocols(headers: HeaderMap): string[] {
  const value = headerValue(headers, 'upgrade');
  if (value === undefined) return [];
  const values = typeof value === 'string' || typeof value === 'number' ? [String(value)] : value;
  return values.flatMap((v) => v.split(',')).map((p) => p.trim()).filter((p) => p.length > 0);
}

/**
 * True when the request is an upgrade: `Connection` contains the token
 * `upgrade` (case-insensitive, in a comma-separated list, possibly over
 * several header lines) and `Upgrade` names at least one protocol.
 */
export function isUpgradeRequest(headers: HeaderMap): boolean {
  return connectionTokens(headerValue(headers, 'connection')).includes('upgrade') && upgradeProtocols(headers).length > 0;
}
