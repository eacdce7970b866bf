/**
 * Chaos scenario 2: the link between agent and relay turns into a blackhole
 * (both TCP sockets stay open, every byte is dropped, new connections too).
 * With the default keepalive (ping every 10 s, 15 s timeout) the relay
 * unregisters the agent and the agent redials, both within 30 s. A visitor
 * caught on the dead session gets a tunnel error when the relay drops it; a
 * visitor arriving once the agent is unregistered waits the offline grace and
 * then gets 502 ERR_RELAY_AGENT_OFFLINE; none hangs. Once the link heals,
 * the agent is back and serves again.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startOrigin } from '../relay/relay-fixtures.js';
import {
  isAgentState,
  isRelayAgentEvent,
  prepareSingleAgentStore,
  startAgentProcess,
  startRelayProcess,
  visitAgent,
  waitUntil,
  within,
} from './chaos-fixtures.js';
import { FaultyProxy } from './faulty-proxy.js';

const AGENT = 'blackholed';
/** The detection contract: both ends notice a silent link within this. */
const DETECTION_BUDGET_MS = 30_000;
/** Shorter than the default (10 s) only to keep the suite quick; keepalive stays at its defaults. */
const OFFLINE_GRACE_MS = 3_000;

describe('Chaos: blackholed agent link', () => {
  it('is detected by the relay and the agent within 30 s, visitors get 502 after the offline grace, never a hang', async (t) => {
    const { dbPath, token } = await prepareSingleAgentStore(t, AGENT);
    const origin = await startOrigin(t);
    const relay = await startRelayProcess(t, { dbPath, config: { limits: { offlineGraceMs: OFFLINE_GRACE_MS } } });
    const proxy = await FaultyProxy.start({ target: relay.addresses.agent });
    t.after(() => proxy.close());
    const agent = startAgentProcess(t, { relayUrl: `ws://${proxy.addr}/tunnel/connect`, token, local: origin.addr });
    await agent.waitForLine(isAgentState('online'), 'the agent to come online through the proxy');
    const before = await visitAgent(relay.addresses.public, AGENT, '/hello');
    assert.equal(before.status, 200, 'the tunnel works before the fault');

    // 1. Blackhole the link and every later connection.
    const linksBefore = proxy.links.length;
    const blackholedAtMs = Date.now();
    proxy.blackhole();

    // 2. A visitor caught on the dead session.
    const caught = visitAgent(relay.addresses.public, AGENT, '/hello');

    // 3. Both ends notice within the budget.
    const remaining = (): number => Math.max(1, DETECTION_BUDGET_MS - (Date.now() - blackholedAtMs));
    const unregistered = await relay.proc.waitForLine(
      isRelayAgentEvent('agent disconnected', AGENT),
      'the relay to unregister the silent agent',
      remaining(),
      blackholedAtMs,
    );
    const agentDown = await agent.waitForLine((d) => d.msg === 'session ended', 'the agent to end its silent session', remaining(), blackholedAtMs);
    await waitUntil(() => proxy.links.length > linksBefore, 'the agent to redial', remaining());
    const redialAtMs = Date.now();
    assert.equal(unregistered.data.code, 'ERR_MUX_KEEPALIVE_TIMEOUT', 'the relay dropped the agent for its keepalive timeout');
    assert.equal(agentDown.data.code, 'ERR_MUX_KEEPALIVE_TIMEOUT', 'the agent ended the session for its keepalive timeout');

    // 4. The visitor caught on the dead session got an answer, not a hang.
    const caughtOutcome = await within(caught, 10_000, 'the visitor caught on the dead session');
    assert.equal(caughtOutcome.status, 502, `the caught visitor gets 502 (got ${String(caughtOutcome.status)} ${String(caughtOutcome.errorCode)})`);
    assert.equal(caughtOutcome.headers['x-tunnel-error'], 'ERR_RELAY_BAD_GATEWAY', 'with the relay\'s bad-gateway code');

    // 5. A visitor arriving now waits the offline grace, then gets 502 ERR_RELAY_AGENT_OFFLINE.
    const offlineSentAtMs = Date.now();
    const offline = await within(visitAgent(relay.addresses.public, AGENT, '/hello'), OFFLINE_GRACE_MS + 10_000, 'the visitor of the offline agent');
    assert.equal(offline.status, 502, 'the visitor of the offline agent gets 502');
    assert.equal(offline.headers['x-tunnel-error'], 'ERR_RELAY_AGENT_OFFLINE', 'X-Tunnel-Error says the agent is offline');
    assert.ok(offline.finishedAtMs - offlineSentAtMs >= OFFLINE_GRACE_MS - 50, 'it was held for the offline grace first');

    // 6. The link heals: the blackholed dial is reset and the agent comes back.
    const healedAtMs = Date.now();
    proxy.heal();
    proxy.reset();
    await relay.proc.waitForLine(isRelayAgentEvent('agent connected', AGENT), 'the agent to be back on the relay', 60_000, healedAtMs);
    const after = await within(visitAgent(relay.addresses.public, AGENT, '/hello'), 30_000, 'the visitor after healing');
    assert.equal(after.status, 200, 'the tunnel serves again after the link heals');
    t.diagnostic(
      `relay unregistered after ${unregistered.atMs - blackholedAtMs} ms, agent ended its session after ${agentDown.atMs - blackholedAtMs} ms ` +
        `and redialled after ${redialAtMs - blackholedAtMs} ms; caught visitor: ${String(caughtOutcome.status)} ${String(caughtOutcome.headers['x-tunnel-error'])}; ` +
        `offline visitor: 502 after ${offline.finishedAtMs - offlineSentAtMs} ms`,
    );
  });
});
