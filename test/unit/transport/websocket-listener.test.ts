import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as http from 'node:http';
import type { Duplex } from 'node:stream';
import { describe, it, type TestContext } from 'node:test';
import type { HandshakeRejectedError } from '../../../src/transport/errors.js';
import { dialWebSocket } from '../../../src/transport/websocket-dialer.js';
import type { WebSocketDuplex } from '../../../src/transport/websocket-duplex.js';
import { WebSocketListener, type UpgradeAuthResult, type WebSocketListenerOptions } from '../../../src/transport/websocket-listener.js';
import { listenOnLoopback } from '../../helpers/loopback.js';
import { readBytes, waitFor } from '../../helpers/ws-fixtures.js';

interface AgentContext {
  agentId: string;
}

type Accepted = { duplex: WebSocketDuplex; req: http.IncomingMessage; context: AgentContext };

/** An HTTP server on loopback with a listener on /tunnel/connect; records accepted connections. */
async function startListener(
  t: TestContext,
  options: Partial<WebSocketListenerOptions<AgentContext>> = {},
): Promise<{ base: string; server: http.Server; listener: WebSocketListener<AgentContext>; accepted: Accepted[] }> {
  const server = http.createServer((_req, res) => res.end('plain http'));
  const accepted: Accepted[] = [];
  const listener = new WebSocketListener<AgentContext>(server, {
    path: '/tunnel/connect',
    authenticate: async (req) => {
      const token = new URL(req.url ?? '/', 'http://x').searchParams.get('token');
      return token === 'good'
        ? { ok: true, context: { agentId: 'agent-1' } }
        : { ok: false, status: 401, body: { error: 'invalid_token' }, headers: { 'WWW-Authenticate': 'Bearer' } };
    },
    onConnection: (duplex, req, context) => {
      duplex.on('error', () => {});
      accepted.push({ duplex, req, context });
    },
    ...options,
  });
  t.after(() => listener.close({ graceMs: 0 }));
  const port = await listenOnLoopback(t, server);
  return { base: `ws://127.0.0.1:${port}`, server, listener, accepted };
}

async function rejectionOf(promise: Promise<unknown>): Promise<HandshakeRejectedError> {
  try {
    await promise;
  } catch (err) {
    return err as HandshakeRejectedError;
  }
  assert.fail('expected the dial to reject');
}

/** A raw upgrade request; resolves with the non-101 response and its body. */
function rawUpgrade(base: string, path: string): Promise<{ res: http.IncomingMessage; body: string }> {
  const url = new URL(path, base.replace('ws:', 'http:'));
  return new Promise((resolve, reject) => {
    const req = http.get(url, {
      headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==' },
    });
    req.on('upgrade', () => reject(new Error('unexpected upgrade')));
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ res, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
  });
}

