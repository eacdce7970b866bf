/**
 * What the phases of `bench:cluster` share: the plan of the run (full or
 * quick), the running cluster (PostgreSQL, three nodes, the origin), and a
 * visitor request through one node's public listener.
 */
import * as http from 'node:http';
import type { RelayStore } from '../../src/relay/store/index.js';
import type { ClusterNode } from './cluster-node.js';
import type { TransactionCounter } from './cluster-store.js';

/** Sizes and durations of a run. */
export interface ClusterBenchPlan {
  quick: boolean;
  /** Idle agents over the three nodes. */
  idleAgents: number;
  /** Idle agents per load-generator process (each holds one socket per agent, 20 000 open files at most). */
  agentsPerLoadGenerator: number;
  /** Closed-loop connections and seconds of each small-GET load run; rounds over direct / owning / non-owning. */
  httpConnections: number;
  httpSeconds: number;
  httpRounds: number;
  /** Bytes of each download (owning, non-owning, direct), and rounds. */
  downloadBytes: number;
  downloadRounds: number;
  /** Seconds of idle before the steady window, and of the window (RSS, store transactions). */
  settleSeconds: number;
  steadySeconds: number;
  /** Revocations timed. */
  revocations: number;
}

/** The running cluster. */
export interface BenchCluster {
  readonly plan: ClusterBenchPlan;
  readonly nodes: readonly ClusterNode[];
  /** The bench's own store handle on the cluster's database (as the CLI has). */
  readonly store: RelayStore;
  readonly transactions: TransactionCounter;
  readonly domain: string;
  /** `127.0.0.1:PORT` of ref-origin, the visitor agent's local service. */
  readonly originAddr: string;
  readonly workDir: string;
  /** Prints a progress line (stderr). */
  log(line: string): void;
}

/** The outcome of one visitor request. */
export interface VisitResult {
  status: number | undefined;
  body: string;
  errorCode: string | undefined;
}

/** One GET of `path` on `agent` through the public listener `publicAddr`; never rejects. */
export function visit(publicAddr: string, domain: string, agent: string, path: string, httpAgent: http.Agent | false = false, timeoutMs = 30_000): Promise<VisitResult> {
  const i = publicAddr.lastIndexOf(':');
  return new Promise((resolve) => {
    const req = http.get(
      { host: publicAddr.slice(0, i), port: Number(publicAddr.slice(i + 1)), path, headers: { host: `${agent}.${domain}` }, agent: httpAgent, timeout: timeoutMs },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString(), errorCode: undefined }));
        res.on('error', (err: NodeJS.ErrnoException) => resolve({ status: res.statusCode, body: '', errorCode: err.code ?? err.message }));
      },
    );
    req.on('timeout', () => req.destroy(Object.assign(new Error('visitor timeout'), { code: 'TIMEOUT' })));
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ status: undefined, body: '', errorCode: err.code ?? err.message }));
  });
}

/** Median of `values` (0 for none). */
export function medianOf(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** `value` with the significant digits a report needs. */
export function fmt(value: number | null | undefined, digits?: number): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return 'n/a';
  if (digits !== undefined) return value.toFixed(digits);
  return Math.abs(value) >= 100 ? value.toFixed(0) : value.toFixed(Math.abs(value) >= 10 ? 1 : 2);
}

/** Polls `condition` every `pollMs` until it holds; false after `timeoutMs`. */
export async function pollUntil(condition: () => Promise<boolean>, timeoutMs: number, pollMs = 100): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}
