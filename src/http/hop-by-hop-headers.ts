/**
 * Hop-by-hop header removal (RFC 9110 section 7.6.1): headers that describe
 * one connection, never the message, so a proxy drops them before forwarding.
 */
import type { OutgoingHttpHeaders } from 'node:http';

/** A header object keyed by name (any case), as Node's `IncomingHttpHeaders` or `OutgoingHttpHeaders`. */
export type HeaderMap = Readonly<Record<string, string | readonly string[] | number | undefined>>;

/** Header names (lowercase) that are always hop-by-hop, whatever `Connection` says. */
export const HOP_BY_HOP_HEADERS: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'proxy-authenticate',
  'proxy-authorization',
]);

/** Options of the hop-by-hop filters. */
export interface HopByHopOptions {
  /**
   * Forwarding an upgrade: keep `Connection` and `Upgrade` (and the other
   * headers that `Connection` names, such as h2c's `HTTP2-Settings`), since
   * the next hop needs them to perform the upgrade.
   */
  keepUpgrade?: boolean;
}

/** The lowercase tokens of one or more `Connection` header values. */
export function connectionTokens(value: string | readonly string[] | number | undefined): string[] {
  if (value === undefined) return [];
  const values = typeof value === 'string' || typeof value === 'number' ? [String(value)] : value;
  const tokens: string[] = [];
  for (const v of values) {
    for (const part of v.split(',')) {
      const token = part.trim().toLowerCase();
      if (token.length > 0) tokens.push(token);
    }
  }
  return tokens;
}

/** `HOP_BY_HOP_HEADERS` without `connection` and `upgrade`, for forwarding an upgrade. */
const HOP_BY_HOP_KEEPING_UPGRADE: ReadonlySet<string> = new Set(
  [...HOP_BY_HOP_HEADERS].filter((name) => name !== 'connection' && name !== 'upgrade'),
);

/**
 * The set of lowercase header names to drop for a message whose `Connection`
 * tokens are `tokens`. Runs on every forwarded message, so the shared sets are
 * returned unless `Connection` names a header outside them.
 */
function namesToDrop(tokens: readonly string[], options: HopByHopOptions | undefined): ReadonlySet<string> {
  if (options?.keepUpgrade === true) return HOP_BY_HOP_KEEPING_UPGRADE;
  let drop: Set<string> | undefined;
  for (const token of tokens) {
    if (HOP_BY_HOP_HEADERS.has(token) || drop?.has(token) === true) continue;
    drop ??= new Set(HOP_BY_HOP_HEADERS);
    drop.add(token);
  }
  return drop ?? HOP_BY_HOP_HEADERS;
}

/**
 * A copy of `headers` without hop-by-hop headers: the fixed list and every
 * header named in `Connection`. Names are matched case-insensitively; the
 * kept entries keep their names and values.
 */
export function removeHopByHopHeaders(headers: HeaderMap, options?: HopByHopOptions): OutgoingHttpHeaders {
  const connection: string[] = [];
  for (const name in headers) {
    const value = headers[name];
    if (value !== undefined && name.toLowerCase() === 'connection') connection.push(...connectionTokens(value));
  }
  const drop = namesToDrop(connection, options);
  const out: OutgoingHttpHeaders = {};
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || drop.has(name.toLowerCase())) continue;
    out[name] = typeof value === 'string' || typeof value === 'number' ? value : [...value];
  }
  return out;
}

/**
 * A copy of a flat raw header list (`[name, value, name, value, ...]`, as
 * Node's `rawHeaders`) without hop-by-hop headers. Order, name case and
 * repeated headers of the kept entries are preserved.
 */
export function removeHopByHopRawHeaders(rawHeaders: readonly string[], options?: HopByHopOptions): string[] {
  const connection: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if ((rawHeaders[i] as string).toLowerCase() === 'connection') {
      connection.push(...connectionTokens(rawHeaders[i + 1]));
    }
  }
  const drop = namesToDrop(connection, options);
  const out: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    if (drop.has(name.toLowerCase())) continue;
    out.push(name, rawHeaders[i + 1] as string);
  }
  return out;
}
