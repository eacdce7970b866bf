/**
 * The dashboard's event stream under load and with a cluster: a page that
 * stops reading never grows the relay's memory (changes coalesce, then a
 * resync replaces the backlog, then the stream is cut), while a reading page
 * gets the whole fleet; and the cluster strip's data from a
 * `DashboardClusterSource` (an in-test implementation of that interface).
 */
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import {
  AgentRegistry,
  FleetEventStream,
  FleetModel,
  RelayMetrics,
  VisitorActivity,
  type AdminAgentView,
  type AgentSessionView,
  type ClusterNodeView,
  type DashboardClusterSource,
} from '../../src/relay/index.js';
import { systemClock } from '../../src/shared/clock.js';
import { noopLogger } from '../../src/shared/logger.js';
import { SseReader } from '../agent/status-fixtures.js';
import { startAdminRelay } from './admin-fixtures.js';
import { dashboardCall, loginDashboard, openDashboardEvents } from './dashboard-fixtures.js';
import { connectAgent, startOrigin, waitFor } from './relay-fixtures.js';

function view(name: string, accessMode: string): AdminAgentView {
  return {
    name, registered: true, online: false, since: null, remoteAddress: null, version: null, rttMs: null, streams: 0, requests: 0,
    bytesToAgent: 0, bytesFromAgent: 0, connectionId: null, drainingSessions: 0, accessMode, activeTokens: 1, createdAt: null, lastTokenUseAt: null,
    instanceId: null, conflict: null, links: [],
  };
}

describe('Dashboard event stream memory', () => {
  it('bounds what it keeps for a page that stops reading, and gives a reading page the whole fleet', async (t) => {
    const agents = 60_000;
    const views = Array.from({ length: agents }, (_, i) => view(`edge-${i}`, 'private'));
    const registry = new AgentRegistry();
    const metrics = new RelayMetrics({ registry });
    const model = new FleetModel({
      registry,
      loadAgents: async () => views.map((v) => ({ ...v })),
      activity: new VisitorActivity({ clock: systemClock }),
      metrics,
      clock: systemClock,
      logger: noopLogger,
      sampleIntervalMs: 50,
    });
    t.after(() => model.close());
    await model.ready;
    assert.equal(model.size, agents);

    const limits = { highWaterBytes: 16 * 1024, maxPendingRows: 100, stallTimeoutMs: 1000, rowsPerEvent: 200 };
    const streams: Array<{ stream: FleetEventStream; res: ServerResponse }> = [];
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      const stream = new FleetEventStream(res, model, { relay: { version: 'test', startedAt: new Date().toISOString() }, sessionExpiresAt: '' }, systemClock, limits);
      streams.push({ stream, res });
    });
    server.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    t.after(() => new Promise((resolve) => server.close(resolve)));
    const { port } = server.address() as AddressInfo;

    // A page that reads nothing: its kernel buffers fill, then ours stops at the high-water mark.
    const stalled = connect(port, '127.0.0.1');
    t.after(() => stalled.destroy());
    stalled.write('GET /events HTTP/1.1\r\nHost: x\r\n\r\n');
    stalled.pause();
    await waitFor(() => streams.length === 1 && (streams[0]?.res.writableLength ?? 0) >= limits.highWaterBytes, 'the stalled stream is backed up', 30_000);
    const slow = streams[0] as { stream: FleetEventStream; res: ServerResponse };

    const mostBuffered = (): number => slow.res.writableLength;
    const eventBytesMax = 64 * 1024;
    for (let round = 0; round < 3; round++) {
      for (let i = round * 300; i < round * 300 + 300; i++) (views[i] as AdminAgentView).accessMode = 'public';
      await model.refreshNow();
      assert.ok(slow.stream.pendingRows <= limits.maxPendingRows, `pending rows stay bounded (round ${round}: ${slow.stream.pendingRows})`);
      assert.ok(mostBuffered() < limits.highWaterBytes + eventBytesMax, `the socket buffer stays bounded (${mostBuffered()} bytes)`);
    }
    assert.ok(slow.stream.resyncs >= 1, 'too far behind: a resync replaced the backlog');
    await waitFor(() => slow.stream.isClosed, 'the stalled page is cut after stallTimeoutMs');
    assert.equal(slow.res.destroyed, true);

    // A page that reads gets every row, then the deltas.
    const reader = await SseReader.open(t, `127.0.0.1:${port}`);
    const reset = JSON.parse((await reader.next('reset', () => true, 60_000)).data);
    assert.equal(reset.total, agents);
    await reader.next('synced', () => true, 60_000);
    const names = new Set<string>();
    for (const e of reader.events.splice(0)) if (e.event === 'rows') for (const row of JSON.parse(e.data).upsert as unknown[][]) names.add(row[0] as string);
    assert.equal(names.size, agents, 'the whole fleet in the snapshot');
    (views[agents - 1] as AdminAgentView).accessMode = 'basic';
    await model.refreshNow();
    const delta = JSON.parse((await reader.next('rows')).data);
    assert.deepEqual(delta.upsert.map((r: unknown[]) => [r[0], r[11]]), [[`edge-${agents - 1}`, 'basic']], 'one changed row, one delta');
    reader.close();
  });
});

