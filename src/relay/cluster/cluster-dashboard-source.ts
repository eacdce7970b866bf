/**
 * The cluster as the operator dashboard shows it (`DashboardClusterSource`):
 * the nodes this node knows, ready or draining, with their agents from the
 * session directory and this node's peer links; an agent's sessions on the
 * other nodes from the directory (node and link; their live figures stay on
 * those nodes).
 */
import type { AgentSessionView, ClusterNodeView, DashboardClusterSource } from '../dashboard/dashboard-cluster.js';
import type { ClusterNode } from './cluster-node.js';

/** How often the strip is refreshed when nothing announced a change (agent counts move with every connect). */
const REFRESH_MS = 2000;

/** A `DashboardClusterSource` over this node's `ClusterNode`. */
export class ClusterDashboardSource implements DashboardClusterSource {
  readonly localNodeId: string;
  readonly #cluster: ClusterNode;

  constructor(cluster: ClusterNode) {
    this.#cluster = cluster;
    this.localNodeId = cluster.config.nodeId;
  }

  nodes(): ClusterNodeView[] {
    const status = this.#cluster.status();
    return status.nodes
      .filter((n) => n.alive && n.state !== 'stopped')
      .map((n) => {
        const isLocal = n.nodeId === this.localNodeId;
        const link = status.peerLinks.find((l) => l.nodeId === n.nodeId);
        return {
          id: n.nodeId,
          state: n.state === 'draining' ? ('draining' as const) : ('ready' as const),
          agents: n.agents,
          // This node's links, to each of the others; another node's own links are not known here.
          peerLinks: isLocal
            ? status.peerLinks.filter((l) => l.nodeId !== this.localNodeId).map((l) => ({ node: l.nodeId, healthy: l.state === 'up', rttMs: l.rttMs ?? null }))
            : link === undefined
              ? []
              : [{ node: this.localNodeId, healthy: link.state === 'up', rttMs: link.rttMs ?? null }],
          isLocal,
        };
      });
  }

  onChange(listener: () => void): () => void {
    const off = this.#cluster.nodes.onChange(listener);
    const timer = setInterval(listener, REFRESH_MS);
    timer.unref();
    return () => {
      off();
      clearInterval(timer);
    };
  }

  async remoteSessions(agent: string): Promise<AgentSessionView[]> {
    return this.#cluster.remoteLinks(agent).map((l) => ({
      node: l.nodeId,
      link: l.linkIndex,
      draining: false,
      connectionId: null,
      since: null,
      remoteAddress: null,
      version: null,
      rttMs: null,
      streams: 0,
      requests: 0,
    }));
  }
}
