/**
 * The agent gateway: tokens checked before the upgrade (401 with a JSON
 * body, no WebSocket), both token carriers accepted, failures rate limited
 * per address (429) without locking out valid agents, and tokens never
 * written to any log line.
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { dialWebSocket, HandshakeRejectedError } from '../../src/transport/index.js';
import { createSinkLogger, type LogRecord } from '../../src/shared/logger.js';
import {
  connectAgent,
  createAgentToken,
  splitHostPort,
  startAgent,
  startOrigin,
  startRelay,
  visit,
  waitFor,
  waitForRegistration,
} from './relay-fixtures.js';

/** Sends a WebSocket upgrade for `path` from `localAddress` and returns the status and JSON body (or 101). */
function upgrade(address: string, path: string, headers: Record<string, string> = {}, localAddress = '127.0.0.1'): Promise<{ status: number; body: unknown; headers: http.IncomingHttpHeaders }> {
  const [host, port] = splitHostPort(address);
  return new Promise((resolve, reject) => {
    const req = http.request({
      host,
      port,
      path,
      localAddress,
      headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', ...headers },
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, body: undefined, headers: res.headers });
    });
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text === '' ? undefined : JSON.parse(text), headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('Relay agent gateway', () => {
  it('refuses a missing, unknown or revoked token with 401 and a JSON body, before any upgrade', async (t) => {
    const fx = await startRelay(t);
    const token = await createAgentToken(fx.relay, 'edge-auth');
    const missing = await upgrade(fx.addresses.agent, '/tunnel/connect');
    assert.equal(missing.status, 401, 'missing token: 401');
    assert.deepEqual((missing.body as { error: { code: string } }).error.code, 'ERR_RELAY_TOKEN_MISSING', 'missing token: code');
    const unknown = await upgrade(fx.addresses.agent, '/tunnel/connect?token=vt_0123456789abcdef_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa');
    assert.equal(unknown.status, 401, 'unknown token: 401');
    assert.deepEqual((unknown.body as { error: { code: string } }).error.code, 'ERR_RELAY_TOKEN_INVALID', 'unknown token: code');
    await fx.relay.tokens.revokeToken('edge-auth');
    const revoked = await upgrade(fx.addresses.agent, `/tunnel/connect?token=${encodeURIComponent(token)}`);
    assert.equal(revoked.status, 401, 'revoked token: 401');
    assert.equal(fx.relay.registry.size, 0, 'no session was registered');
  });

  it('accepts the token from ?token= (the Go client) and from Authorization: Bearer', async (t) => {
    const fx = await startRelay(t);
    const token = await createAgentToken(fx.relay, 'edge-carriers');
    const byQuery = await upgrade(fx.addresses.agent, `/tunnel/connect?token=${encodeURIComponent(token)}&other=1`);
    assert.equal(byQuery.status, 101, '?token= accepted, other query parameters ignored');
    const byHeader = await upgrade(fx.addresses.agent, '/tunnel/connect', { authorization: `Bearer ${token}` });
    assert.equal(byHeader.status, 101, 'Authorization: Bearer accepted');
  });

  it('names itself with X-Tunnel-Relay-Version on the 101 and on every refusal', async (t) => {
    const fx = await startRelay(t);
    const token = await createAgentToken(fx.relay, 'edge-version');
    const version = /^visiona-tunnel\/\d+\.\d+\.\d+/;
    const accepted = await upgrade(fx.addresses.agent, `/tunnel/connect?token=${encodeURIComponent(token)}`);
    assert.equal(accepted.status, 101, 'a valid token should be accepted');
    assert.match(String(accepted.headers['x-tunnel-relay-version']), version, 'the 101 should name the relay');
    const refused = await upgrade(fx.addresses.agent, '/tunnel/connect?token=bad');
    assert.equal(refused.status, 401, 'a bad token should be refused');
    assert.match(String(refused.headers['x-tunnel-relay-version']), version, 'the 401 should name the relay too');
  });

  it('answers 429 with Retry-After once an address failed too often, yet still admits a valid token from it', async (t) => {
    const fx = await startRelay(t, { limits: { authRateLimit: { maxFailures: 3, windowMs: 60_000 } } });
    const token = await createAgentToken(fx.relay, 'edge-rl');
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await upgrade(fx.addresses.agent, `/tunnel/connect?token=bad-${i}`)).status);
    assert.deepEqual(statuses, [401, 401, 401, 429, 429], 'three refusals, then rate limited');
    const limited = await upgrade(fx.addresses.agent, '/tunnel/connect?token=bad-again');
    assert.ok(Number(limited.headers['retry-after']) > 0, 'Retry-After set');
    assert.deepEqual((limited.body as { error: { code: string } }).error.code, 'ERR_RELAY_RATE_LIMITED', 'rate-limit code');
    const valid = await upgrade(fx.addresses.agent, `/tunnel/connect?token=${encodeURIComponent(token)}`);
    assert.equal(valid.status, 101, 'a valid token from the same address still connects');
    const otherAddress = await upgrade(fx.addresses.agent, '/tunnel/connect?token=bad', {}, '127.0.0.2');
    assert.equal(otherAddress.status, 401, 'another address is not limited');
  });

  it('shows a refused dial to our agent as a HandshakeRejectedError with the status', async (t) => {
    const fx = await startRelay(t);
    const err = await dialWebSocket(`${fx.addresses.agentUrl}?token=nope`).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof HandshakeRejectedError, 'rejected handshake');
    assert.equal(err.statusCode, 401, 'status 401');
  });

  it('never writes an agent token or a visitor token to any log line', async (t) => {
    const fx = await startRelay(t);
    const origin = await startOrigin(t);
    const secret = 'an-hs256-secret-of-at-least-32-bytes!';
    const token = await createAgentToken(fx.relay, 'edge-logs', { mode: 'jwt', algorithm: 'HS256', secret });
    const agentLogs: LogRecord[] = [];
    const registered = waitForRegistration(fx.relay, 'edge-logs');
    startAgent(t, { relayUrl: `${fx.addresses.agentUrl}?x=1`, token, localAddr: origin.addr, logger: createSinkLogger((r) => agentLogs.push(r)) });
    await registered;
    // A wrong token in the URL too (it is logged as a rejection).
    const wrongToken = 'vt_fedcba9876543210_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb';
    await upgrade(fx.addresses.agent, `/tunnel/connect?token=${wrongToken}`);
    const jwt = await new SignJWT({ agent: 'edge-logs' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('5m').sign(new TextEncoder().encode(secret));
    const visitorToken = 'visitor-query-token-value';
    await visit(fx.addresses, `/hello?access_token=${jwt}&token=${visitorToken}`, { agent: 'edge-logs' });
    await visit(fx.addresses, '/hello', { agent: 'edge-logs', headers: { authorization: `Bearer ${jwt}` } });
    await waitFor(() => fx.logs.filter((l) => l.msg === 'visitor request').length >= 2, 'the access log lines');
    const text = JSON.stringify([...fx.logs, ...agentLogs]);
    assert.ok(fx.logs.some((l) => l.msg === 'agent connected'), 'relay logs were captured');
    assert.ok(fx.logs.some((l) => l.msg === 'visitor request' && String(l.fields['path']).includes('access_token=')), 'URLs with tokens were logged (redacted)');
    for (const [what, value] of [
      ['agent token', token],
      ['wrong agent token', wrongToken],
      ['visitor JWT', jwt],
      ['visitor ?token=', visitorToken],
    ] as const) {
      assert.ok(!text.includes(value), `no log line contains the ${what}`);
    }
  });

  it('our agent connects and is served by name', async (t) => {
    const fx = await startRelay(t);
    const origin = await startOrigin(t);
    const agent = await connectAgent(t, fx, 'edge-named', origin.addr);
    assert.equal((await visit(fx.addresses, '/hello', { agent: 'edge-named' })).status, 200, 'served');
    assert.match(String(agent.client.relayHeaders?.['x-tunnel-relay-version']), /^visiona-tunnel\//, "the agent should keep the relay's 101 headers");
  });
});
