/**
 * Builds a connected client/server `Session` pair over a `ConnType`, with
 * cleanup registered on the test, plus small stream helpers for mux tests.
 */
import type { TestContext } from 'node:test';
import type { Duplex } from 'node:stream';
import { Session, type MuxStream, type SessionOptions } from '../../src/mux/index.js';
import type { ConnLink, ConnType } from './mux-conn-types.js';
import { waitFor as pollUntil } from './wait-for.js';

/** Options for each side; `role` is filled in. Keepalive is off unless given. */
export interface SessionPairOptions {
  client?: Omit<SessionOptions, 'role'>;
  server?: Omit<SessionOptions, 'role'>;
}

/** A connected pair of sessions and the link under them. */
export interface SessionPair {
  client: Session;
  server: Session;
  link: ConnLink;
}

/** Connects a client and a server session over `connType`; everything is torn down after the test. */
export async function createSessionPair(t: TestContext, connType: ConnType, options: SessionPairOptions = {}): Promise<SessionPair> {
  const link = await connType.connect();
  const client = new Session(link.a, { keepAliveIntervalMs: 0, ...options.client, role: 'client' });
  const server = new Session(link.b, { keepAliveIntervalMs: 0, ...options.server, role: 'server' });
  t.after(async () => {
    client.destroy();
    server.destroy();
    await link.close();
  });
  return { client, server, link };
}

/** Attaches a 'stream' listener that echoes every inbound stream back (FIN answered with FIN). */
export function echoInbound(session: Session): void {
  session.on('stream', (stream: MuxStream) => {
    stream.on('error', () => {});
    stream.pipe(stream);
  });
}

/** Reads a stream to its end and resolves with every byte; rejects on 'error'. */
export function readAll(stream: Duplex): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.once('end', () => resolve(Buffer.concat(chunks)));
    stream.once('error', reject);
  });
}

/** Resolves with the error a stream is destroyed with (rejects if it ends or closes cleanly). */
export function streamError(stream: Duplex): Promise<Error> {
  return new Promise((resolve, reject) => {
    stream.once('error', resolve);
    stream.once('close', () => {
      if (stream.errored === null) reject(new Error(`stream closed without an error`));
    });
  });
}

/**
 * Waits until `condition()` is true, checking after each turn of the event
 * loop; fails with `what` after `timeoutMs` (a safety net, not a sync point).
 */
export function waitFor(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  return pollUntil(condition, what, timeoutMs, 1);
}

/** Deterministic bytes (a position pattern seeded by `seed`), so corruption and reordering show. */
export function patternBytes(length: number, seed = 0): Buffer {
  const buf = Buffer.allocUnsafe(length);
  let x = (seed * 2654435761 + 1) >>> 0;
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    buf[i] = x >>> 24;
  }
  return buf;
}

/**
 * Reads everything a paused stream holds right now, in this tick (so nothing
 * new can arrive meanwhile): the bytes it buffered for its reader.
 */
export function drainSync(stream: Duplex): Buffer[] {
  const chunks: Buffer[] = [];
  let chunk: Buffer | null;
  while ((chunk = stream.read() as Buffer | null) !== null) chunks.push(chunk);
  return chunks;
}

/** Total length of `chunks`. */
export function byteLength(chunks: readonly Buffer[]): number {
  return chunks.reduce((n, c) => n + c.length, 0);
}

/**
 * Marks streams a test leaves open: session teardown aborts them with
 * `SessionClosedError`, which is an unhandled 'error' without a listener.
 */
export function leaveOpen(...streams: Duplex[]): void {
  for (const s of streams) s.on('error', () => {});
}