describe('WebSocketListener', () => {
  it('refuses before the upgrade with the hook status and a JSON body', async (t) => {
    const { base, accepted } = await startListener(t);
    const { res, body } = await rawUpgrade(base, '/tunnel/connect?token=bad');
    assert.equal(res.statusCode, 401, 'status should be 401');
    assert.match(res.headers['content-type'] ?? '', /^application\/json/, 'Content-Type should be JSON');
    assert.equal(res.headers['content-length'], String(Buffer.byteLength(body)), 'Content-Length should match the body');
    assert.equal(res.headers.connection, 'close', 'Connection should be close');
    assert.equal(res.headers['www-authenticate'], 'Bearer', 'hook headers should be sent');
    assert.deepEqual(JSON.parse(body), { error: 'invalid_token' }, 'body should be the hook JSON');
    assert.equal(accepted.length, 0, 'no connection should be accepted');
  });

  it('surfaces a refusal to the dialer as HandshakeRejectedError 401', async (t) => {
    const { base } = await startListener(t);
    const err = await rejectionOf(dialWebSocket(`${base}/tunnel/connect?token=bad`));
    assert.equal(err.statusCode, 401, 'statusCode should be 401');
    assert.deepEqual(JSON.parse(err.body), { error: 'invalid_token' }, 'body should be the hook JSON');
  });

  it('hands an accepted connection to onConnection with the auth context', async (t) => {
    const { base, accepted, listener } = await startListener(t);
    const client = await dialWebSocket(`${base}/tunnel/connect?token=good`);
    t.after(() => client.destroy());
    await waitFor(() => accepted.length === 1, 'connection accepted');
    const [conn] = accepted as [Accepted];
    assert.deepEqual(conn.context, { agentId: 'agent-1' }, 'context should come from authenticate');
    assert.equal(conn.req.url, '/tunnel/connect?token=good', 'the upgrade request should be passed on');
    assert.equal(listener.connectionCount, 1, 'connectionCount should be 1');
    client.write(Buffer.from('ping'));
    assert.equal((await readBytes(conn.duplex, 4)).toString(), 'ping', 'bytes should flow to the accepted duplex');
  });

  it('adds the upgradeHeaders hook headers to the 101, which the dialer keeps on the duplex', async (t) => {
    const seenContexts: AgentContext[] = [];
    const { base } = await startListener(t, {
      upgradeHeaders: (_req, context) => {
        seenContexts.push(context);
        return { 'X-Tunnel-Test': `for ${context.agentId}`, 'Bad Name': 'x' };
      },
    });
    const client = await dialWebSocket(`${base}/tunnel/connect?token=good`);
    t.after(() => client.destroy());
    assert.equal(client.upgradeHeaders['x-tunnel-test'], 'for agent-1', 'the hook header should reach the dialer');
    assert.equal(client.upgradeHeaders['bad name'], undefined, 'an invalid header name should be dropped');
    assert.equal(client.upgradeHeaders.upgrade, 'websocket', "ws's own 101 headers should still be there");
    assert.deepEqual(seenContexts, [{ agentId: 'agent-1' }], 'the hook should get the auth context once');
    const second = await dialWebSocket(`${base}/tunnel/connect?token=good`);
    t.after(() => second.destroy());
    assert.equal(second.upgradeHeaders['x-tunnel-test'], 'for agent-1', 'each 101 should carry its own copy, not an accumulation');
    assert.equal(seenContexts.length, 2, 'the hook should run once per upgrade');
  });

  it('answers 404 to upgrades on other paths', async (t) => {
    const { base, accepted } = await startListener(t);
    const err = await rejectionOf(dialWebSocket(`${base}/elsewhere?token=good`));
    assert.equal(err.statusCode, 404, 'statusCode should be 404');
    assert.equal(accepted.length, 0, 'no connection should be accepted');
  });

  it('leaves other paths to another upgrade handler when otherPaths is ignore', async (t) => {
    const { base, server, listener } = await startListener(t, { otherPaths: 'ignore' });
    const seen: string[] = [];
    server.on('upgrade', (req: http.IncomingMessage, socket: Duplex) => {
      if (listener.handles(req)) return;
      seen.push(req.url ?? '');
      socket.end('HTTP/1.1 418 I\'m a Teapot\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    });
    const err = await rejectionOf(dialWebSocket(`${base}/other`));
    assert.equal(err.statusCode, 418, 'the other handler should answer');
    assert.deepEqual(seen, ['/other'], 'the other handler should see only the other path');
  });

  it('answers 500 when authenticate throws', async (t) => {
    const { base } = await startListener(t, {
      authenticate: async () => {
        throw new Error('db down');
      },
    });
    const err = await rejectionOf(dialWebSocket(`${base}/tunnel/connect?token=good`));
    assert.equal(err.statusCode, 500, 'statusCode should be 500');
  });

  it('close() is idempotent and ends open connections with 1001', async (t) => {
    const { base, listener, accepted } = await startListener(t);
    const client = await dialWebSocket(`${base}/tunnel/connect?token=good`);
    t.after(() => client.destroy());
    await waitFor(() => accepted.length === 1, 'connection accepted');
    const ended = once(client, 'end');
    client.resume();
    await Promise.all([listener.close(), listener.close()]);
    await ended;
    assert.equal(client.closeCode, 1001, 'client should see close 1001');
    assert.equal(listener.connectionCount, 0, 'no connection should remain');
    await listener.close();
  });

  it('drops a request still authenticating when closed', async (t) => {
    let authStarted: () => void = () => {};
    const started = new Promise<void>((resolve) => (authStarted = resolve));
    let release: (result: UpgradeAuthResult<AgentContext>) => void = () => {};
    const { base, listener, accepted } = await startListener(t, {
      authenticate: () =>
        new Promise((resolve) => {
          release = resolve;
          authStarted();
        }),
    });
    const dialed = dialWebSocket(`${base}/tunnel/connect`).then(
      () => undefined,
      (err: unknown) => err as Error,
    );
    await started;
    await listener.close();
    release({ ok: true, context: { agentId: 'late' } });
    const err = await dialed;
    assert.ok(err !== undefined, 'the dial should fail');
    assert.equal(accepted.length, 0, 'a request whose auth finished after close should not be accepted');
  });
});
