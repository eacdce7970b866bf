/**
 * Two in-memory Duplex ends wired to each other, with backpressure, and a
 * write blocker (hashicorp/yamux `pipeConn.writeBlocker`): `blockWrites()`
 * makes an end stop delivering what it writes, as a peer that hangs.
 */
import { Duplex } from 'node:stream';

/** One end of an in-memory pair. */
export class PairEnd extends Duplex {
  peer!: PairEnd;
  #blocked = false;
  #held: Array<() => void> = [];
  #waitingRead: (() => void) | null = null;

  constructor() {
    super({ allowHalfOpen: true, readableHighWaterMark: 256 * 1024, writableHighWaterMark: 64 * 1024 });
  }

  /** Stops delivering writes to the peer (they are held, not lost). */
  blockWrites(): void {
    this.#blocked = true;
  }

  /** Delivers held writes and resumes. */
  unblockWrites(): void {
    this.#blocked = false;
    for (const release of this.#held.splice(0)) release();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    const deliver = () => {
      if (this.peer.destroyed) return cb();
      if (this.peer.push(chunk)) cb();
      else this.peer.#waitingRead = () => cb();
    };
    if (this.#blocked) this.#held.push(deliver);
    else deliver();
  }

  override _final(cb: (err?: Error | null) => void): void {
    const deliver = () => {
      if (!this.peer.destroyed) this.peer.push(null);
      cb();
    };
    if (this.#blocked) this.#held.push(deliver);
    else deliver();
  }

  override _read(): void {
    const w = this.#waitingRead;
    this.#waitingRead = null;
    w?.();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (!this.peer.destroyed) this.peer.destroy();
    cb(err);
  }
}

/** A connected pair of in-memory Duplex ends. */
export function createDuplexPair(): [PairEnd, PairEnd] {
  const a = new PairEnd();
  const b = new PairEnd();
  a.peer = b;
  b.peer = a;
  return [a, b];
}
