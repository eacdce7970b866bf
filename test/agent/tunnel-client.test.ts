import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as net from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { WebSocket } from 'ws';
import { TunnelClient } from '../../src/agent/tunnel-client.js';
import { AgentAuthRejectedError, RelayDisconnectedError } from '../../src/agent/errors.js';
import type { TunnelClientOptions } from '../../src/agent/tunnel-client-config.js';
import { Flag, FrameType, GoAwayCode, GoAwayError, KeepAliveTimeoutError, encodeHeader } from '../../src/mux/index.js';
import { HookRecorder, readAll, startLocalService, startTestRelay } from './agent-fixtures.js';
import { listenOnLoopback } from '../helpers/loopback.js';

function client(t: TestContext, options: Partial<TunnelClientOptions> & Pick<TunnelClientOptions, 'relayUrl'>) {
  const c = new TunnelClient({ token: 'tok-123', localAddr: '127.0.0.1:9', jitterRatio: 0, ...options });
  t.after(() => c.stop());
  return c;
}

/** A started client whose session is up with a raw in-test relay (no retry within the test); the relay's socket is the test's. */
async function connectToRawRelay(t: TestContext): Promise<{ rec: HookRecorder; ws: WebSocket }> {
  const relay = await startTestRelay(t, { mode: 'raw' });
  const rec = new HookRecorder();
  const c = client(t, { relayUrl: relay.url, hooks: rec.hooks, backoffInitialMs: 60_000, backoffMaxMs: 60_000 });
  c.start();
  const ws = await relay.socket(1);
  await rec.waitForCount('up', 1);
  return { rec, ws };
}

