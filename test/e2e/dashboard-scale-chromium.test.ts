/**
 * The dashboard with 10 000 agents, each a real agent session: a relay (in
 * this process) with a store of 10 000 agents, and a load generator process
 * (bench/agents/load-generator.ts: our dial and mux per agent, keepalive
 * every 10 s) holding a session for each. In Chromium it measures the first
 * paint of the full table after login and one update (an agent kicked
 * through the API until its row shows offline), and prints both; there is
 * no timing assertion (speed belongs to bench/), only that they happen.
 * Skipped without Chromium.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { prepareStore } from '../../bench/agents/agent-fixtures.js';
import type { LoadGeneratorCommand } from '../../bench/agents/bench-agents-types.js';
import { ChildHandle } from '../../bench/agents/child-handle.js';
import { Relay } from '../../src/relay/index.js';
import { Secret } from '../../src/shared/secret.js';
import { ADMIN_TOKEN, admin } from '../relay/admin-fixtures.js';
import { BASE_DOMAIN, waitFor } from '../relay/relay-fixtures.js';
import { artifactPath, chromiumSkip as skip, collectConsoleErrors, launchChromium } from './chromium-fixtures.js';

const AGENTS = Number(process.env.DASHBOARD_SCALE_AGENTS ?? 10_000);
const LOAD_GENERATOR = fileURLToPath(new URL('../../bench/agents/load-generator.ts', import.meta.url));

describe('Relay dashboard with 10 000 agents in headless Chromium', { skip }, () => {
  it('paints the full table and one update, and reports both', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'dashboard-scale-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const store = await prepareStore(dir, AGENTS);
    const relay = new Relay({
      agentListen: '127.0.0.1:0',
      adminListen: '127.0.0.1:0',
      adminToken: new Secret(ADMIN_TOKEN),
      baseDomain: BASE_DOMAIN,
      dbPath: store.dbPath,
    });
    t.after(() => relay.close({ graceMs: 0 }));
    const addresses = await relay.listen();

    const generator = new ChildHandle<LoadGeneratorCommand>('load-generator', LOAD_GENERATOR, {
      relayUrl: addresses.agentUrl,
      tokensFile: store.tokensFile,
      localAddresses: ['127.0.0.2', '127.0.0.3', '127.0.0.4'],
      dialConcurrency: 100,
      keepAliveIntervalMs: 10_000,
    });
    t.after(() => generator.stop());
    await generator.ready;
    const rampStartMs = performance.now();
    await generator.request({ op: 'connectAll', timeoutMs: 240_000 }, 250_000);
    await waitFor(() => relay.registry.size === AGENTS, `${AGENTS} agent sessions registered`, 60_000);
    const rampMs = performance.now() - rampStartMs;

    const browser = await launchChromium(t, { width: 1440, height: 900 });
    const page = await browser.newPage();
    page.setDefaultTimeout(60_000);
    const consoleErrors = collectConsoleErrors(page);
    await page.goto(`http://${addresses.admin}/`);
    await page.getByLabel('Admin token').fill(ADMIN_TOKEN);
    const loginAtMs = await page.evaluate(() => performance.now());
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.locator('#agents-count', { hasText: `${(AGENTS + 1).toLocaleString('en-US')} of ${(AGENTS + 1).toLocaleString('en-US')} agents` }).waitFor();
    await page.waitForFunction(() => (window as unknown as { __dashboardMarks: { syncedAtMs: number | null } }).__dashboardMarks.syncedAtMs !== null);
    const syncedAtMs = await page.evaluate(() => (window as unknown as { __dashboardMarks: { syncedAtMs: number } }).__dashboardMarks.syncedAtMs);
    await page.locator('#count-online', { hasText: AGENTS.toLocaleString('en-US') }).waitFor();
    const rendered = await page.locator('#agents tbody tr.agent').count();
    assert.ok(rendered > 0 && rendered < 200, `the table is virtualised (${rendered} rows in the DOM for ${AGENTS + 1})`);

    // One update: kick the first agent; its row turns offline without a reload.
    await page.getByLabel('Search agents by name').fill('idle-00001');
    const row = page.locator('tr[data-agent="idle-00001"]');
    await row.locator('.pill', { hasText: 'online' }).waitFor();
    const kickAtMs = await page.evaluate(() => performance.now());
    assert.equal((await admin(addresses, 'POST', '/api/agents/idle-00001/kick')).status, 200);
    await row.locator('.pill', { hasText: 'offline' }).waitFor();
    const updatedAtMs = await page.evaluate(() => performance.now());
    await page.getByLabel('Search agents by name').fill('');
    await page.screenshot({ path: artifactPath('dashboard-10000-agents.png') });

    const heapMiB = (process.memoryUsage().heapUsed / 1048576).toFixed(0);
    console.log(
      `dashboard scale: ${AGENTS} agent sessions (ramp ${(rampMs / 1000).toFixed(1)} s); ` +
        `first paint of the full table after login: ${Math.round(syncedAtMs - loginAtMs)} ms; ` +
        `one update (kick -> row offline in the page): ${Math.round(updatedAtMs - kickAtMs)} ms; ` +
        `${rendered} table rows in the DOM; test process heap ${heapMiB} MiB`,
    );
    assert.deepEqual(consoleErrors, [], 'no script or CSP error');
  });
});
