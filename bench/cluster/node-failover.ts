/**
 * Phase (c) of `bench:cluster`: kill -9 of one node holding a third of the
 * idle agents. Each of its agents redials its next relay; the clock stops
 * for an agent when a visitor request through a surviving node reaches it
 * (its fixed `pong`), so "reachable" includes the new session's directory
 * entry reaching the other node. Meanwhile two visitor loops keep asking the
 * visitor agent (on a surviving node) through both survivors, and the store's
 * transactions per second are read over the reconnect.
 */
import { Agent } from 'node:http';
import { VisitorLoop, type VisitorTally } from '../agents/visitor-loop.js';
import { fmt, visit, type BenchCluster } from './bench-cluster.js';
import type { ClusterLoadGeneratorStatus } from './bench-cluster-types.js';
import type { ClusterNode } from './cluster-node.js';
import { transactionsPerSecond } from './cluster-store.js';
import type { IdleAgents } from './idle-agents.js';

/** Probes in flight at once while looking for the killed node's agents. */
const PROBE_CONCURRENCY = 32;
/** Longest wait for all of them, ms. */
const REACHABLE_TIMEOUT_MS = 120_000;

/** What the phase measured. */
export interface NodeFailover {
  victim: string;
  victimAgents: number;
  /** Since the kill: 50 % / 90 % / all of its agents answered through a survivor (ms). */
  p50ReachableMs: number;
  p90ReachableMs: number;
  allReachableMs: number;
  /** Not reached within the timeout. */
  unreachable: number;
  /** The load generators' view: sessions down since the kill, and when 50 % / 90 % / all were up again. */
  sessionsDown: number;
  p50SessionBackMs: number | null;
  p90SessionBackMs: number | null;
  allSessionsBackMs: number | null;
  dials: number;
  failedDials: number;
  /** Store transactions per second from the kill until all were reachable. */
  reconnectTransactionsPerSecond: number;
  probes: number;
  /** Visitors of the visitor agent through each survivor, from the kill to the end. */
  visitors: { via: string; tally: VisitorTally }[];
}

/** Kills `victim` and measures until all of its agents are reachable through `survivors`. */
export async function measureNodeFailover(cluster: BenchCluster, idle: IdleAgents, victim: ClusterNode, survivors: readonly ClusterNode[], visitorAgentName: string, expectedBody: string): Promise<NodeFailover> {
  const victimNames = (await Promise.all(idle.loadGenerators.map(async (lg) => (await lg.request({ op: 'agentsOn', relayUrl: victim.addresses.agentUrl })).names as string[]))).flat();
  const loops = survivors.map((n) => ({ via: n.nodeId, loop: new VisitorLoop(`http://${n.addresses.public}/a/${visitorAgentName}/hello`, expectedBody) }));
  for (const { loop } of loops) loop.start();
  await new Promise((resolve) => setTimeout(resolve, 1000));

  await Promise.all(idle.loadGenerators.map((lg) => lg.request({ op: 'mark' })));
  const tx0 = await cluster.transactions.read();
  const killedAtMs = Date.now();
  await victim.kill();
  cluster.log(`  killed ${victim.nodeId} (kill -9) holding ${victimNames.length} idle agents`);

  const httpAgents = survivors.map(() => new Agent({ keepAlive: true, maxSockets: PROBE_CONCURRENCY }));
  const reachedAfterMs: number[] = [];
  let pending = victimNames;
  let probes = 0;
  while (pending.length > 0 && Date.now() - killedAtMs < REACHABLE_TIMEOUT_MS) {
    const stillPending: string[] = [];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < pending.length) {
        const i = next++;
        const name = pending[i] as string;
        const k = (i + probes) % survivors.length;
        const r = await visit(survivors[k]!.addresses.public, cluster.domain, name, '/', httpAgents[k], 20_000);
        if (r.status === 200 && r.body === 'pong') reachedAfterMs.push(Date.now() - killedAtMs);
        else stillPending.push(name);
      }
    };
    await Promise.all(Array.from({ length: Math.min(PROBE_CONCURRENCY, pending.length) }, worker));
    probes += pending.length;
    pending = stillPending;
    if (pending.length > 0) await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const tx1 = await cluster.transactions.read();
  for (const a of httpAgents) a.destroy();
  // Let the visitor loops run on a little after the last agent came back.
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const endMs = Date.now();
  for (const { loop } of loops) await loop.stop();

  const statuses = await Promise.all(idle.loadGenerators.map(async (lg) => (await lg.request({ op: 'status' })).status as ClusterLoadGeneratorStatus));
  const sum = (f: (s: ClusterLoadGeneratorStatus) => number): number => statuses.reduce((a, s) => a + f(s), 0);
  const maxOf = (f: (s: ClusterLoadGeneratorStatus) => number | null): number | null => {
    const vs = statuses.map(f);
    return vs.some((v) => v === null) ? null : Math.max(...(vs as number[]));
  };
  reachedAfterMs.sort((a, b) => a - b);
  const at = (fraction: number): number => reachedAfterMs[Math.max(0, Math.ceil(fraction * victimNames.length) - 1)] ?? Number.NaN;
  return {
    victim: victim.nodeId,
    victimAgents: victimNames.length,
    p50ReachableMs: at(0.5),
    p90ReachableMs: at(0.9),
    allReachableMs: pending.length === 0 ? at(1) : Number.NaN,
    unreachable: pending.length,
    sessionsDown: sum((s) => s.downSinceMark),
    // Per load generator; the slowest of them stands for all (each holds a share of every node's agents).
    p50SessionBackMs: maxOf((s) => s.p50BackAfterMs),
    p90SessionBackMs: maxOf((s) => s.p90BackAfterMs),
    allSessionsBackMs: maxOf((s) => s.allBackAfterMs),
    dials: sum((s) => s.dialsSinceMark),
    failedDials: sum((s) => s.failedDialsSinceMark),
    reconnectTransactionsPerSecond: transactionsPerSecond(tx0, tx1),
    probes,
    visitors: loops.map(({ via, loop }) => ({ via, tally: loop.tally(killedAtMs, endMs) })),
  };
}

