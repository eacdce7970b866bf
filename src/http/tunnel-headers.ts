/**
 * Headers of the tunnel's own, shared by agent and relay.
 */

/** Sent by our agent on the connect request: its version (optional; Go agents do not send it). */
export const AGENT_VERSION_HEADER = 'X-Tunnel-Agent-Version';
