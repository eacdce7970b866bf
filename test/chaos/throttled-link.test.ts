/**
 * Chaos scenario 5: the agent's link to the relay is throttled to 1 MiB/s
 * each way while 50 visitors download and upload at once. Every response is
 * byte-exact (SHA-256 against the expected bytes), and the memory of the
 * relay and agent processes stays bounded: flow control (yamux windows, TCP
 * and WebSocket backpressure) holds the excess at the origin and at the
 * visitors instead of buffering it in the tunnel.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { patternBytes, startOrigin } from '../relay/relay-fixtures.js';
import {
  isAgentState,
  mib,
  prepareSingleAgentStore,
  sha256,
  startAgentProcess,
  startRelayProcess,
  visitAgent,
  within,
} from './chaos-fixtures.js';
import { FaultyProxy } from './faulty-proxy.js';

const AGENT = 'throttled';
const VISITORS = 50;
const LINK_BYTES_PER_SEC = 1024 * 1024;
const DOWNLOAD_BYTES = 160 * 1024;
const UPLOAD_BYTES = 96 * 1024;
/** Allowed growth of each process's peak RSS over its idle RSS; 50 streams x 256 KiB windows is 12.5 MiB. */
const MAX_RSS_GROWTH_KIB = 64 * 1024;

describe('Chaos: throttled agent link with 50 concurrent visitors', () => {
  it('delivers every response byte-exact with bounded relay and agent memory', async (t) => {
    const { dbPath, token } = await prepareSingleAgentStore(t, AGENT);
    const origin = await startOrigin(t);
    const relay = await startRelayProcess(t, { dbPath });
    const proxy = await FaultyProxy.start({ target: relay.addresses.agent });
    t.after(() => proxy.close());
    const agent = startAgentProcess(t, { relayUrl: `ws://${proxy.addr}/tunnel/connect`, token, local: origin.addr });
    await agent.waitForLine(isAgentState('online'), 'the agent to come online through the proxy');
    const warmup = await visitAgent(relay.addresses.public, AGENT, '/hello');
    assert.equal(warmup.status, 200, 'the tunnel works before throttling');
    const idleRelayKiB = relay.proc.rssKiB() as number;
    const idleAgentKiB = agent.rssKiB() as number;

    proxy.throttle(LINK_BYTES_PER_SEC);
    const expectedDownload = sha256(patternBytes(0, DOWNLOAD_BYTES));
    const uploads: Buffer[] = [];
    const startedMs = Date.now();
    const visitors = Array.from({ length: VISITORS }, (_, i) => {
      if (i % 2 === 0) return visitAgent(relay.addresses.public, AGENT, `/bytes?n=${DOWNLOAD_BYTES}`);
      const body = randomBytes(UPLOAD_BYTES);
      uploads[i] = body;
      return visitAgent(relay.addresses.public, AGENT, '/echo', { method: 'POST', body });
    });
    const outcomes = await within(Promise.all(visitors), 90_000, 'the 50 throttled visitors');
    const elapsedMs = Date.now() - startedMs;
    outcomes.forEach((o, i) => {
      assert.equal(o.status, 200, `visitor ${i} gets 200 (got ${String(o.status)} ${String(o.headers['x-tunnel-error'] ?? o.errorCode ?? '')})`);
      assert.equal(o.complete, true, `visitor ${i} gets a complete body`);
      const expected = i % 2 === 0 ? expectedDownload : sha256(uploads[i] as Buffer);
      assert.equal(o.sha256, expected, `visitor ${i} gets exactly the expected bytes`);
    });

    const link = proxy.links.at(-1);
    assert.ok(link !== undefined && link.up.bytesForwarded > (VISITORS / 2) * (DOWNLOAD_BYTES + UPLOAD_BYTES), 'the responses went through the throttled link (agent -> relay)');
    const peakRelayKiB = relay.proc.peakRssKiB() as number;
    const peakAgentKiB = agent.peakRssKiB() as number;
    assert.ok(peakRelayKiB - idleRelayKiB < MAX_RSS_GROWTH_KIB, `relay peak RSS ${mib(peakRelayKiB)} MiB stays within 64 MiB of idle (${mib(idleRelayKiB)} MiB)`);
    assert.ok(peakAgentKiB - idleAgentKiB < MAX_RSS_GROWTH_KIB, `agent peak RSS ${mib(peakAgentKiB)} MiB stays within 64 MiB of idle (${mib(idleAgentKiB)} MiB)`);
    const totalBytes = link.down.bytesForwarded + link.up.bytesForwarded;
    t.diagnostic(
      `50/50 byte-exact; ${mib(totalBytes / 1024)} MiB over the link in ${(elapsedMs / 1000).toFixed(1)} s; ` +
        `peak RSS (VmHWM) relay ${mib(peakRelayKiB)} MiB (idle ${mib(idleRelayKiB)}), agent ${mib(peakAgentKiB)} MiB (idle ${mib(idleAgentKiB)}); ` +
        `proxy queue peak ${mib(Math.max(link.down.peakQueuedBytes, link.up.peakQueuedBytes) / 1024)} MiB`,
    );
  });
});
