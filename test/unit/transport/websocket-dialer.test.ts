import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as http from 'node:http';
import * as net from 'node:net';
import { describe, it } from 'node:test';
import type { WebSocket } from 'ws';
import { AbortError, TunnelError } from '../../../src/shared/errors.js';
import { createSinkLogger, type LogRecord } from '../../../src/shared/logger.js';
import { isHandshakeRejectedError, MAX_REJECTION_BODY_BYTES, type HandshakeRejectedError } from '../../../src/transport/errors.js';
import { dialWebSocket } from '../../../src/transport/websocket-dialer.js';
import { WebSocketDuplex } from '../../../src/transport/websocket-duplex.js';
import { listenOnLoopback } from '../../helpers/loopback.js';
import { readBytes, startRawWsPeer } from '../../helpers/ws-fixtures.js';

/** A TCP server that accepts connections and never answers. */
async function startSilentServer(t: Parameters<typeof listenOnLoopback>[0]): Promise<{ port: number; server: net.Server }> {
  const server = net.createServer(() => {});
  const port = await listenOnLoopback(t, server);
  return { port, server };
}

/** An HTTP server answering every upgrade with `status` and `body`. */
async function startRefusingServer(t: Parameters<typeof listenOnLoopback>[0], status: number, body: string): Promise<number> {
  const server = http.createServer();
  server.on('upgrade', (_req, socket: net.Socket) => {
    socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  });
  return listenOnLoopback(t, server);
}

async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  assert.fail('expected the dial to reject');
}

