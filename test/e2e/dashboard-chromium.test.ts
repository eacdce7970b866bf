/**
 * The relay's operator dashboard in headless Chromium (Debian's `chromium`,
 * driven by playwright-core), against a real relay with real agents
 * (TunnelClient over WebSocket): login, the table with online, offline and
 * never-connected agents, a live change when an agent disconnects, a kick
 * and its effect, the CSP header, no console error, logout; and the page
 * reconnecting by itself after a relay restart. Screenshots go to
 * test-artifacts/. Skipped, with the reason, without /usr/bin/chromium.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Relay, type DashboardClusterSource } from '../../src/relay/index.js';
import { Secret } from '../../src/shared/secret.js';
import { ADMIN_TOKEN, startAdminRelay } from '../relay/admin-fixtures.js';
import { BASE_DOMAIN, connectAgent, createAgentToken, startOrigin, visit, waitFor } from '../relay/relay-fixtures.js';
import { artifactPath, chromiumSkip as skip, collectConsoleErrors, launchChromium } from './chromium-fixtures.js';

describe('Relay dashboard in headless Chromium', { skip }, () => {
  it('logs in, shows the fleet live, kicks an agent, and logs out', async (t) => {
    const fx = await startAdminRelay(t);
    const origin = await startOrigin(t);
    const kiosk = await connectAgent(t, fx, 'edge-kiosk', origin.addr);
    const camera = await connectAgent(t, fx, 'edge-camera', origin.addr);
    await createAgentToken(fx.relay, 'edge-spare', { mode: 'private' });
    const adminUrl = `http://${fx.addresses.admin}/`;

    const browser = await launchChromium(t);
    const page = await browser.newPage();
    page.setDefaultTimeout(20_000);
    const consoleErrors = collectConsoleErrors(page);

    const response = await page.goto(adminUrl);
    const csp = response?.headers()['content-security-policy'] ?? '';
    assert.match(csp, /script-src 'self'/, 'the page has a strict CSP');
    assert.equal(csp.includes('unsafe-inline'), false, 'no inline script or style allowed');

    // Without a session: the login form, and no agent data.
    await page.getByLabel('Admin token').waitFor();
    assert.equal(await page.locator('#agents').count(), 0, 'no table before login');
    assert.equal((await page.content()).includes('edge-kiosk'), false, 'no agent name before login');

    await page.getByLabel('Admin token').fill(ADMIN_TOKEN);
    await page.getByRole('button', { name: 'Log in' }).click();
    const row = (name: string) => page.locator(`tr[data-agent="${name}"]`);
    await row('edge-kiosk').locator('.pill', { hasText: 'online' }).waitFor();
    await row('edge-camera').locator('.pill', { hasText: 'online' }).waitFor();
    await row('edge-spare').locator('.pill', { hasText: 'offline' }).waitFor();
    assert.match((await row('edge-spare').textContent()) ?? '', /never connected/, 'the spare agent never connected');
    assert.equal(await row('edge-kiosk').locator('td').nth(3).textContent(), '127.0.0.1', 'remote address shown');
    await page.locator('#count-online', { hasText: '2' }).waitFor();
    await page.locator('#count-never', { hasText: '1' }).waitFor();
    assert.equal(await page.locator('#cluster').count(), 0, 'no cluster strip for a single relay');

    // The cookie has no Path: it defaults to the login's folder, /dashboard/api.
    const cookies = await browser.cookies(`${adminUrl}dashboard/api/events`);
    const session = cookies.find((c) => c.name === 'vt_dashboard_session');
    assert.ok(session !== undefined, 'a session cookie was set');
    assert.equal(session.path, '/dashboard/api', 'scoped to the dashboard API');
    assert.equal(session.httpOnly, true, 'HttpOnly');
    assert.equal(session.sameSite, 'Strict', 'SameSite=Strict');
    assert.equal(cookies.some((c) => c.value.includes(ADMIN_TOKEN)), false, 'the admin token is in no cookie');
    const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.documentElement.outerHTML);
    assert.equal(stored.includes(ADMIN_TOKEN), false, 'the admin token is not kept in the page or its storage');

    // A visitor request shows in the agent's detail; search narrows the table.
    assert.equal((await visit(fx.addresses, '/hello?key=secret-value', { agent: 'edge-kiosk' })).status, 200, 'a visitor request through the tunnel');
    await page.getByLabel('Search agents by name').fill('kiosk');
    await page.locator('#agents-count', { hasText: '1 of 3 agents' }).waitFor();
    await row('edge-kiosk').click();
    await page.locator('#recent-requests td', { hasText: '/hello?key=…' }).waitFor();
    assert.equal((await page.locator('#detail').textContent())?.includes('secret-value'), false, 'query values never reach the page');
    await page.getByLabel('Search agents by name').fill('');

    // Live: an agent that disconnects turns offline without a reload.
    await camera.client.stop();
    await row('edge-camera').locator('.pill', { hasText: 'offline' }).waitFor();
    await page.locator('#count-online', { hasText: '1' }).waitFor();

    // Kick, confirmed in a dialog: the session ends and the agent redials.
    const before = fx.relay.registry.get('edge-kiosk')?.id;
    const down = kiosk.nextSessionDown();
    await page.locator('#detail').getByRole('button', { name: 'Kick' }).click();
    const dialog = page.getByRole('dialog', { name: 'Kick edge-kiosk?' });
    await dialog.waitFor();
    await dialog.getByRole('button', { name: 'Kick' }).click();
    await page.locator('#detail-toast', { hasText: 'Kicked: 1 session closed.' }).waitFor();
    await down;
    await waitFor(() => (fx.relay.registry.get('edge-kiosk')?.id ?? before) !== before, 'the agent redialled after the kick');
    assert.ok(fx.logs.some((l) => l.msg === 'agent kicked by admin' && l.fields.agent === 'edge-kiosk'), 'the kick went through the admin API');
    await row('edge-kiosk').locator('.pill', { hasText: 'online' }).waitFor();

    await page.screenshot({ path: artifactPath('dashboard.png') });

    // Logout ends the session: the login form again, and the old cookie is refused.
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByLabel('Admin token').waitFor();
    assert.equal((await browser.cookies()).some((c) => c.name === 'vt_dashboard_session'), false, 'the cookie is gone');
    const reuse = await fetch(`http://${fx.addresses.admin}/dashboard/api/session`, { headers: { cookie: `vt_dashboard_session=${session.value}` } });
    assert.deepEqual(await reuse.json(), { authenticated: false }, 'the logged-out session is refused');
    assert.deepEqual(consoleErrors, [], 'no script, CSP or network error on the page');
    assert.equal(BASE_DOMAIN, 'tunnel.test');
  });

  it('reconnects by itself after a relay restart and says so', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'dashboard-restart-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const options = { agentListen: '127.0.0.1:0', baseDomain: BASE_DOMAIN, dbPath: join(dir, 'relay.db'), adminToken: new Secret(ADMIN_TOKEN) };
    const first = new Relay({ ...options, adminListen: '127.0.0.1:0' });
    t.after(() => first.close({ graceMs: 0 }));
    first.tokens.ensureAgent('edge-restart');
    const admin = (await first.listen()).admin as string;

    const browser = await launchChromium(t);
    const page = await browser.newPage();
    page.setDefaultTimeout(20_000);
    const consoleErrors = collectConsoleErrors(page);
    await page.goto(`http://${admin}/`);
    await page.getByLabel('Admin token').fill(ADMIN_TOKEN);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.locator('tr[data-agent="edge-restart"]').waitFor();

    await first.close({ graceMs: 0 });
    await page.locator('#connection', { hasText: 'reconnecting' }).waitFor();
    // The restarted relay runs in a cluster (a small in-test DashboardClusterSource): the strip appears.
    const cluster: DashboardClusterSource = {
      localNodeId: 'relay-a',
      nodes: () => [
        { id: 'relay-a', state: 'ready', agents: 1, isLocal: true, peerLinks: [{ node: 'relay-b', healthy: true, rttMs: 0.4 }] },
        { id: 'relay-b', state: 'draining', agents: 0, peerLinks: [{ node: 'relay-a', healthy: false }] },
      ],
      onChange: () => () => {},
    };
    const second = new Relay({ ...options, adminListen: admin, dashboardCluster: cluster });
    t.after(() => second.close({ graceMs: 0 }));
    await second.listen();
    await page.locator('#banner', { hasText: 'Reconnected: the relay restarted' }).waitFor();
    await page.locator('#connection', { hasText: 'live' }).waitFor();
    await page.locator('tr[data-agent="edge-restart"]').waitFor();
    await page.locator('#cluster [data-node="relay-b"] .pill', { hasText: 'draining' }).waitFor();
    assert.match((await page.locator('#cluster [data-node="relay-b"]').textContent()) ?? '', /relay-a down/, 'the broken peer link shows');
    await page.screenshot({ path: artifactPath('dashboard-reconnected.png') });
    // While the relay was away the browser logged its failed reconnects; nothing else.
    assert.deepEqual(
      consoleErrors.filter((e) => !/ERR_CONNECTION_REFUSED|ERR_EMPTY_RESPONSE|ERR_INCOMPLETE_CHUNKED_ENCODING|ERR_CONNECTION_RESET/.test(e)),
      [],
      'no script or CSP error',
    );
  });
});
