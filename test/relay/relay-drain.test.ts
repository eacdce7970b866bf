/**
 * The relay's side of HA links and drains, on a single relay: a second link
 * of one agent instance is refused with 503 `ERR_RELAY_LINK_ON_THIS_NODE`
 * while the first keeps serving; `POST /api/drain` answers 202 with the
 * drain's settings and, with no other node to send agents to, closes the
 * relay (`relay.closed`), the agent hearing GoAway(normal) as a move; a wrong
 * admin token drains nothing.
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { describe, it } from 'node:test';
import { RelayElsewhereError, RelayMovedError } from '../../src/agent/errors.js';
import { ADMIN_TOKEN, admin, startAdminRelay } from './admin-fixtures.js';
import { createAgentToken, splitHostPort, startAgent, startOrigin, visit, waitFor, waitForRegistration } from './relay-fixtures.js';

/** A WebSocket upgrade to `/tunnel/connect` with `headers`; the status, headers and JSON body of a refusal. */
function connectUpgrade(address: string, headers: Record<string, string>): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: unknown }> {
  const [host, port] = splitHostPort(address);
  return new Promise((resolve, reject) => {
    const req = http.request({
      host,
      port,
      path: '/tunnel/connect',
      headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', ...headers },
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: undefined });
    });
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(text) as unknown }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('Relay: HA links and drains', () => {
  it('refuses a second link of one agent instance with 503 ERR_RELAY_LINK_ON_THIS_NODE and keeps serving the first', async (t) => {
    const fx = await startAdminRelay(t);
    const origin = await startOrigin(t);
    const token = await createAgentToken(fx.relay, 'edge-links');
    const instanceId = 'instance-0123456789';
    const registered = waitForRegistration(fx.relay, 'edge-links');
    startAgent(t, { relayUrl: fx.addresses.agentUrl, token, localAddr: origin.addr, instanceId });
    await registered;

    const raw = await connectUpgrade(fx.addresses.agent, { authorization: `Bearer ${token}`, 'x-tunnel-agent-instance': instanceId, 'x-tunnel-link': '1' });
    assert.equal(raw.status, 503, 'refused');
    assert.equal(raw.headers['retry-after'], '1', 'Retry-After: 1, for a load balancer retry');
    assert.equal((raw.body as { error: { code: string } }).error.code, 'ERR_RELAY_LINK_ON_THIS_NODE', 'the code says where to go');

    const failures: Error[] = [];
    const second = startAgent(t, {
      relayUrl: fx.addresses.agentUrl,
      token,
      localAddr: origin.addr,
      instanceId,
      linkIndex: 1,
      hooks: { onDialFailed: (_a, err) => failures.push(err) },
    });
    await waitFor(() => failures.length >= 2, 'the second link refused twice');
    assert.ok(failures.every((e) => e instanceof RelayElsewhereError && e.relayCode === 'ERR_RELAY_LINK_ON_THIS_NODE'), 'our agent reads it as "go elsewhere"');
    await second.client.stop();
    assert.equal(fx.relay.registry.size, 1, 'one session of the agent');
    assert.equal(fx.relay.registry.get('edge-links')?.linkIndex, 0, 'link 0 it is');
    assert.equal((await visit(fx.addresses, '/hello', { agent: 'edge-links' })).status, 200, 'the first link still serves');
  });

  it('POST /api/drain answers 202 with its settings and closes a single relay; the agent hears GoAway(normal) as a move', async (t) => {
    const fx = await startAdminRelay(t);
    const origin = await startOrigin(t);
    const token = await createAgentToken(fx.relay, 'edge-drain');
    const registered = waitForRegistration(fx.relay, 'edge-drain');
    let moved!: (err: Error) => void;
    const released = new Promise<Error>((resolve) => (moved = resolve));
    startAgent(t, { relayUrl: fx.addresses.agentUrl, token, localAddr: origin.addr, hooks: { onSessionReleased: (err) => moved(err) } });
    await registered;

    const refused = await admin(fx.addresses, 'POST', '/api/drain', { token: 'not-the-admin-token-at-all' });
    assert.equal(refused.status, 401, 'a wrong admin token drains nothing');
    assert.equal(fx.relay.isDraining, false, 'not draining');
    assert.equal((await admin(fx.addresses, 'GET', '/readyz', { token: null })).status, 200, 'still ready');

    const res = await admin(fx.addresses, 'POST', '/api/drain', { token: ADMIN_TOKEN });
    assert.equal(res.status, 202, 'accepted');
    assert.deepEqual(res.json, { draining: true, graceMs: 10_000, spreadMs: 0 }, 'a single relay: the close grace, no spread');
    assert.ok((await released) instanceof RelayMovedError, 'the agent was asked to move (GoAway normal)');
    await fx.relay.closed;
    assert.equal(fx.relay.registry.size, 0, 'closed with no session left');
  });
});
