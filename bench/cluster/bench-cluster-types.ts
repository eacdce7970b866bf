/**
 * Messages between the `bench:cluster` orchestrator and its load
 * generators (light agents spread over the cluster's nodes), over the Node
 * IPC channel of `ChildHandle`.
 */

/** One idle agent a load generator runs: its token and relays in the order it tries them. */
export interface ClusterAgentSpec {
  name: string;
  token: string;
  /** `ws://HOST:PORT/tunnel/connect` of its first node, then the others. */
  relayUrls: string[];
}

/** Settings of `cluster-load-generator.ts`, passed as its one JSON argument. */
export interface ClusterLoadGeneratorSettings {
  /** JSON file holding a `ClusterAgentSpec[]`. */
  agentsFile: string;
  /** Source addresses, used round-robin (each has its own ephemeral port range). */
  localAddresses: string[];
  /** Upgrades in flight at most while the sessions are first opened. */
  dialConcurrency: number;
  /** Keepalive ping interval of each agent session (the agent's default: 10 000). */
  keepAliveIntervalMs: number;
}

/** Requests the orchestrator sends to a load generator. */
export type ClusterLoadGeneratorCommand =
  | { id: number; op: 'connectAll'; timeoutMs: number }
  | { id: number; op: 'status' }
  | { id: number; op: 'agentsOn'; relayUrl: string }
  | { id: number; op: 'mark' }
  | { id: number; op: 'exit' };

/** What a load generator reports (times are `Date.now()` ms). */
export interface ClusterLoadGeneratorStatus {
  agents: number;
  /** Sessions up now. */
  up: number;
  /** Sessions up now, by the relay URL they dialled. */
  upByRelay: Record<string, number>;
  /** Since the last `mark`: dials, failed dials. */
  dialsSinceMark: number;
  failedDialsSinceMark: number;
  /** Agents whose session went down since the last `mark`, and how many of those are up again. */
  downSinceMark: number;
  backSinceMark: number;
  /** Since the mark, until each of those agents was up again: 50 % / 90 % / all of them (ms; null until reached). */
  p50BackAfterMs: number | null;
  p90BackAfterMs: number | null;
  allBackAfterMs: number | null;
  markAtMs: number;
  rssBytes: number;
}
