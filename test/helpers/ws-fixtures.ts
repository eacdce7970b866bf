/**
 * Fixtures for transport tests: HTTP servers and raw `ws` peers on
 * 127.0.0.1 port 0, a condition poller, and cleanup registered on the test.
 */
import { once } from 'node:events';
import * as http from 'node:http';
import type { TestContext } from 'node:test';
import { WebSocket, WebSocketServer } from 'ws';
import { WebSocketDuplex, type WebSocketDuplexOptions } from '../../src/transport/websocket-duplex.js';
import { listenOnLoopback } from './loopback.js';
import { waitFor as pollUntil } from './wait-for.js';

/** A raw `ws` server: the peer whose messages and close codes tests inspect. */
export interface RawWsPeer {
  url: string;
  wss: WebSocketServer;
  /** The next server-side socket to connect. */
  nextConnection(): Promise<WebSocket>;
}

/** Starts a raw `ws` server (no compression) on loopback; torn down after the test. */
export async function startRawWsPeer(t: TestContext, onConnection?: (ws: WebSocket) => void): Promise<RawWsPeer> {
  const server = http.createServer();
  const wss = new WebSocketServer({ server, perMessageDeflate: false });
  const queue: WebSocket[] = [];
  const waiters: Array<(ws: WebSocket) => void> = [];
  wss.on('connection', (ws) => {
    onConnection?.(ws);
    const waiter = waiters.shift();
    if (waiter) waiter(ws);
    else queue.push(ws);
  });
  t.after(() => {
    for (const ws of wss.clients) ws.terminate();
    wss.close();
  });
  const port = await listenOnLoopback(t, server);
  return {
    url: `ws://127.0.0.1:${port}/`,
    wss,
    nextConnection: () => {
      const ws = queue.shift();
      return ws ? Promise.resolve(ws) : new Promise((resolve) => waiters.push(resolve));
    },
  };
}

/** A `WebSocketDuplex` (client side) connected to a raw `ws` peer (server side). */
export async function connectDuplexToRawPeer(
  t: TestContext,
  options: WebSocketDuplexOptions = {},
  onPeerConnection?: (ws: WebSocket) => void,
): Promise<{ duplex: WebSocketDuplex; peer: WebSocket }> {
  const rawPeer = await startRawWsPeer(t, onPeerConnection);
  const client = new WebSocket(rawPeer.url, { perMessageDeflate: false });
  const [peer] = await Promise.all([rawPeer.nextConnection(), once(client, 'open')]);
  const duplex = new WebSocketDuplex(client, options);
  duplex.on('error', () => {});
  t.after(() => {
    duplex.destroy();
    client.terminate();
  });
  return { duplex, peer };
}

/** Two `WebSocketDuplex` ends of one connection (client and server side). */
export async function connectDuplexPair(t: TestContext, options: WebSocketDuplexOptions = {}): Promise<{ client: WebSocketDuplex; server: WebSocketDuplex }> {
  const { duplex, peer } = await connectDuplexToRawPeer(t, options);
  const server = new WebSocketDuplex(peer, options);
  server.on('error', () => {});
  t.after(() => server.destroy());
  return { client: duplex, server };
}

/** Resolves once `condition()` holds, polling every 2 ms; rejects after `timeoutMs` naming `what`. */
export function waitFor(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  return pollUntil(condition, what, timeoutMs, 2);
}

/** Reads `stream` until `byteCount` bytes arrived; resolves with them. */
export function readBytes(stream: NodeJS.ReadableStream, byteCount: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      length += chunk.length;
      if (length >= byteCount) {
        stream.off('data', onData);
        stream.off('error', reject);
        stream.pause();
        resolve(Buffer.concat(chunks));
      }
    };
    if (byteCount === 0) {
      resolve(Buffer.alloc(0));
      return;
    }
    stream.on('data', onData);
    stream.once('error', reject);
  });
}