describe('dialWebSocket', () => {
  it('resolves with an open WebSocketDuplex that carries bytes', async (t) => {
    const peer = await startRawWsPeer(t);
    const duplex = await dialWebSocket(peer.url);
    t.after(() => duplex.destroy());
    const server = await peer.nextConnection();
    server.send(Buffer.from('hello'));
    assert.ok(duplex instanceof WebSocketDuplex, 'should resolve with a WebSocketDuplex');
    assert.equal((await readBytes(duplex, 5)).toString(), 'hello', 'bytes from the server should be readable');
  });

  it('sends the extra headers and no compression offer', async (t) => {
    const peer = await startRawWsPeer(t);
    const upgradeReq = once(peer.wss, 'connection').then(([, req]) => req as http.IncomingMessage);
    const duplex = await dialWebSocket(peer.url, { headers: { Authorization: 'Bearer abc' } });
    t.after(() => duplex.destroy());
    const req = await upgradeReq;
    assert.equal(req.headers.authorization, 'Bearer abc', 'Authorization header should reach the server');
    assert.equal(req.headers['sec-websocket-extensions'], undefined, 'permessage-deflate should not be offered');
  });

  it('times out a stalled upgrade with ERR_TRANSPORT_HANDSHAKE_TIMEOUT', async (t) => {
    const { port } = await startSilentServer(t);
    const err = await rejectionOf(dialWebSocket(`ws://127.0.0.1:${port}/tunnel/connect`, { handshakeTimeoutMs: 200 }));
    assert.ok(err instanceof TunnelError, 'error should be a TunnelError');
    assert.equal(err.code, 'ERR_TRANSPORT_HANDSHAKE_TIMEOUT', 'code should be ERR_TRANSPORT_HANDSHAKE_TIMEOUT');
  });

  it('aborts a pending dial at once when the signal aborts', async (t) => {
    const { port, server } = await startSilentServer(t);
    const controller = new AbortController();
    server.once('connection', () => controller.abort());
    const err = await rejectionOf(dialWebSocket(`ws://127.0.0.1:${port}/`, { signal: controller.signal, handshakeTimeoutMs: 60_000 }));
    assert.ok(err instanceof AbortError, 'error should be an AbortError');
    assert.equal((err as TunnelError).code, 'ERR_ABORTED', 'code should be ERR_ABORTED');
  });

  it('rejects at once when the signal is already aborted', async () => {
    const err = await rejectionOf(dialWebSocket('ws://127.0.0.1:9/', { signal: AbortSignal.abort() }));
    assert.ok(err instanceof AbortError, 'error should be an AbortError');
  });

  it('rejects a refused upgrade with HandshakeRejectedError carrying status and body', async (t) => {
    const port = await startRefusingServer(t, 401, JSON.stringify({ error: 'invalid_token' }));
    const err = await rejectionOf(dialWebSocket(`ws://127.0.0.1:${port}/tunnel/connect?token=nope`));
    assert.ok(isHandshakeRejectedError(err), 'type guard should recognise the error');
    assert.equal(err.code, 'ERR_TRANSPORT_HANDSHAKE_REJECTED', 'code should be ERR_TRANSPORT_HANDSHAKE_REJECTED');
    assert.equal(err.statusCode, 401, 'statusCode should be 401');
    assert.deepEqual(JSON.parse(err.body), { error: 'invalid_token' }, 'body should be the JSON the server sent');
    assert.equal(isHandshakeRejectedError(new TunnelError('ERR_TRANSPORT_HANDSHAKE_REJECTED', 'look-alike')), false, 'guard should reject look-alikes');
  });

  it('keeps at most 4 KiB of a refusal body', async (t) => {
    const port = await startRefusingServer(t, 429, 'x'.repeat(64 * 1024));
    const err = (await rejectionOf(dialWebSocket(`ws://127.0.0.1:${port}/`))) as HandshakeRejectedError;
    assert.equal(err.statusCode, 429, 'statusCode should be 429');
    assert.equal(err.body.length, MAX_REJECTION_BODY_BYTES, 'body should be cut at 4 KiB');
  });

  it('fails with ERR_TRANSPORT_DIAL_FAILED when nothing listens', async (t) => {
    const { port, server } = await startSilentServer(t);
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const err = await rejectionOf(dialWebSocket(`ws://127.0.0.1:${port}/?token=s3cr3t-value`));
    assert.equal((err as TunnelError).code, 'ERR_TRANSPORT_DIAL_FAILED', 'code should be ERR_TRANSPORT_DIAL_FAILED');
    assert.equal((err.cause as NodeJS.ErrnoException).code, 'ECONNREFUSED', 'cause should be the system error');
    assert.ok(!err.message.includes('s3cr3t-value'), 'message should not contain the token');
  });

  it('rejects a non-WebSocket URL with a ConfigError that hides the token', async () => {
    const err = await rejectionOf(dialWebSocket('http://127.0.0.1:1/?token=s3cr3t-value'));
    assert.equal((err as TunnelError).code, 'ERR_CONFIG_INVALID', 'code should be ERR_CONFIG_INVALID');
    assert.ok(!err.message.includes('s3cr3t-value'), 'message should not contain the token');
  });

  it('never logs the token', async (t) => {
    const records: LogRecord[] = [];
    const logger = createSinkLogger((r) => records.push(r));
    const peer = await startRawWsPeer(t);
    const duplex = await dialWebSocket(`${peer.url}tunnel/connect?token=s3cr3t-value`, { logger });
    t.after(() => duplex.destroy());
    const refusedPort = await startRefusingServer(t, 403, '{}');
    await rejectionOf(dialWebSocket(`ws://127.0.0.1:${refusedPort}/?access_token=s3cr3t-value`, { logger }));
    assert.ok(records.length > 0, 'the dialer should log something at debug level');
    assert.ok(!JSON.stringify(records).includes('s3cr3t-value'), 'no log line should contain the token');
  });

  it('fails the duplex with ERR_TRANSPORT_PROTOCOL when a message exceeds maxPayloadBytes', async (t) => {
    const peer = await startRawWsPeer(t);
    const duplex = await dialWebSocket(peer.url, { maxPayloadBytes: 1024 });
    t.after(() => duplex.destroy());
    const server: WebSocket = await peer.nextConnection();
    const serverClosed = once(server, 'close');
    const failed = once(duplex, 'error');
    server.send(Buffer.alloc(2048));
    const [err] = (await failed) as [TunnelError];
    assert.equal(err.code, 'ERR_TRANSPORT_PROTOCOL', 'code should be ERR_TRANSPORT_PROTOCOL');
    assert.equal((await serverClosed)[0], 1009, 'peer should see close code 1009 (message too big)');
  });
});
