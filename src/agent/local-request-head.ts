/**
 * Raw request-head helpers for forwarding to the local service: the Host
 * rewrite on Node's flat `rawHeaders` lists, and the request head of an
 * upgrade written by hand on a new TCP connection.
 */
import type { IncomingMessage } from 'node:http';
import { toOriginForm } from '../http/index.js';

/**
 * A copy of `rawHeaders` (`[name, value, ...]`) where every `Host` entry is
 * replaced by one `Host: host`, at the position of the first one (first in
 * the list when there was none). With `host` undefined the Host sent is kept,
 * and `fallbackHost` is added only when there is none (HTTP/1.1 needs one).
 */
export function rewriteHostHeader(rawHeaders: readonly string[], host: string | undefined, fallbackHost?: string): string[] {
  if (host === undefined) {
    const hasHost = rawHeaders.some((name, i) => i % 2 === 0 && name.toLowerCase() === 'host');
    if (hasHost || fallbackHost === undefined) return [...rawHeaders];
    return ['Host', fallbackHost, ...rawHeaders];
  }
  const out: string[] = [];
  let placed = false;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    if (name.toLowerCase() === 'host') {
      if (!placed) out.push(name, host);
      placed = true;
      continue;
    }
    out.push(name, rawHeaders[i + 1] as string);
  }
  return placed ? out : ['Host', host, ...out];
}

/** `[name, value, ...]` as `[[name, value], ...]`, the form `addTrailers` takes. */
export function rawHeaderPairs(rawHeaders: readonly string[]): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) pairs.push([rawHeaders[i] as string, rawHeaders[i + 1] as string]);
  return pairs;
}

/**
 * The request head as received (request line, raw headers with their case
 * and order, blank line), with `rawHeaders` standing for the headers, for
 * writing an upgrade request to the local service byte for byte.
 */
export function buildRequestHead(req: IncomingMessage, rawHeaders: readonly string[]): Buffer {
  const lines = [`${req.method ?? 'GET'} ${toOriginForm(req.url)} HTTP/${req.httpVersion}`];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) lines.push(`${rawHeaders[i] as string}: ${rawHeaders[i + 1] as string}`);
  lines.push('', '');
  return Buffer.from(lines.join('\r\n'), 'latin1');
}
