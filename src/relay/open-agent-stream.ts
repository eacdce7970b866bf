/**
 * Opens one visitor stream on an agent's session, within the per-agent
 * stream limit, and keeps the connection's counters (open streams, requests
 * forwarded). Shared by the public ingress (visitors of this node) and the
 * peer stream server (visitors of other nodes of a cluster).
 */
import type { MuxStream } from '../mux/index.js';
import { TunnelError } from '../shared/errors.js';
import type { AgentConnection } from './agent-registry.js';

/** The outcome: a stream, or why none was opened. */
export type AgentStreamOpening =
  | { kind: 'opened'; stream: MuxStream }
  /** The agent has `maxStreams` streams open already, or its session ran out of stream ids. */
  | { kind: 'busy' }
  /** The session is closing (replaced, GoAway, dead): try its successor. */
  | { kind: 'closing' };

/** Opens a stream on `connection` unless it already has `maxStreams` open. */
export function openAgentStream(connection: AgentConnection, maxStreams: number): AgentStreamOpening {
  if (connection.activeStreams >= maxStreams) return { kind: 'busy' };
  let stream: MuxStream;
  try {
    stream = connection.session.openStream();
  } catch (err) {
    if (err instanceof TunnelError && err.code === 'ERR_MUX_STREAMS_EXHAUSTED') return { kind: 'busy' };
    return { kind: 'closing' };
  }
  connection.activeStreams += 1;
  connection.requestsForwarded += 1;
  // Stream errors surface through the HTTP client or the pipes; this one only keeps them from being unhandled.
  stream.on('error', () => {});
  stream.once('close', () => {
    connection.activeStreams -= 1;
  });
  return { kind: 'opened', stream };
}
