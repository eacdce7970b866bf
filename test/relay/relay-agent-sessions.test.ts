/**
 * Agent sessions on our relay: newest wins (the old session drains), stale
 * removal never unregisters the newer session, revocation (in this process
 * or another) disconnects within a second, the offline grace carries a
 * visitor across an agent restart, and a dead agent is unregistered.
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { describe, it } from 'node:test';
import { openStoreDatabase } from '../../src/relay/store/database.js';
import { SqliteTokenStore } from '../../src/relay/store/sqlite-token-store.js';
import type { AgentConnection } from '../../src/relay/index.js';
import {
  BASE_DOMAIN,
  connectAgent,
  createAgentToken,
  splitHostPort,
  startAgent,
  startOrigin,
  startRawAgent,
  startRelay,
  visit,
  waitFor,
  waitForRegistration,
} from './relay-fixtures.js';

/** Resolves with the next 'disconnect' of `name` on the relay's registry. */
function nextDisconnect(fx: { relay: { registry: NodeJS.EventEmitter } }, name: string): Promise<AgentConnection> {
  return new Promise((resolve) => {
    const on = (c: AgentConnection): void => {
      if (c.agentName !== name) return;
      fx.relay.registry.off('disconnect', on);
      resolve(c);
    };
    fx.relay.registry.on('disconnect', on);
  });
}

/** Rejects when `promise` takes longer than `ms` (for the "within a second" revocation budget). */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms))),
  ]);
}

