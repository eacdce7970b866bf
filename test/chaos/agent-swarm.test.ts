/**
 * Chaos scenario 4: 500 agents (one load-generator process,
 * test/chaos/agent-swarm.ts, using the library's TunnelClient with its
 * defaults) are connected when the relay is SIGKILLed and restarted on the
 * same port. Every agent comes back; the jitter in their backoff spreads the
 * dials (reported); and a visitor loop to one agent keeps getting answers
 * during the reconnect: each one a success or a documented tunnel error,
 * never a hang.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DEFAULT_TUNNEL_CLIENT_CONFIG } from '../../src/agent/index.js';
import { backoff } from '../../src/shared/backoff.js';
import { startOrigin } from '../relay/relay-fixtures.js';
import {
  CliProcess,
  REPO_ROOT,
  prepareAgents,
  startRelayProcess,
  tempDir,
  visitAgent,
  waitUntil,
  within,
  type VisitorOutcome,
} from './chaos-fixtures.js';

const AGENTS = 500;
const VISITED = 'swarm-000';
/** Tunnel error codes a visitor may get while its agent reconnects (docs/reliability.md). */
const RECONNECT_ERROR_CODES = new Set(['ERR_RELAY_AGENT_OFFLINE', 'ERR_RELAY_BAD_GATEWAY', 'ERR_RELAY_AGENT_BUSY']);

