/**
 * Phase (b) of `bench:cluster`: many idle agents spread over the three
 * nodes (agent i's first relay is node i mod 3, then the others), opened by
 * several load-generator processes of light agents. Measures the time to
 * connect them all, each node's resident memory per agent it holds, its
 * CPU, and the store's transactions per second while they ramp up and at
 * steady state (keepalive only).
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { ChildHandle } from '../agents/child-handle.js';
import { fmt, pollUntil, type BenchCluster } from './bench-cluster.js';
import type { ClusterAgentSpec, ClusterLoadGeneratorCommand, ClusterLoadGeneratorSettings, ClusterLoadGeneratorStatus } from './bench-cluster-types.js';
import type { ClusterNode } from './cluster-node.js';
import { transactionsPerSecond, type BenchAgent } from './cluster-store.js';

const LOAD_GENERATOR = fileURLToPath(new URL('./cluster-load-generator.ts', import.meta.url));
/** Source addresses of the light agents (the nodes listen on 127.0.0.11-13). */
const SOURCE_ADDRESSES = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6', '127.0.0.7'];

/** Per node: what it held and what that cost. */
export interface NodeFigures {
  nodeId: string;
  agents: number;
  rss0Bytes: number;
  /** Mean and max of the per-second samples of the steady window. */
  rssMeanBytes: number;
  rssMaxBytes: number;
  /** CPU over the steady window, % of one core. */
  cpuPercent: number;
}

/** What the phase measured, and the load generators (kept running for the node-kill phase). */
export interface IdleAgents {
  agents: number;
  loadGenerators: ChildHandle<ClusterLoadGeneratorCommand>[];
  /** Agent specs in load order; `specs[i].relayUrls[0]` is its first node. */
  specs: ClusterAgentSpec[];
  connectMs: number;
  /** Until every node counted its share in `agents_online`. */
  allOnlineMs: number;
  rampTransactionsPerSecond: number;
  steadyTransactionsPerSecond: number;
  nodes: NodeFigures[];
  loadGeneratorRssBytes: number;
}

