/**
 * Token and access-policy management through the admin API, checked by what
 * agents and visitors then experience, on a real relay (127.0.0.1, port 0).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ADMIN_MAX_BODY_BYTES } from '../../src/relay/index.js';
import { admin, startAdminRelay } from './admin-fixtures.js';
import { createAgentToken, connectAgent, startOrigin, visit, waitFor } from './relay-fixtures.js';

const AGENT = 'edge-api';

describe('Admin API tokens', () => {
  it('creates a token shown once, which an agent can connect with, and lists it without the secret', async (t) => {
    const fx = await startAdminRelay(t);
    const origin = await startOrigin(t);
    const created = await admin(fx.addresses, 'POST', `/api/agents/${AGENT}/tokens`, { body: { label: 'lab bench' } });
    assert.equal(created.status, 201, 'created');
    assert.equal(created.headers['cache-control'], 'no-store', 'not cached');
    const { token, tokenId } = created.json as { token: string; tokenId: string };
    assert.match(token, /^vt_[0-9a-f]{16}_/, 'an agent token');

    await fx.relay.accessPolicies.setPolicy(AGENT, { mode: 'public' });
    await connectAgent(t, fx, AGENT, origin.addr, token);
    assert.equal((await visit(fx.addresses, '/hello', { agent: AGENT })).status, 200, 'the agent serves visitors with the new token');

    const all = await admin(fx.addresses, 'GET', '/api/tokens');
    const mine = await admin(fx.addresses, 'GET', `/api/agents/${AGENT}/tokens`);
    const filtered = await admin(fx.addresses, 'GET', `/api/tokens?agent=${AGENT}`);
    for (const [what, res] of [['all', all], ['per agent', mine], ['filtered', filtered]] as const) {
      assert.equal(res.status, 200, `${what}: listed`);
      assert.deepEqual(
        (res.json.tokens as Array<Record<string, unknown>>).map((x) => [x['tokenId'], x['label'], x['active']]),
        [[tokenId, 'lab bench', true]],
        `${what}: the token, active, with its label`,
      );
      assert.ok(!res.text.includes(token.slice(20)), `${what}: never the secret`);
    }
    assert.ok(!JSON.stringify(fx.logs).includes(token.slice(20)), 'the secret is never logged');
  });

  it('revokes a token by id: its live session is closed and it no longer authenticates', async (t) => {
    const fx = await startAdminRelay(t);
    const origin = await startOrigin(t);
    const token = await createAgentToken(fx.relay, AGENT);
    const agent = await connectAgent(t, fx, AGENT, origin.addr, token);
    const tokenId = (await fx.relay.tokens.listTokens(AGENT))[0]?.tokenId as string;
    const down = agent.nextSessionDown();

    const res = await admin(fx.addresses, 'DELETE', `/api/tokens/${tokenId}`);
    assert.equal(res.status, 200, 'revoked');
    assert.deepEqual(res.json?.revokedTokenIds, [tokenId], 'that token');
    await down;
    await waitFor(() => fx.relay.registry.size === 0, 'the session is gone');
    await waitFor(() => agent.events.some((e) => e.startsWith('dial_failed:')), 'the agent is refused when it redials');
    const again = await admin(fx.addresses, 'DELETE', `/api/tokens/${tokenId}`);
    assert.deepEqual(again.json?.revokedTokenIds, [], 'revoking twice changes nothing');
    const listed = await admin(fx.addresses, 'GET', '/api/tokens');
    assert.equal(listed.json.tokens[0].active, false, 'listed as inactive');
    assert.equal(typeof listed.json.tokens[0].revokedAt, 'string', 'with its revocation time');
  });

  it('answers 404 for an unknown token id and never revokes by agent name on that route', async (t) => {
    const fx = await startAdminRelay(t);
    await createAgentToken(fx.relay, AGENT);
    assert.equal((await admin(fx.addresses, 'DELETE', '/api/tokens/0123456789abcdef')).status, 404, 'unknown id');
    assert.equal((await admin(fx.addresses, 'DELETE', `/api/tokens/${AGENT}`)).status, 404, 'an agent name is not a token id');
    assert.equal((await fx.relay.tokens.listTokens(AGENT))[0]?.isActive, true, 'the token is still active');
  });

  it('deletes an agent with its tokens', async (t) => {
    const fx = await startAdminRelay(t);
    await createAgentToken(fx.relay, AGENT);
    const res = await admin(fx.addresses, 'DELETE', `/api/agents/${AGENT}`);
    assert.equal(res.status, 200, 'deleted');
    assert.equal(await fx.relay.tokens.getAgent(AGENT), undefined, 'gone from the store');
    assert.equal((await admin(fx.addresses, 'DELETE', `/api/agents/${AGENT}`)).status, 404, 'a second delete finds nothing');
  });
});

describe('Admin API access policies', () => {
  it('sets a policy that the next visitor request reflects', async (t) => {
    const fx = await startAdminRelay(t);
    const origin = await startOrigin(t);
    await connectAgent(t, fx, AGENT, origin.addr);
    assert.equal((await visit(fx.addresses, '/hello', { agent: AGENT })).status, 200, 'public at first');

    const toPrivate = await admin(fx.addresses, 'PUT', `/api/agents/${AGENT}/access`, { body: { mode: 'private' } });
    assert.equal(toPrivate.status, 200, 'policy set');
    assert.deepEqual(toPrivate.json, { agent: AGENT, policy: { mode: 'private' } }, 'echoed back');
    const denied = await visit(fx.addresses, '/hello', { agent: AGENT });
    assert.equal(denied.status, 401, 'private now');
    assert.equal(denied.headers['x-tunnel-error'], 'ERR_ACCESS_DENIED', 'with its code');

    assert.equal((await admin(fx.addresses, 'PUT', `/api/agents/${AGENT}/access`, { body: { mode: 'public' } })).status, 200, 'public again');
    assert.equal((await visit(fx.addresses, '/hello', { agent: AGENT })).status, 200, 'visitors get through again');
    const shown = await admin(fx.addresses, 'GET', `/api/agents/${AGENT}/access`);
    assert.deepEqual(shown.json, { agent: AGENT, policy: { mode: 'public' }, basicUsers: [], visitorTokens: [] }, 'policy shown');
  });

  it('manages basic users and visitor tokens that visitors then use', async (t) => {
    const fx = await startAdminRelay(t);
    const origin = await startOrigin(t);
    await connectAgent(t, fx, AGENT, origin.addr);
    const password = 'correct horse battery staple';
    assert.equal((await admin(fx.addresses, 'PUT', `/api/agents/${AGENT}/access`, { body: { mode: 'basic' } })).status, 200, 'basic mode');
    assert.equal((await admin(fx.addresses, 'PUT', `/api/agents/${AGENT}/access/users/alice`, { body: { password } })).status, 200, 'user set');
    const basic = `Basic ${Buffer.from(`alice:${password}`).toString('base64')}`;
    assert.equal((await visit(fx.addresses, '/hello', { agent: AGENT, headers: { authorization: basic } })).status, 200, 'alice gets in');
    assert.equal((await visit(fx.addresses, '/hello', { agent: AGENT })).status, 401, 'anonymous does not');
    const shown = await admin(fx.addresses, 'GET', `/api/agents/${AGENT}/access`);
    assert.deepEqual(shown.json.basicUsers.map((u: { username: string }) => u.username), ['alice'], 'alice listed');
    assert.ok(!shown.text.includes(password), 'never the password');
    assert.equal((await admin(fx.addresses, 'DELETE', `/api/agents/${AGENT}/access/users/alice`)).status, 200, 'user removed');
    assert.equal((await visit(fx.addresses, '/hello', { agent: AGENT, headers: { authorization: basic } })).status, 401, 'alice is out');

    assert.equal((await admin(fx.addresses, 'PUT', `/api/agents/${AGENT}/access`, { body: { mode: 'bearer' } })).status, 200, 'bearer mode');
    const issued = await admin(fx.addresses, 'POST', `/api/agents/${AGENT}/access/tokens`, { body: { label: 'dashboard' } });
    assert.equal(issued.status, 201, 'visitor token issued');
    const bearer = `Bearer ${issued.json.token as string}`;
    assert.equal((await visit(fx.addresses, '/hello', { agent: AGENT, headers: { authorization: bearer } })).status, 200, 'the visitor token works');
    assert.equal(
      (await admin(fx.addresses, 'DELETE', `/api/agents/${AGENT}/access/tokens/${issued.json.tokenId as string}`)).status,
      200,
      'visitor token removed',
    );
    assert.equal((await visit(fx.addresses, '/hello', { agent: AGENT, headers: { authorization: bearer } })).status, 401, 'and no longer works');
    assert.ok(!JSON.stringify(fx.logs).includes(password), 'the password is never logged');
  });

  it('never shows a JWT secret', async (t) => {
    const fx = await startAdminRelay(t);
    await createAgentToken(fx.relay, AGENT);
    const secret = 'a-jwt-secret-of-at-least-thirty-two-bytes!';
    const set = await admin(fx.addresses, 'PUT', `/api/agents/${AGENT}/access`, { body: { mode: 'jwt', algorithm: 'HS256', secret, issuer: 'me' } });
    assert.equal(set.status, 200, 'jwt policy set');
    const shown = await admin(fx.addresses, 'GET', `/api/agents/${AGENT}/access`);
    assert.equal(shown.json.policy.issuer, 'me', 'issuer shown');
    assert.equal(shown.json.policy.secret, '[secret]', 'secret masked');
    assert.ok(!set.text.includes(secret) && !shown.text.includes(secret), 'the secret in no response');
  });

  it('refuses bad policies (400 naming the field), oversized bodies (413), non-JSON (415) and unknown agents (404)', async (t) => {
    const fx = await startAdminRelay(t);
    await createAgentToken(fx.relay, AGENT);
    const path = `/api/agents/${AGENT}/access`;
    const bad = await admin(fx.addresses, 'PUT', path, { body: { mode: 'wide-open' } });
    assert.equal(bad.status, 400, 'unknown mode');
    assert.equal(bad.json?.error?.code, 'ERR_STORE_INVALID_INPUT', 'validation code');
    assert.match(bad.json?.error?.message, /policy\.mode/, 'names the field');
    assert.equal((await admin(fx.addresses, 'PUT', path, { body: '{"mode":', headers: { 'content-type': 'application/json' } })).status, 400, 'broken JSON');
    assert.equal((await admin(fx.addresses, 'PUT', path)).status, 400, 'no body');
    const huge = Buffer.alloc(ADMIN_MAX_BODY_BYTES + 1, 0x20);
    const tooLarge = await admin(fx.addresses, 'PUT', path, { body: huge, headers: { 'content-type': 'application/json' } });
    assert.equal(tooLarge.status, 413, 'body over 64 KiB');
    assert.equal(tooLarge.json?.error?.code, 'ERR_ADMIN_BODY_TOO_LARGE', 'with its code');
    const chunked = await admin(fx.addresses, 'PUT', path, { body: huge, headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } });
    assert.equal(chunked.status, 413, 'chunked body over 64 KiB, without Content-Length');
    const text = await admin(fx.addresses, 'PUT', path, { body: 'mode=public', headers: { 'content-type': 'text/plain' } });
    assert.equal(text.status, 415, 'not JSON');
    assert.equal((await admin(fx.addresses, 'PUT', '/api/agents/nobody/access', { body: { mode: 'public' } })).status, 404, 'unknown agent');
    assert.equal((await fx.relay.accessPolicies.getPolicyConfig(AGENT))?.mode, 'public', 'the policy is unchanged');
  });
});
