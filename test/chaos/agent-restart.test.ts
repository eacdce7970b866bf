/**
 * Chaos scenario 3: the agent process is killed and restarted while 20
 * visitor requests wait for it. The relay holds them for its offline grace
 * (limits.offlineGraceMs, default 10 s) and every one of them succeeds, with
 * the right bytes, once the new agent process is online.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { patternBytes, startOrigin } from '../relay/relay-fixtures.js';
import {
  isAgentState,
  isRelayAgentEvent,
  prepareSingleAgentStore,
  sha256,
  startAgentProcess,
  startRelayProcess,
  visitAgent,
  within,
  type VisitorOutcome,
} from './chaos-fixtures.js';

const AGENT = 'agent-restart';
const WAITING_VISITORS = 20;
const DOWNLOAD_BYTES = 256 * 1024;
const UPLOAD_BYTES = 128 * 1024;

describe('Chaos: agent restarted while visitors wait', () => {
  it('serves all 20 waiting requests, byte-exact, once the new agent process is online', async (t) => {
    const { dbPath, token } = await prepareSingleAgentStore(t, AGENT);
    const origin = await startOrigin(t);
    const relay = await startRelayProcess(t, { dbPath });
    const firstAgent = startAgentProcess(t, { relayUrl: relay.addresses.agentUrl, token, local: origin.addr, name: 'agent-1' });
    await firstAgent.waitForLine(isAgentState('online'), 'the first agent to come online');
    const warmup = await visitAgent(relay.addresses.public, AGENT, '/hello');
    assert.equal(warmup.status, 200, 'the tunnel works before the restart');

    // 1. The agent dies; the relay notices.
    const killedAtMs = Date.now();
    await firstAgent.kill('SIGKILL');
    await relay.proc.waitForLine(isRelayAgentEvent('agent disconnected', AGENT), 'the relay to unregister the agent', 30_000, killedAtMs);

    // 2. Twenty visitors arrive while it is offline: downloads and uploads.
    let sent = 0;
    let allSent!: () => void;
    const requestsSent = new Promise<void>((resolve) => (allSent = resolve));
    const onRequestSent = (): void => {
      sent += 1;
      if (sent === WAITING_VISITORS) allSent();
    };
    const uploads = new Map<number, Buffer>();
    const visitors: Array<Promise<VisitorOutcome>> = [];
    for (let i = 0; i < WAITING_VISITORS; i++) {
      if (i % 2 === 0) {
        visitors.push(visitAgent(relay.addresses.public, AGENT, `/bytes?n=${DOWNLOAD_BYTES}`, { onRequestSent }));
      } else {
        const body = randomBytes(UPLOAD_BYTES);
        uploads.set(i, body);
        visitors.push(visitAgent(relay.addresses.public, AGENT, '/echo', { method: 'POST', body, onRequestSent }));
      }
    }
    await within(requestsSent, 30_000, 'the 20 requests to be sent');

    // 3. A new agent process starts; every waiting request is served.
    const restartedAtMs = Date.now();
    const secondAgent = startAgentProcess(t, { relayUrl: relay.addresses.agentUrl, token, local: origin.addr, name: 'agent-2' });
    const outcomes = await within(Promise.all(visitors), 60_000, 'the 20 waiting visitors');
    await secondAgent.waitForLine(isAgentState('online'), 'the second agent to be online');
    const expectedDownload = sha256(patternBytes(0, DOWNLOAD_BYTES));
    outcomes.forEach((o, i) => {
      assert.equal(o.status, 200, `visitor ${i} gets 200 (got ${String(o.status)} ${String(o.headers['x-tunnel-error'] ?? o.errorCode ?? '')})`);
      assert.equal(o.complete, true, `visitor ${i} gets a complete body`);
      const expected = i % 2 === 0 ? expectedDownload : sha256(uploads.get(i) as Buffer);
      assert.equal(o.sha256, expected, `visitor ${i} gets exactly the expected bytes`);
      assert.ok(o.finishedAtMs >= restartedAtMs, `visitor ${i} was answered only after the new agent started`);
    });
    const waitedMs = outcomes.map((o) => o.finishedAtMs - restartedAtMs);
    t.diagnostic(`20/20 served; answered ${Math.min(...waitedMs)}-${Math.max(...waitedMs)} ms after the new agent process was spawned`);
  });
});
