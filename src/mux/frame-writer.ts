/**
 * The session's single writer. Frames written in one tick are coalesced into
 * one transport write (one WebSocket message instead of one per 12-byte
 * header). Data frames wait while the transport is over its high-water mark
 * and resume on `drain`; control frames (window updates, ping ACKs, RST,
 * GoAway) never wait behind them.
 */
import type { Writable } from 'node:stream';

interface PendingData {
  buffers: Buffer[];
  bytes: number;
  callback: (() => void) | undefined;
}

const COALESCE_COPY_LIMIT_BYTES = 64 * 1024;

/** Writes frames to a transport with coalescing and drain-aware data flow. */
export class FrameWriter {
  readonly #transport: Writable;
  readonly #onOverflow: () => void;
  readonly #maxTransportBufferBytes: number;
  #batch: Buffer[] = [];
  #batchBytes = 0;
  #batchCallbacks: Array<() => void> = [];
  #flushScheduled = false;
  #blocked = false;
  #pending: PendingData[] = [];
  #closed = false;

  /**
   * `onOverflow` is called when the transport holds more than
   * `maxTransportBufferBytes` (a peer that stopped reading).
   */
  constructor(transport: Writable, maxTransportBufferBytes: number, onOverflow: () => void) {
    this.#transport = transport;
    this.#maxTransportBufferBytes = maxTransportBufferBytes;
    this.#onOverflow = onOverflow;
    transport.on('drain', this.#onDrain);
  }

  /** True while data frames wait for the transport's `drain`. */
  get blocked(): boolean {
    return this.#blocked;
  }

  /** Queues a control frame; it goes out with the next flush, blocked or not. */
  writeControl(frame: Buffer): void {
    if (this.#closed) return;
    this.#append(frame);
    this.#scheduleFlush();
  }

  /**
   * Queues a data frame (header and payload pieces, in order); `callback`
   * runs once the frame has been handed to the transport.
   */
  writeData(buffers: Buffer[], bytes: number, callback?: () => void): void {
    if (this.#closed) return;
    if (this.#blocked || this.#pending.length > 0) {
      this.#pending.push({ buffers, bytes, callback });
      return;
    }
    for (const b of buffers) this.#append(b);
    if (callback !== undefined) this.#batchCallbacks.push(callback);
    this.#scheduleFlush();
  }

  /** Writes whatever is queued now, synchronously. */
  flush(): void {
    this.#flushScheduled = false;
    if (this.#closed || this.#batch.length === 0) return;
    const batch = this.#batch;
    const bytes = this.#batchBytes;
    const callbacks = this.#batchCallbacks;
    this.#batch = [];
    this.#batchBytes = 0;
    this.#batchCallbacks = [];
    let ok: boolean;
    if (batch.length === 1) {
      ok = this.#transport.write(batch[0]);
    } else if (bytes <= COALESCE_COPY_LIMIT_BYTES) {
      ok = this.#transport.write(Buffer.concat(batch, bytes));
    } else {
      ok = true;
      this.#transport.cork();
      for (const b of batch) ok = this.#transport.write(b);
      this.#transport.uncork();
    }
    if (!ok) {
      this.#blocked = true;
      if (this.#transport.writableLength > this.#maxTransportBufferBytes) {
        this.#onOverflow();
        return;
      }
    }
    for (const cb of callbacks) cb();
  }

  /** Drops everything queued; later writes are ignored. */
  close(): void {
    this.#closed = true;
    this.#batch = [];
    this.#batchCallbacks = [];
    this.#pending = [];
    this.#transport.off('drain', this.#onDrain);
  }

  #append(b: Buffer): void {
    this.#batch.push(b);
    this.#batchBytes += b.length;
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    process.nextTick(() => this.flush());
  }

  readonly #onDrain = (): void => {
    this.#blocked = false;
    while (!this.#blocked && this.#pending.length > 0 && !this.#closed) {
      // Move pending frames into the batch until one write's worth is queued.
      let bytes = 0;
      while (this.#pending.length > 0 && bytes < this.#transport.writableHighWaterMark) {
        const p = this.#pending.shift() as PendingData;
        for (const b of p.buffers) this.#append(b);
        if (p.callback !== undefined) this.#batchCallbacks.push(p.callback);
        bytes += p.bytes;
      }
      this.flush();
    }
  };
}
