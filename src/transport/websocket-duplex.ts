/**
 * A byte-stream `Duplex` over a `ws` WebSocket (wire contract: binary
 * messages whose concatenated payloads form one stream; boundaries mean
 * nothing). Backpressure crosses the boundary both ways, as in ws
 * `lib/stream.js`: a full readable buffer pauses the socket, and a write's
 * callback waits until the socket has flushed the message.
 *
 * A WebSocket has no half-close: `end()` flushes, sends close 1000 and the
 * peer answers with its own close, after which neither side can send.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { Duplex, Writable } from 'node:stream';
import { WebSocket } from './ws-module.js';
import { systemClock, type Clock } from '../shared/clock.js';
import { TunnelError } from '../shared/errors.js';
import { requireInt } from '../shared/validate.js';
import { onAbort } from '../shared/abort.js';

/** User options of a `WebSocketDuplex`; every field optional. */
export interface WebSocketDuplexOptions {
  /** Bytes buffered by `write()` before it returns `false`. */
  writableHighWaterMarkBytes?: number;
  /** Bytes buffered for the reader before the socket is paused. */
  readableHighWaterMarkBytes?: number;
  /** Largest message sent; a bigger coalesced write is split (boundaries mean nothing). */
  maxMessageBytes?: number;
  /** Timers for `closeGracefully`. */
  clock?: Clock;
  /** Headers of the peer's `101` answer (set by the dialer; empty on the accepting side). */
  upgradeHeaders?: Readonly<IncomingHttpHeaders>;
}

/** Resolved `WebSocketDuplex` settings. */
export interface WebSocketDuplexConfig {
  writableHighWaterMarkBytes: number;
  readableHighWaterMarkBytes: number;
  maxMessageBytes: number;
}

/** Defaults: 1 MiB each way, messages of at most 1 MiB. */
export const DEFAULT_WEBSOCKET_DUPLEX_CONFIG: Readonly<WebSocketDuplexConfig> = Object.freeze({
  writableHighWaterMarkBytes: 1024 * 1024,
  readableHighWaterMarkBytes: 1024 * 1024,
  maxMessageBytes: 1024 * 1024,
});

/**
 * Default cap on one received message, for the dialer and the listener. Our
 * peers send at most `maxMessageBytes`; Go peers one yamux frame per message.
 */
export const DEFAULT_MAX_PAYLOAD_BYTES = 16 * 1024 * 1024;

/** Merges `options` over the defaults and validates them; throws `ConfigError`. */
export function resolveWebSocketDuplexConfig(options: WebSocketDuplexOptions = {}): Readonly<WebSocketDuplexConfig> {
  const d = DEFAULT_WEBSOCKET_DUPLEX_CONFIG;
  return Object.freeze({
    writableHighWaterMarkBytes: requireInt('writableHighWaterMarkBytes', options.writableHighWaterMarkBytes ?? d.writableHighWaterMarkBytes, 1024),
    readableHighWaterMarkBytes: requireInt('readableHighWaterMarkBytes', options.readableHighWaterMarkBytes ?? d.readableHighWaterMarkBytes, 1024),
    maxMessageBytes: requireInt('maxMessageBytes', options.maxMessageBytes ?? d.maxMessageBytes, 1024),
  });
}

/** Chunks at least this large are sent as messages of their own rather than copied into a merged one. */
const COPY_THRESHOLD_BYTES = 16 * 1024;

const noop = (): void => {};

const EMPTY_HEADERS: Readonly<IncomingHttpHeaders> = Object.freeze({});

/**
 * The TCP (or TLS) socket under a `ws` WebSocket: `ws` keeps it in `_socket`
 * (not part of its typed API, present in every ws 8 release). Undefined if a
 * future ws moves it; corking is then skipped, which changes nothing but the
 * number of system calls.
 */
function underlyingSocket(ws: WebSocket): Writable | undefined {
  const socket = (ws as unknown as { _socket?: unknown })._socket;
  return socket instanceof Writable ? socket : undefined;
}

/** Close codes that end the stream cleanly: normal, going away, and a close frame without a status (RFC 6455 7.1.5). */
const CLEAN_CLOSE_CODES: ReadonlySet<number> = new Set([1000, 1001, 1005]);

/** Close code sent when the peer sends a text message (RFC 6455 "unsupported data"). */
const CLOSE_UNSUPPORTED_DATA = 1003;

/** Close code sent when the duplex is destroyed with an error. */
const CLOSE_INTERNAL_ERROR = 1011;

