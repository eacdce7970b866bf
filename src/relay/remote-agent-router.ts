/**
 * What the public ingress needs from a cluster to reach an agent connected
 * to another node: the agent's links elsewhere, a stream through the peer
 * link to the node of one of them, and a wake-up when the agent's links
 * change. `ClusterNode` provides it; a single relay has none.
 */
import type { MuxStream } from '../mux/index.js';

/** An agent link on another node. */
export interface RemoteAgentLink {
  readonly agentName: string;
  readonly linkIndex: number;
  readonly nodeId: string;
  readonly epoch: number;
}

/** The other node's answer. */
export type RemoteStreamOpening =
  | { status: 'ok'; stream: MuxStream }
  | { status: 'not_here' | 'draining' | 'busy' }
  | { status: 'failed'; error: Error };

/** Routing to agents of other nodes. */
export interface RemoteAgentRouter {
  /** The agent's links on other nodes that may be sent visitors now, newest first. */
  remoteLinks(agentName: string): RemoteAgentLink[];
  /** Asks the link's node for a stream to the agent; nothing was sent to the agent unless `ok`. */
  openRemote(link: RemoteAgentLink): Promise<RemoteStreamOpening>;
  /** Resolves at the next change of the agent's links (or after `timeoutMs`); rejects with `AbortError` on abort. */
  waitForChange(agentName: string, timeoutMs: number, signal?: AbortSignal): Promise<void>;
}
