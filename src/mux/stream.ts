/**
 * One yamux stream as a Node `Duplex` (spec.md "Streams", "Flow Control").
 *
 * - `end()` sends FIN once every written byte is out; a received FIN ends the
 *   readable side. Half-close works both ways (`allowHalfOpen`).
 * - `destroy()` sends RST unless both sides already sent FIN; a received RST
 *   destroys the stream with `StreamResetError`.
 * - Receive credit is returned only as the consumer reads: a window update
 *   goes out once at least half the window was consumed (hashicorp
 *   `sendWindowUpdate`), so the peer can never have more than one window of
 *   bytes buffered here.
 * - `_write` waits for send-window credit, so `write()` returning false means
 *   the peer is not reading.
 */
import { Duplex } from 'node:stream';
import { Flag, FrameType, HEADER_LENGTH_BYTES, INITIAL_STREAM_WINDOW_BYTES, MAX_UINT32 } from './constants.js';
import { MuxProtocolError, StreamResetError } from './errors.js';
import { encodeHeader } from './frame-header.js';

/** What a stream needs from its session. */
export interface StreamHost {
  readonly maxStreamWindowBytes: number;
  readonly maxFramePayloadBytes: number;
  /** `lazy`: nobody waits for the frame; it may wait briefly for another flush (see `FrameWriter`). */
  writeControl(frame: Buffer, lazy?: boolean): void;
  writeData(buffers: Buffer[], bytes: number, callback?: () => void, lazy?: boolean): void;
  /** The stream is gone; `unreadCreditBytes` is what the peer may still send to it. */
  streamClosed(stream: MuxStream, unreadCreditBytes: number): void;
}

/** A yamux stream. Created by `Session`, never directly. */
export class MuxStream extends Duplex {
  /** The stream id (odd: opened by the client, even: by the server). */
  readonly id: number;
  readonly #host: StreamHost;
  #sendWindowBytes = INITIAL_STREAM_WINDOW_BYTES;
  #recvWindowBytes = INITIAL_STREAM_WINDOW_BYTES;
  /** Received bytes not yet handed to the readable side (Node asked for none). */
  #inQueue: Buffer[] = [];
  #inQueueBytes = 0;
  /** Charged to the receive window by a Data header but not arrived yet (the rest of the current frame). */
  #frameBytesDue = 0;
  #readRequested = false;
  #creditCheckScheduled = false;
  /** True once our SYN (outbound) or ACK (inbound) is queued: window grants before it would be a frame too many. */
  #openFrameSent = false;
  #outBuffers: Buffer[] = [];
  #outBytes = 0;
  #outCallback: ((err?: Error | null) => void) | null = null;
  #finSent = false;
  #finReceived = false;
  #resetDone = false;
  #acknowledged: boolean;
  #openTimer: (() => void) | null = null;

  /** @internal */
  constructor(host: StreamHost, id: number, acknowledged: boolean) {
    super({
      allowHalfOpen: true,
      readableHighWaterMark: 64 * 1024,
      writableHighWaterMark: 64 * 1024,
    });
    this.id = id;
    this.#host = host;
    this.#acknowledged = acknowledged;
  }

  /** Bytes we may still send before the peer grants more. */
  get sendWindowBytes(): number {
    return this.#sendWindowBytes;
  }

  /** Bytes the peer may still send before we grant more. */
  get receiveWindowBytes(): number {
    return this.#recvWindowBytes;
  }

  /** True once the peer acknowledged the stream (always true for inbound streams). */
  get acknowledged(): boolean {
    return this.#acknowledged;
  }

