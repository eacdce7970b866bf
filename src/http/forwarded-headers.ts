/**
 * `X-Forwarded-*` headers the relay adds for the local service: who the
 * visitor is, which scheme and Host it used, and which path prefix routing
 * stripped. Incoming values are believed only from trusted proxies.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import type { HeaderMap } from './hop-by-hop-headers.js';
import { normalizeIpAddress, trustNoProxy, type ProxyTrust } from './proxy-trust.js';

/**
 * Headers a visitor could use to lie about its address or scheme; dropped
 * (lowercase names) when the peer is not a trusted proxy.
 */
export const SPOOFABLE_FORWARDING_HEADERS: ReadonlySet<string> = new Set([
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-forwarded-prefix',
  'x-forwarded-port',
  'x-real-ip',
  'forwarded',
]);

/** What the relay knows about the visitor's connection. */
export interface ForwardedHeadersOptions {
  /** The peer address of the connection the request came on (`socket.remoteAddress`). */
  remoteAddress: string | undefined;
  /** The scheme of the public listener the request came on. */
  proto: 'http' | 'https';
  /** The `Host` the visitor sent (port kept), for `X-Forwarded-Host`. */
  host: string | undefined;
  /** The path prefix routing stripped (`/a/edge-01`), for `X-Forwarded-Prefix`; no trailing slash. */
  prefix?: string | undefined;
  /** Whether `remoteAddress` is a trusted proxy; default trusts nobody. */
  trustProxy?: ProxyTrust;
}

/** The first value of a header, as a string, or undefined when absent or empty. */
function firstValue(value: string | readonly string[] | number | undefined): string | undefined {
  if (value === undefined) return undefined;
  const s = typeof value === 'string' || typeof value === 'number' ? String(value) : value.join(', ');
  const trimmed = s.trim();
  return trimmed.length > 0 ? trimmed : undefined;
}

/** Joins two path prefixes without doubling or losing a slash. */
function joinPrefix(outer: string, inner: string): string {
  return outer.replace(/\/+$/, '') + inner;
}

/**
 * A copy of `headers` with the forwarding headers set:
 * - `X-Forwarded-For`: the peer address appended to the incoming list when the
 *   peer is a trusted proxy, alone otherwise;
 * - `X-Forwarded-Proto` / `X-Forwarded-Host`: the trusted proxy's values when
 *   it sent them, else our scheme and the visitor's Host;
 * - `X-Forwarded-Prefix`: `prefix` (after a trusted proxy's own prefix).
 * From untrusted peers every header in `SPOOFABLE_FORWARDING_HEADERS` is
 * dropped first. Host and all other headers are unchanged.
 */
export function applyForwardedHeaders(headers: HeaderMap, options: ForwardedHeadersOptions): OutgoingHttpHeaders {
  const trust = options.trustProxy ?? trustNoProxy;
  const trusted = trust(options.remoteAddress);
  const incoming: Partial<Record<string, string>> = {};
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    const lower = name.toLowerCase();
    if (SPOOFABLE_FORWARDING_HEADERS.has(lower)) {
      if (!trusted) continue;
      if (lower.startsWith('x-forwarded-') && lower !== 'x-forwarded-port') {
        const v = firstValue(value);
        if (v !== undefined) incoming[lower] = incoming[lower] === undefined ? v : `${incoming[lower]}, ${v}`;
        continue;
      }
    }
    out[name] = typeof value === 'string' || typeof value === 'number' ? value : [...value];
  }

  const peer = options.remoteAddress === undefined ? undefined : normalizeIpAddress(options.remoteAddress);
  const chain = [incoming['x-forwarded-for'], peer].filter((v): v is string => v !== undefined);
  if (chain.length > 0) out['x-forwarded-for'] = chain.join(', ');

  const incomingProto = incoming['x-forwarded-proto']?.split(',')[0]?.trim().toLowerCase();
  out['x-forwarded-proto'] = incomingProto === 'http' || incomingProto === 'https' ? incomingProto : options.proto;

  const host = incoming['x-forwarded-host'] ?? options.host;
  if (host !== undefined && host.length > 0) out['x-forwarded-host'] = host;

  const outerPrefix = incoming['x-forwarded-prefix'];
  const prefix = options.prefix !== undefined && options.prefix.length > 0 ? options.prefix : undefined;
  if (outerPrefix !== undefined && prefix !== undefined) out['x-forwarded-prefix'] = joinPrefix(outerPrefix, prefix);
  else if (outerPrefix !== undefined) out['x-forwarded-prefix'] = outerPrefix;
  else if (prefix !== undefined) out['x-forwarded-prefix'] = prefix;

  return out;
}
