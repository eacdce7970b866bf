/**
 * The live part of an agent's state on this relay, read from its sessions in
 * the agent registry: what the admin API lists and the dashboard shows
 * between store reads.
 */
import type { AgentConnection } from './agent-registry.js';

/** An agent's sessions on this relay, summed up. Counters are those of the current session. */
export interface AgentLiveState {
  online: boolean;
  /** Online: when connected (ISO 8601). Offline: when disconnected, if known; else null. */
  since: string | null;
  remoteAddress: string | null;
  /** Version the agent announced, if any. */
  version: string | null;
  /** Last keepalive round trip, in ms. */
  rttMs: number | null;
  /** Visitor streams open now, draining sessions included. */
  streams: number;
  /** Visitor requests and upgrades forwarded through the current session. */
  requests: number;
  bytesToAgent: number;
  bytesFromAgent: number;
  connectionId: number | null;
  /** Replaced sessions still finishing their streams. */
  drainingSessions: number;
}

/** The live state of an agent from its `connections` (current and draining); `offlineSinceMs` when it left, if known. */
export function liveAgentState(connections: readonly AgentConnection[], offlineSinceMs: number | undefined): AgentLiveState {
  const current = connections.find((c) => !c.isReplaced && !c.session.isClosed);
  let streams = 0;
  for (const c of connections) streams += c.activeStreams;
  return {
    online: current !== undefined,
    since: current !== undefined ? iso(current.connectedAtMs) : offlineSinceMs === undefined ? null : iso(offlineSinceMs),
    remoteAddress: current?.remoteAddress ?? null,
    version: current?.agentVersion ?? null,
    rttMs: current?.rttMs ?? null,
    streams,
    requests: current?.requestsForwarded ?? 0,
    bytesToAgent: current?.bytesToAgent ?? 0,
    bytesFromAgent: current?.bytesFromAgent ?? 0,
    connectionId: current?.id ?? null,
    drainingSessions: connections.filter((c) => c !== current).length,
  };
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
