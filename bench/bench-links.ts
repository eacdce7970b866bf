/**
 * Listening and dialing for each benchmark setup, on 127.0.0.1 port 0: the
 * raw link (TCP socket, or `ws` WebSocket with binary messages), our
 * `Session` over it, or @libp2p/yamux over it. Over WebSocket the muxes run
 * on `WebSocketDuplex` from src/transport, as the agent and relay do.
 */
import { once } from 'node:events';
import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { Session } from '../src/mux/index.js';
import { WebSocketDuplex } from '../src/transport/websocket-duplex.js';
import { duplexChannel, libp2pChannel, rawWebSocketChannel, type BenchChannel } from './bench-channel.js';
import type { BenchSetup } from './bench-types.js';
import { createLibp2pYamuxSession } from './libp2p-yamux-session.js';

const HOST = '127.0.0.1';

/** Largest WebSocket message accepted (the transport's default cap). */
const MAX_WS_PAYLOAD_BYTES = 16 * 1024 * 1024;

/** A listening endpoint that hands every inbound channel to its handler. */
export interface BenchListener {
  port: number;
  close(): Promise<void>;
}

/** Opens channels to a listener: new connections (raw) or new streams on one session (muxes). */
export interface BenchDialer {
  open(): Promise<BenchChannel>;
  close(): void;
}

/** Starts a listener for `setup` whose inbound channels go to `onChannel`. */
export async function listenForSetup(setup: BenchSetup, onChannel: (channel: BenchChannel) => void): Promise<BenchListener> {
  const closers = new Set<() => void>();
  const track = (close: () => void, emitter: { once(event: 'close', l: () => void): unknown }): void => {
    closers.add(close);
    emitter.once('close', () => closers.delete(close));
  };
  const acceptDuplex = (duplex: Duplex): void => {
    duplex.on('error', () => {});
    if (setup.system === 'raw') {
      onChannel(duplexChannel(duplex));
    } else if (setup.system === 'ours') {
      const session = new Session(duplex, { role: 'server', maxStreamWindowBytes: setup.windowBytes });
      session.on('stream', (stream: Duplex) => onChannel(duplexChannel(stream)));
    } else {
      createLibp2pYamuxSession(duplex, 'server', setup.windowBytes).onStream((stream) => onChannel(libp2pChannel(stream)));
    }
  };

  let server: net.Server;
  if (setup.link === 'tcp') {
    server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
      track(() => socket.destroy(), socket);
      acceptDuplex(socket);
    });
  } else {
    const httpServer = http.createServer();
    const wss = new WebSocketServer({ server: httpServer, perMessageDeflate: false, maxPayload: MAX_WS_PAYLOAD_BYTES });
    wss.on('connection', (ws) => {
      track(() => ws.terminate(), ws);
      ws.on('error', () => {});
      if (setup.system === 'raw') onChannel(rawWebSocketChannel(ws));
      else acceptDuplex(new WebSocketDuplex(ws));
    });
    server = httpServer;
  }
  server.listen(0, HOST);
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    close: () => {
      for (const close of [...closers]) close();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Connects to a listener for `setup` on `port`; muxes get one session, opened now. */
export async function dialForSetup(setup: BenchSetup, port: number): Promise<BenchDialer> {
  if (setup.system === 'raw') {
    if (setup.link === 'tcp') {
      const sockets = new Set<net.Socket>();
      return {
        open: () => {
          const socket = net.connect({ host: HOST, port, allowHalfOpen: true, noDelay: true });
          sockets.add(socket);
          socket.once('close', () => sockets.delete(socket));
          return Promise.resolve(duplexChannel(socket));
        },
        close: () => {
          for (const s of sockets) s.destroy();
        },
      };
    }
    const sockets = new Set<WebSocket>();
    return {
      open: async () => {
        const ws = await openWebSocket(port);
        sockets.add(ws);
        return rawWebSocketChannel(ws);
      },
      close: () => {
        for (const ws of sockets) ws.terminate();
      },
    };
  }

  const transport = setup.link === 'tcp' ? await openTcp(port) : new WebSocketDuplex(await openWebSocket(port));
  transport.on('error', () => {});
  if (setup.system === 'ours') {
    const session = new Session(transport, { role: 'client', maxStreamWindowBytes: setup.windowBytes });
    return {
      open: () => Promise.resolve(duplexChannel(session.openStream())),
      close: () => session.destroy(),
    };
  }
  const session = createLibp2pYamuxSession(transport, 'client', setup.windowBytes);
  return {
    open: async () => libp2pChannel(await session.createStream()),
    close: () => session.close(),
  };
}

async function openTcp(port: number): Promise<net.Socket> {
  const socket = net.connect({ host: HOST, port, allowHalfOpen: true, noDelay: true });
  await once(socket, 'connect');
  return socket;
}

async function openWebSocket(port: number): Promise<WebSocket> {
  const ws = new WebSocket(`ws://${HOST}:${port}/`, { perMessageDeflate: false, maxPayload: MAX_WS_PAYLOAD_BYTES });
  ws.on('error', () => {});
  await once(ws, 'open');
  return ws;
}
