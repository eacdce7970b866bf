/**
 * The dashboard's HTTP side: the page and its files with a strict CSP, never
 * on the public or agent listener; login (the admin token for a session
 * cookie, rate limited like the API), sessions (expiry, logout, forgery,
 * restart), CSRF rules of every action, and actions going through the admin
 * API with their effect. Real relay, real agents, real sockets.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DASHBOARD_CSP, Relay } from '../../src/relay/index.js';
import { systemClock, type Clock } from '../../src/shared/clock.js';
import { Secret } from '../../src/shared/secret.js';
import { ADMIN_TOKEN, admin, metricValue, scrape, startAdminRelay } from './admin-fixtures.js';
import { dashboardCall, loginDashboard, openDashboardEvents } from './dashboard-fixtures.js';
import { BASE_DOMAIN, connectAgent, createAgentToken, startOrigin, visit, waitFor } from './relay-fixtures.js';

describe('Dashboard page and files', () => {
  it('serves the page at / and its files with a strict CSP, from the installed packages', async (t) => {
    const fx = await startAdminRelay(t);
    const page = await admin(fx.addresses, 'GET', '/', { token: null });
    assert.equal(page.status, 200, 'the page needs no session (it shows the login form)');
    assert.match(String(page.headers['content-type']), /^text\/html/);
    assert.equal(page.headers['content-security-policy'], DASHBOARD_CSP, 'strict CSP');
    assert.equal(page.headers['x-frame-options'], 'DENY');
    assert.equal(page.headers['x-content-type-options'], 'nosniff');
    assert.equal(/<script(?![^>]*\bsrc=)[^>]*>/.test(page.text), false, 'no inline script');
    assert.equal(/style=/.test(page.text), false, 'no inline style');
    assert.equal(/https?:\/\//.test(page.text), false, 'nothing from another origin (no CDN)');

    for (const path of ['/dashboard/assets/app.js', '/dashboard/assets/vendor/preact.mjs', '/dashboard/assets/vendor/htm.mjs', '/dashboard/assets/vendor/uplot.mjs']) {
      const r = await admin(fx.addresses, 'GET', path, { token: null });
      assert.equal(r.status, 200, path);
      assert.match(String(r.headers['content-type']), /^text\/javascript/, `${path} is a module script`);
      assert.equal(r.headers['content-security-policy'], DASHBOARD_CSP, `${path} has the CSP`);
      const again = await admin(fx.addresses, 'GET', path, { token: null, headers: { 'if-none-match': String(r.headers.etag) } });
      assert.equal(again.status, 304, `${path} revalidates by ETag`);
    }
    const css = await admin(fx.addresses, 'GET', '/dashboard/assets/vendor/uplot.css', { token: null, headers: { 'accept-encoding': 'gzip' } });
    assert.equal(css.headers['content-encoding'], 'gzip', 'compressed when asked');
    assert.equal((await admin(fx.addresses, 'GET', '/dashboard/assets/../../package.json', { token: null })).status, 404, 'no path out of the assets');
    assert.equal((await admin(fx.addresses, 'GET', '/dashboard/assets/nope.js', { token: null })).json.error.code, 'ERR_ADMIN_NOT_FOUND');
    assert.equal((await admin(fx.addresses, 'POST', '/', { token: null })).status, 405, 'the page is GET only');
  });

  it('is never served by the public or the agent listener', async (t) => {
    for (const shared of [false, true]) {
      const fx = await startAdminRelay(t, { shared });
      for (const path of ['/', '/index.html', '/dashboard/assets/app.js', '/dashboard/api/session']) {
        const r = await visit(fx.addresses, path);
        assert.equal(r.status, 404, `${shared ? 'shared' : 'public'} listener: ${path}`);
        assert.equal(r.body.toString().includes('dashboard'), false, `no dashboard content at ${path}`);
        assert.notEqual(r.headers['content-security-policy'], DASHBOARD_CSP, `not the dashboard's answer at ${path}`);
      }
      const login = await visit(fx.addresses, '/dashboard/api/login', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token: ADMIN_TOKEN }),
      });
      assert.equal(login.status, 404, 'no login on the public side');
      assert.equal(login.headers['set-cookie'], undefined, 'no session cookie from the public side');
    }
  });

  it('is off with adminDashboard: false', async (t) => {
    const fx = await startAdminRelay(t, { adminDashboard: false });
    assert.equal((await admin(fx.addresses, 'GET', '/', { token: null })).json.error.code, 'ERR_ADMIN_NOT_FOUND');
    assert.equal(fx.relay.dashboard, null);
    assert.equal((await admin(fx.addresses, 'GET', '/api/agents')).status, 200, 'the API still works');
  });
});

describe('Dashboard login and sessions', () => {
  it('exchanges the admin token for an HttpOnly, SameSite=Strict session cookie that never holds the token', async (t) => {
    const fx = await startAdminRelay(t);
    assert.deepEqual((await dashboardCall(fx.addresses, 'GET', 'session')).json, { authenticated: false }, 'no session yet');
    const login = await loginDashboard(fx.addresses);
    const attributes = login.setCookie.split(';').map((s) => s.trim());
    assert.ok(attributes.includes('HttpOnly'), 'HttpOnly');
    assert.ok(attributes.includes('SameSite=Strict'), 'SameSite=Strict');
    assert.ok(attributes.some((a) => /^Max-Age=\d+$/.test(a) && Number(a.slice(8)) > 28_000), 'expires with the session (8 h)');
    assert.equal(attributes.includes('Secure'), false, 'not Secure over plain HTTP');
    assert.equal(attributes.some((a) => a.startsWith('Path=')), false, 'no Path: it defaults to /dashboard/api');
    assert.equal(login.setCookie.includes(ADMIN_TOKEN), false, 'the cookie is not the token');
    assert.equal(login.response.text.includes(ADMIN_TOKEN), false, 'the answer does not echo the token');
    assert.equal(fx.logs.some((l) => JSON.stringify(l).includes(ADMIN_TOKEN)), false, 'the token is never logged');
    const session = await dashboardCall(fx.addresses, 'GET', 'session', { login });
    assert.equal(session.json.authenticated, true);
    assert.equal(session.json.csrfToken, login.csrfToken, 'the same CSRF token for the session');
    assert.equal((await admin(fx.addresses, 'GET', '/api/agents', { token: null, headers: { cookie: login.cookie } })).status, 401, 'the cookie does not open the API: scripts use Bearer');
  });

  it('sets Secure when a trusted proxy says the browser came over TLS', async (t) => {
    const fx = await startAdminRelay(t, { trustProxy: ['127.0.0.1'] });
    const r = await dashboardCall(fx.addresses, 'POST', 'login', { body: { token: ADMIN_TOKEN }, headers: { 'x-forwarded-proto': 'https' } });
    assert.equal(r.status, 200);
    assert.ok(String(r.headers['set-cookie']?.[0]).split('; ').includes('Secure'), 'Secure over TLS');
  });

  it('refuses a wrong token with 401, counts it, and rate limits like the admin API', async (t) => {
    const fx = await startAdminRelay(t, { limits: { authRateLimit: { maxFailures: 2, windowMs: 60_000 } } });
    const wrong = await dashboardCall(fx.addresses, 'POST', 'login', { body: { token: 'not-the-admin-token-0000' } });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.json.error.code, 'ERR_ADMIN_UNAUTHORIZED');
    assert.equal(wrong.headers['set-cookie'], undefined, 'no cookie');
    const missing = await dashboardCall(fx.addresses, 'POST', 'login', { body: {} });
    assert.equal(missing.json.error.code, 'ERR_ADMIN_UNAUTHORIZED', 'no token is a wrong token');
    // The API and the login share one limiter.
    const limited = await admin(fx.addresses, 'GET', '/api/agents', { token: 'still-not-the-admin-token' });
    assert.equal(limited.status, 429);
    const limitedLogin = await dashboardCall(fx.addresses, 'POST', 'login', { body: { token: 'not-the-admin-token-0000' } });
    assert.equal(limitedLogin.status, 429, 'login is rate limited too');
    assert.equal(limitedLogin.json.error.code, 'ERR_RELAY_RATE_LIMITED');
    assert.match(String(limitedLogin.headers['retry-after']), /^\d+$/);
    assert.equal((await dashboardCall(fx.addresses, 'POST', 'login', { body: { token: ADMIN_TOKEN } })).status, 200, 'the right token still passes');
    const samples = await scrape(fx.addresses);
    assert.equal(metricValue(samples, 'visiona_tunnel_relay_auth_failures_total', { reason: 'admin_token_invalid' }), 1);
    assert.equal(metricValue(samples, 'visiona_tunnel_relay_auth_failures_total', { reason: 'admin_token_missing' }), 1);
    assert.equal(metricValue(samples, 'visiona_tunnel_relay_auth_failures_total', { reason: 'admin_rate_limited' }), 2);
  });

  it('answers bad login bodies with their codes, and 403 without an admin token', async (t) => {
    const fx = await startAdminRelay(t);
    assert.equal((await dashboardCall(fx.addresses, 'POST', 'login', { body: 'token' })).json.error.code, 'ERR_ADMIN_UNSUPPORTED_MEDIA_TYPE');
    const notJson = await dashboardCall(fx.addresses, 'POST', 'login', { body: '{', headers: { 'content-type': 'application/json' } });
    assert.equal(notJson.json.error.code, 'ERR_ADMIN_BAD_REQUEST');
    assert.equal((await dashboardCall(fx.addresses, 'GET', 'login')).status, 405);
    const off = await startAdminRelay(t, { adminToken: undefined });
    const disabled = await dashboardCall(off.addresses, 'POST', 'login', { body: { token: ADMIN_TOKEN } });
    assert.equal(disabled.status, 403);
    assert.equal(disabled.json.error.code, 'ERR_ADMIN_DISABLED');
  });

  it('refuses forged, tampered and expired session cookies', async (t) => {
    let offsetMs = 0;
    const clock: Clock = { ...systemClock, now: () => Date.now() + offsetMs };
    const fx = await startAdminRelay(t, { clock, adminSessionTtlMs: 60_000 });
    const login = await loginDashboard(fx.addresses);
    const value = login.cookie.slice(login.cookie.indexOf('=') + 1);
    const [v, id, exp, mac] = value.split('.') as [string, string, string, string];
    const otherLast = mac.endsWith('A') ? 'B' : 'A';
    const forged = [`${v}.${id}.${Number(exp) + 3600}.${mac}`, `${v}.${id}.${exp}.${mac.slice(0, -1)}${otherLast}`, 'v1.x.1.y', ''];
    for (const cookie of forged) {
      const r = await dashboardCall(fx.addresses, 'GET', 'agents/edge-none', { login: { ...login, cookie: `vt_dashboard_session=${cookie}` } });
      assert.equal(r.status, 401, `refused: ${cookie}`);
      assert.equal(r.json.error.code, 'ERR_ADMIN_SESSION_REQUIRED');
    }
    assert.equal((await dashboardCall(fx.addresses, 'GET', 'session', { login })).json.authenticated, true);
    offsetMs = 61_000;
    assert.equal((await dashboardCall(fx.addresses, 'GET', 'session', { login })).json.authenticated, false, 'expired after adminSessionTtlMs');
  });

  it('ends the session at logout: the cookie is refused and open event streams end', async (t) => {
    const fx = await startAdminRelay(t);
    const login = await loginDashboard(fx.addresses);
    const other = await loginDashboard(fx.addresses);
    const events = await openDashboardEvents(t, fx.addresses, login);
    const otherEvents = await openDashboardEvents(t, fx.addresses, other);
    await events.next('synced');
    assert.equal((await dashboardCall(fx.addresses, 'POST', 'logout', { login, csrfToken: null })).json.error.code, 'ERR_ADMIN_CSRF_REJECTED', 'logout needs the CSRF token');
    const out = await dashboardCall(fx.addresses, 'POST', 'logout', { login });
    assert.equal(out.status, 200);
    assert.match(String(out.headers['set-cookie']?.[0]), /^vt_dashboard_session=; Max-Age=0;/, 'the cookie is cleared');
    assert.deepEqual(JSON.parse((await events.next('session')).data), { state: 'logged-out' });
    await events.untilEnded();
    assert.equal((await dashboardCall(fx.addresses, 'GET', 'session', { login })).json.authenticated, false, 'refused after logout');
    assert.equal((await dashboardCall(fx.addresses, 'GET', 'events', { login })).status, 401);
    assert.equal(otherEvents.ended, false, 'another session goes on');
    assert.equal((await dashboardCall(fx.addresses, 'GET', 'session', { login: other })).json.authenticated, true);
  });

  it('keeps sessions across a relay restart with the same admin token, not with another', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'dashboard-restart-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const base = { agentListen: '127.0.0.1:0', adminListen: '127.0.0.1:0', baseDomain: BASE_DOMAIN, dbPath: join(dir, 'relay.db') };
    const start = async (token: string) => {
      const relay = new Relay({ ...base, adminToken: new Secret(token) });
      t.after(() => relay.close({ graceMs: 0 }));
      return { relay, addresses: await relay.listen() };
    };
    const first = await start(ADMIN_TOKEN);
    const login = await loginDashboard(first.addresses);
    await first.relay.close({ graceMs: 0 });
    const second = await start(ADMIN_TOKEN);
    assert.equal((await dashboardCall(second.addresses, 'GET', 'session', { login })).json.authenticated, true, 'same token: the session goes on');
    await second.relay.close({ graceMs: 0 });
    const third = await start('another-admin-token-0123456789');
    assert.equal((await dashboardCall(third.addresses, 'GET', 'session', { login })).json.authenticated, false, 'new token: every session ends');
  });
});

describe('Dashboard actions', () => {
  it('refuses actions without the CSRF token or from another site, losing nothing', async (t) => {
    const fx = await startAdminRelay(t);
    const origin = await startOrigin(t);
    await connectAgent(t, fx, 'edge-csrf', origin.addr);
    const id = fx.relay.registry.get('edge-csrf')?.id;
    const login = await loginDashboard(fx.addresses);
    const attempts = [
      { csrfToken: null, headers: {} },
      { csrfToken: 'wrong', headers: {} },
      { csrfToken: login.csrfToken, headers: { 'sec-fetch-site': 'cross-site' } },
      { csrfToken: login.csrfToken, headers: { 'sec-fetch-site': 'same-site' } },
      { csrfToken: login.csrfToken, headers: { origin: 'http://evil.example' } },
    ];
    for (const a of attempts) {
      const r = await dashboardCall(fx.addresses, 'POST', 'agents/edge-csrf/kick', { login, csrfToken: a.csrfToken, headers: a.headers });
      assert.equal(r.status, 403, JSON.stringify(a.headers));
      assert.equal(r.json.error.code, 'ERR_ADMIN_CSRF_REJECTED');
    }
    const noSession = await dashboardCall(fx.addresses, 'POST', 'agents/edge-csrf/kick', { csrfToken: login.csrfToken });
    assert.equal(noSession.json.error.code, 'ERR_ADMIN_SESSION_REQUIRED', 'no cookie: 401 first');
    assert.equal((await dashboardCall(fx.addresses, 'GET', 'agents/edge-csrf/kick', { login })).status, 405, 'actions are POST only');
    assert.equal(fx.relay.registry.get('edge-csrf')?.id, id, 'the agent was never kicked');
    assert.equal((await visit(fx.addresses, '/hello', { agent: 'edge-csrf' })).status, 200, 'and still serves');

    const sameOrigin = { 'sec-fetch-site': 'same-origin', origin: `http://${fx.addresses.admin}` };
    const ok = await dashboardCall(fx.addresses, 'POST', 'agents/edge-csrf/kick', { login, headers: sameOrigin });
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.json, { agent: 'edge-csrf', kicked: 1, connectionIds: [id] }, 'the admin API answered');
  });

  it('kicks, sets the access policy and revokes a token through the admin API', async (t) => {
    const fx = await startAdminRelay(t);
    const origin = await startOrigin(t);
    const agent = await connectAgent(t, fx, 'edge-act', origin.addr);
    const login = await loginDashboard(fx.addresses);

    const offline = await dashboardCall(fx.addresses, 'POST', 'agents/edge-none/kick', { login });
    assert.equal(offline.json.error.code, 'ERR_STORE_NOT_FOUND', 'the API\'s own errors');
    assert.equal((await dashboardCall(fx.addresses, 'POST', 'agents/edge-act/kick?graceMs=x', { login })).json.error.code, 'ERR_ADMIN_BAD_REQUEST');

    const invalid = await dashboardCall(fx.addresses, 'POST', 'agents/edge-act/access', { login, body: { mode: 'nope' } });
    assert.equal(invalid.status, 400);
    assert.equal(invalid.json.error.code, 'ERR_STORE_INVALID_INPUT');
    const set = await dashboardCall(fx.addresses, 'POST', 'agents/edge-act/access', { login, body: { mode: 'private' } });
    assert.deepEqual(set.json, { agent: 'edge-act', policy: { mode: 'private' } });
    assert.equal((await visit(fx.addresses, '/hello', { agent: 'edge-act' })).status, 401, 'the policy applies at once');

    const tokenId = (await dashboardCall(fx.addresses, 'GET', 'agents/edge-act', { login })).json.tokens[0].tokenId as string;
    const down = agent.nextSessionDown();
    const revoked = await dashboardCall(fx.addresses, 'POST', `tokens/${tokenId}/revoke`, { login });
    assert.deepEqual(revoked.json, { tokenId, revoked: true, revokedTokenIds: [tokenId] });
    await down;
    await waitFor(() => fx.relay.registry.get('edge-act') === undefined, 'the revoked session ended');
    assert.ok(fx.logs.some((l) => l.msg === 'admin request' && l.fields.path === `/dashboard/api/tokens/${tokenId}/revoke` && l.fields.status === 200), 'logged as an admin request');
  });

  it('shows an agent\'s detail: sessions, tokens, access, recent requests without query values or credentials', async (t) => {
    const fx = await startAdminRelay(t);
    const origin = await startOrigin(t);
    await connectAgent(t, fx, 'edge-detail', origin.addr);
    const login = await loginDashboard(fx.addresses);
    await visit(fx.addresses, '/hello?access_token=sekrit&x=1', { agent: 'edge-detail', headers: { authorization: 'Bearer visitor-secret', cookie: 'a=b' } });
    await visit(fx.addresses, '/status?code=503', { agent: 'edge-detail' });
    const detail = (await dashboardCall(fx.addresses, 'GET', 'agents/edge-detail', { login })).json;
    assert.equal(detail.agent.online, true);
    assert.equal(detail.sessions.length, 1);
    assert.equal(detail.sessions[0].node, undefined, 'no node outside a cluster');
    assert.equal(detail.tokens.length, 1);
    assert.equal(detail.access.policy.mode, 'public');
    const paths = detail.recentRequests.map((r: { path: string; status: number }) => `${r.path} ${r.status}`);
    assert.deepEqual(paths, ['/status?code=… 503', '/hello?access_token=…&x=… 200'], 'newest first, query values dropped');
    const text = JSON.stringify(detail);
    for (const secret of ['sekrit', 'visitor-secret', 'a=b']) assert.equal(text.includes(secret), false, `${secret} never shown`);
    assert.equal(detail.traffic.requests.reduce((a: number, b: number) => a + b, 0), 2, 'traffic counted');
    assert.equal((await dashboardCall(fx.addresses, 'GET', 'agents/edge-ghost', { login })).json.error.code, 'ERR_STORE_NOT_FOUND');
    assert.equal((await dashboardCall(fx.addresses, 'GET', 'agents/edge-detail')).status, 401, 'needs a session');
  });
});

describe('Dashboard event stream', () => {
  it('sends a snapshot, then deltas as agents come and go, and the overview', async (t) => {
    const fx = await startAdminRelay(t);
    const origin = await startOrigin(t);
    const online = await connectAgent(t, fx, 'edge-one', origin.addr);
    await createAgentToken(fx.relay, 'edge-never', { mode: 'private' });
    const login = await loginDashboard(fx.addresses);
    const events = await openDashboardEvents(t, fx.addresses, login);
    assert.equal(events.status, 200);
    const reset = JSON.parse((await events.next('reset')).data);
    assert.equal(reset.cluster, null, 'no cluster');
    const fields = reset.fields as string[];
    const snapshot = (await events.next('rows')).data;
    const rows = JSON.parse(snapshot).upsert.map((tuple: unknown[]) => Object.fromEntries(fields.map((f, i) => [f, tuple[i]])));
    const byName = Object.fromEntries(rows.map((r: { name: string }) => [r.name, r]));
    assert.equal(byName['edge-one'].state, 'online');
    assert.equal(byName['edge-one'].remoteAddress, '127.0.0.1');
    assert.equal(byName['edge-never'].state, 'offline');
    assert.equal(byName['edge-never'].neverConnected, true);
    assert.equal(byName['edge-never'].accessMode, 'private');
    const synced = JSON.parse((await events.next('synced')).data);
    assert.deepEqual(synced.counts, { total: 2, online: 1, offline: 1, neverConnected: 1 });

    // A refused visitor shows in the errors by code; a wrong agent token in the auth failures.
    assert.equal((await visit(fx.addresses, '/', { agent: 'edge-never' })).status, 401);
    const overview = JSON.parse((await events.next('overview', (e) => JSON.parse(e.data).errorsByCode.ERR_ACCESS_DENIED === 1)).data);
    assert.equal(overview.totalRequests, 1);

    await online.client.stop();
    const delta = await events.next('rows', (e) => e.data.includes('edge-one'));
    const changed = JSON.parse(delta.data).upsert.map((tuple: unknown[]) => Object.fromEntries(fields.map((f, i) => [f, tuple[i]])));
    assert.equal(changed.length, 1, 'only the row that changed');
    assert.equal(changed[0].state, 'offline');
    assert.equal(changed[0].neverConnected, false);

    const created = await admin(fx.addresses, 'POST', '/api/agents/edge-new/tokens');
    assert.equal(created.status, 201);
    await events.next('rows', (e) => e.data.includes('edge-new'));
    await admin(fx.addresses, 'DELETE', '/api/agents/edge-new');
    await events.next('rows', (e) => JSON.parse(e.data).remove.includes('edge-new'));
  });

  it('refuses more than the stream limit with 503', async (t) => {
    const fx = await startAdminRelay(t);
    const login = await loginDashboard(fx.addresses);
    const open = [];
    for (let i = 0; i < 32; i++) open.push(await openDashboardEvents(t, fx.addresses, login));
    assert.ok(open.every((e) => e.status === 200));
    const busy = await dashboardCall(fx.addresses, 'GET', 'events', { login });
    assert.equal(busy.status, 503);
    assert.equal(busy.json.error.code, 'ERR_ADMIN_BUSY');
    open[0]?.close();
    await waitFor(() => fx.relay.dashboard?.eventStreamCount === 31, 'a stream closed');
    assert.equal((await openDashboardEvents(t, fx.addresses, login)).status, 200, 'room again');
  });
});
