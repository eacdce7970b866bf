/**
 * Incremental frame decoder: accepts the byte stream in chunks of any size
 * and reports headers and Data payload pieces as they arrive, so a large
 * frame never has to be held whole (spec.md "Framing").
 */
import { FrameType, HEADER_LENGTH_BYTES, PROTOCOL_VERSION } from './constants.js';
import { MuxProtocolError } from './errors.js';
import { decodeHeader, type FrameHeader } from './frame-header.js';

/** Receives what the decoder finds. A callback may throw `MuxProtocolError`. */
export interface FrameSink {
  /** A header; for Data frames, called before any payload byte. */
  onFrame(header: FrameHeader): void;
  /** A piece of the current Data frame's payload (a view, not a copy). */
  onData(header: FrameHeader, chunk: Buffer): void;
  /** The current Data frame's payload is complete (also for length 0). */
  onDataEnd(header: FrameHeader): void;
}

/** Decodes yamux frames from arbitrary chunks. */
export class FrameDecoder {
  readonly #sink: FrameSink;
  readonly #maxDataFrameBytes: number;
  /** A header split across chunks is gathered here; allocated on the first split (idle sessions rarely see one). */
  #headerBuf: Buffer | null = null;
  #headerFill = 0;
  #current: FrameHeader | null = null;
  #payloadLeftBytes = 0;
  #stopped = false;

  /** `maxDataFrameBytes`: a Data frame longer than this is a protocol error. */
  constructor(sink: FrameSink, maxDataFrameBytes: number) {
    this.#sink = sink;
    this.#maxDataFrameBytes = maxDataFrameBytes;
  }

  /** Stops decoding; later chunks are ignored. */
  stop(): void {
    this.#stopped = true;
  }

  /** Feeds one chunk. Throws `MuxProtocolError` on a malformed header. */
  push(chunk: Buffer): void {
    let offset = 0;
    const end = chunk.length;
    while (offset < end && !this.#stopped) {
      if (this.#payloadLeftBytes > 0) {
        const header = this.#current as FrameHeader;
        const n = Math.min(this.#payloadLeftBytes, end - offset);
        this.#payloadLeftBytes -= n;
        this.#sink.onData(header, chunk.subarray(offset, offset + n));
        offset += n;
        if (this.#payloadLeftBytes === 0) {
          this.#current = null;
          if (!this.#stopped) this.#sink.onDataEnd(header);
        }
        continue;
      }
      let header: FrameHeader;
      if (this.#headerFill === 0 && end - offset >= HEADER_LENGTH_BYTES) {
        header = decodeHeader(chunk, offset);
        offset += HEADER_LENGTH_BYTES;
      } else {
        const n = Math.min(HEADER_LENGTH_BYTES - this.#headerFill, end - offset);
        const headerBuf = (this.#headerBuf ??= Buffer.alloc(HEADER_LENGTH_BYTES));
        chunk.copy(headerBuf, this.#headerFill, offset, offset + n);
        this.#headerFill += n;
        offset += n;
        if (this.#headerFill < HEADER_LENGTH_BYTES) return;
        this.#headerFill = 0;
        header = decodeHeader(headerBuf, 0);
      }
      this.#dispatch(header);
    }
  }

  #dispatch(header: FrameHeader): void {
    if (header.version !== PROTOCOL_VERSION) {
      throw new MuxProtocolError(`Unsupported protocol version (version: ${header.version})`);
    }
    if (header.type > FrameType.GoAway) {
      throw new MuxProtocolError(`Unknown frame type (type: ${header.type})`);
    }
    if (header.type === FrameType.Data && header.length > this.#maxDataFrameBytes) {
      throw new MuxProtocolError(`Data frame larger than any window (length: ${header.length})`);
    }
    this.#sink.onFrame(header);
    if (header.type !== FrameType.Data || this.#stopped) return;
    if (header.length === 0) {
      this.#sink.onDataEnd(header);
    } else {
      this.#current = header;
      this.#payloadLeftBytes = header.length;
    }
  }
}
