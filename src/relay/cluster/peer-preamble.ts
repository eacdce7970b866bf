/**
 * The first exchange on every stream of a peer link, before any byte of the
 * visitor's request: the visitor's node names the agent (and link) it wants,
 * the agent's node answers whether it opened a stream to it. Until `ok`,
 * nothing was sent to the agent, so any other answer can be retried safely
 * elsewhere.
 *
 *   request: {"agent":"edge-01","link":0}
 *   answer:  {"status":"ok"} | {"status":"not_here"} | {"status":"draining"} | {"status":"busy"}
 */
import { TunnelError } from '../../shared/errors.js';
import { isValidAgentName } from '../store/agent-name.js';
import { parseJsonLine } from './read-line.js';

/** Largest preamble line, in bytes. */
export const MAX_PREAMBLE_LINE_BYTES = 512;

/** The agent's node's answer. */
export type PeerStreamStatus = 'ok' | 'not_here' | 'draining' | 'busy';

const STATUSES: ReadonlySet<string> = new Set(['ok', 'not_here', 'draining', 'busy']);

/** What the visitor's node asks for. */
export interface PeerStreamRequest {
  readonly agent: string;
  /** The link index (absent: any link of the agent on that node). */
  readonly link?: number;
}

/** The request as one line. */
export function encodePeerRequest(request: PeerStreamRequest): string {
  return `${JSON.stringify(request.link === undefined ? { agent: request.agent } : { agent: request.agent, link: request.link })}\n`;
}

/** Parses a request line; throws `ERR_CLUSTER_PEER_PROTOCOL`. */
export function decodePeerRequest(line: string): PeerStreamRequest {
  const value = parseJsonLine(line, 'peer stream request');
  const { agent, link } = value;
  if (typeof agent !== 'string' || !isValidAgentName(agent)) throw new TunnelError('ERR_CLUSTER_PEER_PROTOCOL', 'peer stream request without a valid agent');
  if (link !== undefined && !(typeof link === 'number' && Number.isInteger(link) && link >= 0 && link < 64)) {
    throw new TunnelError('ERR_CLUSTER_PEER_PROTOCOL', 'peer stream request with an invalid link');
  }
  return link === undefined ? { agent } : { agent, link: link as number };
}

/** An answer as one line. */
export function encodePeerAnswer(status: PeerStreamStatus): string {
  return `${JSON.stringify({ status })}\n`;
}

/** Parses an answer line; throws `ERR_CLUSTER_PEER_PROTOCOL`. */
export function decodePeerAnswer(line: string): PeerStreamStatus {
  const { status } = parseJsonLine(line, 'peer stream answer');
  if (typeof status !== 'string' || !STATUSES.has(status)) throw new TunnelError('ERR_CLUSTER_PEER_PROTOCOL', 'peer stream answer with an unknown status');
  return status as PeerStreamStatus;
}