/** Options of `WebSocketDuplex.closeGracefully`. */
export interface CloseGracefullyOptions {
  /** How long to wait for the close handshake before terminating the socket. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** A Node `Duplex` carrying a byte stream over an open `ws` WebSocket. */
export class WebSocketDuplex extends Duplex {
  readonly #ws: WebSocket;
  readonly #config: Readonly<WebSocketDuplexConfig>;
  readonly #clock: Clock;
  /** The socket under `#ws`, corked while one batch's messages are sent; looked up once. */
  readonly #socket: Writable | undefined;
  #closeCode: number | undefined;
  #closeReason: string | undefined;
  /** Headers of the peer's `101` answer, when this end dialed (lower-case names, as Node parsed them); empty otherwise. */
  readonly upgradeHeaders: Readonly<IncomingHttpHeaders>;

  /** Wraps `ws`, which must be OPEN; the duplex owns it from now on. */
  constructor(ws: WebSocket, options: WebSocketDuplexOptions = {}) {
    const config = resolveWebSocketDuplexConfig(options);
    super({
      allowHalfOpen: false,
      readableHighWaterMark: config.readableHighWaterMarkBytes,
      writableHighWaterMark: config.writableHighWaterMarkBytes,
    });
    this.#ws = ws;
    this.#config = config;
    this.#clock = options.clock ?? systemClock;
    this.#socket = underlyingSocket(ws);
    this.upgradeHeaders = options.upgradeHeaders ?? EMPTY_HEADERS;
    ws.binaryType = 'nodebuffer';
    ws.on('message', (data, isBinary) => this.#onMessage(data as Buffer, isBinary));
    ws.on('close', (code, reason) => this.#onClose(code, reason.toString()));
    // Kept for the socket's whole life: an 'error' without a listener would crash the process.
    ws.on('error', (err) => this.#onError(err));
    if (ws.readyState !== WebSocket.OPEN) {
      process.nextTick(() => this.destroy(new TunnelError('ERR_TRANSPORT_CLOSED', `WebSocket is not open (readyState: ${ws.readyState})`)));
    }
  }

  /** Close code received from the peer (or 1006 for an abrupt end); undefined while open. */
  get closeCode(): number | undefined {
    return this.#closeCode;
  }

  /** Close reason received from the peer; undefined while open. */
  get closeReason(): string | undefined {
    return this.#closeReason;
  }

  /** The underlying socket, for diagnostics (`bufferedAmount`, `isPaused`); never send through it. */
  get webSocket(): WebSocket {
    return this.#ws;
  }

  /**
   * Ends the stream (pending writes are flushed first, then close 1000) and
   * resolves once the close handshake is done, so the close frame is on the
   * wire. After `timeoutMs` (default 5000) or an abort the socket is
   * terminated instead. Resolves `true` when the handshake completed;
   * idempotent.
   */
  async closeGracefully({ timeoutMs = 5000, signal }: CloseGracefullyOptions = {}): Promise<boolean> {
    requireInt('timeoutMs', timeoutMs, 0);
    if (!this.destroyed && !this.writableEnded) this.end();
    else if (this.#ws.readyState === WebSocket.OPEN) this.#ws.close(1000);
    if (this.#ws.readyState !== WebSocket.CLOSED) {
      let timer: ReturnType<Clock['setTimeout']> | undefined;
      let removeAbort = () => {};
      let onWsClose = () => {};
      // Waited for only here (not from the constructor): a promise per open socket is memory that thousands of idle sessions pay for.
      const wsClosed = new Promise<void>((resolve) => {
        onWsClose = () => resolve();
        this.#ws.once('close', onWsClose);
      });
      const gaveUp = new Promise<void>((resolve) => {
        timer = this.#clock.setTimeout(resolve, timeoutMs);
        removeAbort = onAbort(signal, () => resolve());
      });
      await Promise.race([wsClosed, gaveUp]);
      if (timer !== undefined) this.#clock.clearTimeout(timer);
      removeAbort();
      this.#ws.off('close', onWsClose);
    }
    const completed = this.#ws.readyState === WebSocket.CLOSED;
    if (!completed) this.#ws.terminate();
    if (!this.destroyed) this.destroy();
    return completed && this.#closeCode !== undefined && CLEAN_CLOSE_CODES.has(this.#closeCode);
  }

  override _read(): void {
    if (this.#ws.isPaused) this.#ws.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.#send(chunk, callback);
  }

  // What was buffered while the previous message was in flight goes out in as
  // few messages as possible: runs of small chunks (yamux headers, window
  // updates, small payloads) are merged into one message, while a large chunk
  // is sent as its own message, since copying it would cost more than a
  // message header.
  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (err?: Error | null) => void): void {
    if (chunks.length === 1) {
      this.#send((chunks[0] as { chunk: Buffer }).chunk, callback);
      return;
    }
    const messages: Buffer[] = [];
    let run: Buffer[] = [];
    let runBytes = 0;
    const flushRun = () => {
      if (run.length > 0) messages.push(run.length === 1 ? (run[0] as Buffer) : Buffer.concat(run, runBytes));
      run = [];
      runBytes = 0;
    };
    for (const { chunk } of chunks) {
      if (chunk.length >= COPY_THRESHOLD_BYTES) {
        flushRun();
        messages.push(chunk);
      } else {
        run.push(chunk);
        runBytes += chunk.length;
        if (runBytes >= COPY_THRESHOLD_BYTES) flushRun();
      }
    }
    flushRun();
    const last = messages.length - 1;
    // ws writes each message to its socket at once; corked, the messages of
    // this batch leave in one writev instead of one system call each (a
    // 12-byte yamux header before a large payload is a message of its own).
    const socket = this.#socket;
    socket?.cork();
    try {
      for (let i = 0; i < last; i++) this.#send(messages[i] as Buffer, noop);
      this.#send(messages[last] as Buffer, callback);
    } finally {
      socket?.uncork();
    }
  }

  override _final(callback: (err?: Error | null) => void): void {
    // Every write callback has run, so all data is flushed to the socket.
    if (this.#ws.readyState === WebSocket.OPEN) this.#ws.close(1000);
    callback();
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    const ws = this.#ws;
    if (ws.readyState === WebSocket.OPEN && ws.bufferedAmount === 0) {
      ws.close(err === null ? 1000 : CLOSE_INTERNAL_ERROR);
    } else if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) {
      // A close frame would queue behind unflushed data that may never drain.
      ws.terminate();
    }
    // CLOSING: a close frame is already out (end, protocol error); ws ends the socket itself.
    callback(err);
  }

  #send(data: Buffer, callback: (err?: Error | null) => void): void {
    if (this.#ws.readyState !== WebSocket.OPEN) {
      callback(this.#notOpenError());
      return;
    }
    if (data.length === 0) {
      callback();
      return;
    }
    const max = this.#config.maxMessageBytes;
    for (let offset = 0; offset < data.length; offset += max) {
      const isLast = offset + max >= data.length;
      const part = data.subarray(offset, offset + max);
      // ws calls back in order, so the last callback means every part is flushed.
      this.#ws.send(part, { binary: true, compress: false }, isLast ? (err) => callback(err ? this.#sendError(err) : null) : undefined);
    }
  }

  #onMessage(data: Buffer, isBinary: boolean): void {
    if (this.destroyed) return;
    if (!isBinary) {
      this.#ws.close(CLOSE_UNSUPPORTED_DATA, 'binary messages only');
      this.destroy(new TunnelError('ERR_TRANSPORT_PROTOCOL', 'Received a text WebSocket message; the tunnel carries binary messages only'));
      return;
    }
    if (data.length > 0 && !this.push(data)) this.#ws.pause();
  }

  #onClose(code: number, reason: string): void {
    this.#closeCode = code;
    this.#closeReason = reason;
    if (this.destroyed) return;
    if (CLEAN_CLOSE_CODES.has(code)) {
      this.push(null);
      return;
    }
    this.destroy(new TunnelError('ERR_TRANSPORT_CLOSED', `WebSocket closed abnormally (code: ${code}${reason === '' ? '' : `, reason: ${reason}`})`));
  }

  #onError(err: Error): void {
    if (this.destroyed) return;
    // ws's own codes (WS_ERR_*) mark a peer violating the protocol, e.g. a message over maxPayload.
    const wsCode = (err as { code?: unknown }).code;
    const code = typeof wsCode === 'string' && wsCode.startsWith('WS_ERR_') ? 'ERR_TRANSPORT_PROTOCOL' : 'ERR_TRANSPORT_CLOSED';
    this.destroy(new TunnelError(code, `WebSocket transport failed: ${err.message}`, { cause: err }));
  }

  #notOpenError(): TunnelError {
    const suffix = this.#closeCode === undefined ? `readyState: ${this.#ws.readyState}` : `code: ${this.#closeCode}`;
    return new TunnelError('ERR_TRANSPORT_CLOSED', `WebSocket is closed, cannot send (${suffix})`);
  }

  #sendError(err: Error): TunnelError {
    return new TunnelError('ERR_TRANSPORT_CLOSED', `WebSocket send failed: ${err.message}`, { cause: err });
  }
}
