/**
 * The URL and headers the agent dials the relay with (wire contract: the
 * token travels as `?token=`; the `Authorization` header and the agent
 * version header are optional extras a Go relay ignores).
 */
import type { Secret } from '../shared/secret.js';

/** Header carrying the agent's version on the upgrade request (optional; the Go relay ignores it). */
import { AGENT_VERSION_HEADER, CAPABILITIES_HEADER, INTERIM_RESPONSES_CAPABILITY } from '../http/tunnel-headers.js';

/** The path agents connect to on every relay, ours and the Go one (wire contract). */
export const TUNNEL_CONNECT_PATH = '/tunnel/connect';

/** What our agent understands on a stream beyond the Go wire contract (`X-Tunnel-Capabilities`). */
export const AGENT_CAPABILITIES: readonly string[] = [INTERIM_RESPONSES_CAPABILITY];

/**
 * `relayUrl` with `token=<token>` as its last query parameter. Any existing
 * `token` parameter is replaced; every other parameter is kept exactly as
 * written (order and encoding).
 */
export function buildConnectUrl(relayUrl: string, token: Secret | string): URL {
  const url = new URL(relayUrl);
  const value = typeof token === 'string' ? token : token.reveal();
  const kept = url.search
    .slice(1)
    .split('&')
    .filter((part) => part !== '' && decodeParamName(part) !== 'token');
  kept.push(`token=${encodeURIComponent(value)}`);
  url.search = `?${kept.join('&')}`;
  return url;
}

/** Upgrade request headers: `Authorization: Bearer <token>`, the agent's capabilities, and its version when set. */
export function buildConnectHeaders(token: Secret | string, agentVersion?: string): Record<string, string> {
  const value = typeof token === 'string' ? token : token.reveal();
  const headers: Record<string, string> = { Authorization: `Bearer ${value}`, [CAPABILITIES_HEADER]: AGENT_CAPABILITIES.join(', ') };
  if (agentVersion !== undefined) headers[AGENT_VERSION_HEADER] = agentVersion;
  return headers;
}

// Servers decode parameter names: `tok%65n=` is a token parameter too.
function decodeParamName(part: string): string {
  const eq = part.indexOf('=');
  const raw = eq === -1 ? part : part.slice(0, eq);
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    return raw;
  }
}
