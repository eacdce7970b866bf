/**
 * The fault-injecting proxy itself: plain forwarding with half-close,
 * blackhole, pause/resume with a bounded queue, throttle with backpressure,
 * delay, and reset (RST on both sides).
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import * as net from 'node:net';
import type { Socket } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { FaultyProxy, type ProxyLink } from './faulty-proxy.js';
import { waitUntil } from './chaos-fixtures.js';
import { listenOnLoopback } from '../helpers/loopback.js';

/** An echo server (echoes and half-closes back) that keeps its sockets for assertions. */
async function startEcho(t: TestContext): Promise<{ addr: string; sockets: Socket[] }> {
  const sockets: Socket[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.push(s);
    s.on('error', () => {});
    s.pipe(s);
  });
  const port = await listenOnLoopback(t, server);
  return { addr: `127.0.0.1:${port}`, sockets };
}

/** A server that collects what each connection sends until its FIN. */
async function startSink(t: TestContext): Promise<{ addr: string; nextBody: Promise<Buffer> }> {
  let deliver!: (body: Buffer) => void;
  const nextBody = new Promise<Buffer>((resolve) => (deliver = resolve));
  const server = net.createServer((s) => {
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.once('end', () => {
      deliver(Buffer.concat(chunks));
      s.end();
    });
    s.on('error', () => {});
  });
  const port = await listenOnLoopback(t, server);
  return { addr: `127.0.0.1:${port}`, nextBody };
}

async function startProxy(t: TestContext, target: string, maxQueuedBytes?: number): Promise<FaultyProxy> {
  const proxy = await FaultyProxy.start({ target, ...(maxQueuedBytes === undefined ? {} : { maxQueuedBytes }) });
  t.after(() => proxy.close());
  return proxy;
}

/** Connects through the proxy; resolves with the socket and its link. */
async function dial(t: TestContext, proxy: FaultyProxy): Promise<{ socket: Socket; link: ProxyLink }> {
  const linked = proxy.nextLink();
  const socket = net.connect({ host: '127.0.0.1', port: proxy.port, allowHalfOpen: true });
  socket.on('error', () => {});
  t.after(() => socket.destroy());
  await once(socket, 'connect');
  return { socket, link: await linked };
}

/** Collects everything `socket` receives until it ends. */
function readAll(socket: Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  return new Promise((resolve, reject) => {
    socket.once('end', () => resolve(Buffer.concat(chunks)));
    socket.once('error', reject);
  });
}

describe('FaultyProxy', () => {
  it('forwards bytes both ways unchanged and passes each half-close on', async (t) => {
    const echo = await startEcho(t);
    const proxy = await startProxy(t, echo.addr);
    const { socket, link } = await dial(t, proxy);
    const payload = randomBytes(1024 * 1024);
    const received = readAll(socket);
    socket.end(payload);
    assert.ok((await received).equals(payload), 'the echoed bytes equal the bytes sent');
    await link.closed;
    assert.equal(link.up.bytesForwarded, payload.length, 'every byte was forwarded towards the target');
    assert.equal(link.down.bytesForwarded, payload.length, 'every byte was forwarded back');
  });

  it('blackholes open and later links: sockets stay open, bytes are dropped both ways', async (t) => {
    const echo = await startEcho(t);
    const proxy = await startProxy(t, echo.addr);
    const first = await dial(t, proxy);
    proxy.blackhole();
    const dropped = once(first.link.up, 'received');
    first.socket.write('lost');
    await dropped;
    assert.equal(first.link.up.bytesDropped, 4, 'the proxy read and dropped the 4 bytes');
    assert.equal(first.link.up.bytesForwarded, 0, 'nothing reached the target');
    assert.equal(first.socket.destroyed, false, 'the client socket is still open');

    const second = await dial(t, proxy);
    assert.equal(second.link.faults.blackholed, true, 'a link accepted later is blackholed too');
    await waitUntil(() => echo.sockets.length === 2, 'the target to accept the second link');
    const serverSide = echo.sockets[1] as Socket;
    const droppedDown = once(second.link.down, 'received');
    serverSide.write('also lost');
    await droppedDown;
    assert.equal(second.link.down.bytesDropped, 9, 'bytes from the target are dropped too');

    proxy.heal();
    const echoed = once(first.socket, 'data');
    first.socket.write('back');
    assert.equal(String((await echoed)[0]), 'back', 'after heal() bytes flow again on the same connection');
  });

  it('queues while paused up to its bound, pausing the source, and delivers everything on resume', async (t) => {
    const echo = await startEcho(t);
    const maxQueuedBytes = 64 * 1024;
    const proxy = await startProxy(t, echo.addr, maxQueuedBytes);
    const { socket, link } = await dial(t, proxy);
    link.pause();
    const payload = randomBytes(4 * 1024 * 1024);
    const received = readAll(socket);
    socket.end(payload);
    await waitUntil(() => link.up.sourcePauses > 0, 'the proxy to pause the paused link\'s source');
    assert.equal(link.up.bytesForwarded, 0, 'nothing is forwarded while paused');
    assert.ok(
      link.up.peakQueuedBytes < maxQueuedBytes + 64 * 1024,
      `the queue stays within its bound plus one read (peak ${link.up.peakQueuedBytes})`,
    );
    link.resume();
    assert.ok((await received).equals(payload), 'every byte arrives intact after resume');
  });

  it('throttles with backpressure instead of buffering without bound', async (t) => {
    const sink = await startSink(t);
    const maxQueuedBytes = 32 * 1024;
    const proxy = await startProxy(t, sink.addr, maxQueuedBytes);
    const { socket, link } = await dial(t, proxy);
    link.throttle(4 * 1024 * 1024);
    const payload = randomBytes(2 * 1024 * 1024);
    socket.end(payload);
    const received = await sink.nextBody;
    assert.equal(createHash('sha256').update(received).digest('hex'), createHash('sha256').update(payload).digest('hex'), 'the throttled bytes arrive intact');
    assert.ok(link.up.sourcePauses > 0, 'the fast sender was paused rather than buffered');
    assert.ok(
      link.up.peakQueuedBytes < maxQueuedBytes + 64 * 1024,
      `the queue stayed within its bound plus one read (peak ${link.up.peakQueuedBytes})`,
    );
  });

  it('delays every chunk by at least the given time in each direction', async (t) => {
    const echo = await startEcho(t);
    const proxy = await startProxy(t, echo.addr);
    const { socket } = await dial(t, proxy);
    proxy.delay(40);
    const startedMs = performance.now();
    const echoed = once(socket, 'data');
    socket.write('ping');
    await echoed;
    const elapsedMs = performance.now() - startedMs;
    assert.ok(elapsedMs >= 80, `the round trip took at least twice the delay (took ${elapsedMs.toFixed(1)} ms)`);
  });

  it('resets both sides with RST', async (t) => {
    const echo = await startEcho(t);
    const proxy = await startProxy(t, echo.addr);
    const { socket, link } = await dial(t, proxy);
    await waitUntil(() => echo.sockets.length === 1, 'the target to accept the proxied connection');
    const serverSide = echo.sockets[0] as Socket;
    const clientError = new Promise<NodeJS.ErrnoException>((resolve) => socket.once('error', resolve));
    const serverError = new Promise<NodeJS.ErrnoException>((resolve) => serverSide.once('error', resolve));
    proxy.reset();
    assert.equal((await clientError).code, 'ECONNRESET', 'the client sees a connection reset');
    assert.equal((await serverError).code, 'ECONNRESET', 'the target sees a connection reset');
    await link.closed;
    assert.equal(proxy.openLinks.length, 0, 'no link is left open');
  });
});
