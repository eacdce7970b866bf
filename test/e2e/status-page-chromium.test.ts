/**
 * The agent's status page in headless Chromium (Debian's `chromium`, driven
 * by playwright-core): it shows the state, a request made through the
 * tunnel appears live, its headers show on click (credentials masked), and
 * Replay shows the local service's answer. Skipped, with the reason, when
 * /usr/bin/chromium is absent (scripts/install-system-deps.sh installs it).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { visit } from '../relay/relay-fixtures.js';
import { startStatusStack } from '../agent/status-fixtures.js';
import { artifactPath, chromiumSkip as skip, collectConsoleErrors, launchChromium as launch } from './chromium-fixtures.js';

describe('Status page in headless Chromium', { skip }, () => {
  it('shows the state, a request through the tunnel with its headers, and a replay result', async (t) => {
    const fx = await startStatusStack(t);
    const browser = await launch(t);
    const page = await browser.newPage();
    page.setDefaultTimeout(20_000);
    const consoleErrors = collectConsoleErrors(page);

    await page.goto(fx.url);
    await page.locator('#state', { hasText: 'online' }).waitFor();
    assert.equal(await page.locator('#state').getAttribute('class'), 'pill online', 'the state pill has the online colour');
    assert.equal(await page.locator('#relay').textContent(), `${fx.relayFx.addresses.agentUrl}?token=[redacted]`, 'the relay URL, token redacted');
    assert.match((await page.locator('#visitor').textContent()) ?? '', /\/a\/edge-status\/$/, 'the visitor URL');

    const visited = await visit(fx.relayFx.addresses, `/a/${fx.agentName}/hello?from=chromium`, {
      headers: { authorization: 'Bearer page-secret', 'x-demo': 'shown' },
    });
    assert.equal(visited.status, 200, 'the visitor request went through the tunnel');
    const row = page.locator('#requests tr', { hasText: '/hello?from=chromium' });
    await row.waitFor();
    assert.equal(await row.locator('td').nth(1).textContent(), 'GET', 'the row shows the method');
    assert.equal(await row.locator('td').nth(3).textContent(), '200', 'the row shows the status');
    await page.locator('#served', { hasText: '1' }).waitFor();

    await row.click();
    const detail = page.locator('#detail.shown');
    await detail.waitFor();
    const headersText = (await page.locator('#detail-headers').textContent()) ?? '';
    assert.match(headersText, /x-demo\s*shown/i, 'the request headers show on click');
    assert.match(headersText, /authorization\s*Bearer \[masked\]/i, 'the credential is masked');
    assert.equal(headersText.includes('page-secret'), false, 'the secret never reaches the page');

    const before = fx.origin.requests.length;
    await row.getByRole('button', { name: 'Replay' }).click();
    await row.locator('.replay-result', { hasText: '→ 200' }).waitFor();
    assert.equal(fx.origin.requests.length, before + 1, 'the local service saw the replay');
    assert.equal(fx.origin.requests.at(-1)?.headers.authorization, 'Bearer page-secret', 'replayed with the original credential');

    await page.screenshot({ path: artifactPath('status-page.png'), fullPage: true });
    assert.deepEqual(consoleErrors, [], 'no script or CSP error on the page');
  });
});
