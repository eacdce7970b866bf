/**
 * Phase (d) of `bench:cluster`: how long a token revoked on one node (admin
 * API `DELETE /api/tokens/:id`) or straight in the database (our store, as
 * `visiona-tunnel token revoke --db postgres://...` does) takes to close the
 * agent's session on another node. Each trial: a light agent connects to
 * node i, is reached through node i+2 (so every node knows where it is), its
 * token is revoked through node i+1 or the store, and the clock stops when
 * the agent sees its session end; its redial must then be refused.
 */
import { HandshakeRejectedError } from '../../src/transport/index.js';
import { startLightAgent } from '../agents/light-agent.js';
import { fmt, medianOf, pollUntil, visit, type BenchCluster } from './bench-cluster.js';
import type { BenchAgent } from './cluster-store.js';

/** One timed revocation. */
export interface RevocationTrial {
  holder: string;
  revokedVia: string;
  /** From the revoking call being sent until the agent's session ended, ms. */
  closedAfterMs: number;
  /** Whether the agent's next dial was refused (401/403). */
  redialRefused: boolean;
}

/** Runs `agents.length` trials, one agent each. */
export async function measureRevocations(cluster: BenchCluster, agents: readonly BenchAgent[]): Promise<RevocationTrial[]> {
  const nodes = cluster.nodes;
  const trials: RevocationTrial[] = [];
  for (const [i, agent] of agents.entries()) {
    const holder = nodes[i % nodes.length]!;
    const revoker = nodes[(i + 1) % nodes.length]!;
    const visitorNode = nodes[(i + 2) % nodes.length]!;
    let up!: () => void;
    let down!: (atMs: number) => void;
    let refused!: (yes: boolean) => void;
    const sessionUp = new Promise<void>((resolve) => (up = resolve));
    const sessionDown = new Promise<number>((resolve) => (down = resolve));
    const redial = new Promise<boolean>((resolve) => (refused = resolve));
    const stop = startLightAgent({
      relayUrl: holder.addresses.agentUrl,
      token: agent.token,
      localAddress: undefined,
      keepAliveIntervalMs: 10_000,
      hooks: {
        onSessionUp: () => up(),
        onSessionDown: () => down(performance.now()),
        onDialFailed: (_attempt, err) => refused(err instanceof HandshakeRejectedError && (err.statusCode === 401 || err.statusCode === 403)),
      },
    });
    try {
      await sessionUp;
      const reached = await pollUntil(async () => (await visit(visitorNode.addresses.public, cluster.domain, agent.name, '/')).body === 'pong', 10_000, 50);
      if (!reached) throw new Error(`${agent.name} on ${holder.nodeId} not reachable through ${visitorNode.nodeId}`);
      const viaStore = i % 2 === 1;
      const sentAtMs = performance.now();
      if (viaStore) {
        await cluster.store.tokens.revokeToken(agent.tokenId);
      } else {
        const res = await revoker.admin('DELETE', `/api/tokens/${agent.tokenId}`);
        if (res.status !== 200) throw new Error(`DELETE /api/tokens/${agent.tokenId} on ${revoker.nodeId}: ${res.status} ${await res.text()}`);
      }
      const closedAtMs = await withTimeout(sessionDown, 30_000, `${agent.name}'s session to close after the revocation`);
      const redialRefused = await withTimeout(redial, 30_000, `${agent.name}'s redial`);
      trials.push({ holder: holder.nodeId, revokedVia: viaStore ? 'store (CLI path)' : `admin API of ${revoker.nodeId}`, closedAfterMs: closedAtMs - sentAtMs, redialRefused });
      cluster.log(`  revocation ${i + 1}: session on ${holder.nodeId} closed ${fmt(closedAtMs - sentAtMs)} ms after ${viaStore ? 'the store write' : `DELETE on ${revoker.nodeId}`}`);
    } finally {
      await stop();
    }
  }
  return trials;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms))),
  ]);
}

/** The phase's lines. */
export function reportRevocations(trials: readonly RevocationTrial[]): string[] {
  const all = trials.map((t) => t.closedAfterMs);
  const by = (pred: (t: RevocationTrial) => boolean): number[] => trials.filter(pred).map((t) => t.closedAfterMs);
  const api = by((t) => t.revokedVia.startsWith('admin'));
  const store = by((t) => t.revokedVia.startsWith('store'));
  return [
    `Revocation propagation, ${trials.length} trials (agent on node i, revoked through node i+1's admin API or the store, reached before through node i+2): session closed after median ${fmt(medianOf(all))} ms, max ${fmt(Math.max(...all))} ms (admin API: median ${fmt(medianOf(api))} ms; store/CLI path: median ${fmt(medianOf(store))} ms); redial refused in ${trials.filter((t) => t.redialRefused).length} of ${trials.length}.`,
    `All runs (ms): ${trials.map((t) => `${fmt(t.closedAfterMs)} (${t.holder}, ${t.revokedVia})`).join('; ')}.`,
    `Target (issue 15): closed within 2 s on whichever node holds it: ${Math.max(...all) <= 2_000 ? 'met' : 'MISSED'}.`,
  ];
}
