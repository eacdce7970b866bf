/**
 * Metric families of the relay's state beyond visitors and agent sessions:
 * the store's health, agents whose link two running instances fight over,
 * and, for a cluster node, the cluster as it sees it. Read at scrape time.
 */
import type { ClusterNode } from './cluster/cluster-node.js';
import type { InstanceConflicts } from './instance-conflicts.js';
import { RELAY_METRICS_PREFIX } from './metrics.js';
import { GaugeFamily, ReadCounterFamily, type MetricFamily } from './prometheus-text.js';
import type { RelayStore } from './store/relay-store.js';

/** The families for `store`, `conflicts` and (when set) `cluster`. */
export function relayStateFamilies(store: RelayStore, conflicts: InstanceConflicts, cluster: ClusterNode | null): MetricFamily[] {
  const p = RELAY_METRICS_PREFIX;
  const families: MetricFamily[] = [
    new GaugeFamily(`${p}store_up`, 'Whether the store can be reached (1) or the relay serves from memory during an outage (0).', false, (set) =>
      set({}, store.health === 'up' ? 1 : 0),
    ),
    new GaugeFamily(`${p}agents_in_conflict`, 'Agents whose link two running instances (one token on two devices?) keep taking from each other.', false, (set) =>
      set({}, conflicts.conflicts().length),
    ),
    new ReadCounterFamily(`${p}agent_instance_takeovers_total`, 'Times an agent link passed to another running instance of the same agent.', false, (set) =>
      set({}, conflicts.totalTakeovers),
    ),
  ];
  if (cluster !== null) {
    families.push(
      new GaugeFamily(`${p}cluster_nodes`, 'Nodes of the cluster by state, as this node sees them (alive: lease current).', true, (set) => {
        const counts = new Map<string, number>();
        for (const n of cluster.status().nodes) {
          const state = n.alive ? n.state : 'dead';
          counts.set(state, (counts.get(state) ?? 0) + 1);
        }
        for (const state of ['ready', 'draining', 'stopped', 'dead']) set({ state }, counts.get(state) ?? 0);
      }),
      new GaugeFamily(`${p}cluster_peer_links_up`, 'Peer links to other nodes that are up.', false, (set) =>
        set({}, cluster.status().peerLinks.filter((l) => l.state === 'up').length),
      ),
      new GaugeFamily(`${p}cluster_directory_links`, 'Agent links in the session directory, over all nodes.', false, (set) => set({}, cluster.directory.size)),
      new GaugeFamily(`${p}cluster_forwarded_streams`, 'Visitor streams of other nodes being served by this node.', false, (set) =>
        set({}, cluster.status().forwardedStreams),
      ),
      new GaugeFamily(`${p}cluster_pending_publications`, 'Directory writes of this node not yet in the store (grows while the store is down).', false, (set) =>
        set({}, cluster.status().pendingPublications),
      ),
    );
  }
  return families;
}
