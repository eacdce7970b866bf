/**
 * A relay cluster losing a node or fought over by two agent processes (real
 * processes, one PostgreSQL store): kill -9 of the agent's node costs one
 * reconnect to its second --relay, after which visitors through the other
 * nodes are served again; a restarted agent that lands on another node
 * replaces its half-open old session at once (newest wins, by epoch); two
 * running instances of one agent are reported and damped instead of
 * taking the link from each other forever.
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { describe, it } from 'node:test';
import { startRefOrigin } from '../helpers/ref-process.js';
import { interopSkip } from '../helpers/interop-skip.js';
import { listenOnLoopback } from '../helpers/loopback.js';
import { adminGet, eventually, isAgentState, startCluster, startClusterAgent, visitAgent, type Scope } from './cluster-fixtures.js';

/** A local service that answers every request with its own name. */
async function namedOrigin(t: Scope, name: string): Promise<string> {
  const server = http.createServer((_req, res) => res.end(name));
  const port = await listenOnLoopback(t, server);
  return `127.0.0.1:${port}`;
}

describe('Relay cluster: failures', { skip: interopSkip('ref-origin') }, () => {
  it('serves the agent through the other nodes again after kill -9 of its node, once it redials its second --relay', async (t) => {
    const cluster = await startCluster(t);
    const [n1, n2, n3] = [await cluster.startNode('n1', 21), await cluster.startNode('n2', 22), await cluster.startNode('n3', 23)];
    const origin = (await startRefOrigin(t)).addr;
    const token = await cluster.createAgent('edge-kill');
    const agent = startClusterAgent(t, { relayUrls: [n1.addresses.agentUrl, n2.addresses.agentUrl], token, local: origin });
    await agent.waitForLine(isAgentState('online'), 'the agent online on n1');
    await eventually(async () => (await visitAgent(n3.addresses.public, 'edge-kill', '/hello')).status === 200, 'n3 to reach the agent on n1');

    // 1. n1 dies without a word; visitors keep coming to n3.
    const killedAtMs = performance.now();
    await n1.proc.kill('SIGKILL');
    const statuses = new Map<string, number>();
    let servedAgainAtMs: number | undefined;
    while (servedAgainAtMs === undefined) {
      const res = await visitAgent(n3.addresses.public, 'edge-kill', '/hello');
      const key = res.status === undefined ? (res.errorCode ?? 'error') : `${res.status}${res.headers['x-tunnel-error'] === undefined ? '' : ` ${String(res.headers['x-tunnel-error'])}`}`;
      statuses.set(key, (statuses.get(key) ?? 0) + 1);
      if (res.status === 200) servedAgainAtMs = performance.now();
      else assert.ok(performance.now() - killedAtMs < 30_000, `served again within 30 s (seen: ${JSON.stringify([...statuses])})`);
    }
    console.log(`# kill -9 of the agent's node: served through n3 again ${Math.round(servedAgainAtMs - killedAtMs)} ms later; answers meanwhile: ${JSON.stringify(Object.fromEntries(statuses))}`);

    // 2. The agent is on n2 now, and every remaining node serves it.
    await n2.proc.waitForLine((d) => d.msg === 'agent connected' && d.agent === 'edge-kill', 'the agent to land on n2');
    for (const node of [n2, n3]) assert.equal((await visitAgent(node.addresses.public, 'edge-kill', '/hello')).status, 200, `served through ${node.nodeId}`);
    assert.deepEqual([...statuses.keys()].filter((k) => k !== '200' && !k.startsWith('502')), [], 'while it moved, visitors got 200 or a 502 with its code, nothing else');
  });

  it('replaces a half-open session on one node with the agent’s new session on another at once (newest epoch wins)', async (t) => {
    const cluster = await startCluster(t);
    const [n1, n2, n3] = [await cluster.startNode('n1', 31), await cluster.startNode('n2', 32), await cluster.startNode('n3', 33)];
    const token = await cluster.createAgent('edge-move');
    const oldAgent = startClusterAgent(t, { relayUrls: [n1.addresses.agentUrl], token, local: await namedOrigin(t, 'old'), name: 'old-agent' });
    await oldAgent.waitForLine(isAgentState('online'), 'the old agent online on n1');
    await eventually(async () => (await visitAgent(n3.addresses.public, 'edge-move', '/')).body?.toString() === 'old', 'n3 to reach the old agent');

    // 1. The old agent freezes (its TCP connection stays up: a half-open session on n1), a new one starts on n2.
    process.kill(oldAgent.pid, 'SIGSTOP');
    t.after(() => {
      try {
        process.kill(oldAgent.pid, 'SIGCONT');
      } catch {
        // gone already
      }
    });
    const newAgent = startClusterAgent(t, { relayUrls: [n2.addresses.agentUrl], token, local: await namedOrigin(t, 'new'), name: 'new-agent' });
    await newAgent.waitForLine(isAgentState('online'), 'the new agent online on n2');

    // 2. n1 learns of the newer epoch and lets its old session go; every node routes to the new one.
    await n1.proc.waitForLine((d) => d.msg === 'agent session replaced by a newer one' && d.agent === 'edge-move', 'n1 to replace its half-open session');
    for (const node of [n1, n2, n3]) {
      await eventually(async () => (await visitAgent(node.addresses.public, 'edge-move', '/')).body?.toString() === 'new', `${node.nodeId} to route to the new session`);
    }
    const replaced = n1.proc.linesNamed('agent session replaced by a newer one').find((l) => l.data.agent === 'edge-move');
    assert.match(String(replaced?.data.reason), /node n2/, 'the reason names the node of the newer session');
  });

  it('reports two running instances of one agent and stops them taking its link from each other', async (t) => {
    const cluster = await startCluster(t);
    const n1 = await cluster.startNode('n1', 41);
    const n2 = await cluster.startNode('n2', 42);
    const n3 = await cluster.startNode('n3', 43, { admin: true });
    const token = await cluster.createAgent('edge-twin');
    const a = startClusterAgent(t, { relayUrls: [n1.addresses.agentUrl], token, local: await namedOrigin(t, 'a'), name: 'twin-a' });
    await a.waitForLine(isAgentState('online'), 'twin a online');
    const b = startClusterAgent(t, { relayUrls: [n2.addresses.agentUrl], token, local: await namedOrigin(t, 'b'), name: 'twin-b' });

    // They take the link from each other (b, then a again ...) until the relay sees the pattern.
    await eventually(async () => {
      const { json } = await adminGet(n3, cluster.adminToken, '/api/conflicts');
      return (json.conflicts as unknown[]).length === 1;
    }, 'n3 to report the conflict', 60_000, 200);
    const { json } = await adminGet(n3, cluster.adminToken, '/api/conflicts');
    const [conflict] = json.conflicts as { agentName: string; instances: string[]; takeovers: number }[];
    assert.equal(conflict?.agentName, 'edge-twin', 'the agent in conflict');
    assert.equal(conflict?.instances.length, 2, 'two instances');
    assert.ok((conflict?.takeovers ?? 0) >= 2, 'after at least two takeovers');
    const metrics = await fetch(`http://${n3.addresses.admin as string}/metrics`, { headers: { authorization: `Bearer ${cluster.adminToken}` } }).then((r) => r.text());
    assert.match(metrics, /^visiona_tunnel_relay_agents_in_conflict 1$/m, 'the metric shows one agent in conflict');

    // The loser is refused with 409 and a code that says why; the holder keeps serving.
    const refused = await Promise.race([
      a.waitForLine((d) => typeof d.error === 'string' && d.error.includes('409'), 'twin a refused with 409', 60_000).then(() => 'a'),
      b.waitForLine((d) => typeof d.error === 'string' && d.error.includes('409'), 'twin b refused with 409', 60_000).then(() => 'b'),
    ]);
    const holder = refused === 'a' ? 'b' : 'a';
    await eventually(async () => (await visitAgent(n3.addresses.public, 'edge-twin', '/')).body?.toString() === holder, 'visitors to be served by the holder');
    const view = await adminGet(n3, cluster.adminToken, '/api/agents/edge-twin');
    assert.equal((view.json.conflict as { agentName?: string } | null)?.agentName, 'edge-twin', 'the agent view carries the conflict');
  });
});