/** Opens `agents` (already in the store) over the cluster and measures the idle state. */
export async function measureIdleAgents(cluster: BenchCluster, agents: readonly BenchAgent[], rss0: ReadonlyMap<ClusterNode, number>): Promise<IdleAgents> {
  const { nodes, plan } = cluster;
  const specs: ClusterAgentSpec[] = agents.map((a, i) => ({
    name: a.name,
    token: a.token,
    relayUrls: nodes.map((_, k) => nodes[(i + k) % nodes.length]!.addresses.agentUrl),
  }));
  const generators = Math.max(1, Math.ceil(specs.length / plan.agentsPerLoadGenerator));
  const loadGenerators: ChildHandle<ClusterLoadGeneratorCommand>[] = [];
  for (let g = 0; g < generators; g++) {
    const agentsFile = join(cluster.workDir, `agents-${g}.json`);
    writeFileSync(agentsFile, JSON.stringify(specs.filter((_, i) => i % generators === g)));
    const settings: ClusterLoadGeneratorSettings = { agentsFile, localAddresses: SOURCE_ADDRESSES, dialConcurrency: Math.max(10, Math.round(100 / generators)), keepAliveIntervalMs: 10_000 };
    loadGenerators.push(new ChildHandle<ClusterLoadGeneratorCommand>(`load-generator-${g}`, LOAD_GENERATOR, settings));
  }
  await Promise.all(loadGenerators.map((lg) => lg.ready));

  const tx0 = await cluster.transactions.read();
  const startedMs = Date.now();
  const replies = await Promise.all(loadGenerators.map((lg) => lg.request({ op: 'connectAll', timeoutMs: 300_000 }, 310_000)));
  const connectMs = Date.now() - startedMs;
  const up = replies.reduce((sum, r) => sum + (r.status as ClusterLoadGeneratorStatus).up, 0);
  if (up !== specs.length) throw new Error(`only ${up} of ${specs.length} idle agents connected within 300 s`);
  // Agents whose first dial failed hold their session on their next node: count over all nodes.
  const allOnline = await pollUntil(async () => (await Promise.all(nodes.map((n) => n.agentsOnline()))).reduce((a, b) => a + b, 0) >= specs.length, 60_000, 250);
  if (!allOnline) throw new Error('the nodes did not count every idle agent online within 60 s');
  const allOnlineMs = Date.now() - startedMs;
  const tx1 = await cluster.transactions.read();
  cluster.log(`  ${specs.length} idle agents connected in ${fmt(connectMs / 1000)} s (${generators} load generator(s)), all counted online after ${fmt(allOnlineMs / 1000)} s`);

  await new Promise((resolve) => setTimeout(resolve, plan.settleSeconds * 1000));
  const txA = await cluster.transactions.read();
  const cpuA = nodes.map((n) => n.sample()?.cpuMs ?? 0);
  const samples = nodes.map(() => [] as number[]);
  for (let s = 0; s < plan.steadySeconds; s++) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    nodes.forEach((n, k) => samples[k]!.push(n.sample()?.rssBytes ?? 0));
  }
  const txB = await cluster.transactions.read();
  const cpuB = nodes.map((n) => n.sample()?.cpuMs ?? 0);
  const online = await Promise.all(nodes.map((n) => n.agentsOnline()));
  const lgStatus = await Promise.all(loadGenerators.map((lg) => lg.request({ op: 'status' }, 120_000)));
  const figures: NodeFigures[] = nodes.map((n, k) => {
    const rs = samples[k]!;
    return {
      nodeId: n.nodeId,
      agents: online[k]!,
      rss0Bytes: rss0.get(n) ?? 0,
      rssMeanBytes: rs.reduce((a, b) => a + b, 0) / Math.max(1, rs.length),
      rssMaxBytes: Math.max(...rs),
      cpuPercent: ((cpuB[k]! - cpuA[k]!) / (plan.steadySeconds * 1000)) * 100,
    };
  });
  return {
    agents: specs.length,
    loadGenerators,
    specs,
    connectMs,
    allOnlineMs,
    rampTransactionsPerSecond: transactionsPerSecond(tx0, tx1),
    steadyTransactionsPerSecond: transactionsPerSecond(txA, txB),
    nodes: figures,
    loadGeneratorRssBytes: lgStatus.reduce((sum, r) => sum + (r.status as ClusterLoadGeneratorStatus).rssBytes, 0),
  };
}

/** The phase's lines. */
export function reportIdleAgents(r: IdleAgents, plan: BenchCluster['plan'], singleNodeKiBPerAgent: number): string[] {
  const mib = (b: number): string => fmt(b / 1024 ** 2);
  const kibPerAgent = (n: NodeFigures, rss: number): number => (rss - n.rss0Bytes) / 1024 / Math.max(1, n.agents);
  const out = [
    `${r.agents} idle agents over ${r.nodes.length} nodes (keepalive every 10 s): all sessions up after ${fmt(r.connectMs / 1000)} s, counted online by every node after ${fmt(r.allOnlineMs / 1000)} s; store ${fmt(r.rampTransactionsPerSecond)} transactions/s while they connected, ${fmt(r.steadyTransactionsPerSecond)}/s at steady state (${plan.steadySeconds} s window after ${plan.settleSeconds} s idle). Load generators: ${mib(r.loadGeneratorRssBytes)} MiB RSS in all.`,
    '',
    '| node | agents | RSS_0 MiB | RSS steady mean / max MiB | KiB/agent steady mean / max | / single node | CPU % of one core |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const n of r.nodes) {
    const mean = kibPerAgent(n, n.rssMeanBytes);
    out.push(
      `| ${n.nodeId} | ${n.agents} | ${mib(n.rss0Bytes)} | ${mib(n.rssMeanBytes)} / ${mib(n.rssMaxBytes)} | ${fmt(mean)} / ${fmt(kibPerAgent(n, n.rssMaxBytes))} | ${fmt(mean / singleNodeKiBPerAgent)}x | ${fmt(n.cpuPercent)} |`,
    );
  }
  out.push('', `"/ single node": against ${singleNodeKiBPerAgent} KiB/agent, the steady mean of one relay with 10 000 agents (SQLite store) recorded under "Scale of one relay" (another run, not this one). Per-agent figures at small N carry the fixed costs (young generation, store memory, pool).`);
  return out;
}
