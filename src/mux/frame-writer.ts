/**
 * The session's single writer. Frames written during one turn of the event
 * loop are coalesced into one transport write (one WebSocket message instead
 * of one per 12-byte header): the flush runs in `setImmediate`, after the I/O
 * callbacks of the turn, so a stream's SYN, its request and its FIN, or many
 * streams' frames under load, leave together. Data frames enter the transport only while it holds less than
 * its high-water mark (or 1 MiB, whichever is larger; at least one frame per
 * write, so large frames still go) and otherwise wait here for `drain`;
 * control frames (window updates, ping ACKs, RST, GoAway) never wait behind
 * them, so about 1 MiB plus one frame of data at most is ever ahead of a
 * control frame (hashicorp `TestSession_PingOfDeath`). A data frame's
 * callback runs as soon as the frame is admitted to the batch (the batch is
 * bounded by the same limit), so a writer can queue its next frame, or its
 * FIN, into the same flush.
 *
 * Frames that nobody waits for (a stream's ACK, its FIN after a complete
 * exchange) may be queued as lazy: they do not start a flush of their own but
 * ride along with the next one, or leave after `LAZY_FLUSH_DELAY_MS` when no
 * other frame comes. At low concurrency this halves the WebSocket messages
 * per request: the agent's ACK leaves with its response, the relay's FIN with
 * the next request.
 */
import type { Writable } from 'node:stream';

interface PendingData {
  buffers: Buffer[];
  bytes: number;
  callback: (() => void) | undefined;
  lazy: boolean;
}

/** Longest a lazy frame waits for another frame to leave with, in ms. */
export const LAZY_FLUSH_DELAY_MS = 2;

/**
 * The batch of a writer with nothing queued, shared by all of them and never
 * written to: a fresh array per flush would wait for the next flush (an
 * idle session's next ping, seconds later), long enough to be promoted to
 * the old generation and die there, times every idle session.
 */
const NO_FRAMES: Buffer[] = Object.freeze([]) as unknown as Buffer[];

const COALESCE_COPY_LIMIT_BYTES = 64 * 1024;
// Below this, transports with a small high-water mark (TCP: 16 KiB) would get one frame per write.
const MIN_DATA_AHEAD_BYTES = 1024 * 1024;

/** Writes frames to a transport with coalescing and drain-aware data flow. */
export class FrameWriter {
  readonly #transport: Writable;
  readonly #onOverflow: () => void;
  readonly #maxTransportBufferBytes: number;
  #batch: Buffer[] = NO_FRAMES;
  #batchBytes = 0;
  #batchHasData = false;
  #flushScheduled = false;
  #lazyTimer: NodeJS.Timeout | undefined;
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

  /**
   * Queues a control frame; it goes out with the next flush, blocked or not.
   * A lazy one waits up to `LAZY_FLUSH_DELAY_MS` for that flush.
   */
  writeControl(frame: Buffer, lazy = false): void {
    if (this.#closed) return;
    this.#append(frame);
    if (lazy) this.#scheduleLazyFlush();
    else this.#scheduleFlush();
  }

  /**
   * Queues a data frame (header and payload pieces, in order); `callback`
   * runs once the frame is admitted to the next transport write.
   */
  writeData(buffers: Buffer[], bytes: number, callback?: () => void, lazy = false): void {
    if (this.#closed) return;
    this.#pending.push({ buffers, bytes, callback, lazy });
    this.#admitPending();
  }

  /** Writes whatever is queued now, synchronously. */
  flush(): void {
    this.#flushScheduled = false;
    if (this.#lazyTimer !== undefined) {
      clearTimeout(this.#lazyTimer);
      this.#lazyTimer = undefined;
    }
    if (this.#closed || this.#batch.length === 0) return;
    const batch = this.#batch;
    const bytes = this.#batchBytes;
    this.#batch = NO_FRAMES;
    this.#batchBytes = 0;
    this.#batchHasData = false;
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
    this.#admitPending();
  }

  /** Drops everything queued; later writes are ignored. */
  close(): void {
    this.#closed = true;
    if (this.#lazyTimer !== undefined) clearTimeout(this.#lazyTimer);
    this.#lazyTimer = undefined;
    this.#batch = NO_FRAMES;
    this.#pending = [];
    this.#transport.off('drain', this.#onDrain);
  }

  /**
   * Moves waiting data frames into the next batch while the transport has
   * room (below the admission limit, counting what the batch already holds).
   * The first data frame of a batch is always admitted when the transport is
   * below the mark, so frames larger than the mark still make progress.
   */
  #admitPending(): void {
    if (this.#blocked || this.#closed || this.#pending.length === 0) return;
    const highWaterMark = Math.max(this.#transport.writableHighWaterMark, MIN_DATA_AHEAD_BYTES);
    const queued = this.#transport.writableLength;
    if (queued >= highWaterMark) return;
    let admitted: Array<() => void> | undefined;
    let urgent = false;
    while (this.#pending.length > 0 && (!this.#batchHasData || queued + this.#batchBytes < highWaterMark)) {
      const p = this.#pending.shift() as PendingData;
      for (const b of p.buffers) this.#append(b);
      if (p.callback !== undefined) (admitted ??= []).push(p.callback);
      if (!p.lazy) urgent = true;
      this.#batchHasData = true;
    }
    if (urgent) this.#scheduleFlush();
    else this.#scheduleLazyFlush();
    // After the loop: a callback may queue more frames (re-entering here).
    if (admitted !== undefined) for (const cb of admitted) cb();
  }

  #append(b: Buffer): void {
    if (this.#batch === NO_FRAMES) this.#batch = [b];
    else this.#batch.push(b);
    this.#batchBytes += b.length;
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(this.#flushLater);
  }

  readonly #flushLater = (): void => {
    if (this.#flushScheduled) this.flush();
  };

  #scheduleLazyFlush(): void {
    if (this.#flushScheduled || this.#lazyTimer !== undefined || this.#batch === NO_FRAMES) return;
    this.#lazyTimer = setTimeout(this.#flushLazy, LAZY_FLUSH_DELAY_MS);
  }

  readonly #flushLazy = (): void => {
    this.#lazyTimer = undefined;
    this.flush();
  };

  readonly #onDrain = (): void => {
    this.#blocked = false;
    this.#admitPending();
    this.flush();
  };
}
