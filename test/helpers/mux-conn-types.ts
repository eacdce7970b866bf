/**
 * The byte transports the mux session tests run over (hashicorp/yamux
 * `testConnTypes`): an in-memory pair, TCP on 127.0.0.1 and a WebSocket on
 * 127.0.0.1, each with a way to silence one end (its writes are held, as
 * hashicorp's `pipeConn.writeBlocker`).
 */
import { once } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createNetServer, connect, type AddressInfo, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { dialWebSocket, WebSocketListener, type WebSocketDuplex } from '../../src/transport/index.js';
import { createDuplexPair } from './duplex-pair.js';

/** Two connected byte transports: `a` goes to the client session, `b` to the server session. */
export interface ConnLink {
  readonly a: Duplex;
  readonly b: Duplex;
  /** Holds everything `end` writes from now on (the peer hears nothing), without closing it. */
  blockWrites(end: 'a' | 'b'): void;
  /** Delivers what was held and resumes. */
  unblockWrites(end: 'a' | 'b'): void;
  /** Tears both ends and any listener down; idempotent. */
  close(): Promise<void>;
}

/** A named way to create a `ConnLink`. */
export interface ConnType {
  readonly name: 'pair' | 'tcp' | 'websocket';
  connect(): Promise<ConnLink>;
}

/** Two in-memory ends (`test/helpers/duplex-pair.ts`). */
export const pairConnType: ConnType = {
  name: 'pair',
  connect() {
    const [a, b] = createDuplexPair();
    return Promise.resolve({
      a,
      b,
      blockWrites: (end) => (end === 'a' ? a : b).blockWrites(),
      unblockWrites: (end) => (end === 'a' ? a : b).unblockWrites(),
      close: () => {
        a.destroy();
        b.destroy();
        return Promise.resolve();
      },
    });
  },
};

/** A TCP connection over 127.0.0.1 on an ephemeral port. */
export const tcpConnType: ConnType = {
  name: 'tcp',
  async connect() {
    const server = createNetServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    const accepted = once(server, 'connection') as Promise<[Socket]>;
    const a = connect(port, '127.0.0.1');
    a.setNoDelay(true);
    await once(a, 'connect');
    const [b] = await accepted;
    b.setNoDelay(true);
    server.close();
    return corkingLink(a, b, async () => {
      a.destroy();
      b.destroy();
    });
  },
};

/** A WebSocket (`src/transport`) over 127.0.0.1 on an ephemeral port. */
export const webSocketConnType: ConnType = {
  name: 'websocket',
  async connect() {
    const http = createHttpServer();
    let resolveAccepted!: (d: WebSocketDuplex) => void;
    const accepted = new Promise<WebSocketDuplex>((resolve) => (resolveAccepted = resolve));
    const listener = new WebSocketListener<null>(http, {
      path: '/mux',
      authenticate: () => Promise.resolve({ ok: true, context: null }),
      onConnection: (duplex) => resolveAccepted(duplex),
    });
    http.listen(0, '127.0.0.1');
    await once(http, 'listening');
    const { port } = http.address() as AddressInfo;
    const a = await dialWebSocket(`ws://127.0.0.1:${port}/mux`, { handshakeTimeoutMs: 5000 });
    const b = await accepted;
    return corkingLink(a, b, async () => {
      a.destroy();
      b.destroy();
      await listener.close({ graceMs: 0 });
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    });
  },
};

/** Every transport the session tests cover. */
export const CONN_TYPES: readonly ConnType[] = [pairConnType, tcpConnType, webSocketConnType];

/** Runs `define` once per transport (call it inside a `describe`, or at top level). */
export function forEachConnType(define: (connType: ConnType) => void): void {
  for (const connType of CONN_TYPES) define(connType);
}

/** A link whose "block" is `cork()`: writes stay in the writable buffer until `uncork()`. */
function corkingLink(a: Duplex, b: Duplex, teardown: () => Promise<void>): ConnLink {
  const corked = { a: 0, b: 0 };
  let closing: Promise<void> | null = null;
  return {
    a,
    b,
    blockWrites(end) {
      (end === 'a' ? a : b).cork();
      corked[end] += 1;
    },
    unblockWrites(end) {
      const d = end === 'a' ? a : b;
      while (corked[end] > 0) {
        d.uncork();
        corked[end] -= 1;
      }
    },
    close() {
      closing ??= teardown();
      return closing;
    },
  };
}
