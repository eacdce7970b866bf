/**
 * Messages between the `bench:agents` orchestrator and its child processes
 * (the relay under test and the load generator), over the Node IPC channel.
 */

/** Settings of `relay-process.ts`, passed as its one JSON argument. */
export interface RelayProcessSettings {
  dbPath: string;
  /** 0 picks a free port (first start); a restart passes the port it had. */
  agentPort: number;
  publicPort: number;
  /** Write a heap snapshot to this path once asked (diagnosis runs only). */
  heapSnapshotDir?: string;
}

/** Requests the orchestrator sends to the relay process. */
export type RelayCommand =
  | { id: number; op: 'agents' }
  | { id: number; op: 'memory'; gc?: boolean }
  | { id: number; op: 'heapSnapshot'; path: string }
  | { id: number; op: 'exit' };

/** Settings of `load-generator.ts`, passed as its one JSON argument. */
export interface LoadGeneratorSettings {
  /** `ws://127.0.0.1:PORT/tunnel/connect`. */
  relayUrl: string;
  /** JSON file with one agent token per agent session to open. */
  tokensFile: string;
  /** Source addresses, used round-robin (each one has its own ephemeral port range). */
  localAddresses: string[];
  /** Upgrades in flight at most while the sessions are first opened. */
  dialConcurrency: number;
  /** Keepalive ping interval of each agent session (the agent's default: 10 000). */
  keepAliveIntervalMs: number;
}

/** Requests the orchestrator sends to the load generator. */
export type LoadGeneratorCommand =
  | { id: number; op: 'connectAll'; timeoutMs: number }
  | { id: number; op: 'status' }
  | { id: number; op: 'mark' }
  | { id: number; op: 'exit' };

/** What the load generator reports about its sessions (times are `Date.now()` ms). */
export interface LoadGeneratorStatus {
  agents: number;
  /** Sessions up now. */
  up: number;
  /** Dial attempts since the last `mark`. */
  dialsSinceMark: number;
  /** Failed dials since the last `mark`. */
  failedDialsSinceMark: number;
  /** Agents whose session came up since the last `mark` (each counted once). */
  reconnectedSinceMark: number;
  /** When the first / the last of them came up. */
  firstUpAtMs: number | null;
  lastUpAtMs: number | null;
  /** When the first / the last session went down since the last `mark`. */
  firstDownAtMs: number | null;
  lastDownAtMs: number | null;
  /** Time since `mark` when 50 % / 90 % of the agents were back, in ms. */
  p50UpAfterMs: number | null;
  p90UpAfterMs: number | null;
  markAtMs: number;
  /** Load generator's own RSS, in bytes. */
  rssBytes: number;
}

/** A reply to any command: `ok` with op-specific fields, or an error. */
export type BenchReply = { id: number; ok: true; [field: string]: unknown } | { id: number; ok: false; error: string };

/** Unsolicited messages from a child. */
export interface ReadyMessage {
  type: 'ready';
  agentPort: number;
  publicPort: number;
  pid: number;
}
