/**
 * Test harness for LocalForwarder: a local service, and a "relay side" TCP
 * server whose accepted sockets are handed to `forwarder.handle()`, so each
 * client connection plays the part of one tunnel stream.
 */
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { TestContext } from 'node:test';
import { LocalForwarder, type LocalForwarderDeps, type LocalRequestRecord, type LocalStreamOptions } from '../../../src/agent/local-forwarder.js';

/** Listens on 127.0.0.1 port 0 (or `host`), closes after the test, returns the port. */
export async function listen(t: TestContext, server: net.Server, host = '127.0.0.1'): Promise<number> {
  server.listen(0, host);
  await once(server, 'listening');
  t.after(() => {
    server.close();
    if (server instanceof http.Server) server.closeAllConnections();
  });
  return (server.address() as net.AddressInfo).port;
}

/** A local HTTP service on 127.0.0.1; its sockets are destroyed after the test. */
export async function startLocal(t: TestContext, handler: http.RequestListener, host = '127.0.0.1'): Promise<{ server: http.Server; port: number }> {
  const server = http.createServer(handler);
  const port = await listen(t, server, host);
  return { server, port };
}

/** The forwarder under test and the front port whose connections it serves. */
export interface Front {
  forwarder: LocalForwarder;
  port: number;
  records: LocalRequestRecord[];
  /** The server-side sockets handed to the forwarder, in accept order. */
  streams: net.Socket[];
  /** Resolves with the next record. */
  nextRecord(): Promise<LocalRequestRecord>;
}

/** Starts a forwarder and a front server handing each accepted socket to it (with `streamOptions`). */
export async function startFront(t: TestContext, options: Omit<LocalForwarderDeps, 'onRequest'>, streamOptions: LocalStreamOptions = {}): Promise<Front> {
  const records: LocalRequestRecord[] = [];
  const waiters: Array<(r: LocalRequestRecord) => void> = [];
  const forwarder = new LocalForwarder({
    ...options,
    onRequest: (r) => {
      records.push(r);
      waiters.shift()?.(r);
    },
  });
  const streams: net.Socket[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    streams.push(socket);
    forwarder.handle(socket, streamOptions);
  });
  const port = await listen(t, server);
  t.after(() => forwarder.close());
  let consumed = 0;
  return {
    forwarder,
    port,
    records,
    streams,
    nextRecord: () => {
      const i = consumed++;
      if (records[i] !== undefined) return Promise.resolve(records[i]);
      return new Promise((resolve) => waiters.push(resolve));
    },
  };
}

/** A complete response read by a client. */
export interface Fetched {
  res: http.IncomingMessage;
  body: Buffer;
}

/** Sends a request to the front (no pooling) and reads the whole response. */
export function fetch(port: number, options: http.RequestOptions & { body?: Buffer | Buffer[]; chunked?: boolean } = {}): Promise<Fetched> {
  return new Promise((resolve, reject) => {
    const { body, chunked, ...rest } = options;
    const req = http.request({ host: '127.0.0.1', port, agent: false, ...rest }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ res, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body === undefined) {
      req.end();
      return;
    }
    const parts = Array.isArray(body) ? body : [body];
    if (chunked !== true && !Array.isArray(body)) req.setHeader('content-length', String(parts[0]?.length ?? 0));
    for (const p of parts) req.write(p);
    req.end();
  });
}

/** `n` bytes where byte i is i mod 251 (as ref-origin's `/bytes`). */
export function patternBytes(n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = i % 251;
  return b;
}

/** Reads from `socket` until `predicate(all bytes so far)` holds; returns the bytes. */
export function readUntil(socket: net.Socket, predicate: (all: Buffer) => boolean): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let all = Buffer.alloc(0);
    const onData = (c: Buffer) => {
      all = Buffer.concat([all, c]);
      if (predicate(all)) {
        cleanup();
        resolve(all);
      }
    };
    const onEnd = () => {
      cleanup();
      reject(new Error(`stream ended before the expected bytes (got: ${JSON.stringify(all.toString('latin1'))})`));
    };
    const cleanup = () => {
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', reject);
      socket.pause();
    };
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('error', reject);
    socket.resume();
  });
}

/** Reads everything until `end`; resolves with the bytes. */
export function readToEnd(socket: net.Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.once('end', () => resolve(Buffer.concat(chunks)));
    socket.once('error', reject);
    socket.resume();
  });
}

/** Opens a raw TCP connection to the front, destroyed after the test. */
export async function connectRaw(t: TestContext, port: number): Promise<net.Socket> {
  const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  t.after(() => socket.destroy());
  await once(socket, 'connect');
  socket.pause();
  return socket;
}

/**
 * Resolves once `condition()` holds, checking after each turn of the event
 * loop; rejects after `limitMs` (a failure guard, not a synchronisation delay).
 */
export function waitFor(condition: () => boolean, what: string, limitMs = 5000): Promise<void> {
  const deadline = Date.now() + limitMs;
  return new Promise((resolve, reject) => {
    const check = () => {
      if (condition()) resolve();
      else if (Date.now() > deadline) reject(new Error(`timed out waiting for ${what}`));
      else setImmediate(check);
    };
    check();
  });
}

/** Resolves when `socket` has closed (never rejects, unlike `once(socket, 'close')` on an 'error'). */
export function closed(socket: Duplex): Promise<void> {
  return new Promise((resolve) => {
    if (socket.closed) resolve();
    else socket.once('close', () => resolve());
  });
}