/** The phase's lines. */
export function reportNodeFailover(r: NodeFailover): string[] {
  const s = (ms: number | null): string => (ms === null ? 'n/a' : fmt(ms / 1000));
  const visitorLines = r.visitors.map(({ via, tally }) => {
    const failures = Object.entries({ ...tally.badStatus, ...tally.errors });
    return `through ${via}: ${tally.served} served, ${failures.length === 0 ? 'no failure' : `failures ${JSON.stringify(Object.fromEntries(failures))}`}, longest gap ${fmt(tally.longestGapMs / 1000)} s`;
  });
  const visitorsOk = r.visitors.every(({ tally }) => Object.keys(tally.badStatus).length === 0 && Object.keys(tally.errors).length === 0);
  return [
    `kill -9 of ${r.victim} holding ${r.victimAgents} idle agents: all of them answered through the surviving nodes ${s(r.allReachableMs)} s after the kill (50 % ${s(r.p50ReachableMs)} s, 90 % ${s(r.p90ReachableMs)} s${r.unreachable > 0 ? `; ${r.unreachable} NOT reached within ${REACHABLE_TIMEOUT_MS / 1000} s` : ''}; ${r.probes} probes).`,
    `Their sessions (load generators' view): ${r.sessionsDown} went down, up again on another node after 50 % ${s(r.p50SessionBackMs)} s, 90 % ${s(r.p90SessionBackMs)} s, all ${s(r.allSessionsBackMs)} s; ${r.dials} dials (${r.failedDials} failed: the dead node's URL, then the next). Store: ${fmt(r.reconnectTransactionsPerSecond)} transactions/s from the kill until all were reachable.`,
    `Visitors of the visitor agent (on a surviving node) from the kill until 2 s after: ${visitorLines.join('; ')}.`,
    `Targets (issue 15): all reachable through the others within 30 s: ${r.unreachable === 0 && r.allReachableMs <= 30_000 ? 'met' : 'MISSED'}; other nodes' visitors served throughout with no error: ${visitorsOk ? 'met' : 'MISSED'}.`,
  ];
}
