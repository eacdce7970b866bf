/**
 * Zero-downtime relay restarts (real processes): PostgreSQL, three relay
 * nodes, HAProxy from Debian in front of them for agents and visitors, 20
 * agents holding two HA links each (the library, as users embed it), a Go
 * agent behind the same HAProxy, and a steady visitor load of small GETs,
 * streamed downloads and WebSocket echoes through HAProxy for the whole test.
 *
 * 1. Rolling restart: each node in turn gets SIGTERM (one of them
 *    `POST /api/drain` instead, its `/readyz` answering 503 `draining`), drains (its agents open
 *    their new link on another node first, then let the old one finish), exits
 *    0 and is started again: no visitor request fails, no download is cut.
 * 2. kill -9 of a node under the same load: the requests in flight on it may
 *    fail (counted, with their error); the window after which every request
 *    succeeds again is reported, and every request after it succeeds.
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { describe, it } from 'node:test';
import WebSocket from 'ws';
import { TunnelManager } from '../../src/agent/index.js';
import { startHaproxy } from '../helpers/haproxy.js';
import { startRef, startRefOrigin } from '../helpers/ref-process.js';
import { adminCall, CLUSTER_DOMAIN, eventually, portOf, startCluster, visitAgent, waitUntil, type NodeProcess, type Scope } from './cluster-fixtures.js';

const AGENTS = 20;
const NODE_CONFIG = { cluster: { drainGraceMs: 20_000, drainSpreadMs: 1_000 }, limits: { offlineGraceMs: 10_000 } };

/** One visitor exchange's outcome. */
interface Outcome {
  kind: 'get' | 'download' | 'ws';
  agent: string;
  startedAtMs: number;
  ok: boolean;
  detail: string;
}

/** Visitors through HAProxy: `getsPerSecond` small GETs, a streamed download every 500 ms, a WebSocket echo every second. */
class VisitorLoad {
  readonly outcomes: Outcome[] = [];
  readonly #publicAddress: string;
  readonly #agents: readonly string[];
  readonly #timers: NodeJS.Timeout[] = [];
  readonly #pending = new Set<Promise<void>>();
  readonly #httpAgent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  #n = 0;

  constructor(publicAddress: string, agents: readonly string[], getsPerSecond: number) {
    this.#publicAddress = publicAddress;
    this.#agents = agents;
    this.#timers.push(setInterval(() => this.#track(this.#get()), Math.round(1000 / getsPerSecond)));
    this.#timers.push(setInterval(() => this.#track(this.#download()), 500));
    this.#timers.push(setInterval(() => this.#track(this.#webSocket()), 1000));
  }

  /** Stops starting exchanges and waits for those in flight. */
  async stop(): Promise<void> {
    for (const timer of this.#timers) clearInterval(timer);
    while (this.#pending.size > 0) await Promise.all([...this.#pending]);
    this.#httpAgent.destroy();
  }

  failures(sinceMs = 0): Outcome[] {
    return this.outcomes.filter((o) => !o.ok && o.startedAtMs >= sinceMs);
  }

  count(kind: Outcome['kind']): number {
    return this.outcomes.filter((o) => o.kind === kind).length;
  }

  #track(p: Promise<void>): void {
    this.#pending.add(p);
    void p.finally(() => this.#pending.delete(p));
  }

  #nextAgent(): string {
    this.#n += 1;
    return this.#agents[this.#n % this.#agents.length] as string;
  }

  #request(agent: string, path: string): Promise<{ status: number | undefined; body: string; complete: boolean; error?: string; tunnelError?: string }> {
    const i = this.#publicAddress.lastIndexOf(':');
    return new Promise((resolve) => {
      const req = http.get(
        { host: this.#publicAddress.slice(0, i), port: Number(this.#publicAddress.slice(i + 1)), path, agent: this.#httpAgent, headers: { host: `${agent}.${CLUSTER_DOMAIN}` } },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.once('end', () =>
            resolve({ status: res.statusCode, body, complete: res.complete, ...(typeof res.headers['x-tunnel-error'] === 'string' ? { tunnelError: res.headers['x-tunnel-error'] } : {}) }),
          );
          res.once('error', (err: NodeJS.ErrnoException) => resolve({ status: res.statusCode, body, complete: false, error: err.code ?? err.message }));
        },
      );
      req.on('error', (err: NodeJS.ErrnoException) => resolve({ status: undefined, body: '', complete: false, error: err.code ?? err.message }));
    });
  }

  async #get(): Promise<void> {
    const agent = this.#nextAgent();
    const startedAtMs = Date.now();
    const r = await this.#request(agent, '/hello');
    const ok = r.status === 200 && r.complete;
    this.outcomes.push({ kind: 'get', agent, startedAtMs, ok, detail: ok ? '200' : `${r.status ?? '-'} ${r.tunnelError ?? ''} ${r.error ?? ''}`.trim() });
  }

  async #download(): Promise<void> {
    const agent = this.#nextAgent();
    const startedAtMs = Date.now();
    // 20 lines over about 2 s: in flight on a node when its drain starts.
    const r = await this.#request(agent, '/stream?n=20&ms=100');
    const lines = r.body.split('\n').filter((l) => l !== '').length;
    const ok = r.status === 200 && r.complete && lines === 20;
    this.outcomes.push({ kind: 'download', agent, startedAtMs, ok, detail: ok ? '200' : `${r.status ?? '-'} ${r.tunnelError ?? ''} ${r.error ?? ''} lines=${lines}`.trim() });
  }

  async #webSocket(): Promise<void> {
    const agent = this.#nextAgent();
    const startedAtMs = Date.now();
    const detail = await new Promise<string>((resolve) => {
      const ws = new WebSocket(`ws://${this.#publicAddress}/ws`, { headers: { host: `${agent}.${CLUSTER_DOMAIN}` } });
      let echoed = 0;
      const messages = 5;
      const send = (): void => ws.send(`m${echoed}`);
      ws.on('open', send);
      ws.on('message', (data: Buffer) => {
        if (data.toString() !== `m${echoed}`) return resolve(`wrong echo ${data.toString()}`);
        echoed += 1;
        if (echoed === messages) ws.close(1000);
        else setTimeout(send, 100);
      });
      ws.on('unexpected-response', (_req, res) => resolve(`upgrade refused ${res.statusCode} ${String(res.headers['x-tunnel-error'] ?? '')}`));
      ws.on('error', (err) => resolve(`error ${err.message}`));
      ws.on('close', (code) => resolve(echoed === messages ? 'ok' : `closed ${code} after ${echoed} echoes`));
    });
    this.outcomes.push({ kind: 'ws', agent, startedAtMs, ok: detail === 'ok', detail });
  }
}

