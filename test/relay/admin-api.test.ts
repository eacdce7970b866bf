/**
 * The admin API's guard and its agent routes, on a real relay with our
 * agent, all on 127.0.0.1 with port 0.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Secret } from '../../src/shared/secret.js';
import { ConfigError } from '../../src/shared/errors.js';
import { Relay } from '../../src/relay/index.js';
import { resolveRelayConfig } from '../../src/relay/relay-config.js';
import { ADMIN_TOKEN, admin, parseMetrics, startAdminRelay } from './admin-fixtures.js';
import { connectAgent, createAgentToken, startAgent, startOrigin, startRelay, visit, waitFor, waitForRegistration } from './relay-fixtures.js';

const AGENT = 'edge-admin';

describe('Admin API guard', () => {
  it('refuses protected routes without the token or with a wrong one (401 JSON), and serves them with it', async (t) => {
    const fx = await startAdminRelay(t);
    for (const path of ['/api/agents', '/api/tokens', '/metrics']) {
      const none = await admin(fx.addresses, 'GET', path, { token: null });
      assert.equal(none.status, 401, `${path} without a token`);
      assert.equal(none.json?.error?.code, 'ERR_ADMIN_UNAUTHORIZED', `${path}: JSON error code`);
      assert.match(String(none.headers['www-authenticate']), /^Bearer /, `${path}: WWW-Authenticate`);
      const wrong = await admin(fx.addresses, 'GET', path, { token: `${ADMIN_TOKEN}x` });
      assert.equal(wrong.status, 401, `${path} with a wrong token`);
      const basic = await admin(fx.addresses, 'GET', path, { token: null, headers: { authorization: `Basic ${Buffer.from(`admin:${ADMIN_TOKEN}`).toString('base64')}` } });
      assert.equal(basic.status, 401, `${path} with the token in another scheme`);
      assert.equal((await admin(fx.addresses, 'GET', path)).status, 200, `${path} with the token`);
    }
    const metrics = await admin(fx.addresses, 'GET', '/metrics');
    assert.match(String(metrics.headers['content-type']), /^text\/plain/, 'metrics in the text format');
    const failures = parseMetrics(metrics.text).filter((s) => s.name.endsWith('auth_failures_total'));
    assert.equal(failures.find((s) => s.labels['reason'] === 'admin_token_missing')?.value, 6, 'missing admin tokens counted');
    assert.equal(failures.find((s) => s.labels['reason'] === 'admin_token_invalid')?.value, 3, 'wrong admin tokens counted');
    assert.ok(!JSON.stringify(fx.logs).includes(ADMIN_TOKEN), 'the admin token is never logged');
  });

  it('serves /healthz and /readyz without a token, and 404 for unknown paths', async (t) => {
    const fx = await startAdminRelay(t);
    assert.equal((await admin(fx.addresses, 'GET', '/healthz', { token: null })).status, 200, 'healthz');
    assert.equal((await admin(fx.addresses, 'GET', '/readyz', { token: null })).status, 200, 'readyz');
    assert.equal((await admin(fx.addresses, 'GET', '/nope', { token: null })).status, 404, 'unknown path');
    const wrongMethod = await admin(fx.addresses, 'DELETE', '/api/agents');
    assert.equal(wrongMethod.status, 405, 'wrong method');
    assert.match(String(wrongMethod.headers['allow']), /GET/, 'Allow lists GET');
  });

  it('rate limits wrong tokens per address, but the right token still passes', async (t) => {
    const fx = await startAdminRelay(t, { limits: { authRateLimit: { maxFailures: 2 } } });
    assert.equal((await admin(fx.addresses, 'GET', '/api/agents', { token: 'guess-1' })).status, 401, 'first guess');
    assert.equal((await admin(fx.addresses, 'GET', '/api/agents', { token: 'guess-2' })).status, 401, 'second guess');
    const limited = await admin(fx.addresses, 'GET', '/api/agents', { token: 'guess-3' });
    assert.equal(limited.status, 429, 'third guess is rate limited');
    assert.ok(Number(limited.headers['retry-after']) > 0, 'with Retry-After');
    assert.equal((await admin(fx.addresses, 'GET', '/api/agents')).status, 200, 'the right token passes');
  });

  it('without an admin token, answers 403 on protected routes and keeps /metrics closed unless made public', async (t) => {
    const closed = await startRelay(t, { adminListen: '127.0.0.1:0' });
    const api = await admin(closed.addresses, 'GET', '/api/agents', { token: 'anything-at-all-here' });
    assert.equal(api.status, 403, 'API disabled');
    assert.equal(api.json?.error?.code, 'ERR_ADMIN_DISABLED', 'with its code');
    assert.equal((await admin(closed.addresses, 'GET', '/metrics', { token: null })).status, 403, 'metrics closed');
    assert.equal((await admin(closed.addresses, 'GET', '/healthz', { token: null })).status, 200, 'health still served');
    assert.ok(closed.logs.some((r) => r.level === 'warn' && r.msg.startsWith('admin listener without an admin token')), 'a warning at listen');

    const open = await startRelay(t, { adminListen: '127.0.0.1:0', adminMetricsPublic: true });
    const metrics = await admin(open.addresses, 'GET', '/metrics', { token: null });
    assert.equal(metrics.status, 200, 'public metrics');
    assert.match(metrics.text, /visiona_tunnel_relay_agents_online 0/, 'with the relay gauges');

    const both = await startAdminRelay(t, { adminMetricsPublic: true });
    assert.equal((await admin(both.addresses, 'GET', '/metrics', { token: null })).status, 200, 'public metrics next to a token');
    assert.equal((await admin(both.addresses, 'GET', '/api/agents', { token: null })).status, 401, 'the API still needs the token');
  });

  it('rejects an admin token that is too short or not a Secret', () => {
    const base = { agentListen: '127.0.0.1:0', baseDomain: 'tunnel.test', dbPath: ':memory:' };
    assert.throws(() => new Relay({ ...base, adminToken: new Secret('short') }), ConfigError, 'short token');
    // 24 hex digits are 96 bits: long enough by the old rule, too weak by issue 14's.
    assert.throws(
      () => new Relay({ ...base, adminToken: new Secret('0123456789abcdef01234567') }),
      (err: unknown) => err instanceof ConfigError && err.code === 'ERR_CONFIG_INVALID' && /at least 128 bits/.test(err.message) && /about 124 bits/.test(err.message),
      'a 96-bit token is refused, naming its estimated strength',
    );
    assert.doesNotThrow(() => resolveRelayConfig({ ...base, adminToken: new Secret('0123456789abcdef0123456789abcdef') }), 'a 128-bit hex token is accepted');
    assert.throws(
      () => new Relay({ ...base, adminToken: 'a-plain-string-token-0123' as unknown as Secret }),
      (err: unknown) => err instanceof ConfigError && !err.message.includes('a-plain-string-token-0123'),
      'a plain string is refused without echoing it',
    );
  });
});

describe('Admin API agents', () => {
  it('lists the connected agent with its session details, and known offline agents', async (t) => {
    const fx = await startAdminRelay(t);
    const origin = await startOrigin(t);
    const registered = waitForRegistration(fx.relay, AGENT);
    startAgent(t, { relayUrl: fx.addresses.agentUrl, token: await createAgentToken(fx.relay, AGENT), localAddr: origin.addr, agentVersion: '1.2.3-test' });
    await registered;
    await createAgentToken(fx.relay, 'edge-idle');
    assert.equal((await visit(fx.addresses, '/hello', { agent: AGENT })).status, 200, 'one request through');

    const res = await admin(fx.addresses, 'GET', '/api/agents');
    assert.equal(res.status, 200, 'listed');
    const byName = new Map((res.json.agents as Array<Record<string, unknown>>).map((a) => [a['name'], a]));
    const online = byName.get(AGENT) as Record<string, unknown>;
    assert.equal(online['online'], true, 'connected agent online');
    assert.equal(online['remoteAddress'], '127.0.0.1', 'remote address');
    assert.equal(online['version'], '1.2.3-test', 'version announced by the agent');
    assert.ok(!Number.isNaN(Date.parse(String(online['since']))), 'since as an ISO time');
    assert.equal(online['requests'], 1, 'requests of the session');
    assert.ok((online['bytesFromAgent'] as number) > 0, 'bytes received from the agent');
    assert.equal(online['streams'], 0, 'no stream open');
    assert.equal(online['accessMode'], 'public', 'access mode');
    assert.equal(online['activeTokens'], 1, 'one active token');
    assert.ok('rttMs' in online, 'RTT field present');
    const idle = byName.get('edge-idle') as Record<string, unknown>;
    assert.equal(idle['online'], false, 'idle agent offline');
    assert.equal(idle['since'], null, 'never seen');

    const one = await admin(fx.addresses, 'GET', `/api/agents/${AGENT}`);
    assert.equal(one.json?.name, AGENT, 'single agent view');
    assert.equal((await admin(fx.addresses, 'GET', '/api/agents/no-such-agent')).status, 404, 'unknown agent');
  });

  it('kicks an agent: its session is closed and the agent redials', async (t) => {
    const fx = await startAdminRelay(t);
    const origin = await startOrigin(t);
    const agent = await connectAgent(t, fx, AGENT, origin.addr);
    const firstId = fx.relay.registry.list()[0]?.id;
    const down = agent.nextSessionDown();
    const back = waitForRegistration(fx.relay, AGENT);
    const res = await admin(fx.addresses, 'POST', `/api/agents/${AGENT}/kick`);
    assert.equal(res.status, 200, 'kicked');
    assert.deepEqual(res.json, { agent: AGENT, kicked: 1, connectionIds: [firstId] }, 'the kicked session');
    await down;
    assert.ok(!fx.relay.registry.connections().some((c) => c.id === firstId), 'the old session is gone from the registry');
    await back;
    assert.notEqual(fx.relay.registry.list()[0]?.id, firstId, 'the agent came back with a new session');
    const listed = await admin(fx.addresses, 'GET', `/api/agents/${AGENT}`);
    assert.equal(listed.json?.online, true, 'online again');
  });

  it('answers 409 when kicking a known agent that is offline, 404 for an unknown one, 400 for a bad grace', async (t) => {
    const fx = await startAdminRelay(t);
    await createAgentToken(fx.relay, AGENT);
    const offline = await admin(fx.addresses, 'POST', `/api/agents/${AGENT}/kick`);
    assert.equal(offline.status, 409, 'offline');
    assert.equal(offline.json?.error?.code, 'ERR_RELAY_AGENT_OFFLINE', 'offline code');
    assert.equal((await admin(fx.addresses, 'POST', '/api/agents/nobody/kick')).status, 404, 'unknown agent');
    assert.equal((await admin(fx.addresses, 'POST', `/api/agents/${AGENT}/kick?graceMs=-1`)).status, 400, 'bad grace');
  });

  it('shows an agent that went away as offline since then', async (t) => {
    const fx = await startAdminRelay(t);
    const origin = await startOrigin(t);
    const agent = await connectAgent(t, fx, AGENT, origin.addr);
    await agent.client.stop();
    await waitFor(() => fx.relay.registry.size === 0, 'the session ended on the relay');
    const res = await admin(fx.addresses, 'GET', `/api/agents/${AGENT}`);
    assert.equal(res.json?.online, false, 'offline');
    assert.ok(!Number.isNaN(Date.parse(String(res.json?.since))), 'offline since a time');
  });
});
