/**
 * The peer listener: accepts links from the other nodes of the cluster on a
 * port of its own (never the public or agent listener), over TCP or TLS,
 * authenticates each (see `peer-handshake.ts`) and hands it to the pool. A
 * bounded number of handshakes may be pending at once, each bounded in time.
 */
import { once } from 'node:events';
import { createServer as createNetServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import { formatHostPort, type ClusterConfig } from './cluster-config.js';
import { NonceCache } from './peer-auth.js';
import { acceptPeer } from './peer-handshake.js';

/** Handshakes pending at once; more connections are dropped until one finishes. */
const MAX_PENDING_HANDSHAKES = 64;

/** What the listener needs. */
export interface PeerListenerOptions {
  config: Readonly<ClusterConfig>;
  /** An authenticated link from `peerNodeId`. */
  onLink: (socket: Socket, peerNodeId: string) => void;
  /** Counts refused links (optional). */
  onRefused?: (reason: string) => void;
  logger: Logger;
  clock: Clock;
}

/** Listens for peer links. */
export class PeerListener {
  readonly #o: PeerListenerOptions;
  readonly #server: Server;
  readonly #nonces = new NonceCache();
  readonly #sockets = new Set<Socket>();
  #pending = 0;

  constructor(options: PeerListenerOptions) {
    this.#o = options;
    const { tls } = options.config;
    this.#server =
      tls === null
        ? createNetServer({ noDelay: true }, (s) => this.#onConnection(s))
        : createTlsServer(
            { cert: tls.cert, key: tls.key, ...(tls.ca === undefined ? {} : { ca: tls.ca, requestCert: true, rejectUnauthorized: true }), minVersion: 'TLSv1.2' },
            (s) => this.#onConnection(s),
          );
    this.#server.on('error', (err) => options.logger.error('peer listener error', { error: err.message }));
  }

  /** Binds `config.peerListen`; resolves with the bound `host:port`. */
  async listen(): Promise<string> {
    const { host, port } = this.#o.config.peerListen;
    this.#server.listen(port, host);
    await once(this.#server, 'listening');
    const bound = this.#server.address() as AddressInfo;
    return formatHostPort(bound.address, bound.port);
  }

  /** Stops accepting and cuts connections still in their handshake. Idempotent. */
  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    if (!this.#server.listening) return;
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #onConnection(socket: Socket): void {
    socket.on('error', () => socket.destroy());
    if (this.#pending >= MAX_PENDING_HANDSHAKES) {
      socket.destroy();
      return;
    }
    this.#pending += 1;
    this.#sockets.add(socket);
    const { config, clock, logger } = this.#o;
    acceptPeer(socket, { nodeId: config.nodeId, secret: config.secret, nonces: this.#nonces, timeoutMs: config.peerDialTimeoutMs, clock })
      .then(
        (peerNodeId) => {
          this.#sockets.delete(socket);
          this.#o.onLink(socket, peerNodeId);
        },
        (err: Error) => {
          this.#sockets.delete(socket);
          logger.warn('peer link refused', { remote: socket.remoteAddress, error: err.message });
          this.#o.onRefused?.((err as { code?: string }).code ?? 'ERR_CLUSTER_PEER_PROTOCOL');
        },
      )
      .finally(() => {
        this.#pending -= 1;
      });
  }
}
