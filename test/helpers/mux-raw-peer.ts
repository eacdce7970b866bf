/**
 * A hand-written yamux peer for tests: writes frames (or any bytes) exactly
 * as given, and records every frame the session under test sends back.
 */
import type { Duplex } from 'node:stream';
import { Flag, FrameDecoder, FrameType, encodeHeader, type FrameHeader } from '../../src/mux/index.js';
import { waitFor } from './mux-sessions.js';

/** A frame the session sent, with its Data payload (empty for other types). */
export interface RecordedFrame {
  header: FrameHeader;
  payload: Buffer;
}

/** One frame as bytes: a 12-byte header (version 0 unless given) and the payload. */
export function frameBytes(type: number, flags: number, streamId: number, length: number, payload?: Buffer, version = 0): Buffer {
  const header = encodeHeader(type, flags, streamId, length);
  header[0] = version;
  return payload === undefined ? header : Buffer.concat([header, payload]);
}

/** Records what a session writes, and writes raw bytes to it. */
export class RawPeer {
  readonly frames: RecordedFrame[] = [];
  #ended = false;
  #midDataFrame = false;
  #nextPing = 0x5eed;
  readonly #transport: Duplex;

  constructor(transport: Duplex) {
    this.#transport = transport;
    let payloadParts: Buffer[] = [];
    const decoder = new FrameDecoder(
      {
        // Non-Data frames have no payload: record them when their header arrives.
        onFrame: (header) => {
          if (header.type !== FrameType.Data) this.frames.push({ header, payload: Buffer.alloc(0) });
          else this.#midDataFrame = true;
        },
        onData: (_h, chunk) => payloadParts.push(Buffer.from(chunk)),
        onDataEnd: (header) => {
          this.frames.push({ header, payload: Buffer.concat(payloadParts) });
          payloadParts = [];
          this.#midDataFrame = false;
        },
      },
      0xffff_ffff,
    );
    transport.on('data', (chunk: Buffer) => decoder.push(chunk));
    transport.on('end', () => (this.#ended = true));
    transport.on('close', () => (this.#ended = true));
    transport.on('error', () => (this.#ended = true));
  }

  /** True between a Data frame's header and its last payload byte (part of it still on the wire). */
  get midDataFrame(): boolean {
    return this.#midDataFrame;
  }

  /** Payload bytes of the complete Data frames recorded for `streamId`. */
  dataBytes(streamId: number): number {
    return this.frames.reduce((n, f) => n + (f.header.type === FrameType.Data && f.header.streamId === streamId ? f.payload.length : 0), 0);
  }

  /** True once the session ended or closed the transport. */
  get ended(): boolean {
    return this.#ended;
  }

  /** Writes one frame. */
  send(type: number, flags: number, streamId: number, length: number, payload?: Buffer): void {
    this.#transport.write(frameBytes(type, flags, streamId, length, payload));
  }

  /** Writes raw bytes (several frames, a bad header, anything). */
  sendBytes(bytes: Buffer): void {
    this.#transport.write(bytes);
  }

  /** Frames of `type` recorded so far. */
  framesOfType(type: number): RecordedFrame[] {
    return this.frames.filter((f) => f.header.type === type);
  }

  /** Waits until a recorded frame matches `predicate` and returns the first such frame. */
  async waitForFrame(predicate: (f: RecordedFrame) => boolean, what: string): Promise<RecordedFrame> {
    await waitFor(() => this.frames.some(predicate), what);
    return this.frames.find(predicate) as RecordedFrame;
  }

  /**
   * Sends a ping and waits for its ACK (or the end of the transport): every
   * byte written before it has then been processed by the session.
   */
  async roundTrip(): Promise<void> {
    const opaque = this.#nextPing++;
    this.send(FrameType.Ping, Flag.SYN, 0, opaque);
    await waitFor(
      () => this.#ended || this.frames.some((f) => f.header.type === FrameType.Ping && (f.header.flags & Flag.ACK) !== 0 && f.header.length === opaque),
      `the ACK of ping ${opaque}`,
    );
  }

  /** Waits for the session's GoAway and returns its code. */
  async goAwayCode(): Promise<number> {
    const f = await this.waitForFrame((x) => x.header.type === FrameType.GoAway, 'a GoAway frame');
    return f.header.length;
  }

  /** Waits until the session has ended or closed the transport. */
  async waitEnded(): Promise<void> {
    await waitFor(() => this.#ended, 'the session to end the transport');
  }
}