interface SwarmEvent {
  event: string;
  i: number;
  atMs: number;
  attempt?: number;
  delayMs?: number;
  code?: string | null;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

describe('Chaos: 500 agents reconnecting after a relay restart', () => {
  it('brings every agent back with jittered dials while visitors keep getting answers', async (t) => {
    const dir = tempDir(t);
    const dbPath = join(dir, 'relay.db');
    const names = Array.from({ length: AGENTS }, (_, i) => `swarm-${String(i).padStart(3, '0')}`);
    const tokens = await prepareAgents(dbPath, names);
    const origin = await startOrigin(t);
    const first = await startRelayProcess(t, { dbPath, name: 'relay-1' });

    // 1. The load generator connects all 500 agents.
    const configPath = join(dir, 'swarm.json');
    writeFileSync(configPath, JSON.stringify({ relayUrl: first.addresses.agentUrl, localAddr: origin.addr, tokens: names.map((n) => tokens.get(n)) }));
    const swarm = new CliProcess('agent-swarm', ['--import', 'tsx', join(REPO_ROOT, 'test', 'chaos', 'agent-swarm.ts'), configPath]);
    t.after(() => swarm.kill());
    const events = (): SwarmEvent[] => swarm.lines.filter((l) => l.stream === 'stdout').map((l) => l.data as unknown as SwarmEvent);
    const onlineSince = (sinceMs: number): Set<number> => new Set(events().filter((e) => e.event === 'up' && e.atMs >= sinceMs).map((e) => e.i));
    await waitUntil(() => onlineSince(0).size === AGENTS, `all ${AGENTS} agents to come online`, 90_000);
    // Production agents have been up for long: let every session pass the stability threshold, so that a
    // session end makes them redial at once (the path a real relay restart takes), not back off as flapping.
    const lastUpAtMs = Math.max(...events().filter((e) => e.event === 'up').map((e) => e.atMs));
    await waitUntil(() => Date.now() - lastUpAtMs > DEFAULT_TUNNEL_CLIENT_CONFIG.stabilityThresholdMs + 250, 'every session to be stable', 30_000);

    // 2. The relay is killed and restarted on the same port.
    const killedAtMs = Date.now();
    await first.proc.kill('SIGKILL');
    await waitUntil(() => new Set(events().filter((e) => e.event === 'down' && e.atMs >= killedAtMs).map((e) => e.i)).size === AGENTS, 'every agent to see its session end', 30_000);
    const second = await startRelayProcess(t, { dbPath, agentPort: first.agentPort, name: 'relay-2' });
    const listeningAtMs = (second.proc.linesNamed('listening')[0] as { atMs: number }).atMs;

    // 3. A visitor loop to one agent runs until every agent is back.
    const outcomes: VisitorOutcome[] = [];
    let allBack = false;
    const visitorLoop = (async () => {
      while (!allBack) {
        outcomes.push(await within(visitAgent(second.addresses.public, VISITED, '/hello'), 30_000, 'a visitor during the reconnect'));
      }
    })();
    await waitUntil(() => onlineSince(killedAtMs).size === AGENTS, `all ${AGENTS} agents to be back`, 120_000);
    allBack = true;
    await visitorLoop;
    const last = await within(visitAgent(second.addresses.public, VISITED, '/hello'), 30_000, 'a visitor after the reconnect');
    assert.equal(last.status, 200, 'the visited agent serves once everyone is back');

    // 4. Every visitor got a success or a documented tunnel error.
    assert.ok(outcomes.length > 0, 'visitors were served during the reconnect');
    for (const [n, o] of outcomes.entries()) {
      const code = o.headers['x-tunnel-error'];
      const ok = o.status === 200 && String(o.body) === 'hello from origin\n';
      const documented = o.status !== undefined && o.status >= 500 && typeof code === 'string' && RECONNECT_ERROR_CODES.has(code);
      assert.ok(ok || documented, `visitor ${n} gets 200 or a documented tunnel error (got ${String(o.status)} ${String(code ?? o.errorCode)})`);
    }

    // 5. Jitter spread the dials: retry delays for the same attempt differ across agents.
    const retries = events().filter((e) => e.event === 'retry' && e.atMs >= killedAtMs);
    const byAttempt = new Map<number, number[]>();
    for (const r of retries) byAttempt.set(r.attempt as number, [...(byAttempt.get(r.attempt as number) ?? []), r.delayMs as number]);
    const firstRetry = byAttempt.get(1) ?? [];
    assert.ok(firstRetry.length > AGENTS / 2, `most agents scheduled a first retry (${firstRetry.length})`);
    for (const [attempt, delays] of byAttempt) {
      const base = backoff(attempt);
      for (const d of delays) assert.ok(d >= base * 0.8 && d <= base * 1.2, `retry ${attempt} delay ${d} ms is backoff(${attempt}) +/-20 %`);
    }
    const spreadOfFirstRetryMs = Math.max(...firstRetry) - Math.min(...firstRetry);
    assert.ok(spreadOfFirstRetryMs >= 0.2 * backoff(1), `first retries are spread by jitter (${spreadOfFirstRetryMs} ms)`);

    // Figures for docs/reliability.md.
    const upAfter = events()
      .filter((e) => e.event === 'up' && e.atMs >= killedAtMs)
      .map((e) => e.atMs - listeningAtMs)
      .sort((a, b) => a - b);
    const dialsAfterRestart = events().filter((e) => e.event === 'dial' && e.atMs >= listeningAtMs);
    const immediateRedials = events().filter((e) => e.event === 'dial' && e.attempt === 1 && e.atMs >= killedAtMs && e.atMs < listeningAtMs);
    const immediateSpanMs = immediateRedials.length === 0 ? 0 : Math.max(...immediateRedials.map((e) => e.atMs)) - Math.min(...immediateRedials.map((e) => e.atMs));
    const buckets = new Map<number, number>();
    for (const d of dialsAfterRestart) buckets.set(Math.floor((d.atMs - listeningAtMs) / 100), (buckets.get(Math.floor((d.atMs - listeningAtMs) / 100)) ?? 0) + 1);
    const counts = outcomes.reduce<Record<string, number>>((acc, o) => {
      const key = o.status === 200 ? '200' : `${String(o.status)} ${String(o.headers['x-tunnel-error'] ?? o.errorCode)}`;
      acc[key] = (acc[key] ?? 0) + 1;
      return acc;
    }, {});
    t.diagnostic(
      `relay down ${listeningAtMs - killedAtMs} ms; all ${AGENTS} back ${upAfter.at(-1) as number} ms after the new relay listened; ` +
        `sessions up at +${upAfter[0] as number} / p50 +${percentile(upAfter, 50)} / p90 +${percentile(upAfter, 90)} / max +${upAfter.at(-1) as number} ms (spread ${(upAfter.at(-1) as number) - (upAfter[0] as number)} ms); ` +
        `${immediateRedials.length} immediate redials (refused) within ${immediateSpanMs} ms of each other while the relay was down; ` +
        `${dialsAfterRestart.length} dials after the restart, at most ${Math.max(...buckets.values())} in any 100 ms; ` +
        `first-retry delays ${Math.min(...firstRetry)}-${Math.max(...firstRetry)} ms; visitors during the reconnect: ${JSON.stringify(counts)}`,
    );
  });
});
