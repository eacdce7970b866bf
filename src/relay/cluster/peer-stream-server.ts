/**
 * The agent's node's side of a forwarded visitor request: a stream another
 * node opened on a peer link names an agent; if this node holds a usable
 * session of it, a stream is opened to the agent, `ok` is answered, and the
 * two streams are spliced byte for byte until both ends finish. This node
 * never parses the HTTP inside and never forwards again (one hop at most):
 * the visitor's node routed, authorised and logs the request.
 */
import type { MuxStream } from '../../mux/index.js';
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import type { AgentRegistry } from '../agent-registry.js';
import { openAgentStream } from '../open-agent-stream.js';
import { decodePeerRequest, encodePeerAnswer, MAX_PREAMBLE_LINE_BYTES, type PeerStreamStatus } from './peer-preamble.js';
import { readLine } from './read-line.js';
import { spliceStreams } from './splice-streams.js';

/** What the stream server needs. */
export interface PeerStreamServerOptions {
  registry: AgentRegistry;
  maxStreamsPerAgent: number;
  /** True while this node drains: an agent it no longer holds is answered `draining` rather than `not_here`. */
  isDraining: () => boolean;
  /** How long the other node may take to send its preamble (ms). */
  preambleTimeoutMs: number;
  logger: Logger;
  clock: Clock;
}

/** Serves the streams other nodes open for this node's agents. */
export class PeerStreamServer {
  readonly #o: PeerStreamServerOptions;
  #active = 0;

  constructor(options: PeerStreamServerOptions) {
    this.#o = options;
  }

  /** Forwarded streams in flight. */
  get activeCount(): number {
    return this.#active;
  }

  /** Handles one inbound peer stream; never throws. */
  readonly handle = (stream: MuxStream): void => {
    stream.on('error', () => {});
    this.#active += 1;
    void this.#serve(stream).finally(() => {
      this.#active -= 1;
    });
  };

  async #serve(peerStream: MuxStream): Promise<void> {
    const { registry, clock, logger } = this.#o;
    let agent: string;
    try {
      const request = decodePeerRequest(await readLine(peerStream, { maxBytes: MAX_PREAMBLE_LINE_BYTES, timeoutMs: this.#o.preambleTimeoutMs, clock, what: 'peer stream request' }));
      agent = request.agent;
    } catch (err) {
      logger.warn('bad peer stream request', { error: (err as Error).message });
      peerStream.destroy();
      return;
    }
    const answer = (status: PeerStreamStatus): void => {
      peerStream.end(encodePeerAnswer(status));
    };
    // A draining node still serves the agents that have not moved yet.
    const gone = this.#o.isDraining() ? 'draining' : 'not_here';
    const connection = registry.get(agent);
    if (connection === undefined) return answer(gone);
    const opening = openAgentStream(connection, this.#o.maxStreamsPerAgent);
    if (opening.kind === 'busy') return answer('busy');
    if (opening.kind === 'closing') return answer(gone);
    peerStream.write(encodePeerAnswer('ok'));
    const result = await spliceStreams(peerStream, opening.stream);
    connection.bytesToAgent += result.bytesAToB;
    connection.bytesFromAgent += result.bytesBToA;
  }
}