/** A cluster of three nodes as the dashboard reads it: the test changes it and tells the listeners. */
class TestCluster implements DashboardClusterSource {
  readonly localNodeId = 'relay-a';
  nodesNow: ClusterNodeView[] = [
    { id: 'relay-a', state: 'ready', agents: 1, isLocal: true, peerLinks: [{ node: 'relay-b', healthy: true, rttMs: 0.4 }] },
    { id: 'relay-b', state: 'ready', agents: 1, peerLinks: [{ node: 'relay-a', healthy: true, rttMs: 0.5 }] },
  ];
  readonly #listeners = new Set<() => void>();

  nodes(): ClusterNodeView[] {
    return this.nodesNow;
  }

  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async remoteSessions(_agent: string): Promise<AgentSessionView[]> {
    return [{ node: 'relay-b', link: 1, connectionId: 7, since: new Date(0).toISOString(), remoteAddress: '127.0.0.7', version: null, rttMs: 1, streams: 0, requests: 0, draining: false }];
  }

  change(nodes: ClusterNodeView[]): void {
    this.nodesNow = nodes;
    for (const l of this.#listeners) l();
  }
}

describe('Dashboard with a cluster', () => {
  it('sends the cluster\'s nodes and their changes, and an agent\'s sessions by node and link', async (t) => {
    const cluster = new TestCluster();
    const fx = await startAdminRelay(t, { dashboardCluster: cluster });
    const origin = await startOrigin(t);
    await connectAgent(t, fx, 'edge-multi', origin.addr);
    const login = await loginDashboard(fx.addresses);
    const events = await openDashboardEvents(t, fx.addresses, login);
    const reset = JSON.parse((await events.next('reset')).data);
    assert.deepEqual(reset.cluster.map((n: ClusterNodeView) => [n.id, n.state]), [['relay-a', 'ready'], ['relay-b', 'ready']]);
    await events.next('synced');
    cluster.change([{ ...(cluster.nodesNow[0] as ClusterNodeView), peerLinks: [{ node: 'relay-b', healthy: false }] }, { ...(cluster.nodesNow[1] as ClusterNodeView), state: 'draining' }]);
    const changed = JSON.parse((await events.next('cluster')).data);
    assert.equal(changed.nodes[1].state, 'draining');
    assert.equal(changed.nodes[0].peerLinks[0].healthy, false);

    const detail = (await dashboardCall(fx.addresses, 'GET', 'agents/edge-multi', { login })).json;
    assert.deepEqual(detail.sessions.map((s: AgentSessionView) => [s.node, s.link ?? null]), [['relay-a', null], ['relay-b', 1]], 'this node\'s session and the other node\'s');
    await waitFor(() => fx.relay.dashboard?.eventStreamCount === 1, 'one stream open');
  });
});
