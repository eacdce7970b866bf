/**
 * This node's links to the other nodes, at most one per pair: dialed on the
 * first request for one of the other node's agents and kept with keepalive.
 * When both nodes dialed each other at once, the link dialed by the node with
 * the smaller id is kept and the other one is closed gracefully (GoAway: its
 * in-flight streams finish). A node that cannot be reached is not dialed
 * again for `retryAfterMs`, so a dead node costs its visitors one fast
 * failure, not a connect timeout each.
 */
import type { Socket } from 'node:net';
import type { MuxStream } from '../../mux/index.js';
import type { Clock } from '../../shared/clock.js';
import { TunnelError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { ClusterConfig } from './cluster-config.js';
import { dialPeer } from './peer-handshake.js';
import { PeerLink, type PeerStreamOpening } from './peer-link.js';
import type { PeerStreamRequest } from './peer-preamble.js';

/** What the pool needs. */
export interface PeerLinkPoolOptions {
  config: Readonly<ClusterConfig>;
  /** Serves the streams other nodes open on any link. */
  onStream: (stream: MuxStream, link: PeerLink) => void;
  /** How long a node that failed to answer is not dialed again (ms). */
  retryAfterMs?: number;
  logger: Logger;
  clock: Clock;
}

/** Per peer: link health for the operator. */
export interface PeerLinkStatus {
  readonly nodeId: string;
  readonly state: 'up' | 'dialing' | 'down';
  readonly rttMs: number | undefined;
  readonly streams: number;
  readonly lastError: string | undefined;
}

/** Links to the other nodes. */
export class PeerLinkPool {
  readonly #o: PeerLinkPoolOptions;
  readonly #links = new Map<string, PeerLink>();
  readonly #dialing = new Map<string, Promise<PeerLink>>();
  readonly #failures = new Map<string, { atMs: number; error: Error }>();
  readonly #retryAfterMs: number;
  #closed = false;

  constructor(options: PeerLinkPoolOptions) {
    this.#o = options;
    this.#retryAfterMs = options.retryAfterMs ?? 1000;
  }

  /**
   * Asks node `nodeId` (reachable at `address`) for a stream to one of its
   * agents, dialing the link first when there is none.
   */
  async openAgentStream(nodeId: string, address: string, request: PeerStreamRequest, timeoutMs: number): Promise<PeerStreamOpening> {
    let link: PeerLink;
    try {
      link = await this.#link(nodeId, address);
    } catch (err) {
      return { status: 'failed', error: err as Error };
    }
    const opening = await link.openAgentStream(request, timeoutMs);
    if (opening.status === 'failed' && !link.isUsable) this.#forget(link);
    return opening;
  }

  /** Takes a link another node dialed to us (after the handshake). */
  accept(socket: Socket, peerNodeId: string): void {
    if (this.#closed) {
      socket.destroy();
      return;
    }
    const link = this.#newLink(socket, peerNodeId, false);
    const existing = this.#links.get(peerNodeId);
    // Both dialed at once: keep the link dialed by the smaller node id, on both sides alike.
    if (existing !== undefined && existing.isUsable && existing.dialed && this.#o.config.nodeId < peerNodeId) {
      void link.close(5000);
      return;
    }
    this.#links.set(peerNodeId, link);
    this.#failures.delete(peerNodeId);
    if (existing !== undefined && existing !== link) void existing.close(30_000);
  }

  /** Every known link's state (for the admin API and the dashboard). */
  status(): PeerLinkStatus[] {
    const ids = new Set([...this.#links.keys(), ...this.#dialing.keys(), ...this.#failures.keys()]);
    return [...ids].sort().map((nodeId) => {
      const link = this.#links.get(nodeId);
      const failure = this.#failures.get(nodeId);
      return {
        nodeId,
        state: link?.isUsable === true ? 'up' : this.#dialing.has(nodeId) ? 'dialing' : 'down',
        rttMs: link?.session.lastRttMs,
        streams: link?.session.streamCount ?? 0,
        lastError: failure?.error.message,
      };
    });
  }

  /** Drops the link to a node that left the cluster (its in-flight streams are cut). */
  drop(nodeId: string): void {
    const link = this.#links.get(nodeId);
    if (link === undefined) return;
    this.#links.delete(nodeId);
    link.destroy();
  }

  /** Closes every link: GoAway, then up to `graceMs` for open streams. Idempotent. */
  async close(graceMs: number): Promise<void> {
    this.#closed = true;
    const links = [...this.#links.values()];
    this.#links.clear();
    await Promise.all(links.map((l) => l.close(graceMs)));
  }

  #link(nodeId: string, address: string): Promise<PeerLink> {
    if (this.#closed) return Promise.reject(new TunnelError('ERR_RELAY_SHUTTING_DOWN', 'The relay is shutting down'));
    const existing = this.#links.get(nodeId);
    if (existing !== undefined && existing.isUsable) return Promise.resolve(existing);
    const dialing = this.#dialing.get(nodeId);
    if (dialing !== undefined) return dialing;
    const failure = this.#failures.get(nodeId);
    if (failure !== undefined && this.#o.clock.now() - failure.atMs < this.#retryAfterMs) return Promise.reject(failure.error);
    const { config, clock } = this.#o;
    const attempt = dialPeer({
      address,
      fromNodeId: config.nodeId,
      toNodeId: nodeId,
      secret: config.secret,
      tls: config.tls,
      timeoutMs: config.peerDialTimeoutMs,
      clock,
    }).then(
      (socket) => {
        this.#dialing.delete(nodeId);
        if (this.#closed) {
          socket.destroy();
          throw new TunnelError('ERR_RELAY_SHUTTING_DOWN', 'The relay is shutting down');
        }
        const current = this.#links.get(nodeId);
        // The other node's link arrived while we dialed and won the tie-break.
        if (current !== undefined && current.isUsable && !current.dialed && nodeId < config.nodeId) {
          socket.destroy();
          return current;
        }
        const link = this.#newLink(socket, nodeId, true);
        this.#links.set(nodeId, link);
        this.#failures.delete(nodeId);
        if (current !== undefined && current !== link) void current.close(30_000);
        this.#o.logger.info('peer link up', { peer: nodeId, address });
        return link;
      },
      (err: Error) => {
        this.#dialing.delete(nodeId);
        this.#failures.set(nodeId, { atMs: clock.now(), error: err });
        this.#o.logger.warn('peer link failed', { peer: nodeId, address, code: (err as TunnelError).code, error: err.message });
        throw err;
      },
    );
    this.#dialing.set(nodeId, attempt);
    return attempt;
  }

  #newLink(socket: Socket, peerNodeId: string, dialed: boolean): PeerLink {
    const { config, clock, logger } = this.#o;
    socket.setKeepAlive(true, 10_000);
    const link = new PeerLink({
      socket,
      peerNodeId,
      dialed,
      keepAliveIntervalMs: config.peerKeepAliveIntervalMs,
      keepAliveTimeoutMs: config.peerKeepAliveTimeoutMs,
      onStream: this.#o.onStream,
      logger: logger.child({ peer: peerNodeId }),
      clock,
    });
    link.session.once('close', (err: Error | undefined) => {
      if (err !== undefined) this.#failures.set(peerNodeId, { atMs: clock.now(), error: err });
      this.#forget(link);
      logger.info('peer link down', { peer: peerNodeId, ...(err === undefined ? {} : { error: err.message }) });
    });
    return link;
  }

  #forget(link: PeerLink): void {
    if (this.#links.get(link.peerNodeId) === link) this.#links.delete(link.peerNodeId);
  }
}
