/**
 * Headers of the tunnel's own, shared by agent and relay. Every one is
 * optional on the wire: the Go relay and the Go agent neither send nor read
 * them, so each end must behave as before when a header is absent.
 */

/** Sent by our agent on the connect request: its version (optional; Go agents do not send it). */
export const AGENT_VERSION_HEADER = 'X-Tunnel-Agent-Version';

/**
 * Sent by our relay on every answer to a connect request (the `101` and every
 * refusal): `visiona-tunnel/<version>`. Its presence tells our agent that the
 * relay is ours (the Go relay never sends it).
 */
export const RELAY_VERSION_HEADER = 'X-Tunnel-Relay-Version';

/**
 * Optional features one end understands, comma-separated tokens (for example
 * `interim-responses`). Sent by our agent on the connect request and by our
 * relay on its `101`; a feature is used on a session only when both ends
 * named it.
 */
export const CAPABILITIES_HEADER = 'X-Tunnel-Capabilities';

/**
 * Capability token: this end passes interim (1xx) responses on a stream and
 * reads them there. Used on a session only when both ends named it.
 */
export const INTERIM_RESPONSES_CAPABILITY = 'interim-responses';

/** Relay's `101`: the id of the relay node that accepted the session (clusters). */
export const RELAY_NODE_HEADER = 'X-Tunnel-Node';

/** Relay's `101`: the public URL at which visitors reach this agent. */
export const AGENT_PUBLIC_URL_HEADER = 'X-Tunnel-Public-Url';

/** Agent's connect request: a random id per agent process start (tells a restart from a second link). */
export const AGENT_INSTANCE_HEADER = 'X-Tunnel-Agent-Instance';

/** Agent's connect request: which of its links this session is (0, 1, ...; absent means 0). */
export const AGENT_LINK_HEADER = 'X-Tunnel-Link';

/** Parses a capabilities header value into lower-case tokens (an absent header gives an empty set). */
export function parseCapabilities(value: string | string[] | undefined): Set<string> {
  const out = new Set<string>();
  if (value === undefined) return out;
  for (const part of (Array.isArray(value) ? value.join(',') : value).split(',')) {
    const token = part.trim().toLowerCase();
    if (/^[a-z0-9][a-z0-9-]{0,63}$/.test(token)) out.add(token);
  }
  return out;
}
