/**
 * @libp2p/yamux (8.x) over a Node `Duplex`, for the benchmark only.
 *
 * @libp2p/yamux speaks libp2p's event-target `MessageStream` API, not Node
 * streams, and expects a `MultiaddrConnection` under it. This file adapts a
 * TCP socket or a `WebSocketDuplex` to that interface, as @libp2p/tcp does
 * with its socket, and applies what Node 20 needs:
 *
 * 1. `Promise.withResolvers` (Node 22+) is used by its ping and drain code:
 *    polyfilled here.
 * 2. Its muxer reads only through `'message'` listeners and drops the
 *    connection once 4 MiB sit unread, so the adapter pushes every chunk at
 *    once and each stream gets its listener when accepted.
 * 3. Its receive window only grows past 256 KiB when it has an RTT, which it
 *    gets from its keepalive ping: keepalive must stay enabled (the default)
 *    for `maxStreamWindowSize` to mean anything.
 */
import type { Duplex } from 'node:stream';
import type { AbortOptions, Logger, Stream } from '@libp2p/interface';
import { AbstractMultiaddrConnection, type SendResult } from '@libp2p/utils';
import { yamux } from '@libp2p/yamux';
import { multiaddr } from '@multiformats/multiaddr';
import type { Uint8ArrayList } from 'uint8arraylist';

installPromiseWithResolvers();

function installPromiseWithResolvers(): void {
  const P = Promise as unknown as { withResolvers?: unknown };
  if (typeof P.withResolvers === 'function') return;
  P.withResolvers = function withResolvers<T>() {
    let resolve!: (value: T | PromiseLike<T>) => void;
    let reject!: (reason?: unknown) => void;
    const promise = new Promise<T>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}

/** A logger that drops everything (libp2p's `debug`-based one is off by default too). */
const silentLogger: Logger = Object.assign(() => {}, {
  error: () => {},
  trace: () => {},
  enabled: false,
  newScope: (): Logger => silentLogger,
});

/** A `MultiaddrConnection` over a Node `Duplex` (socket or WebSocket adapter). */
class DuplexMultiaddrConnection extends AbstractMultiaddrConnection {
  readonly #duplex: Duplex;

  constructor(duplex: Duplex, direction: 'inbound' | 'outbound') {
    super({
      log: silentLogger,
      direction,
      remoteAddr: multiaddr('/ip4/127.0.0.1/tcp/0'),
    });
    this.#duplex = duplex;
    duplex.on('data', (chunk: Buffer) => this.onData(chunk));
    duplex.on('drain', () => this.safeDispatchEvent('drain'));
    duplex.on('end', () => this.onRemoteCloseWrite());
    duplex.on('close', () => this.onTransportClosed());
    duplex.on('error', (err: Error) => this.abort(err));
  }

  sendData(data: Uint8ArrayList): SendResult {
    let canSendMore = true;
    for (const piece of data) canSendMore = this.#duplex.write(piece);
    return { sentBytes: data.byteLength, canSendMore };
  }

  sendReset(): void {
    this.#duplex.destroy();
  }

  async sendClose(_options?: AbortOptions): Promise<void> {
    this.#duplex.end();
  }

  sendPause(): void {
    this.#duplex.pause();
  }

  sendResume(): void {
    this.#duplex.resume();
  }
}

/** The parts of a @libp2p/yamux muxer the benchmark uses. */
export interface Libp2pYamuxSession {
  createStream(): Promise<Stream>;
  onStream(listener: (stream: Stream) => void): void;
  close(): void;
}

/**
 * Runs @libp2p/yamux over `duplex`: `client` opens odd stream ids (libp2p's
 * "outbound" connection). `maxStreamWindowBytes` caps its auto-tuned window.
 */
export function createLibp2pYamuxSession(duplex: Duplex, role: 'client' | 'server', maxStreamWindowBytes: number): Libp2pYamuxSession {
  const connection = new DuplexMultiaddrConnection(duplex, role === 'client' ? 'outbound' : 'inbound');
  const muxer = yamux({
    maxInboundStreams: 10_000,
    maxOutboundStreams: 10_000,
    streamOptions: {
      maxStreamWindowSize: maxStreamWindowBytes,
      maxReadBufferLength: Math.max(4 * 1024 * 1024, 2 * maxStreamWindowBytes),
    },
  })().createStreamMuxer(connection);
  return {
    createStream: () => muxer.createStream(),
    onStream: (listener) => muxer.addEventListener('stream', (evt) => listener(evt.detail)),
    close: () => {
      muxer.abort(new Error('benchmark done'));
      duplex.destroy();
    },
  };
}