function allLinksOnline(managers: readonly TunnelManager[]): boolean {
  return managers.every((m) => {
    const links = m.status().links ?? [];
    return links.length === 2 && links.every((l) => l.state === 'online') && new Set(links.map((l) => l.node)).size === 2;
  });
}

function summary(outcomes: readonly Outcome[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const o of outcomes) out[`${o.kind} ${o.detail}`] = (out[`${o.kind} ${o.detail}`] ?? 0) + 1;
  return out;
}

describe('Relay cluster: zero-downtime restarts behind HAProxy', () => {
  it('restarts every node in turn under load with no failed visitor request, then reports the window of a kill -9', async (t: Scope) => {
    const cluster = await startCluster(t);
    const nodes: NodeProcess[] = [];
    for (let i = 0; i < 3; i++) nodes.push(await cluster.startNode(`n${i + 1}`, 61 + i, { admin: true, config: NODE_CONFIG }));
    const ports = nodes.map((n) => ({
      agent: portOf(n.addresses.agent),
      public: portOf(n.addresses.public),
      peer: portOf(n.addresses.peer),
      admin: portOf(n.addresses.admin as string),
    }));
    const proxy = await startHaproxy(
      t,
      cluster.dir,
      nodes.map((n, i) => ({ name: n.nodeId, host: n.host, agentPort: ports[i]!.agent, publicPort: ports[i]!.public, adminPort: ports[i]!.admin })),
    );
    const origin = (await startRefOrigin(t)).addr;
    const relayUrl = `ws://${proxy.agentAddress}/tunnel/connect`;

    // 20 agents with two links each, and the Go agent, all through HAProxy.
    const names = Array.from({ length: AGENTS }, (_, i) => `edge-${i}`);
    const managers: TunnelManager[] = [];
    for (const name of names) {
      const manager = new TunnelManager({ relayUrl, token: await cluster.createAgent(name), localAddr: origin, links: 2 });
      t.after(() => manager.stop());
      manager.start();
      managers.push(manager);
    }
    const goAgent = startRef(t, 'ref-agent', ['-relay', relayUrl, '-token', await cluster.createAgent('edge-go'), '-local', origin]);
    await waitUntil(() => allLinksOnline(managers), 'every agent with two links online on two nodes', 60_000);
    for (const name of [...names, 'edge-go']) {
      await eventually(async () => (await visitAgent(proxy.publicAddress, name, '/hello')).status === 200, `${name} reachable through HAProxy`);
    }

    const load = new VisitorLoad(proxy.publicAddress, [...names, 'edge-go'], 50);
    let loadStopped = false;
    t.after(async () => {
      if (!loadStopped) await load.stop();
    });

    // 1. Rolling restart: SIGTERM, wait for the exit, start again on the same ports, wait until every agent has two links again.
    const drains: string[] = [];
    for (let i = 0; i < nodes.length; i++) {
      const node = nodes[i] as NodeProcess;
      const startedAtMs = Date.now();
      if (i === 1) {
        // The second node is drained through the admin API instead of a signal; it exits by itself.
        const drain = await adminCall(node, cluster.adminToken, 'POST', '/api/drain');
        assert.equal(drain.status, 202, 'POST /api/drain accepted');
        assert.deepEqual(drain.json, { draining: true, graceMs: 20_000, spreadMs: 1_000 }, 'with the node\'s drain settings');
        const ready = await fetch(`http://${node.addresses.admin as string}/readyz`);
        assert.equal(ready.status, 503, '/readyz answers 503 at once');
        assert.equal(((await ready.json()) as { status: string }).status, 'draining', 'and says draining');
      } else await node.proc.kill('SIGTERM');
      const exit = await node.proc.exited;
      assert.equal(exit.code, 0, `${node.nodeId} exits 0 after its drain (${JSON.stringify(exit)})\n${node.proc.tail()}`);
      const drainedMs = Date.now() - startedAtMs;
      assert.ok(
        node.proc.linesNamed('relay drained').length === 1,
        `${node.nodeId} logged the end of its drain\n${node.proc.tail()}`,
      );
      nodes[i] = await cluster.startNode(node.nodeId, 61 + i, { admin: true, config: NODE_CONFIG, ports: ports[i] });
      await waitUntil(() => allLinksOnline(managers), `every agent with two links again after the restart of ${node.nodeId}`, 60_000);
      drains.push(`${node.nodeId} drained and exited in ${drainedMs} ms, all links back after ${Date.now() - startedAtMs} ms`);
    }
    const rollingEndMs = Date.now();
    const rollingOutcomes = load.outcomes.filter((o) => o.startedAtMs < rollingEndMs);
    console.log(`# rolling restart: ${drains.join('; ')}`);
    console.log(
      `# rolling restart under load: ${rollingOutcomes.length} visitor exchanges (${rollingOutcomes.filter((o) => o.kind === 'get').length} GETs, ` +
        `${rollingOutcomes.filter((o) => o.kind === 'download').length} downloads, ${rollingOutcomes.filter((o) => o.kind === 'ws').length} WebSockets), ` +
        `${rollingOutcomes.filter((o) => !o.ok).length} failed: ${JSON.stringify(summary(rollingOutcomes.filter((o) => !o.ok)))}`,
    );
    assert.deepEqual(summary(rollingOutcomes.filter((o) => !o.ok)), {}, 'no visitor request, download or WebSocket failed during the rolling restart');
    assert.ok(goAgent.events.filter((e) => e.event === 'session_up').length >= 2, 'the Go agent reconnected after a GoAway and was served throughout');

    // 2. kill -9 of one node under the same load.
    const victim = nodes[1] as NodeProcess;
    const killedAtMs = Date.now();
    await victim.proc.kill('SIGKILL');
    // The agents see their link on the victim drop (its sockets are closed by the kernel): from then on their other link is the only one.
    await waitUntil(
      () => managers.every((m) => (m.status().links ?? []).every((l) => l.node !== victim.nodeId)),
      `every agent to notice the loss of its link on ${victim.nodeId}`,
      30_000,
    );
    const knownAtMs = Date.now();
    await waitUntil(() => load.outcomes.some((o) => o.startedAtMs > knownAtMs + 3_000), 'the load to run 3 s past that', 30_000);
    loadStopped = true;
    await load.stop();
    const inFlight = load.outcomes.filter((o) => o.startedAtMs < killedAtMs && !o.ok && !rollingOutcomes.includes(o));
    const afterKill = load.outcomes.filter((o) => o.startedAtMs >= killedAtMs);
    const failed = afterKill.filter((o) => !o.ok);
    const lastFailureMs = failed.length === 0 ? killedAtMs : Math.max(...failed.map((o) => o.startedAtMs));
    console.log(
      `# kill -9 of ${victim.nodeId}: ${inFlight.length} exchanges in flight failed ${JSON.stringify(summary(inFlight))}; ` +
        `${failed.length} of ${afterKill.length} started after the kill failed ${JSON.stringify(summary(failed))}; ` +
        `agents knew their other link was the only one ${knownAtMs - killedAtMs} ms after the kill; ` +
        `window (kill to the start of the last failed exchange): ${lastFailureMs - killedAtMs} ms`,
    );
    assert.deepEqual(summary(load.failures(knownAtMs)), {}, 'once the agents knew, every exchange succeeded');
    assert.ok(load.outcomes.filter((o) => o.startedAtMs > knownAtMs).length > 100, 'and there were many of them');
  });
});
