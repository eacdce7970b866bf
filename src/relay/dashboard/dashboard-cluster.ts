/**
 * What the dashboard shows of a relay cluster, when the relay runs in one:
 * the cluster strip (each node, ready or draining, its agents, the health of
 * its peer links) and, in an agent's detail, its sessions on other nodes.
 * The cluster implements `DashboardClusterSource`; without one the page
 * shows no strip and every session is this relay's.
 */
import type { AgentLiveState } from '../agent-live-state.js';

/** A peer link from a node to another node. */
export interface ClusterPeerLinkView {
  /** The node at the other end. */
  node: string;
  healthy: boolean;
  /** Last round trip over the link, in ms, when measured. */
  rttMs?: number | null;
}

/** One relay node of the cluster. */
export interface ClusterNodeView {
  id: string;
  state: 'ready' | 'draining';
  /** Agents with a session on this node. */
  agents: number;
  peerLinks: ClusterPeerLinkView[];
  /** The node serving this dashboard. */
  isLocal?: boolean;
}

/** One session of an agent: on which node, over which link, and its figures (`since` is when it connected). */
export interface AgentSessionView extends Pick<AgentLiveState, 'connectionId' | 'since' | 'remoteAddress' | 'version' | 'rttMs' | 'streams' | 'requests'> {
  /** Node holding the session (a cluster only). */
  node?: string;
  /** Link index of the agent, when it keeps more than one (a cluster only). */
  link?: number;
  /** Replaced by a newer session, finishing its streams. */
  draining: boolean;
}

/** The cluster as the dashboard reads it. */
export interface DashboardClusterSource {
  /** Id of the node serving the dashboard (put on its own sessions). */
  readonly localNodeId: string;
  /** Every node, in display order. */
  nodes(): ClusterNodeView[];
  /** Calls `listener` whenever `nodes()` may have changed; returns the unsubscribe function. */
  onChange(listener: () => void): () => void;
  /** The agent's sessions held by other nodes (this node's own come from its registry). */
  remoteSessions?(agent: string): Promise<AgentSessionView[]>;
}