  /**
   * @internal Sends the SYN (outbound) or ACK (inbound) window update,
   * advertising a larger window if configured. An ACK that grants no window
   * is lazy: it leaves with the stream's first reply when that comes soon.
   */
  sendOpenFrame(flags: number, cancelOpenTimer?: () => void): void {
    // Only what brings the window up to the max: a stream that waited in the
    // accept backlog may already have granted it with a window update.
    const delta = Math.max(0, this.#host.maxStreamWindowBytes - this.#frameBytesDue - this.#inQueueBytes - this.readableLength - this.#recvWindowBytes);
    this.#recvWindowBytes += delta;
    this.#openFrameSent = true;
    this.#host.writeControl(encodeHeader(FrameType.WindowUpdate, flags, this.id, delta), flags === Flag.ACK && delta === 0);
    if (cancelOpenTimer !== undefined) this.#openTimer = cancelOpenTimer;
  }

  /** @internal A Data header arrived: charge its length to the receive window. */
  chargeReceive(lengthBytes: number): void {
    if (lengthBytes > this.#recvWindowBytes) {
      throw new MuxProtocolError(
        `Data beyond the receive window (stream: ${this.id}, window: ${this.#recvWindowBytes}, length: ${lengthBytes})`,
      );
    }
    this.#recvWindowBytes -= lengthBytes;
    this.#frameBytesDue += lengthBytes;
  }

  /** @internal Payload bytes for this stream. */
  receiveData(chunk: Buffer): void {
    this.#frameBytesDue -= chunk.length;
    if (this.#finReceived || this.destroyed) return;
    if (this.#readRequested && this.#inQueue.length === 0) {
      this.#readRequested = this.push(chunk);
    } else {
      this.#inQueue.push(chunk);
      this.#inQueueBytes += chunk.length;
    }
    this.#maybeSendWindowUpdate();
  }

  /** @internal Flags of a frame for this stream (after its payload). */
  receiveFlags(flags: number): void {
    if ((flags & Flag.ACK) !== 0) this.#onAck();
    if ((flags & Flag.RST) !== 0) {
      this.#resetDone = true;
      this.destroy(new StreamResetError(this.id));
      return;
    }
    if ((flags & Flag.FIN) !== 0 && !this.#finReceived) {
      this.#finReceived = true;
      if (this.#inQueue.length === 0) this.push(null);
    }
  }

  /** @internal The peer granted `deltaBytes` more send credit. */
  receiveWindowUpdate(deltaBytes: number): void {
    const next = this.#sendWindowBytes + deltaBytes;
    if (next > MAX_UINT32) {
      throw new MuxProtocolError(`Window update overflows the send window (stream: ${this.id}, delta: ${deltaBytes})`);
    }
    this.#sendWindowBytes = next;
    if (this.#outBytes > 0) this.#pump();
  }

  /** @internal The session is gone: destroy without sending anything. */
  abort(err: Error): void {
    this.#resetDone = true;
    this.destroy(err);
  }

  /**
   * As `Duplex.end()`, except that ending a stream already finished or
   * destroyed, without a callback, does nothing: Node would build an error
   * with a stack trace that nobody receives. Node's HTTP server does this
   * once per exchange (its socket 'end' handler ends a socket it already
   * ended): 3 % of the agent's CPU per small GET.
   */
  override end(...args: unknown[]): this {
    if (args.length === 0 && (this.writableFinished || this.destroyed)) return this;
    return super.end(...(args as Parameters<Duplex['end']>));
  }

  override _read(): void {
    this.#readRequested = true;
    while (this.#inQueue.length > 0) {
      const chunk = this.#inQueue.shift() as Buffer;
      this.#inQueueBytes -= chunk.length;
      if (!this.push(chunk)) {
        this.#readRequested = false;
        break;
      }
    }
    if (this.#inQueue.length === 0 && this.#finReceived) this.push(null);
    // Node calls _read before it removes the bytes it is about to hand out,
    // so look at the buffer again once the consumer has them.
    if (!this.#creditCheckScheduled) {
      this.#creditCheckScheduled = true;
      process.nextTick(this.#deferredCreditCheck);
    }
  }

  readonly #deferredCreditCheck = (): void => {
    this.#creditCheckScheduled = false;
    this.#maybeSendWindowUpdate();
  };

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.#outBuffers.push(chunk);
    this.#outBytes += chunk.length;
    this.#startWrite(callback);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (err?: Error | null) => void): void {
    for (const { chunk } of chunks) {
      this.#outBuffers.push(chunk);
      this.#outBytes += chunk.length;
    }
    this.#startWrite(callback);
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.#finSent = true;
    // Lazy: a FIN leaves with the next flush (the data before it, or the
    // session's next frames), or within LAZY_FLUSH_DELAY_MS.
    this.#host.writeData([encodeHeader(FrameType.WindowUpdate, Flag.FIN, this.id, 0)], HEADER_LENGTH_BYTES, () => callback(), true);
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.#openTimer?.();
    this.#openTimer = null;
    if (!this.#resetDone && !(this.#finSent && this.#finReceived)) {
      this.#host.writeControl(encodeHeader(FrameType.WindowUpdate, Flag.RST, this.id, 0));
    }
    this.#resetDone = true;
    this.#outBuffers = [];
    this.#outBytes = 0;
    this.#outCallback = null;
    this.#inQueue = [];
    this.#inQueueBytes = 0;
    this.#host.streamClosed(this, this.#finReceived ? 0 : this.#recvWindowBytes);
    callback(err);
  }

  #startWrite(callback: (err?: Error | null) => void): void {
    if (this.#outBytes === 0) {
      this.#outBuffers = [];
      callback();
      return;
    }
    this.#outCallback = callback;
    this.#pump();
  }

  #onAck(): void {
    if (this.#acknowledged) return;
    this.#acknowledged = true;
    this.#openTimer?.();
    this.#openTimer = null;
  }

  /** Sends as much of the pending write as the send window allows. */
  #pump(): void {
    const maxFrame = this.#host.maxFramePayloadBytes;
    while (this.#outBytes > 0 && this.#sendWindowBytes > 0) {
      const frameBytes = Math.min(this.#outBytes, this.#sendWindowBytes, maxFrame);
      const pieces: Buffer[] = [encodeHeader(FrameType.Data, 0, this.id, frameBytes)];
      let need = frameBytes;
      while (need > 0) {
        const head = this.#outBuffers[0] as Buffer;
        if (head.length <= need) {
          pieces.push(head);
          this.#outBuffers.shift();
          need -= head.length;
        } else {
          pieces.push(head.subarray(0, need));
          this.#outBuffers[0] = head.subarray(need);
          need = 0;
        }
      }
      this.#outBytes -= frameBytes;
      this.#sendWindowBytes -= frameBytes;
      let done: (() => void) | undefined;
      if (this.#outBytes === 0) {
        const cb = this.#outCallback;
        this.#outCallback = null;
        done = () => cb?.();
      }
      this.#host.writeData(pieces, HEADER_LENGTH_BYTES + frameBytes, done);
    }
  }

  /** hashicorp `sendWindowUpdate`: grant what the consumer has read, once it is at least half a window. */
  #maybeSendWindowUpdate(): void {
    // A stream still in the accept backlog gets its window with the ACK.
    if (this.#finReceived || this.#resetDone || !this.#openFrameSent) return;
    const max = this.#host.maxStreamWindowBytes;
    const deltaBytes = max - this.#frameBytesDue - this.#inQueueBytes - this.readableLength - this.#recvWindowBytes;
    if (deltaBytes < max / 2) return;
    this.#recvWindowBytes += deltaBytes;
    this.#host.writeControl(encodeHeader(FrameType.WindowUpdate, 0, this.id, deltaBytes));
  }
}
