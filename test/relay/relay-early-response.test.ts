/**
 * Our relay when the device answers before the request body ended (an early
 * 413), and the tunnel capabilities both ends announce. The unread rest of a
 * visitor's body is skipped when small (the connection carries the next
 * request) and otherwise the connection is closed gracefully: the visitor
 * reads the whole answer, then a FIN, never a reset. Also: requests Node's
 * parser refuses get `X-Tunnel-Error`.
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { CAPABILITIES_HEADER } from '../../src/http/tunnel-headers.js';
import { dialWebSocket } from '../../src/transport/index.js';
import { Session } from '../../src/mux/index.js';
import { chunkedBody, formatRequest, headerValue, RawHttpConnection } from '../helpers/raw-http-client.js';
import { listenOnLoopback } from '../helpers/loopback.js';
import { BASE_DOMAIN, CleanupScope, connectAgent, createAgentToken, startRelay, waitForRegistration, type AgentFixture, type RelayFixture } from './relay-fixtures.js';

const AGENT = 'edge-early';
const HOST = `${AGENT}.${BASE_DOMAIN}`;
const KiB = 1024;
const GiB = 1024 * 1024 * KiB;

/** Writes `chunk` again and again, as an uploader that does not look at answers, until the connection ends or `maxBytes` went out; returns the bytes written. */
async function uploadUntilEnded(c: RawHttpConnection, chunk: Buffer, maxBytes: number): Promise<number> {
  let written = 0;
  while (!c.ended && written < maxBytes) {
    try {
      await c.write(chunk);
    } catch {
      break;
    }
    written += chunk.length;
  }
  return written;
}

describe('Our relay when the device answers before the request body ended', () => {
  const scope = new CleanupScope();
  let fx: RelayFixture;
  let agent: AgentFixture;

  before(async () => {
    fx = await startRelay(scope);
    // The local service answers /early at once, without reading the body (Node then drains it itself).
    const server = http.createServer((req, res) => {
      if (req.url === '/early') {
        res.writeHead(413, { 'Content-Length': 9 });
        res.end('too big!\n');
        return;
      }
      req.resume();
      req.on('end', () => res.end('hello\n'));
    });
    const port = await listenOnLoopback(scope, server);
    agent = await connectAgent(scope, fx, AGENT, `127.0.0.1:${port}`);
  });
  after(() => scope.run());

  it('skips a small unread rest (<= 256 KiB): the connection carries the next request', { timeout: 30_000 }, async () => {
    const c = await RawHttpConnection.connect(scope, fx.addresses.public);
    await c.write(formatRequest('/early', { method: 'POST', headers: [['Host', HOST], ['Content-Length', String(100 * KiB)]], body: Buffer.alloc(10 * KiB, 1) }));
    const early = await c.readResponse('POST');
    assert.equal(early.status, 413, 'the early answer');
    assert.equal(early.body.toString(), 'too big!\n', 'its body');
    assert.equal(headerValue(early.headers, 'connection'), 'keep-alive', 'the connection is kept');
    await c.write(Buffer.alloc(90 * KiB, 2));
    const next = await c.exchange('/hello', { headers: [['Host', HOST]] });
    assert.equal(next.final.body.toString(), 'hello\n', 'the next request on the same connection is answered');
  });

  it('closes the connection gracefully when more than 256 KiB are unread: the whole answer, then a FIN', { timeout: 30_000 }, async () => {
    const c = await RawHttpConnection.connect(scope, fx.addresses.public);
    await c.write(formatRequest('/early', { method: 'POST', headers: [['Host', HOST], ['Content-Length', String(GiB)]], body: Buffer.alloc(64 * KiB, 1) }));
    const early = await c.readResponse('POST');
    assert.equal(early.status, 413, 'the early answer');
    assert.equal(early.body.toString(), 'too big!\n', 'complete');
    const written = await uploadUntilEnded(c, Buffer.alloc(64 * KiB, 2), GiB);
    assert.ok(written < GiB - 64 * KiB, `the relay closed before it read the whole 1 GiB (${written} bytes more went out)`);
    const rest = await c.waitForEnd();
    assert.equal(rest.length, 0, 'nothing after the answer');
    assert.equal(c.error, undefined, 'ended by a FIN, not a reset');
  });

  it('closes a chunked upload once more than 256 KiB of its rest were read and dropped', { timeout: 30_000 }, async () => {
    const c = await RawHttpConnection.connect(scope, fx.addresses.public);
    await c.write(formatRequest('/early', { method: 'POST', headers: [['Host', HOST], ['Transfer-Encoding', 'chunked']], body: '4000\r\n' + 'a'.repeat(0x4000) + '\r\n' }));
    const early = await c.readResponse('POST');
    assert.equal(early.status, 413, 'the early answer');
    // The rest keeps coming (never its last chunk), as from a client that does not look at answers while it uploads.
    const chunk = chunkedBody([Buffer.alloc(64 * KiB, 3)]).subarray(0, -5);
    const written = await uploadUntilEnded(c, chunk, GiB);
    assert.ok(written < GiB, `the relay closed the connection (after ${written} more bytes)`);
    await c.waitForEnd();
    assert.equal(c.error, undefined, 'closed with a FIN');
  });

  it("negotiates interim-responses: the relay's 101 names it, and the agent's connection keeps it", () => {
    assert.equal(agent.client.relayHeaders?.[CAPABILITIES_HEADER.toLowerCase()], 'interim-responses', "the relay's 101");
    assert.deepEqual([...(fx.relay.registry.get(AGENT)?.capabilities ?? [])], ['interim-responses'], 'what both ends share');
  });

  it('a connect request without X-Tunnel-Capabilities (a Go agent) gets none', { timeout: 30_000 }, async () => {
    const name = 'edge-plain';
    const token = await createAgentToken(fx.relay, name);
    const registered = waitForRegistration(fx.relay, name);
    const duplex = await dialWebSocket(new URL(`${fx.addresses.agentUrl}?token=${encodeURIComponent(token)}`), {});
    const session = new Session(duplex, { role: 'client' });
    scope.after(() => session.close({ graceMs: 0 }));
    await registered;
    assert.equal(duplex.upgradeHeaders[CAPABILITIES_HEADER.toLowerCase()], 'interim-responses', 'the relay still says what it can do');
    assert.equal(fx.relay.registry.get(name)?.capabilities.size, 0, 'but uses nothing the agent did not name');
  });

  it('answers requests the parser refuses with X-Tunnel-Error', { timeout: 30_000 }, async () => {
    const malformed = await RawHttpConnection.connect(scope, fx.addresses.public);
    const bad = await malformed.exchange('/x', { headers: [['Host', HOST], ['X-A', 'a\u0000b']] });
    assert.equal(bad.final.status, 400, '400');
    assert.equal(headerValue(bad.final.headers, 'x-tunnel-error'), 'ERR_RELAY_BAD_REQUEST', 'ERR_RELAY_BAD_REQUEST');
    await malformed.waitForEnd();
    const big = await RawHttpConnection.connect(scope, fx.addresses.public);
    const huge = await big.exchange('/x', { headers: [['Host', HOST], ['X-Big', 'b'.repeat(65 * KiB)]] });
    assert.equal(huge.final.status, 431, '431');
    assert.equal(headerValue(huge.final.headers, 'x-tunnel-error'), 'ERR_RELAY_HEADERS_TOO_LARGE', 'ERR_RELAY_HEADERS_TOO_LARGE');
    await big.waitForEnd();
  });
});
