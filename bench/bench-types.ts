/**
 * Types shared by the benchmark's orchestrator (`mux-bench.ts`) and its two
 * peer processes (`bench-peer.ts`): what is measured, and the IPC messages.
 */

/** What carries the bytes: the raw link, our yamux, or @libp2p/yamux. */
export type BenchSystem = 'raw' | 'ours' | 'libp2p';

/** The link under the system: a TCP socket or a WebSocket (binary messages). */
export type BenchLink = 'tcp' | 'ws';

/** A system over a link; `windowBytes` is the mux's max stream window (ignored for raw). */
export interface BenchSetup {
  system: BenchSystem;
  link: BenchLink;
  windowBytes: number;
}

/** What the receiving peer does with each channel (stream or raw connection). */
export type ChannelHandlerKind = 'sink' | 'echo';

/** Bulk transfer: `channels` channels at once, `totalBytes` split evenly, written in `chunkBytes` writes. */
export interface BulkWorkload {
  kind: 'bulk';
  totalBytes: number;
  channels: number;
  chunkBytes: number;
}

/** Request/response: a fresh channel per request (`requestBytes` each way, then FIN), `concurrency` in flight. */
export interface RequestResponseWorkload {
  kind: 'rr';
  requests: number;
  concurrency: number;
  requestBytes: number;
}

/** A workload run by the sending peer. */
export type Workload = BulkWorkload | RequestResponseWorkload;

/** One timed run: bytes moved (both ways for rr), operations completed, wall-clock and CPU milliseconds. */
export interface RunResult {
  bytes: number;
  ops: number;
  elapsedMs: number;
  /** CPU time (user + system) of the sending process during the run. */
  senderCpuMs: number;
  /** CPU time of the receiving process during the run (filled in by the orchestrator). */
  receiverCpuMs: number;
}

/** Orchestrator -> peer. */
export type PeerCommand =
  | { id: number; op: 'listen'; setup: BenchSetup; handler: ChannelHandlerKind }
  | { id: number; op: 'unlisten'; port: number }
  | { id: number; op: 'run'; setup: BenchSetup; port: number; workload: Workload }
  | { id: number; op: 'cpu' }
  | { id: number; op: 'exit' };

/** Peer -> orchestrator. */
export type PeerReply =
  | { id: number; ok: true; port?: number; result?: RunResult; cpuMs?: number }
  | { id: number; ok: false; error: string };
