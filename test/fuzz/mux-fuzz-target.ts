/**
 * One fuzz target: a `Session` on one end of the in-memory pair
 * (`test/helpers/duplex-pair.ts`), the fuzzer writing on the other end.
 * Both ends are put in flowing mode before the first byte, so every chunk
 * is decoded synchronously inside the write that carries it, and whatever
 * the session flushes synchronously (the GoAway of a violation) is seen at
 * once. Everything the session writes is decoded as yamux; a frame that
 * does not decode fails the input.
 *
 * `check()` holds the invariants; it returns a description of the first one
 * broken, or undefined.
 */
import {
  FrameDecoder,
  FrameType,
  GoAwayCode,
  GoAwayError,
  HEADER_LENGTH_BYTES,
  INITIAL_STREAM_WINDOW_BYTES,
  MuxProtocolError,
  Session,
  type FrameHeader,
  type MuxStream,
} from '../../src/mux/index.js';
import { createDuplexPair, type PairEnd } from '../helpers/duplex-pair.js';
import type { FuzzInput } from './mux-fuzz-inputs.js';

const ignore = (): void => {};
/** What our own streams write: views of one zero buffer. */
const OUTBOUND_PAYLOAD = Buffer.alloc(2 * INITIAL_STREAM_WINDOW_BYTES);

/** How an input ended, for the figures. */
export type FuzzOutcome = 'open' | 'goaway-1' | 'goaway-2' | 'peer-goaway';

/** A session under fuzz and what it sent back. */
export class FuzzTarget {
  readonly input: FuzzInput;
  readonly session: Session;
  /** Inbound streams the session handed out (all modes but 'backlog'). */
  readonly streams: MuxStream[] = [];
  /** Streams we opened before the input. */
  readonly outbound: MuxStream[] = [];
  /** Frames the session wrote, in order (headers only). */
  readonly sent: FrameHeader[] = [];
  /** Bytes fed so far / bytes the session wrote so far. */
  bytesIn = 0;
  bytesOut = 0;
  /** A frame of the session's output failed to decode. */
  outputError: Error | undefined;
  /** A write to the session threw (it must never). */
  feedError: unknown;
  /** Frames sent before the session's transport was ended or destroyed (undefined while it is not). */
  sentBeforeTransportGone: number | undefined;
  readonly #peer: PairEnd;

  constructor(input: FuzzInput) {
    this.input = input;
    const [peer, own] = createDuplexPair();
    this.#peer = peer;
    const { limits, role, mode } = input;
    this.session = new Session(own, {
      role,
      keepAliveIntervalMs: 0,
      maxStreams: limits.maxStreams,
      acceptBacklog: limits.acceptBacklog,
      maxStreamWindowBytes: limits.maxStreamWindowBytes,
      streamOpenTimeoutMs: 0,
    });
    const decoder = new FrameDecoder(
      {
        onFrame: (h) => {
          if (h.type !== FrameType.Data) this.sent.push(h);
        },
        onData: ignore,
        onDataEnd: (h) => this.sent.push(h),
      },
      0xffff_ffff,
    );
    peer.on('data', (chunk: Buffer) => {
      this.bytesOut += chunk.length;
      try {
        decoder.push(chunk);
      } catch (err) {
        this.outputError ??= err as Error;
      }
    });
    peer.on('error', ignore);
    own.on('error', ignore);
    const gone = (): void => {
      this.sentBeforeTransportGone ??= this.sent.length;
    };
    own.once('finish', gone);
    own.once('close', gone);
    if (mode === 'listener' || mode === 'reading') {
      this.session.on('stream', (s: MuxStream) => {
        s.on('error', ignore);
        if (mode === 'reading') s.on('data', ignore);
        this.streams.push(s);
      });
    } else if (mode === 'accept') {
      const acceptNext = (): void => {
        this.session.accept().then((s) => {
          s.on('error', ignore);
          this.streams.push(s);
          acceptNext();
        }, ignore);
      };
      acceptNext();
    }
    for (let i = 0; i < input.outbound.streams; i++) {
      const s = this.session.openStream();
      s.on('error', ignore);
      if (input.outbound.writeBytes > 0) s.write(OUTBOUND_PAYLOAD.subarray(0, input.outbound.writeBytes));
      this.outbound.push(s);
    }
    // Start both ends flowing now (Node would do it on the next tick), so writes are delivered synchronously.
    own.read(0);
    peer.read(0);
  }

  /** Feeds every chunk of the input, synchronously. */
  feed(): void {
    for (const chunk of this.input.chunks) {
      this.bytesIn += chunk.length;
      try {
        this.#peer.write(chunk);
      } catch (err) {
        this.feedError ??= err;
      }
    }
  }

  /** How the input ended so far. */
  outcome(): FuzzOutcome {
    if (!this.session.isClosed) return 'open';
    const reason = this.session.closeReason;
    if (reason instanceof GoAwayError) return 'peer-goaway';
    return reason instanceof MuxProtocolError && reason.goAwayCode === GoAwayCode.InternalError ? 'goaway-2' : 'goaway-1';
  }

