/**
 * A yamux session over any byte `Duplex` (TCP socket, WebSocket adapter,
 * in-memory pair), wire-compatible with hashicorp/yamux (spec.md).
 *
 * Events:
 * - `'stream'` (stream: MuxStream): an inbound stream, acknowledged at once
 *   (when no listener exists, inbound streams wait for `accept()`, up to
 *   `acceptBacklog`; over it they are reset).
 * - `'goaway'` (code: number): the peer sent GoAway.
 * - `'close'` (err: Error | undefined): the session ended; `err` is undefined
 *   only for our own `close()`/`destroy()` without an error.
 */
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { onAbort, throwIfAborted } from '../shared/abort.js';
import { TunnelError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { monotonicMs } from '../shared/clock.js';
import type { TimerHandle } from '../shared/clock.js';
import { Flag, FrameType, GoAwayCode, INITIAL_STREAM_WINDOW_BYTES, MAX_UINT32 } from './constants.js';
import {
  GoAwayError,
  KeepAliveTimeoutError,
  MuxProtocolError,
  SessionClosedError,
  StreamOpenTimeoutError,
} from './errors.js';
import { FrameDecoder, type FrameSink } from './frame-decoder.js';
import { encodeHeader, type FrameHeader } from './frame-header.js';
import { FrameWriter } from './frame-writer.js';
import { resolveMuxConfig, type MuxConfig, type SessionOptions } from './mux-config.js';
import { MuxStream, type StreamHost } from './stream.js';

interface PendingPing {
  startMs: number;
  resolve: (rttMs: number) => void;
  reject: (err: Error) => void;
}

interface AcceptWaiter {
  resolve: (stream: MuxStream) => void;
  reject: (err: Error) => void;
  removeAbort: () => void;
}

/**
 * Listener on streams waiting in the accept backlog: nobody holds them yet, so
 * a reset or a session teardown must not become an unhandled 'error'.
 */
const ignoreUnacceptedStreamError = (): void => {};

/** Options of `Session.close()`. */
export interface SessionCloseOptions {
  /** How long open streams may take to finish before they are reset. */
  graceMs?: number;
}

/** A yamux session. */
export class Session extends EventEmitter implements StreamHost, FrameSink {
  readonly config: Readonly<MuxConfig>;
  readonly maxStreamWindowBytes: number;
  readonly maxFramePayloadBytes: number;
  readonly #transport: Duplex;
  readonly #writer: FrameWriter;
  readonly #decoder: FrameDecoder;
  readonly #logger: Logger;
  readonly #streams = new Map<number, MuxStream>();
  #nextStreamId: number;
  #discardAllowanceBytes = 0;
  readonly #backlog: MuxStream[] = [];
  readonly #acceptWaiters: AcceptWaiter[] = [];
  /** Pings awaiting their ACK; null while there are none (an idle session keeps no Map for its one ping per interval). */
  #pings: Map<number, PendingPing> | null = null;
  #nextPingId = 0;
  #keepAliveTimer: TimerHandle | null = null;
  #lastRttMs: number | undefined;
  #localGoAway = false;
  #remoteGoAway: number | null = null;
  #closed = false;
  #closeReason: Error | undefined;
  #closing: Promise<void> | null = null;
  #drainWaiter: (() => void) | null = null;
  // Made on first use of `closed`: many sessions (a relay's idle agents) never ask.
  #closedPromise: Promise<Error | undefined> | null = null;
  #resolveClosed: ((err: Error | undefined) => void) | null = null;

  constructor(transport: Duplex, options: SessionOptions) {
    super();
    this.config = resolveMuxConfig(options);
    this.maxStreamWindowBytes = this.config.maxStreamWindowBytes;
    this.maxFramePayloadBytes = this.config.maxFramePayloadBytes;
    this.#logger = this.config.logger;
    this.#transport = transport;
    this.#nextStreamId = this.config.role === 'client' ? 1 : 2;
    this.#writer = new FrameWriter(transport, this.config.maxTransportBufferBytes, () =>
      this.#fail(new MuxProtocolError('Peer does not read: transport buffer over its limit', GoAwayCode.InternalError), false),
    );
    // The session is the decoder's sink itself: no sink object and closures per session.
    this.#decoder = new FrameDecoder(this, this.config.maxStreamWindowBytes);
    transport.on('data', this.#onTransportData);
    transport.on('end', this.#onTransportEnd);
    transport.on('close', this.#onTransportClose);
    transport.on('error', this.#onTransportError);
    this.#scheduleKeepAlive();
  }

  /** Streams currently open. */
  get streamCount(): number {
    return this.#streams.size;
  }

  /** True once the session has ended. */
  get isClosed(): boolean {
    return this.#closed;
  }

  /** Why the session ended (undefined while open, or after our own clean close). */
  get closeReason(): Error | undefined {
    return this.#closeReason;
  }

  /** Round-trip time of the last answered ping, in milliseconds. */
  get lastRttMs(): number | undefined {
    return this.#lastRttMs;
  }

  /** True once this side sent GoAway (`goAway()` or `close()`): no new streams either way. */
  get isGoingAway(): boolean {
    return this.#localGoAway;
  }

  /** The GoAway code the peer sent, or null. */
  get remoteGoAwayCode(): number | null {
    return this.#remoteGoAway;
  }

  /** Resolves when the session has ended, with the reason (undefined for our own clean close). */
  get closed(): Promise<Error | undefined> {
    if (this.#closedPromise === null) {
      this.#closedPromise = this.#closed
        ? Promise.resolve(this.#closeReason)
        : new Promise((resolve) => (this.#resolveClosed = resolve));
    }
    return this.#closedPromise;
  }

  /**
   * Opens a stream (sends SYN). Data can be written at once; if the peer does
   * not acknowledge within `streamOpenTimeoutMs` the stream is reset with
   * `StreamOpenTimeoutError`.
   */
  openStream(): MuxStream {
    if (this.#closed || this.#localGoAway) {
      throw new SessionClosedError('Session closed', { cause: this.#closeReason });
    }
    if (this.#remoteGoAway !== null) throw new GoAwayError(this.#remoteGoAway);
    if (this.#streams.size >= this.config.maxStreams) {
      throw new TunnelError('ERR_MUX_STREAMS_EXHAUSTED', `Too many open streams (limit: ${this.config.maxStreams})`);
    }
    const id = this.#nextStreamId;
    if (id > MAX_UINT32) throw new TunnelError('ERR_MUX_STREAMS_EXHAUSTED', `Stream ids exhausted (next: ${id})`);
    this.#nextStreamId += 2;
    const stream = new MuxStream(this, id, false);
    this.#streams.set(id, stream);
    let cancelTimer: (() => void) | undefined;
    const timeoutMs = this.config.streamOpenTimeoutMs;
    if (timeoutMs > 0) {
      const clock = this.config.clock;
      const timer = clock.setTimeout(() => {
        if (!stream.acknowledged && !stream.destroyed) stream.destroy(new StreamOpenTimeoutError(id, timeoutMs));
      }, timeoutMs);
      timer.unref?.();
      cancelTimer = () => clock.clearTimeout(timer);
    }
    stream.sendOpenFrame(Flag.SYN, cancelTimer);
    return stream;
  }

  /** Waits for the next inbound stream (used when no `'stream'` listener is set). */
  accept(options: { signal?: AbortSignal } = {}): Promise<MuxStream> {
    throwIfAborted(options.signal);
    if (this.#closed) return Promise.reject(new SessionClosedError('Session closed', { cause: this.#closeReason }));
    const queued = this.#backlog.shift();
    if (queued !== undefined) {
      queued.off('error', ignoreUnacceptedStreamError);
      this.#acknowledge(queued);
      return Promise.resolve(queued);
    }
    return new Promise((resolve, reject) => {
      const waiter: AcceptWaiter = {
        resolve,
        reject,
        removeAbort: onAbort(options.signal, (err) => {
          const i = this.#acceptWaiters.indexOf(waiter);
          if (i >= 0) this.#acceptWaiters.splice(i, 1);
          reject(err);
        }),
      };
      this.#acceptWaiters.push(waiter);
    });
  }

  /** Sends a ping and resolves with the round-trip time in milliseconds. */
  ping(options: { signal?: AbortSignal } = {}): Promise<number> {
    throwIfAborted(options.signal);
    if (this.#closed) return Promise.reject(new SessionClosedError('Session closed', { cause: this.#closeReason }));
    const id = this.#nextPingId;
    this.#nextPingId = (this.#nextPingId + 1) % (MAX_UINT32 + 1);
    return new Promise((resolve, reject) => {
      const removeAbort = onAbort(options.signal, (err) => {
        this.#forgetPing(id);
        reject(err);
      });
      (this.#pings ??= new Map<number, PendingPing>()).set(id, {
        startMs: monotonicMs(),
        resolve: (rtt) => {
          removeAbort();
          resolve(rtt);
        },
        reject: (err) => {
          removeAbort();
          reject(err);
        },
      });
      this.#writer.writeControl(encodeHeader(FrameType.Ping, Flag.SYN, 0, id));
    });
  }

  /** Sends GoAway: the peer may open no new streams; ours keep working. */
  goAway(code: GoAwayCode = GoAwayCode.Normal): void {
    if (this.#closed || this.#localGoAway) return;
    this.#localGoAway = true;
    this.#writer.writeControl(encodeHeader(FrameType.GoAway, 0, 0, code));
  }

  /**
   * Closes gracefully: GoAway(normal), lets open streams finish for up to
   * `graceMs`, resets what is left, then ends the transport. Idempotent.
   */
  close(options: SessionCloseOptions = {}): Promise<void> {
    if (this.#closing !== null) return this.#closing;
    if (this.#closed) return Promise.resolve();
    const graceMs = options.graceMs ?? this.config.closeGraceMs;
    this.goAway(GoAwayCode.Normal);
    // Streams still waiting for accept() will never be served: reset them now
    // rather than let them hold the drain until the grace runs out.
    for (const stream of this.#backlog.splice(0)) stream.destroy();
    this.#closing = new Promise<void>((resolve) => {
      const finish = () => {
        this.#drainWaiter = null;
        this.config.clock.clearTimeout(timer);
        this.#shutdown(undefined, true);
        resolve();
      };
      const timer = this.config.clock.setTimeout(finish, graceMs);
      if (this.#streams.size === 0) finish();
      else this.#drainWaiter = finish;
    });
    return this.#closing;
  }

  /** Ends the session at once: streams are aborted, the transport destroyed. */
  destroy(err?: Error): void {
    this.#shutdown(err, false);
  }

  // --- StreamHost -----------------------------------------------------------

  /** @internal */
  writeControl(frame: Buffer, lazy?: boolean): void {
    this.#writer.writeControl(frame, lazy);
  }

  /** @internal */
  writeData(buffers: Buffer[], bytes: number, callback?: () => void, lazy?: boolean): void {
    this.#writer.writeData(buffers, bytes, callback, lazy);
  }

  /** @internal */
  streamClosed(stream: MuxStream, unreadCreditBytes: number): void {
    if (this.#streams.get(stream.id) !== stream) return;
    this.#streams.delete(stream.id);
    this.#discardAllowanceBytes += unreadCreditBytes;
    const i = this.#backlog.indexOf(stream);
    if (i >= 0) this.#backlog.splice(i, 1);
    if (this.#streams.size === 0) this.#drainWaiter?.();
  }

  // --- receive path -----------------------------------------------------------

  readonly #onTransportData = (chunk: Buffer): void => {
    if (this.#closed) return;
    try {
      this.#decoder.push(chunk);
    } catch (err) {
      if (err instanceof MuxProtocolError) this.#fail(err, true);
      else this.#fail(new MuxProtocolError(`Internal error: ${String(err)}`, GoAwayCode.InternalError), true);
    }
  };

  /** @internal A frame header from the decoder. */
  onFrame(h: FrameHeader): void {
    switch (h.type) {
      case FrameType.Data:
      case FrameType.WindowUpdate:
        this.#onStreamFrame(h);
        return;
      case FrameType.Ping:
        this.#onPing(h);
        return;
      case FrameType.GoAway:
        this.#onGoAway(h.length);
        return;
    }
  }

  /** spec.md "Streams": SYN opens, ACK acknowledges, FIN half-closes, RST resets. */
  #onStreamFrame(h: FrameHeader): void {
    const id = h.streamId;
    if (id === 0) throw new MuxProtocolError(`Stream frame on stream 0 (type: ${h.type})`);
    let stream = this.#streams.get(id);
    if ((h.flags & Flag.SYN) !== 0) {
      if (stream !== undefined) throw new MuxProtocolError(`Duplicate SYN (stream: ${id})`);
      stream = this.#onInboundSyn(id);
    }
    if (stream === undefined) {
      if (h.type === FrameType.Data && h.length > 0) {
        if (h.length > this.#discardAllowanceBytes) {
          throw new MuxProtocolError(`Data on an unknown stream beyond any window granted (stream: ${id}, length: ${h.length})`);
        }
        this.#discardAllowanceBytes -= h.length;
      }
      return;
    }
    if (h.type === FrameType.WindowUpdate) {
      stream.receiveWindowUpdate(h.length);
      stream.receiveFlags(h.flags);
    } else {
      stream.chargeReceive(h.length);
      if ((h.flags & Flag.ACK) !== 0) stream.receiveFlags(Flag.ACK);
    }
  }

  /** @internal A piece of the current Data frame's payload. */
  onData(h: FrameHeader, chunk: Buffer): void {
    this.#streams.get(h.streamId)?.receiveData(chunk);
  }

  /** @internal The current Data frame's payload is complete. */
  onDataEnd(h: FrameHeader): void {
    const flags = h.flags & (Flag.FIN | Flag.RST);
    if (flags !== 0) this.#streams.get(h.streamId)?.receiveFlags(flags);
  }

  #onInboundSyn(id: number): MuxStream | undefined {
    const expectOdd = this.config.role === 'server';
    if ((id % 2 === 1) !== expectOdd) {
      throw new MuxProtocolError(`SYN with a stream id of the wrong parity (stream: ${id})`);
    }
    // hashicorp/yamux allocates ids atomically but may send the SYNs out of
    // order when goroutines open streams at once, so ids need not increase;
    // only a SYN for a stream that is still open is a violation (checked above).
    const reject = (why: string): undefined => {
      this.#logger.debug('resetting inbound stream', { streamId: id, reason: why });
      this.#writer.writeControl(encodeHeader(FrameType.WindowUpdate, Flag.RST, id, 0));
      // Until our RST arrives the peer may send a whole initial window (spec.md "Flow Control").
      this.#discardAllowanceBytes += INITIAL_STREAM_WINDOW_BYTES;
      return undefined;
    };
    if (this.#localGoAway) return reject('going away');
    if (this.#streams.size >= this.config.maxStreams) return reject('too many streams');
    const hasListener = this.listenerCount('stream') > 0;
    if (!hasListener && this.#acceptWaiters.length === 0 && this.#backlog.length >= this.config.acceptBacklog) {
      return reject('accept backlog full');
    }
    const stream = new MuxStream(this, id, true);
    this.#streams.set(id, stream);
    if (hasListener) {
      this.#acknowledge(stream);
      this.emit('stream', stream);
    } else {
      const waiter = this.#acceptWaiters.shift();
      if (waiter !== undefined) {
        waiter.removeAbort();
        this.#acknowledge(stream);
        waiter.resolve(stream);
      } else {
        stream.on('error', ignoreUnacceptedStreamError);
        this.#backlog.push(stream);
      }
    }
    return stream;
  }

  #acknowledge(stream: MuxStream): void {
    stream.sendOpenFrame(Flag.ACK);
  }

  #forgetPing(id: number): void {
    if (this.#pings === null) return;
    this.#pings.delete(id);
    if (this.#pings.size === 0) this.#pings = null;
  }

  /** spec.md "Ping": answer SYN with ACK and the same opaque value. */
  #onPing(h: FrameHeader): void {
    if ((h.flags & Flag.SYN) !== 0) {
      this.#writer.writeControl(encodeHeader(FrameType.Ping, Flag.ACK, 0, h.length));
      return;
    }
    if ((h.flags & Flag.ACK) !== 0) {
      const pending = this.#pings?.get(h.length);
      if (pending === undefined) return;
      this.#forgetPing(h.length);
      const rtt = monotonicMs() - pending.startMs;
      this.#lastRttMs = rtt;
      pending.resolve(rtt);
    }
  }

  /** spec.md "GoAway": no new streams; a non-normal code ends the session. */
  #onGoAway(code: number): void {
    this.#remoteGoAway = code;
    this.emit('goaway', code);
    if (code !== GoAwayCode.Normal) {
      this.#shutdown(new GoAwayError(code), false);
    }
  }

  // --- keepalive --------------------------------------------------------------

  #scheduleKeepAlive(): void {
    const intervalMs = this.config.keepAliveIntervalMs;
    if (intervalMs === 0 || this.#closed) return;
    // One timer for the session's whole life, re-armed with refresh() where the
    // clock's timers have it (Node's do): a new timer every interval would be
    // old-generation garbage by the time it fires, times every idle session.
    const timer = this.#keepAliveTimer as (TimerHandle & { refresh?: () => unknown }) | null;
    if (timer !== null && typeof timer.refresh === 'function') {
      timer.refresh();
      return;
    }
    this.#keepAliveTimer = this.config.clock.setTimeout(this.#onKeepAliveDue, intervalMs);
    this.#keepAliveTimer.unref?.();
  }

  readonly #onKeepAliveDue = (): void => {
    if (this.#closed) return;
    const clock = this.config.clock;
    const timeoutMs = this.config.keepAliveTimeoutMs;
    const timer = clock.setTimeout(() => this.#fail(new KeepAliveTimeoutError(timeoutMs), false), timeoutMs);
    timer.unref?.();
    this.ping().then(
      () => {
        clock.clearTimeout(timer);
        this.#scheduleKeepAlive();
      },
      () => clock.clearTimeout(timer),
    );
  };

  // --- shutdown ---------------------------------------------------------------

  readonly #onTransportEnd = (): void => {
    this.#shutdown(this.#transportGoneReason('Transport ended by peer'), false);
  };

  readonly #onTransportClose = (): void => {
    this.#shutdown(this.#transportGoneReason('Transport closed'), false);
  };

  readonly #onTransportError = (err: Error): void => {
    this.#shutdown(this.#transportGoneReason(`Transport failed: ${err.message}`, err), false);
  };

  /** Why the session ends when its transport goes: the peer's GoAway if it sent one, else the transport's fate. */
  #transportGoneReason(message: string, cause?: Error): Error {
    if (this.#remoteGoAway !== null) {
      const err = new GoAwayError(this.#remoteGoAway);
      if (cause !== undefined) err.cause = cause;
      return err;
    }
    return new SessionClosedError(message, { cause });
  }

  /** A protocol violation or a dead peer: GoAway with the error's code (when the peer may still read), then close. */
  #fail(err: MuxProtocolError | KeepAliveTimeoutError, sendGoAway: boolean): void {
    if (this.#closed) return;
    this.#logger.warn('session failed', { code: err.code, error: err.message });
    if (sendGoAway && err instanceof MuxProtocolError) {
      this.#writer.writeControl(encodeHeader(FrameType.GoAway, 0, 0, err.goAwayCode));
      this.#writer.flush();
    }
    this.#shutdown(err, sendGoAway);
  }

  #shutdown(err: Error | undefined, graceful: boolean): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeReason = err;
    this.#decoder.stop();
    if (this.#keepAliveTimer !== null) this.config.clock.clearTimeout(this.#keepAliveTimer);
    const streamErr = new SessionClosedError('Session closed', { cause: err });
    for (const stream of [...this.#streams.values()]) {
      if (graceful && err === undefined && !stream.destroyed) {
        // close() grace expired: tell the peer these streams are gone.
        stream.destroy(streamErr);
      } else {
        stream.abort(streamErr);
      }
    }
    this.#streams.clear();
    this.#backlog.length = 0;
    for (const w of this.#acceptWaiters.splice(0)) {
      w.removeAbort();
      w.reject(streamErr);
    }
    const pings = this.#pings;
    this.#pings = null;
    if (pings !== null) for (const p of pings.values()) p.reject(streamErr);
    this.#writer.flush();
    this.#writer.close();
    this.#transport.off('data', this.#onTransportData);
    if (graceful) {
      this.#transport.end();
    } else {
      this.#transport.destroy();
    }
    this.#resolveClosed?.(err);
    this.emit('close', err);
  }
}
