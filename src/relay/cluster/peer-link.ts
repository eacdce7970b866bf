/**
 * One authenticated link between two relay nodes: a yamux session over the
 * TCP (or TLS) connection, with keepalive. Either node may open streams on
 * it; each stream starts with the preamble of `peer-preamble.ts`, then
 * carries one visitor exchange (or upgrade) to an agent of the node that
 * accepted the stream.
 */
import type { Duplex } from 'node:stream';
import { Session, type MuxStream } from '../../mux/index.js';
import type { Clock } from '../../shared/clock.js';
import { TunnelError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { decodePeerAnswer, encodePeerRequest, MAX_PREAMBLE_LINE_BYTES, type PeerStreamRequest, type PeerStreamStatus } from './peer-preamble.js';
import { readLine } from './read-line.js';

/** Receive window per peer stream: larger than an agent link's, since both ends are ours and close. */
const PEER_STREAM_WINDOW_BYTES = 1024 * 1024;

/** Settings of a `PeerLink`. */
export interface PeerLinkOptions {
  /** The authenticated connection. */
  socket: Duplex;
  /** The other node. */
  peerNodeId: string;
  /** True when this node dialed the link (it is the yamux client then). */
  dialed: boolean;
  keepAliveIntervalMs: number;
  keepAliveTimeoutMs: number;
  /** Inbound streams (a visitor of the other node wants an agent of this one). */
  onStream: (stream: MuxStream, link: PeerLink) => void;
  logger: Logger;
  clock: Clock;
}

/** The result of asking the other node for a stream to one of its agents. */
export type PeerStreamOpening =
  | { status: 'ok'; stream: MuxStream }
  | { status: Exclude<PeerStreamStatus, 'ok'> }
  /** The link failed while asking (reset, closed, timed out, garbled answer). */
  | { status: 'failed'; error: Error };

/** A peer link. */
export class PeerLink {
  readonly peerNodeId: string;
  readonly dialed: boolean;
  readonly session: Session;
  readonly #clock: Clock;

  constructor(o: PeerLinkOptions) {
    this.peerNodeId = o.peerNodeId;
    this.dialed = o.dialed;
    this.#clock = o.clock;
    this.session = new Session(o.socket, {
      role: o.dialed ? 'client' : 'server',
      maxStreamWindowBytes: PEER_STREAM_WINDOW_BYTES,
      keepAliveIntervalMs: o.keepAliveIntervalMs,
      keepAliveTimeoutMs: o.keepAliveTimeoutMs,
      logger: o.logger,
      clock: o.clock,
    });
    this.session.on('stream', (stream: MuxStream) => o.onStream(stream, this));
  }

  /** True while new streams may be opened on it. */
  get isUsable(): boolean {
    return !this.session.isClosed && this.session.remoteGoAwayCode === null && !this.session.isGoingAway;
  }

  /**
   * Opens a stream and asks for `request.agent`; resolves with the stream
   * once the other node answered `ok` (it opened a stream to the agent),
   * or with its refusal. Nothing else has been written to the stream then.
   */
  async openAgentStream(request: PeerStreamRequest, timeoutMs: number): Promise<PeerStreamOpening> {
    let stream: MuxStream;
    try {
      stream = this.session.openStream();
    } catch (err) {
      return { status: 'failed', error: err as Error };
    }
    stream.on('error', () => {});
    stream.write(encodePeerRequest(request));
    try {
      const status = decodePeerAnswer(await readLine(stream, { maxBytes: MAX_PREAMBLE_LINE_BYTES, timeoutMs, clock: this.#clock, what: 'peer stream answer' }));
      if (status === 'ok') return { status, stream };
      stream.destroy();
      return { status };
    } catch (err) {
      stream.destroy();
      return { status: 'failed', error: err instanceof Error ? err : new TunnelError('ERR_CLUSTER_PEER_PROTOCOL', String(err)) };
    }
  }

  /** GoAway, then up to `graceMs` for open streams. */
  close(graceMs: number): Promise<void> {
    return this.session.close({ graceMs });
  }

  /** Ends it at once. */
  destroy(): void {
    this.session.destroy();
  }
}