  /**
   * The invariants, checked after the input was fed (and again after the
   * event loop turned):
   * - nothing threw out of the session, its output decodes as yamux;
   * - a closed session closed with a typed error: a `MuxProtocolError` that
   *   is not an internal failure of ours, answered by exactly one GoAway
   *   carrying its code (1 or 2), the last frame, written before the
   *   transport was ended; or the peer's own non-normal GoAway, not answered;
   * - an open session holds at most `maxStreams` streams (`acceptBacklog`
   *   without a consumer), each with a receive window in [0, max] and at
   *   most one window buffered for its reader;
   * - no amplification: the session never wrote more than the input plus
   *   one frame (every frame it sends answers a 12-byte header), besides
   *   what our own streams opened and wrote.
   */
  check(): string | undefined {
    if (this.feedError !== undefined) return `a write to the session threw: ${String(this.feedError)}`;
    if (this.outputError !== undefined) return `the session wrote bytes that do not decode as yamux: ${this.outputError.message}`;
    const { session } = this;
    const { limits } = this.input;
    const goAways = this.sent.filter((h) => h.type === FrameType.GoAway);
    if (session.isClosed) {
      const reason = session.closeReason;
      if (reason instanceof MuxProtocolError) {
        if (reason.message.startsWith('Internal error')) return `an exception escaped the session's frame handling: ${reason.message}`;
        if (reason.goAwayCode !== GoAwayCode.ProtocolError && reason.goAwayCode !== GoAwayCode.InternalError) {
          return `protocol error with GoAway code ${reason.goAwayCode}`;
        }
        if (goAways.length !== 1) return `${goAways.length} GoAway frames sent for one violation (${reason.message})`;
        const last = this.sent[this.sent.length - 1] as FrameHeader;
        if (last.type !== FrameType.GoAway || last.length !== reason.goAwayCode) {
          return `the last frame sent is not GoAway(${reason.goAwayCode}) (${reason.message})`;
        }
        if (this.sentBeforeTransportGone !== undefined && this.sentBeforeTransportGone < this.sent.length) {
          return 'the GoAway was written after the transport was ended';
        }
      } else if (reason instanceof GoAwayError) {
        if (reason.goAwayCode === GoAwayCode.Normal) return 'a normal GoAway from the peer closed the session';
        if (goAways.length !== 0) return 'the peer\'s GoAway was answered with a GoAway';
      } else {
        return `the session closed with an untyped reason: ${String(reason)}`;
      }
    } else {
      if (goAways.length !== 0) return `a GoAway (code ${(goAways[0] as FrameHeader).length}) was sent but the session stayed open`;
      if (session.streamCount > limits.maxStreams) return `${session.streamCount} streams open, limit ${limits.maxStreams}`;
      const ownOpen = this.outbound.filter((s) => !s.destroyed).length;
      if (this.input.mode === 'backlog' && session.streamCount - ownOpen > limits.acceptBacklog) {
        return `${session.streamCount - ownOpen} streams waiting for accept(), backlog ${limits.acceptBacklog}`;
      }
      for (const s of this.outbound) {
        if (!s.destroyed && (s.sendWindowBytes < 0 || s.sendWindowBytes > 0xffff_ffff)) return `own stream ${s.id} send window ${s.sendWindowBytes}`;
      }
      for (const s of this.streams) {
        if (s.destroyed) continue;
        if (s.receiveWindowBytes < 0 || s.receiveWindowBytes > limits.maxStreamWindowBytes) {
          return `stream ${s.id} receive window ${s.receiveWindowBytes} outside [0, ${limits.maxStreamWindowBytes}]`;
        }
        if (s.readableLength > limits.maxStreamWindowBytes) return `stream ${s.id} buffers ${s.readableLength} bytes, window ${limits.maxStreamWindowBytes}`;
      }
    }
    // Our own streams add their SYN and what they wrote (at worst one header per byte, with 1-byte window updates).
    const own = this.input.outbound;
    if (this.bytesOut > this.bytesIn + HEADER_LENGTH_BYTES + own.streams * (HEADER_LENGTH_BYTES + 13 * own.writeBytes)) {
      return `the session wrote ${this.bytesOut} bytes in answer to ${this.bytesIn}`;
    }
    return undefined;
  }

  /**
   * Resolves when the session writes again (lazy frames such as a lone ACK
   * leave within `LAZY_FLUSH_DELAY_MS`), or after `boundMs` if it never does.
   */
  waitForNextWrite(boundMs: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#peer.off('data', done);
        resolve();
      };
      const timer = setTimeout(done, boundMs);
      this.#peer.on('data', done);
    });
  }

  /** Ends the session and its pair. */
  destroy(): void {
    this.session.destroy();
    this.#peer.destroy();
  }
}
