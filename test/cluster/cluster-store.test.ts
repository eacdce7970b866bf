/**
 * A relay cluster and its shared PostgreSQL store (real processes): a token
 * revoked through another node's admin API, or with the CLI against the
 * database, closes the agent's session on the node that holds it; during a
 * store outage the nodes keep serving the agents and visitors they have,
 * refuse what they cannot check with ERR_RELAY_STORE_UNAVAILABLE, say so in
 * /readyz and /metrics, and resync when the store is back.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runCli } from '../cli/cli-fixtures.js';
import { startRefOrigin } from '../helpers/ref-process.js';
import { interopSkip } from '../helpers/interop-skip.js';
import { adminCall, adminGet, eventually, isAgentState, startCluster, startClusterAgent, visitAgent } from './cluster-fixtures.js';

describe('Relay cluster: the shared store', { skip: interopSkip('ref-origin') }, () => {
  it('closes the agent’s session on its node when its token is revoked through another node, or with the CLI', async (t) => {
    const cluster = await startCluster(t);
    const n1 = await cluster.startNode('n1', 51);
    const n2 = await cluster.startNode('n2', 52, { admin: true });
    const origin = (await startRefOrigin(t)).addr;

    // 1. Through n2's admin API, for an agent on n1.
    const tokenA = await cluster.createAgent('edge-rev-a');
    const agentA = startClusterAgent(t, { relayUrls: [n1.addresses.agentUrl], token: tokenA, local: origin, name: 'agent-a' });
    await agentA.waitForLine(isAgentState('online'), 'agent a online on n1');
    const [tokenInfo] = await cluster.store.tokens.listTokens('edge-rev-a');
    const revokedAtMs = Date.now();
    const res = await adminCall(n2, cluster.adminToken, 'DELETE', `/api/tokens/${tokenInfo?.tokenId as string}`);
    assert.equal(res.status, 200, 'n2 revoked the token');
    const closed = await n1.proc.waitForLine((d) => d.msg === 'agent token revoked; closing its session' && d.agent === 'edge-rev-a', 'n1 to close the session', 10_000);
    console.log(`# revoked through n2: the session on n1 closed ${closed.atMs - revokedAtMs} ms after the revocation`);
    await agentA.waitForLine((d) => typeof d.error === 'string' && d.error.includes('401'), 'agent a refused when it redials');

    // 2. With the CLI against the database, for an agent on n2.
    const tokenB = await cluster.createAgent('edge-rev-b');
    const agentB = startClusterAgent(t, { relayUrls: [n2.addresses.agentUrl], token: tokenB, local: origin, name: 'agent-b' });
    await agentB.waitForLine(isAgentState('online'), 'agent b online on n2');
    const cliAtMs = Date.now();
    const cli = await runCli(['token', 'revoke', 'edge-rev-b', '--db', cluster.dbUrl]);
    assert.equal(cli.code, 0, `the CLI revoked it (stderr: ${cli.stderr})`);
    assert.match(cli.stdout, /^revoked 1 token\(s\)/, 'and said so');
    const closedB = await n2.proc.waitForLine((d) => d.msg === 'agent token revoked; closing its session' && d.agent === 'edge-rev-b', 'n2 to close the session', 10_000);
    console.log(`# revoked with the CLI: the session on n2 closed ${closedB.atMs - cliAtMs} ms after the CLI started`);
    const visit = await visitAgent(n1.addresses.public, 'edge-rev-b', '/hello', {});
    assert.notEqual(visit.status, 200, 'the revoked agent is no longer served through n1');
  });

  it('keeps serving through a store outage, refuses what it cannot check, and resyncs when the store is back', async (t) => {
    const cluster = await startCluster(t);
    const config = { limits: { offlineGraceMs: 1000 } };
    const n1 = await cluster.startNode('n1', 61, { config });
    const n2 = await cluster.startNode('n2', 62, { admin: true, config });
    const origin = (await startRefOrigin(t)).addr;
    const token = await cluster.createAgent('edge-outage');
    const agent = startClusterAgent(t, { relayUrls: [n1.addresses.agentUrl], token, local: origin });
    await agent.waitForLine(isAgentState('online'), 'the agent online on n1');
    await eventually(async () => (await visitAgent(n2.addresses.public, 'edge-outage', '/hello')).status === 200, 'n2 to reach the agent');
    const spare = await cluster.createAgent('edge-spare');
    const [tokenInfo] = await cluster.store.tokens.listTokens('edge-outage');
    // n2 learns the spare token from the change log; under load that may take a moment: make sure it has, once.
    const warmup = startClusterAgent(t, { relayUrls: [n2.addresses.agentUrl], token: spare, local: origin, name: 'spare-warmup' });
    await warmup.waitForLine(isAgentState('online'), 'n2 to know the spare token before the outage');
    await warmup.kill('SIGTERM');

    // 1. The store goes away.
    await cluster.pg.stop();
    await eventually(async () => (await fetch(`http://${n2.addresses.admin as string}/readyz`).then((r) => r.json()) as { store: string }).store === 'down', 'n2 to notice the outage');
    const ready = await fetch(`http://${n2.addresses.admin as string}/readyz`);
    assert.equal(ready.status, 200, '/readyz stays 200: the node still serves what it holds');
    const metrics = await fetch(`http://${n2.addresses.admin as string}/metrics`, { headers: { authorization: `Bearer ${cluster.adminToken}` } }).then((r) => r.text());
    assert.match(metrics, /^visiona_tunnel_relay_store_up 0$/m, 'the metric says the store is down');

    // 2. Visitors of the connected agent are served, through its node and through the other one.
    for (const node of [n1, n2]) {
      const res = await visitAgent(node.addresses.public, 'edge-outage', '/bytes?n=100000', { keepBody: false });
      assert.equal(res.status, 200, `served through ${node.nodeId} during the outage`);
      assert.equal(res.bytes, 100_000, `the whole body through ${node.nodeId}`);
    }

    // 3. What cannot be checked is refused with a clear code.
    const revoke = await adminCall(n2, cluster.adminToken, 'DELETE', `/api/tokens/${tokenInfo?.tokenId as string}`);
    assert.equal(revoke.status, 503, 'a revocation cannot be recorded now');
    assert.equal((revoke.json.error as { code: string }).code, 'ERR_RELAY_STORE_UNAVAILABLE', 'and says why');
    const agents = await adminGet(n2, cluster.adminToken, '/api/agents');
    assert.equal(agents.status, 503, 'the agent list needs the store');
    // An agent whose token this node has in memory may still connect.
    const spareAgent = startClusterAgent(t, { relayUrls: [n2.addresses.agentUrl], token: spare, local: origin, name: 'spare' });
    await spareAgent.waitForLine(isAgentState('online'), 'an agent with a known token connects during the outage');
    assert.equal((await visitAgent(n2.addresses.public, 'edge-spare', '/hello')).status, 200, 'and is served by its node');

    // 4. The store comes back: the nodes resync, revocation works again and reaches the agent's node.
    await cluster.pg.start();
    await eventually(async () => (await fetch(`http://${n2.addresses.admin as string}/readyz`).then((r) => r.json()) as { store: string }).store === 'up', 'n2 to see the store again', 30_000, 200);
    await eventually(async () => (await visitAgent(n1.addresses.public, 'edge-spare', '/hello')).status === 200, 'n1 to learn where the spare agent connected during the outage', 30_000, 200);
    const again = await adminCall(n2, cluster.adminToken, 'DELETE', `/api/tokens/${tokenInfo?.tokenId as string}`);
    assert.equal(again.status, 200, 'the revocation goes through now');
    await n1.proc.waitForLine((d) => d.msg === 'agent token revoked; closing its session' && d.agent === 'edge-outage', 'n1 to close the revoked session', 10_000);
  });
});