describe('TunnelClient', () => {
  it('dials with ?token= added to the other query parameters, a Bearer header and the agent version', async (t) => {
    const relay = await startTestRelay(t);
    const rec = new HookRecorder();
    const c = client(t, { relayUrl: `${relay.url}?region=eu`, agentVersion: '1.2.3', hooks: rec.hooks });
    c.start();
    await rec.waitForCount('up', 1);
    const seen = relay.upgrades[0];
    assert.equal(seen?.url, '/tunnel/connect?region=eu&token=tok-123', 'token added, other parameters kept');
    assert.equal(seen?.headers.authorization, 'Bearer tok-123', 'Authorization: Bearer');
    assert.equal(seen?.headers['x-tunnel-agent-version'], '1.2.3', 'agent version header');
  });

  it('forwards a stream the relay opens to the local service and ends it after the response', async (t) => {
    const local = await startLocalService(t, (req, res) => {
      res.setHeader('X-Seen-Host', req.headers.host ?? '');
      res.end(`hello ${req.url}`);
    });
    const relay = await startTestRelay(t);
    const rec = new HookRecorder();
    const c = client(t, { relayUrl: relay.url, localAddr: local.addr, hooks: rec.hooks });
    c.start();
    const session = await relay.session(1);
    await rec.waitForCount('up', 1);
    const stream = session.openStream();
    stream.end('GET /x?y=1 HTTP/1.1\r\nHost: visitor.example\r\n\r\n');
    const response = (await readAll(stream)).toString('latin1');
    assert.match(response, /^HTTP\/1\.1 200 /, 'status line from the local service');
    assert.match(response, /\r\nX-Seen-Host: visitor\.example\r\n/i, 'visitor Host preserved');
    assert.ok(response.endsWith('hello /x?y=1'), 'body from the local service');
  });

  it('reports a 401 refusal as AgentAuthRejectedError with the status, then backs off', async (t) => {
    const relay = await startTestRelay(t, { rejectStatus: 401 });
    const rec = new HookRecorder();
    const c = client(t, { relayUrl: relay.url, hooks: rec.hooks, backoffInitialMs: 60_000, backoffMaxMs: 60_000 });
    c.start();
    await rec.waitForCount('retry', 1);
    const failed = rec.of('failed')[0];
    assert.ok(failed?.err instanceof AgentAuthRejectedError, `AgentAuthRejectedError, got ${failed?.err.name}`);
    assert.equal(failed.err.statusCode, 401, 'statusCode 401');
    assert.equal(failed.err.code, 'ERR_AGENT_AUTH_REJECTED', 'code ERR_AGENT_AUTH_REJECTED');
    assert.deepEqual(rec.of('retry').map((r) => r.delayMs), [60_000], 'one retry scheduled with the configured delay');
  });

  it('aborts a stalled handshake at once on stop()', async (t) => {
    const stalled = net.createServer(() => {});
    const port = await listenOnLoopback(t, stalled);
    const rec = new HookRecorder();
    const c = client(t, { relayUrl: `ws://127.0.0.1:${port}/tunnel/connect`, hooks: rec.hooks, handshakeTimeoutMs: 600_000 });
    const accepted = once(stalled, 'connection');
    c.start();
    await accepted;
    await c.stop();
    assert.equal(rec.of('failed').length, 0, 'an aborted dial is not a failure');
    assert.equal(rec.of('retry').length, 0, 'no retry after stop');
  });

  it('sends the WebSocket close frame and waits for the close handshake before stop() resolves', async (t) => {
    const relay = await startTestRelay(t);
    const rec = new HookRecorder();
    const c = client(t, { relayUrl: relay.url, hooks: rec.hooks });
    c.start();
    const ws = await relay.socket(1);
    await rec.waitForCount('up', 1);
    const closed = once(ws, 'close');
    await c.stop();
    assert.ok(ws.readyState === WebSocket.CLOSING || ws.readyState === WebSocket.CLOSED, 'the relay had the close frame when stop() resolved');
    const [code] = (await closed) as [number];
    assert.equal(code, 1000, 'close code 1000');
    const last = rec.events.at(-1);
    assert.equal(last?.hook, 'down', 'the last hook is onSessionDown');
    assert.equal(last.hook === 'down' ? last.err : 'missing', undefined, 'onSessionDown(undefined) for our own stop');
  });

  it('resolves stop() only after the local connections it opened are closed', async (t) => {
    let localSockets = 0;
    const local = await startLocalService(t, (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.write('partial');
    });
    local.server.on('connection', (s: net.Socket) => {
      localSockets += 1;
      s.once('close', () => (localSockets -= 1));
    });
    const relay = await startTestRelay(t);
    const rec = new HookRecorder();
    const c = client(t, { relayUrl: relay.url, localAddr: local.addr, hooks: rec.hooks });
    c.start();
    const session = await relay.session(1);
    const stream = session.openStream();
    stream.on('error', () => {});
    stream.write('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n');
    await once(stream, 'data');
    assert.equal(c.activeStreams, 1, 'one stream being served');
    await c.stop();
    assert.equal(c.activeStreams, 0, 'no stream left after stop');
    await new Promise<void>((resolve) => {
      const check = (): void => (localSockets === 0 ? resolve() : void setImmediate(check));
      check();
    });
    assert.equal(localSockets, 0, 'the local service saw its connection closed');
  });

  it('makes start() and stop() idempotent and start() after stop() a no-op', async (t) => {
    const relay = await startTestRelay(t);
    const rec = new HookRecorder();
    const c = client(t, { relayUrl: relay.url, hooks: rec.hooks });
    c.start();
    c.start();
    await rec.waitForCount('up', 1);
    const first = c.stop();
    assert.equal(c.stop(), first, 'a second stop() returns the same promise');
    await first;
    c.start();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(relay.upgrades.length, 1, 'one dial in all');
    assert.equal(rec.of('dial').length, 1, 'one dial attempt in all');
  });

  it('resolves stop() on a client that was never started', async (t) => {
    const c = client(t, { relayUrl: 'ws://127.0.0.1:9/tunnel/connect' });
    await c.stop();
    assert.equal(c.isStopped, true, 'stopped');
  });

  it('reports the WebSocket close code when the relay closes the connection', async (t) => {
    const { rec, ws } = await connectToRawRelay(t);
    ws.close(4001, 'going');
    await rec.waitForCount('down', 1);
    const err = rec.of('down')[0]?.err;
    assert.ok(err instanceof RelayDisconnectedError, `RelayDisconnectedError, got ${err?.name}`);
    assert.equal(err.closeCode, 4001, 'close code 4001');
    assert.equal(err.closeReason, 'going', 'close reason');
  });

  it('reports close code 1006 when the relay drops the TCP connection', async (t) => {
    const { rec, ws } = await connectToRawRelay(t);
    ws.terminate();
    await rec.waitForCount('down', 1);
    const err = rec.of('down')[0]?.err;
    assert.ok(err instanceof RelayDisconnectedError, `RelayDisconnectedError, got ${err?.name}`);
    assert.equal(err.closeCode, 1006, 'close code 1006');
  });

  it('reports the GoAway code when the relay sends GoAway', async (t) => {
    const { rec, ws } = await connectToRawRelay(t);
    ws.send(encodeHeader(FrameType.GoAway, 0, 0, GoAwayCode.InternalError), { binary: true });
    await rec.waitForCount('down', 1);
    const err = rec.of('down')[0]?.err;
    assert.ok(err instanceof GoAwayError, `GoAwayError, got ${err?.name}`);
    assert.equal(err.goAwayCode, GoAwayCode.InternalError, 'GoAway code 2');
  });

  it('detects a relay that stops answering pings and reports KeepAliveTimeoutError', async (t) => {
    // Raw mode: nothing answers the client's pings.
    const relay = await startTestRelay(t, { mode: 'raw' });
    const rec = new HookRecorder();
    const c = client(t, {
      relayUrl: relay.url,
      hooks: rec.hooks,
      keepAliveIntervalMs: 50,
      keepAliveTimeoutMs: 200,
      stabilityThresholdMs: 0,
      backoffInitialMs: 60_000,
      backoffMaxMs: 60_000,
    });
    let pings = 0;
    c.start();
    const ws = await relay.socket(1);
    ws.on('message', (data: Buffer) => {
      if (data.length >= 12 && data[1] === FrameType.Ping && (data.readUInt16BE(2) & Flag.SYN) !== 0) pings += 1;
    });
    await rec.waitForCount('down', 1);
    const err = rec.of('down')[0]?.err;
    assert.ok(err instanceof KeepAliveTimeoutError, `KeepAliveTimeoutError, got ${err?.name}: ${err?.message}`);
    assert.ok(pings >= 1, 'the client sent a ping first');
  });
});
