/**
 * This relay as a node of a cluster: its lease and the view of the other
 * nodes (`NodeDirectory`), the session directory of every agent link
 * (`SessionDirectory`, fed by the store's change log), the publication of
 * its own agent sessions (`LinkPublisher`), and the peer links (`PeerListener`,
 * `PeerLinkPool`, `PeerStreamServer`) that carry visitor streams between
 * nodes, one hop at most. Newest wins across nodes: when a newer epoch of an
 * agent's link appears on another node, the session here gets GoAway and
 * `replacedSessionGraceMs` to finish.
 */
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import type { AgentConnection, AgentRegistry } from '../agent-registry.js';
import type { InstanceConflicts } from '../instance-conflicts.js';
import type { RelayLimits } from '../relay-config.js';
import type { PostgresRelayStore } from '../store/postgres/postgres-relay-store.js';
import { formatHostPort, type ClusterConfig } from './cluster-config.js';
import { LinkPublisher } from './link-publisher.js';
import { NodeDirectory, type ClusterNodeView } from './node-directory.js';
import { PeerLinkPool, type PeerLinkStatus } from './peer-link-pool.js';
import type { PeerStreamOpening } from './peer-link.js';
import { PeerListener } from './peer-listener.js';
import { PeerStreamServer } from './peer-stream-server.js';
import { SessionDirectory, type DirectoryLink } from './session-directory.js';

/** What a cluster node needs from its relay. */
export interface ClusterNodeOptions {
  config: Readonly<ClusterConfig>;
  store: PostgresRelayStore;
  registry: AgentRegistry;
  limits: Pick<RelayLimits, 'maxStreamsPerAgent' | 'replacedSessionGraceMs'>;
  /** Counts refused peer links (optional). */
  onPeerRefused?: (reason: string) => void;
  /** Hears every link-up of the directory, to notice two running instances of one agent. */
  conflicts?: InstanceConflicts;
  logger: Logger;
  clock: Clock;
}

/** The cluster as one node sees it, for the admin API and the dashboard. */
export interface ClusterStatus {
  readonly nodeId: string;
  readonly state: ClusterNodeView['state'];
  readonly nodes: readonly (ClusterNodeView & { readonly agents: number })[];
  readonly peerLinks: readonly PeerLinkStatus[];
  /** Agent links in the session directory, over all nodes. */
  readonly directoryLinks: number;
  /** Directory writes of this node not yet in the store (the store is down when this grows). */
  readonly pendingPublications: number;
  /** Visitor streams of other nodes being served here. */
  readonly forwardedStreams: number;
}

/** Time the other node may take to answer a stream request (ms). */
const PEER_ANSWER_TIMEOUT_MS = 10_000;

/** A relay's cluster membership. */
export class ClusterNode {
  readonly config: Readonly<ClusterConfig>;
  readonly nodes: NodeDirectory;
  readonly directory: SessionDirectory;
  readonly #o: ClusterNodeOptions;
  readonly #publisher: LinkPublisher;
  readonly #peers: PeerLinkPool;
  readonly #listener: PeerListener;
  readonly #streams: PeerStreamServer;
  #advertised: string | undefined;
  #stopping: Promise<void> | undefined;