describe('Relay agent sessions', () => {
  it('gives the newest session the agent, lets the old one finish its in-flight request, and keeps the new one when the old closes', async (t) => {
    const fx = await startRelay(t);
    const token = await createAgentToken(fx.relay, 'edge-nw');
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const oldAgent = await startRawAgent(t, fx.addresses.agentUrl, token, (req, res) => {
      if (req.url === '/held') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('old-start\n');
        void released.then(() => res.end('old-end\n'));
        return;
      }
      res.end('old\n');
    });
    await waitFor(() => fx.relay.registry.get('edge-nw') !== undefined, 'the old agent to register');
    const oldConnection = fx.relay.registry.get('edge-nw') as AgentConnection;

    const [host, port] = splitHostPort(fx.addresses.public);
    let firstChunk!: () => void;
    const gotFirstChunk = new Promise<void>((resolve) => (firstChunk = resolve));
    const inFlight = new Promise<string>((resolve, reject) => {
      http
        .get({ host, port, path: '/held', headers: { host: `edge-nw.${BASE_DOMAIN}` } }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => {
            text += c;
            firstChunk();
          });
          res.on('end', () => resolve(text));
          res.on('error', reject);
        })
        .on('error', reject);
    });
    await gotFirstChunk;

    const goAway = new Promise<number>((resolve) => oldAgent.session.once('goaway', resolve));
    const replaced = new Promise<AgentConnection | undefined>((resolve) => fx.relay.registry.once('connect', (_c, previous) => resolve(previous)));
    await startRawAgent(t, fx.addresses.agentUrl, token, (_req, res) => res.end('new\n'));
    assert.equal(await replaced, oldConnection, 'the new session replaced the old one');
    assert.equal(await goAway, 0, 'the old session got GoAway (normal)');

    assert.equal((await visit(fx.addresses, '/', { agent: 'edge-nw' })).body.toString(), 'new\n', 'new requests go to the newest session');
    release();
    assert.equal(await inFlight, 'old-start\nold-end\n', 'the in-flight request on the old session completed');

    const disconnected = nextDisconnect(fx, 'edge-nw');
    await oldAgent.session.closed;
    assert.equal(await disconnected, oldConnection, 'the old session left the registry once drained');
    assert.equal(fx.relay.registry.unregister(oldConnection), false, 'removing the old session again is a no-op');
    assert.notEqual(fx.relay.registry.get('edge-nw'), undefined, 'the newest session is still registered');
    assert.equal((await visit(fx.addresses, '/', { agent: 'edge-nw' })).body.toString(), 'new\n', 'and still serves');
  });

  it('records the remote address, the agent version header and the connect time', async (t) => {
    const fx = await startRelay(t);
    const token = await createAgentToken(fx.relay, 'edge-info');
    await startRawAgent(t, fx.addresses.agentUrl, token, (_req, res) => res.end(), { headers: { 'X-Tunnel-Agent-Version': 'test-agent/1.2.3' } });
    await waitFor(() => fx.relay.registry.get('edge-info') !== undefined, 'registration');
    const c = fx.relay.registry.get('edge-info') as AgentConnection;
    assert.equal(c.remoteAddress, '127.0.0.1', 'remote address');
    assert.equal(c.agentVersion, 'test-agent/1.2.3', 'version header');
    assert.ok(c.connectedAtMs > 0 && c.connectedAtMs <= Date.now(), 'connected-at time');
  });

  it('disconnects a live session within a second when its token is revoked through the relay', async (t) => {
    const fx = await startRelay(t);
    const origin = await startOrigin(t);
    const token = await createAgentToken(fx.relay, 'edge-rev');
    const agent = await connectAgent(t, fx, 'edge-rev', origin.addr, token);
    const down = agent.nextSessionDown();
    const disconnected = nextDisconnect(fx, 'edge-rev');
    await fx.relay.tokens.revokeToken('edge-rev');
    await within(disconnected, 1000, 'the relay-side disconnect');
    await down;
    await waitFor(() => agent.events.some((e) => e.startsWith('dial_failed:')), 'the agent to be refused on redial');
    const r = await visit(fx.addresses, '/hello', { agent: 'edge-rev', headers: { accept: 'application/json' } });
    assert.notEqual(r.status, 200, 'the revoked agent no longer serves visitors');
  });

  it('disconnects a live session within a second when another process (the CLI) revokes its token', async (t) => {
    const fx = await startRelay(t);
    const origin = await startOrigin(t);
    const token = await createAgentToken(fx.relay, 'edge-cli');
    await connectAgent(t, fx, 'edge-cli', origin.addr, token);
    const db = openStoreDatabase(fx.dbPath);
    t.after(() => db.close());
    const cli = new SqliteTokenStore(db);
    const disconnected = nextDisconnect(fx, 'edge-cli');
    await cli.revokeToken('edge-cli');
    await within(disconnected, 1000, 'the disconnect after a revocation by another process');
  });

  it('holds a visitor request while the agent restarts, and serves it once the agent is back', async (t) => {
    const fx = await startRelay(t, { limits: { offlineGraceMs: 20_000 } });
    const origin = await startOrigin(t);
    const token = await createAgentToken(fx.relay, 'edge-grace');
    const first = await connectAgent(t, fx, 'edge-grace', origin.addr, token);
    const gone = nextDisconnect(fx, 'edge-grace');
    await first.client.stop();
    await gone;
    const pending = visit(fx.addresses, '/hello', { agent: 'edge-grace' });
    await waitFor(() => fx.relay.inflightRequests === 1, 'the visitor request to wait for the agent');
    const back = waitForRegistration(fx.relay, 'edge-grace');
    startAgent(t, { relayUrl: fx.addresses.agentUrl, token, localAddr: origin.addr });
    await back;
    const r = await pending;
    assert.equal(r.status, 200, 'the waiting request succeeded');
    assert.equal(r.body.toString(), 'hello from origin\n', 'served by the restarted agent');
  });

  it('unregisters an agent that stops answering keepalive pings', async (t) => {
    const fx = await startRelay(t, { limits: { keepAliveIntervalMs: 200, keepAliveTimeoutMs: 600, offlineGraceMs: 0 } });
    const token = await createAgentToken(fx.relay, 'edge-dead');
    const raw = await startRawAgent(t, fx.addresses.agentUrl, token, (_req, res) => res.end('alive\n'));
    await waitFor(() => fx.relay.registry.get('edge-dead') !== undefined, 'registration');
    const disconnected = nextDisconnect(fx, 'edge-dead');
    // The agent stops reading: pings go unanswered, as with a blackholed link.
    raw.duplex.pause();
    raw.duplex.webSocket.pause();
    const c = await disconnected;
    assert.equal(c.session.closeReason?.name, 'KeepAliveTimeoutError', 'closed by the keepalive timeout');
    const r = await visit(fx.addresses, '/', { agent: 'edge-dead' });
    assert.equal(r.headers['x-tunnel-error'], 'ERR_RELAY_AGENT_OFFLINE', 'visitors then get the offline error');
  });
});
