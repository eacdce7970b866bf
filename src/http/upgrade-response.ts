/**
 * The answer to an upgrade request, as a proxy must judge it before it turns
 * a connection into a raw pipe: only a `101 Switching Protocols` whose
 * `Upgrade` names protocols the request offered switches the connection
 * (RFC 9110 section 15.2.2). Anything else is an ordinary response, after
 * which the connection is closed, so no later byte of the visitor can reach
 * the device unparsed.
 */
import type { IncomingMessage } from 'node:http';
import { STATUS_CODES } from 'node:http';
import { connectionTokens, type HeaderMap } from './hop-by-hop-headers.js';
import { upgradeProtocols } from './upgrade-request.js';

/**
 * True when `response` switches protocols as `requestHeaders` asked: status
 * `101`, `Connection: upgrade`, and an `Upgrade` header whose every protocol
 * is one the request named (compared case-insensitively).
 */
export function isAcceptedUpgrade(requestHeaders: HeaderMap, response: Pick<IncomingMessage, 'statusCode' | 'headers'>): boolean {
  if (response.statusCode !== 101) return false;
  if (!connectionTokens(response.headers.connection).includes('upgrade')) return false;
  const offered = new Set(upgradeProtocols(requestHeaders).map((p) => p.toLowerCase()));
  const chosen = upgradeProtocols(response.headers);
  return chosen.length > 0 && chosen.every((p) => offered.has(p.toLowerCase()));
}

/** Characters that would let a value end the header line early. */
const UNSAFE_HEADER_TEXT = /[\r\n\0]/;

/**
 * The head of a `101` response as the device sent it (status text, raw
 * header names, order and values), for the visitor's side of the pipe.
 * Throws `TypeError` for a header with CR, LF or NUL (Node's parser never
 * yields one).
 */
export function formatSwitchingProtocolsHead(response: Pick<IncomingMessage, 'statusMessage' | 'rawHeaders'>): Buffer {
  const reason = response.statusMessage === undefined || response.statusMessage === '' ? (STATUS_CODES[101] ?? '') : response.statusMessage;
  const lines = [`HTTP/1.1 101 ${reason}`];
  const raw = response.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    const value = raw[i + 1] as string;
    if (UNSAFE_HEADER_TEXT.test(name) || UNSAFE_HEADER_TEXT.test(value) || UNSAFE_HEADER_TEXT.test(reason)) {
      throw new TypeError(`Invalid header in a 101 response (header: ${name})`);
    }
    lines.push(`${name}: ${value}`);
  }
  lines.push('', '');
  return Buffer.from(lines.join('\r\n'), 'latin1');
}