  /** Wires everything to `store` (before it opens: its change log must cover these from the first snapshot). */
  constructor(options: ClusterNodeOptions) {
    this.#o = options;
    const { config, store, registry, clock } = options;
    this.config = config;
    const logger = options.logger;
    this.nodes = new NodeDirectory({ executor: store.executor, nodeId: config.nodeId, nodeLeaseMs: config.nodeLeaseMs, logger, clock });
    this.directory = new SessionDirectory({
      onLinkUp: (link) => {
        options.conflicts?.noteHolder(link.agentName, link.instanceId);
        this.#onLinkUp(link);
      },
      onReload: () => this.#reconcile(),
      clock,
    });
    store.subscribe(this.nodes);
    store.subscribe(this.directory);
    this.#publisher = new LinkPublisher({
      executor: store.executor,
      nodeId: config.nodeId,
      onLost: (c) => this.#supersede(c, 'a newer session of this agent was published first'),
      logger,
      clock,
    });
    this.#streams = new PeerStreamServer({
      registry,
      maxStreamsPerAgent: options.limits.maxStreamsPerAgent,
      isDraining: () => this.nodes.state !== 'ready',
      preambleTimeoutMs: PEER_ANSWER_TIMEOUT_MS,
      logger,
      clock,
    });
    this.#peers = new PeerLinkPool({ config, onStream: (stream) => this.#streams.handle(stream), logger, clock });
    this.#listener = new PeerListener({
      config,
      onLink: (socket, peer) => this.#peers.accept(socket, peer),
      ...(options.onPeerRefused === undefined ? {} : { onRefused: options.onPeerRefused }),
      logger,
      clock,
    });
    registry.on('connect', (c: AgentConnection) => this.#publisher.up(c));
    registry.on('disconnect', (c: AgentConnection) => this.#publisher.down(c));
    this.nodes.onChange(() => {
      for (const n of this.nodes.nodes()) if (n.nodeId !== config.nodeId && !this.nodes.isServing(n.nodeId)) this.#peers.drop(n.nodeId);
    });
  }

  /** The `host:port` other nodes dial, once started. */
  get peerAddress(): string | undefined {
    return this.#advertised;
  }

  /** Binds the peer listener and claims this node's lease. */
  async start(publicUrl: string | null): Promise<string> {
    const bound = await this.#listener.listen();
    const advertise = this.config.peerAdvertise.endsWith(':0') ? formatHostPort(this.config.peerListen.host, Number(bound.slice(bound.lastIndexOf(':') + 1))) : this.config.peerAdvertise;
    this.#advertised = advertise;
    await this.nodes.start(advertise, publicUrl);
    this.#o.logger.info('cluster node started', { nodeId: this.config.nodeId, peerListen: bound, peerAdvertise: advertise });
    return bound;
  }

  /**
   * Links of `agentName` on other nodes that may be sent visitors now, newest
   * first.
   */
  remoteLinks(agentName: string): DirectoryLink[] {
    const links = this.directory.linksOf(agentName).filter((l) => l.nodeId !== this.config.nodeId && this.nodes.isServing(l.nodeId));
    // Links on draining nodes last: the agent is moving away from them.
    const draining = (l: DirectoryLink): number => (this.nodes.node(l.nodeId)?.state === 'draining' ? 1 : 0);
    return links.sort((a, b) => draining(a) - draining(b) || b.epoch - a.epoch);
  }

  /** Asks the node of `link` for a stream to its agent. */
  openRemote(link: DirectoryLink): Promise<PeerStreamOpening> {
    const address = this.nodes.node(link.nodeId)?.peerAddress;
    if (address === null || address === undefined) return Promise.resolve({ status: 'not_here' });
    return this.#peers.openAgentStream(link.nodeId, address, { agent: link.agentName, link: link.linkIndex }, PEER_ANSWER_TIMEOUT_MS);
  }

  /** Resolves at the next change of `agentName`'s links in the directory (or after `timeoutMs`). */
  waitForChange(agentName: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    return this.directory.waitForChange(agentName, timeoutMs, signal);
  }

  /** The cluster as this node sees it. */
  status(): ClusterStatus {
    return {
      nodeId: this.config.nodeId,
      state: this.nodes.state,
      nodes: this.nodes.nodes().map((n) => ({ ...n, agents: this.directory.linksOnNode(n.nodeId).length })),
      peerLinks: this.#peers.status(),
      directoryLinks: this.directory.size,
      pendingPublications: this.#publisher.pendingCount,
      forwardedStreams: this.#streams.activeCount,
    };
  }

  /** Writes pending directory entries now (tests, drain). */
  flushPublications(): Promise<void> {
    return this.#publisher.flush();
  }

  /**
   * Leaves the cluster: marks this node stopped and removes its directory
   * entries (so the others route elsewhere at once), then closes the peer
   * links (their streams may finish for `graceMs`) and the listener.
   * Idempotent.
   */
  stop(graceMs: number): Promise<void> {
    this.#stopping ??= (async () => {
      await this.#publisher.close();
      await this.nodes.stop();
      await this.#listener.close();
      await this.#peers.close(graceMs);
    })();
    return this.#stopping;
  }

  /**
   * A link of another node became the newest. A session here of the same
   * agent and link index with an older epoch has lost; so has any session
   * here of another (older) instance of the agent, whatever its link: a
   * restarted agent replaces all of its links.
   */
  #onLinkUp(link: DirectoryLink): void {
    if (link.nodeId === this.config.nodeId) return;
    const local = this.#o.registry.get(link.agentName);
    if (local === undefined || local.epoch === undefined || local.epoch >= link.epoch) return;
    const sameLink = local.linkIndex === link.linkIndex;
    const olderInstance = link.instanceId !== null && local.instanceId !== undefined && local.instanceId !== link.instanceId;
    if (!sameLink && !olderInstance) return;
    this.#supersede(local, `a newer session of this agent connected to node ${link.nodeId}`);
  }

  /** After a directory snapshot: sessions here that lost meanwhile go; those missing from it are published again. */
  #reconcile(): void {
    for (const c of this.#o.registry.list()) {
      if (c.epoch === undefined) continue;
      const entry = this.directory.link(c.agentName, c.linkIndex);
      if (entry === undefined) this.#publisher.up(c);
      else if (entry.nodeId !== this.config.nodeId && entry.epoch > c.epoch) this.#supersede(c, `a newer session of this agent is on node ${entry.nodeId}`);
    }
  }

  #supersede(connection: AgentConnection, reason: string): void {
    const { registry, limits, logger } = this.#o;
    if (!registry.unregister(connection)) return;
    connection.markReplaced();
    logger.info('agent session replaced by a newer one', { agent: connection.agentName, connectionId: connection.id, reason });
    void connection.session.close({ graceMs: limits.replacedSessionGraceMs });
  }
}
