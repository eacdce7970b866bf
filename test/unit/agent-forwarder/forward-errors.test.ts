import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { describe, it } from 'node:test';
import type { Clock } from '../../../src/shared/clock.js';
import { closedPort } from '../../helpers/loopback.js';
import { closed, connectRaw, fetch, listen, startFront, startLocal, waitFor } from './harness.js';

describe('LocalForwarder: local service failures', () => {
  it('answers 502 with ERR_AGENT_LOCAL_REFUSED when the local service is down', async (t) => {
    const port = await closedPort();
    const front = await startFront(t, { localAddr: `127.0.0.1:${port}` });
    const { res, body } = await fetch(front.port, { path: '/x' });
    assert.equal(res.statusCode, 502, 'status 502');
    assert.equal(res.headers['x-tunnel-error'], 'ERR_AGENT_LOCAL_REFUSED', 'X-Tunnel-Error names the cause');
    assert.match(res.headers['content-type'] ?? '', /^text\/plain/, 'short text body');
    assert.match(body.toString(), /refused/, 'the body says what happened');
    const record = await front.nextRecord();
    assert.equal(record.error, 'ERR_AGENT_LOCAL_REFUSED', 'the record carries the code');
    assert.equal(record.status, 502, 'the record carries the status');
  });

  it('answers 502 for a POST with a body when the local service is down, and still ends the stream', async (t) => {
    const port = await closedPort();
    const front = await startFront(t, { localAddr: `localhost:${port}` });
    const { res } = await fetch(front.port, { method: 'POST', body: Buffer.alloc(200_000, 1) });
    assert.equal(res.statusCode, 502, 'status 502');
    assert.equal(res.headers['x-tunnel-error'], 'ERR_AGENT_LOCAL_REFUSED', 'refused on both loopback addresses');
  });

  it('answers 502 with ERR_AGENT_LOCAL_TIMEOUT when the connect timer fires first', async (t) => {
    const local = await startLocal(t, (_req, res) => res.end('too late'));
    // A clock whose timers fire in the next microtask: the connect timer
    // expires before the loopback connect can complete.
    const clock: Clock = {
      now: () => Date.now(),
      setTimeout: (fn) => {
        const handle = { cancelled: false, unref: () => handle };
        queueMicrotask(() => {
          if (!handle.cancelled) fn();
        });
        return handle;
      },
      clearTimeout: (handle) => {
        (handle as { cancelled: boolean }).cancelled = true;
      },
    };
    const front = await startFront(t, { localAddr: `127.0.0.1:${local.port}`, clock, connectTimeoutMs: 5000 });
    const { res } = await fetch(front.port);
    assert.equal(res.statusCode, 502, 'status 502');
    assert.equal(res.headers['x-tunnel-error'], 'ERR_AGENT_LOCAL_TIMEOUT', 'X-Tunnel-Error names the timeout');
  });

  it('answers 502 with ERR_AGENT_LOCAL_RESET when the local service drops the connection before answering', async (t) => {
    const raw = net.createServer((socket) => socket.once('data', () => socket.destroy()));
    const port = await listen(t, raw);
    const front = await startFront(t, { localAddr: `127.0.0.1:${port}` });
    const { res } = await fetch(front.port);
    assert.equal(res.statusCode, 502, 'status 502');
    assert.equal(res.headers['x-tunnel-error'], 'ERR_AGENT_LOCAL_RESET', 'X-Tunnel-Error names the reset');
  });

  it('retries a GET once on a fresh connection when its pooled connection was already closed', async (t) => {
    let connections = 0;
    const raw = net.createServer((socket) => {
      const n = ++connections;
      let requests = 0;
      socket.on('data', () => {
        requests++;
        // Connection 1 answers once with keep-alive, then drops the next request unanswered.
        if (n === 1 && requests === 2) {
          socket.destroy();
          return;
        }
        socket.write(`HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\nX-Conn: ${n}\r\n\r\nok`);
      });
    });
    const port = await listen(t, raw);
    const front = await startFront(t, { localAddr: `127.0.0.1:${port}` });
    const first = await fetch(front.port);
    assert.equal(first.res.headers['x-conn'], '1', 'first request on connection 1');
    const second = await fetch(front.port);
    assert.equal(second.res.statusCode, 200, 'the second request succeeds');
    assert.equal(second.res.headers['x-conn'], '2', 'it was resent on a new connection');
  });

  it('destroys the stream when the local service dies mid-body', async (t) => {
    const local = await startLocal(t, (_req, res) => {
      res.writeHead(200, { 'content-length': String(1024 * 1024) });
      res.write(Buffer.alloc(64 * 1024, 7), () => res.socket?.destroy());
    });
    const front = await startFront(t, { localAddr: `127.0.0.1:${local.port}` });
    let received = 0;
    const outcome = await new Promise<string>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port: front.port, agent: false }, (res) => {
        res.on('data', (c: Buffer) => (received += c.length));
        res.on('end', () => resolve('complete'));
        res.on('error', () => resolve('cut'));
        res.on('aborted', () => resolve('cut'));
      });
      req.on('error', () => resolve('cut'));
    });
    assert.equal(outcome, 'cut', 'the visitor sees a cut response, never a clean end');
    assert.ok(received < 1024 * 1024, 'not every byte arrived');
    const stream = front.streams[0] as net.Socket;
    await closed(stream);
    assert.ok(stream.errored instanceof Error, 'the stream was destroyed with an error (RST on a mux stream)');
    const record = await front.nextRecord();
    assert.equal(record.error, 'ERR_AGENT_LOCAL_RESET', 'the record names the reset');
    assert.equal(record.status, 200, 'the record keeps the status that was sent');
  });

  it('closes the local connection at once when the stream is destroyed mid-download', async (t) => {
    let localClosed!: () => void;
    const localSocketClosed = new Promise<void>((resolve) => (localClosed = resolve));
    const local = await startLocal(t, (req, res) => {
      req.socket.once('close', () => localClosed());
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const chunk = Buffer.alloc(64 * 1024, 1);
      const pump = () => {
        while (res.write(chunk)) {
          /* fill until backpressure */
        }
      };
      res.on('drain', pump);
      pump();
    });
    const front = await startFront(t, { localAddr: `127.0.0.1:${local.port}` });
    await new Promise<void>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port: front.port, agent: false }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', (err) => {
        if (!req.destroyed) reject(err);
      });
    });
    await localSocketClosed;
    const record = await front.nextRecord();
    assert.equal(record.error, 'ERR_ABORTED', 'the exchange is recorded as aborted');
    assert.equal(front.forwarder.activeCount, 0, 'no exchange left active');
    await waitFor(() => front.forwarder.localSocketCount === 0, 'the local connection to close');
    assert.equal(front.forwarder.localSocketCount, 0, 'the local connection was destroyed, not pooled');
  });

  it('aborts the local request when the stream is destroyed before the response head', async (t) => {
    let arrived!: () => void;
    const requestArrived = new Promise<void>((resolve) => (arrived = resolve));
    let localClosed!: () => void;
    const localSocketClosed = new Promise<void>((resolve) => (localClosed = resolve));
    const local = await startLocal(t, (req) => {
      req.socket.once('close', () => localClosed());
      arrived();
    });
    const front = await startFront(t, { localAddr: `127.0.0.1:${local.port}` });
    const client = await connectRaw(t, front.port);
    client.write('GET /slow HTTP/1.1\r\nHost: h\r\n\r\n');
    await requestArrived;
    // A TCP reset stands for the RST a relay sends on a mux stream when the visitor leaves.
    client.resetAndDestroy();
    await localSocketClosed;
    assert.equal((await front.nextRecord()).error, 'ERR_ABORTED', 'recorded as aborted');
  });
});
