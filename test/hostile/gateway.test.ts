/**
 * Hostile clients of the relay's agent gateway (`GET /tunnel/connect`), sent
 * as exact bytes over raw TCP: slowloris upgrades (the head trickled byte by
 * byte, or nothing sent at all) are cut by `headersTimeoutMs` with 408;
 * oversized upgrade heads get 431 and never become a session, even with a
 * valid token; wrong tokens at a high rate from one address get 429 once
 * over the limit while a valid agent still connects and serves; and no
 * token, valid or not, appears in any log line of the relay or the agent.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createSinkLogger, type LogRecord } from '../../src/shared/logger.js';
import {
  createAgentToken,
  startAgent,
  startRelay,
  visit,
  waitFor,
  waitForRegistration,
} from '../relay/relay-fixtures.js';
import { rawExchange, startRecordingService } from './hostile-fixtures.js';

/** The upgrade head an agent sends, with `target` and extra header lines. */
function upgradeRequest(target: string, host: string, extra = ''): string {
  return (
    `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
    `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${extra}\r\n`
  );
}

describe('Relay agent gateway under hostile clients', () => {
  it('cuts slowloris upgrades (head trickled byte by byte, or never sent) with 408 after headersTimeoutMs, while a valid agent connects', async (t) => {
    const fx = await startRelay(t, { limits: { headersTimeoutMs: 1000 } });
    const token = await createAgentToken(fx.relay, 'edge-slow');
    const origin = await startRecordingService(t, 'edge-slow');
    const head = upgradeRequest(`/tunnel/connect?token=${encodeURIComponent(token)}`, fx.addresses.agent);
    // 20 trickled heads (one byte every 50 ms would take ~10 s each) and 5 silent connections.
    const slow = Array.from({ length: 20 }, () => rawExchange(fx.addresses.agent, head, { trickleBytes: 1, trickleIntervalMs: 50 }));
    const silent = Array.from({ length: 5 }, () => rawExchange(fx.addresses.agent, Buffer.alloc(0)));
    const registered = waitForRegistration(fx.relay, 'edge-slow');
    startAgent(t, { relayUrl: fx.addresses.agentUrl, token, localAddr: origin.addr });
    await registered;
    assert.equal((await visit(fx.addresses, '/during-slowloris', { agent: 'edge-slow' })).status, 200, 'the valid agent serves while slowloris connections are open');
    for (const reply of await Promise.all(slow)) {
      assert.ok(reply.closedByServer, 'the relay closed the trickling connection');
      assert.ok(reply.bytesWritten < head.length, `cut before the head was complete (${reply.bytesWritten} of ${head.length} bytes)`);
      assert.equal(reply.status, 408, 'answered 408 Request Timeout');
    }
    for (const reply of await Promise.all(silent)) {
      assert.ok(reply.closedByServer, 'the relay closed the silent connection');
      assert.equal(reply.status, 408, 'answered 408 Request Timeout');
    }
    assert.equal(fx.relay.registry.size, 1, 'only the valid agent is registered');
  });

  it('cuts a slowloris visitor on the public listener the same way', async (t) => {
    const fx = await startRelay(t, { limits: { headersTimeoutMs: 1000 } });
    const head = `GET /a/edge-x/ HTTP/1.1\r\nHost: ${fx.addresses.public}\r\nX-Pad: ${'p'.repeat(200)}\r\n\r\n`;
    const reply = await rawExchange(fx.addresses.public, head, { trickleBytes: 1, trickleIntervalMs: 20 });
    assert.ok(reply.closedByServer && reply.bytesWritten < head.length, 'cut before the head was complete');
    assert.equal(reply.status, 408, 'answered 408 Request Timeout');
  });

  it('refuses oversized upgrade heads with 431 and never opens a session, even with a valid token', async (t) => {
    const fx = await startRelay(t);
    const token = await createAgentToken(fx.relay, 'edge-big');
    const tokenQuery = `/tunnel/connect?token=${encodeURIComponent(token)}`;
    const cases: Array<[string, string]> = [
      ['one 65 KiB header', upgradeRequest(tokenQuery, fx.addresses.agent, `X-Big: ${'b'.repeat(65 * 1024)}\r\n`)],
      ['a 65 KiB target', upgradeRequest(`${tokenQuery}&pad=${'q'.repeat(65 * 1024)}`, fx.addresses.agent)],
      ['3000 headers', upgradeRequest(tokenQuery, fx.addresses.agent, Array.from({ length: 3000 }, (_, i) => `X-H${i}: ${'v'.repeat(20)}\r\n`).join(''))],
      ['a 65 KiB Authorization header', upgradeRequest('/tunnel/connect', fx.addresses.agent, `Authorization: Bearer ${token}${'t'.repeat(65 * 1024)}\r\n`)],
    ];
    for (const [what, request] of cases) {
      const reply = await rawExchange(fx.addresses.agent, request);
      assert.equal(reply.status, 431, `${what}: 431`);
      assert.ok(reply.closedByServer, `${what}: connection closed`);
    }
    const garbage = await rawExchange(fx.addresses.agent, `GET ${tokenQuery} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX: a\0b\r\n\r\n`);
    assert.equal(garbage.status, 400, 'a malformed upgrade head: 400');
    assert.equal(fx.relay.registry.size, 0, 'no session was registered');
  });

  it('answers wrong tokens at a high rate with 401 up to the limit and 429 after it, while a valid agent still connects and serves', async (t) => {
    const maxFailures = 5;
    const fx = await startRelay(t, { limits: { authRateLimit: { maxFailures, windowMs: 60_000 } } });
    const token = await createAgentToken(fx.relay, 'edge-flood');
    const origin = await startRecordingService(t, 'edge-flood');
    const statuses: number[] = [];
    const attacker = async (n: number): Promise<void> => {
      for (let i = 0; i < n; i++) {
        const reply = await rawExchange(fx.addresses.agent, upgradeRequest(`/tunnel/connect?token=vt_guess_${i}_${Math.random().toString(36).slice(2)}`, fx.addresses.agent));
        statuses.push(reply.status);
      }
    };
    // 8 concurrent attackers from 127.0.0.1, 40 guesses each; the valid agent dials in the middle of it.
    const flood = Promise.all(Array.from({ length: 8 }, () => attacker(40)));
    await waitFor(() => statuses.length >= 50, 'the flood to be under way');
    const registered = waitForRegistration(fx.relay, 'edge-flood');
    startAgent(t, { relayUrl: fx.addresses.agentUrl, token, localAddr: origin.addr });
    await registered;
    assert.equal((await visit(fx.addresses, '/during-flood', { agent: 'edge-flood' })).status, 200, 'the valid agent serves during the flood');
    await flood;
    assert.equal(statuses.length, 320, 'every guess was answered');
    assert.equal(statuses.filter((s) => s === 401).length, maxFailures, `exactly ${maxFailures} guesses got 401`);
    assert.equal(statuses.filter((s) => s === 429).length, 320 - maxFailures, 'every other guess got 429');
    const bearer = await rawExchange(fx.addresses.agent, upgradeRequest('/tunnel/connect', fx.addresses.agent, 'Authorization: Bearer vt_guess_bearer\r\n'));
    assert.equal(bearer.status, 429, 'a wrong token in Authorization is limited as well');
    const otherAddress = await rawExchange(fx.addresses.agent, upgradeRequest('/tunnel/connect?token=vt_guess_other', fx.addresses.agent), { localAddress: '127.0.0.3' });
    assert.equal(otherAddress.status, 401, 'another address is not limited by the flood');
    assert.equal(fx.relay.registry.size, 1, 'only the valid agent is registered');
  });

  it('never writes a token from a URL or a header to any log line, whatever the outcome of the upgrade', async (t) => {
    const fx = await startRelay(t, { limits: { authRateLimit: { maxFailures: 2, windowMs: 60_000 }, headersTimeoutMs: 1000 } });
    const token = await createAgentToken(fx.relay, 'edge-quiet');
    const revoked = await createAgentToken(fx.relay, 'edge-revoked');
    await fx.relay.tokens.revokeToken('edge-revoked');
    const origin = await startRecordingService(t, 'edge-quiet');
    const agentLogs: LogRecord[] = [];
    const registered = waitForRegistration(fx.relay, 'edge-quiet');
    startAgent(t, { relayUrl: `${fx.addresses.agentUrl}?region=eu`, token, localAddr: origin.addr, logger: createSinkLogger((r) => agentLogs.push(r)) });
    await registered;
    const guesses = Array.from({ length: 4 }, (_, i) => `vt_logged_guess_${i}_abcdefghijklmnop`);
    const a = fx.addresses.agent;
    // 401 then 429 with tokens in the query and in Authorization, a revoked token, a 404 path, a 431, a 408 and a 400.
    for (const guess of guesses) await rawExchange(a, upgradeRequest(`/tunnel/connect?token=${guess}`, a));
    await rawExchange(a, upgradeRequest('/tunnel/connect', a, `Authorization: Bearer ${guesses[0] as string}x\r\n`));
    await rawExchange(a, upgradeRequest(`/tunnel/connect?token=${encodeURIComponent(revoked)}`, a), { localAddress: '127.0.0.4' });
    await rawExchange(a, upgradeRequest(`/tunnel/other?token=${encodeURIComponent(token)}`, a));
    await rawExchange(a, upgradeRequest(`/tunnel/connect?token=${encodeURIComponent(token)}&x=${'p'.repeat(65 * 1024)}`, a));
    await rawExchange(a, upgradeRequest(`/tunnel/connect?token=${encodeURIComponent(token)}`, a), { trickleBytes: 1, trickleIntervalMs: 30 });
    await rawExchange(a, `GET /tunnel/connect?token=${encodeURIComponent(token)} HTTP/1.1\r\nHost: x\r\nX: a\0b\r\n\r\n`);
    // A visitor URL with the token too (the access log redacts query tokens).
    await visit(fx.addresses, `/hello?token=${encodeURIComponent(token)}&access_token=${encodeURIComponent(token)}`, { agent: 'edge-quiet' });
    await waitFor(() => fx.logs.some((l) => l.msg.includes('visitor')), 'the access log line');
    const text = JSON.stringify([...fx.logs, ...agentLogs]);
    assert.ok(fx.logs.some((l) => l.level === 'warn' && l.fields['status'] === 429), 'the 429 refusals were logged');
    assert.ok(fx.logs.some((l) => l.msg === 'agent connected'), 'the agent connection was logged');
    assert.ok(agentLogs.some((l) => String(l.fields['url'] ?? '').includes('region=eu')), 'the agent logged its connect URL (redacted)');
    for (const [what, value] of [
      ['agent token', token],
      ['revoked token', revoked],
      ...guesses.map((g, i) => [`guess ${i}`, g] as const),
    ] as const) {
      assert.ok(!text.includes(value), `no log line contains the ${what}`);
      assert.ok(!text.includes(encodeURIComponent(value)), `no log line contains the ${what} URL-encoded`);
    }
  });
});
