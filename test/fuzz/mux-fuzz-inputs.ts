/**
 * fast-check arbitraries for the yamux fuzzer: what a hostile peer can send
 * to a `Session`.
 *
 * - `rawBytesInput`: arbitrary bytes in arbitrary chunks, half of them drawn
 *   from a small alphabet (0, 1, 2, 3, 4, 8, 0xff) so they often form
 *   plausible headers.
 * - `frameSequenceInput`: frames with well-formed 12-byte headers whose
 *   version, type, flags, stream id and length are random but biased towards
 *   the interesting values (version 0, types 0-3, low stream ids of both
 *   parities, window-boundary lengths), Data payloads exact, short or
 *   missing, interleaved with garbage, then cut at random points.
 * - `validSequenceInput`: only frames a correct peer may send (a model tracks
 *   open streams and their windows), so a session must never fail on them.
 *
 * Inputs are cheap to build: payloads are views of one shared zero buffer,
 * never copies.
 */
import fc from 'fast-check';
import { Flag, FrameType, HEADER_LENGTH_BYTES, INITIAL_STREAM_WINDOW_BYTES } from '../../src/mux/index.js';

/** How the session under test treats inbound streams. */
export type StreamMode = 'listener' | 'reading' | 'backlog' | 'accept';

/** Session limits used by the fuzzer: small, so the limits are hit often. */
export interface FuzzLimits {
  maxStreams: number;
  acceptBacklog: number;
  maxStreamWindowBytes: number;
}

/** One fuzz input: who the session is, how it treats streams, and the chunks it receives. */
export interface FuzzInput {
  role: 'client' | 'server';
  mode: StreamMode;
  limits: FuzzLimits;
  /** Our own streams opened before the input arrives, and the bytes written on each (past the initial window when large). */
  outbound: { streams: number; writeBytes: number };
  chunks: Buffer[];
  /** Which generator made it (for the figures). */
  kind: 'bytes' | 'frames' | 'valid';
  /** Set for valid inputs: what the session must answer. */
  expect?: ValidExpectations;
}

/** The limit sets inputs draw from. */
export const FUZZ_LIMITS: readonly FuzzLimits[] = [
  { maxStreams: 8, acceptBacklog: 4, maxStreamWindowBytes: INITIAL_STREAM_WINDOW_BYTES },
  { maxStreams: 3, acceptBacklog: 1, maxStreamWindowBytes: INITIAL_STREAM_WINDOW_BYTES },
  { maxStreams: 8, acceptBacklog: 4, maxStreamWindowBytes: 2 * INITIAL_STREAM_WINDOW_BYTES },
];

/** Largest payload the fuzzer sends: a window of the largest limit set, plus one byte. */
const MAX_PAYLOAD_BYTES = 2 * INITIAL_STREAM_WINDOW_BYTES + 1;
/** Shared payload bytes: sessions only ever read views of it. */
const ZERO_PAYLOAD = Buffer.alloc(MAX_PAYLOAD_BYTES);
/** Payloads longer than this are fed as their own view instead of being copied into the input. */
const COPY_LIMIT_BYTES = 4096;

const roleArb = fc.constantFrom<'client' | 'server'>('client', 'server');
const modeArb = fc.constantFrom<StreamMode>('listener', 'reading', 'backlog', 'accept');
const limitsArb = fc.constantFrom(...FUZZ_LIMITS);
const outboundArb = fc.record({
  streams: fc.constantFrom(0, 0, 1, 2),
  writeBytes: fc.constantFrom(0, 10, 10, INITIAL_STREAM_WINDOW_BYTES + 1000),
});

/** Arbitrary bytes, in 1 to 4 chunks. */
export const rawBytesInput: fc.Arbitrary<FuzzInput> = fc
  .record({
    role: roleArb,
    mode: modeArb,
    limits: limitsArb,
    outbound: outboundArb,
    chunks: fc.array(
      fc.oneof(
        fc.uint8Array({ minLength: 1, maxLength: 48 }),
        fc.array(fc.constantFrom(0, 0, 0, 1, 2, 3, 4, 8, 0xff), { minLength: 1, maxLength: 48 }).map((a) => Uint8Array.from(a)),
      ),
      { minLength: 1, maxLength: 4 },
    ),
  })
  .map(({ role, mode, limits, outbound, chunks }) => ({ role, mode, limits, outbound, kind: 'bytes' as const, chunks: chunks.map((c) => Buffer.from(c.buffer, c.byteOffset, c.length)) }));

/** A frame header as planned by the generator. */
interface FramePlan {
  garbage?: undefined;
  version: number;
  type: number;
  flags: number;
  streamId: number;
  length: number;
  /** Data frames: send the whole payload, part of it, or none (the next bytes are read as payload). */
  payload: 'exact' | 'short' | 'none';
}

const framePlanArb: fc.Arbitrary<FramePlan> = fc.record({
  version: fc.oneof({ weight: 30, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 255 }) }),
  type: fc.oneof({ weight: 30, arbitrary: fc.integer({ min: 0, max: 3 }) }, { weight: 1, arbitrary: fc.integer({ min: 4, max: 255 }) }),
  flags: fc.oneof({ weight: 12, arbitrary: fc.integer({ min: 0, max: 15 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) }),
  streamId: fc.oneof(
    { weight: 16, arbitrary: fc.integer({ min: 0, max: 12 }) },
    { weight: 1, arbitrary: fc.constantFrom(0x7fff_ffff, 0x8000_0000, 0xffff_fffe, 0xffff_ffff) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff_ffff }) },
  ),
  length: fc.oneof(
    { weight: 16, arbitrary: fc.integer({ min: 0, max: 64 }) },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        INITIAL_STREAM_WINDOW_BYTES - 1,
        INITIAL_STREAM_WINDOW_BYTES,
        INITIAL_STREAM_WINDOW_BYTES + 1,
        2 * INITIAL_STREAM_WINDOW_BYTES,
        2 * INITIAL_STREAM_WINDOW_BYTES + 1,
        0x7fff_ffff,
        0x8000_0000,
        0xffff_fff0,
        0xffff_ffff,
      ),
    },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff_ffff }) },
  ),
  payload: fc.constantFrom<FramePlan['payload']>('exact', 'exact', 'exact', 'exact', 'exact', 'exact', 'short', 'none'),
});

const garbageArb = fc.uint8Array({ minLength: 1, maxLength: 16 }).map((bytes) => ({ garbage: bytes }));

/** Frames with random header fields (mostly version 0 and known types), interleaved with garbage, cut at random points. */
export const frameSequenceInput: fc.Arbitrary<FuzzInput> = fc
  .record({
    role: roleArb,
    mode: modeArb,
    limits: limitsArb,
    outbound: outboundArb,
    items: fc.array(fc.oneof({ weight: 8, arbitrary: framePlanArb }, { weight: 1, arbitrary: garbageArb }), { minLength: 1, maxLength: 12 }),
    cuts: fc.array(fc.nat(), { maxLength: 4 }),
  })
  .map(({ role, mode, limits, outbound, items, cuts }) => ({ role, mode, limits, outbound, kind: 'frames' as const, chunks: assemble(items, cuts) }));

/** Builds the bytes of the planned items (headers, garbage, payload views), then lays them out as chunks. */
function assemble(items: Array<FramePlan | { garbage: Uint8Array }>, cuts: number[]): Buffer[] {
  const parts: Buffer[] = [];
  for (const item of items) {
    if (item.garbage !== undefined) {
      parts.push(Buffer.from(item.garbage.buffer, item.garbage.byteOffset, item.garbage.length));
      continue;
    }
    parts.push(header(item.version, item.type, item.flags, item.streamId, item.length));
    if (item.type !== FrameType.Data || item.payload === 'none') continue;
    const full = Math.min(item.length, MAX_PAYLOAD_BYTES);
    const n = item.payload === 'exact' ? full : Math.floor(full / 2);
    if (n > 0) parts.push(ZERO_PAYLOAD.subarray(0, n));
  }
  return layOut(parts, cuts);
}

/** One 12-byte header, any field value. */
function header(version: number, type: number, flags: number, streamId: number, length: number): Buffer {
  const h = Buffer.allocUnsafe(HEADER_LENGTH_BYTES);
  h[0] = version;
  h[1] = type;
  h.writeUInt16BE(flags, 2);
  h.writeUInt32BE(streamId, 4);
  h.writeUInt32BE(length, 8);
  return h;
}

/**
 * Chunks to feed: consecutive small parts merged and cut at `cuts` (so
 * headers arrive split anywhere), large payloads as their own views (never copied).
 */
function layOut(parts: Buffer[], cuts: number[]): Buffer[] {
  const chunks: Buffer[] = [];
  let small: Buffer[] = [];
  const flushSmall = (): void => {
    if (small.length === 0) return;
    chunks.push(...cutAt(small.length === 1 ? (small[0] as Buffer) : Buffer.concat(small), cuts));
    small = [];
  };
  for (const part of parts) {
    if (part.length <= COPY_LIMIT_BYTES) {
      small.push(part);
    } else {
      flushSmall();
      chunks.push(part);
    }
  }
  flushSmall();
  return chunks;
}

function cutAt(buf: Buffer, cuts: number[]): Buffer[] {
  if (cuts.length === 0 || buf.length < 2) return [buf];
  const points = [...new Set(cuts.map((c) => 1 + (c % (buf.length - 1))))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let at = 0;
  for (const p of points) {
    out.push(buf.subarray(at, p));
    at = p;
  }
  out.push(buf.subarray(at));
  return out;
}

/** One step of a correct peer. */
type ValidOp =
  | { op: 'open'; withData: number }
  | { op: 'data'; stream: number; bytes: number }
  | { op: 'window'; stream: number; delta: number }
  | { op: 'fin'; stream: number }
  | { op: 'rst'; stream: number }
  | { op: 'ping'; opaque: number }
  | { op: 'goaway' };

const validOpArb: fc.Arbitrary<ValidOp> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ op: fc.constant('open' as const), withData: fc.integer({ min: 0, max: 300 }) }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('data' as const), stream: fc.nat(), bytes: fc.oneof(fc.integer({ min: 0, max: 2000 }), fc.constant(INITIAL_STREAM_WINDOW_BYTES)) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('window' as const), stream: fc.nat(), delta: fc.integer({ min: 0, max: 1 << 20 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('fin' as const), stream: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('rst' as const), stream: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('ping' as const), opaque: fc.integer({ min: 0, max: 0xffff_ffff }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('goaway' as const) }) },
);

/** What a valid input expects back. */
export interface ValidExpectations {
  /** Opaque values of the pings sent: each must be answered with a Ping ACK. */
  pings: number[];
  /** Streams opened: each must be acknowledged, none reset. */
  opens: number;
}

/**
 * Frames a correct peer may send, built from a model: SYNs with the peer's
 * parity and fresh ids, never more open streams than `maxStreams`, Data only
 * on open streams that have not sent FIN and within their window, window
 * updates that cannot overflow, FIN, RST, pings and a normal GoAway.
 * Sessions get the 'listener' or 'reading' mode (streams accepted at once).
 */
export const validSequenceInput: fc.Arbitrary<FuzzInput> = fc
  .record({
    role: roleArb,
    mode: fc.constantFrom<StreamMode>('listener', 'reading'),
    limits: limitsArb,
    outbound: outboundArb,
    ops: fc.array(validOpArb, { minLength: 1, maxLength: 24 }),
    cuts: fc.array(fc.nat(), { maxLength: 4 }),
  })
  .map(({ role, mode, limits, outbound, ops, cuts }) => {
    const { parts, expect } = buildValidSequence(role, { ...limits, maxStreams: limits.maxStreams - outbound.streams }, ops);
    // The model leaves room for our own streams under maxStreams.
    return { role, mode, limits, outbound, kind: 'valid' as const, chunks: layOut(parts, cuts), expect };
  });

interface ModelStream {
  id: number;
  windowBytes: number;
  finSent: boolean;
}

function buildValidSequence(role: 'client' | 'server', limits: FuzzLimits, ops: ValidOp[]): { parts: Buffer[]; expect: ValidExpectations } {
  // The peer opens ids of the other parity: odd towards a server, even towards a client.
  let nextId = role === 'server' ? 1 : 2;
  const open: ModelStream[] = [];
  const parts: Buffer[] = [];
  const pings: number[] = [];
  let opens = 0;
  const frame = (type: number, flags: number, id: number, length: number): void => {
    parts.push(header(0, type, flags, id, length));
  };
  const pick = (i: number): ModelStream | undefined => (open.length === 0 ? undefined : open[i % open.length]);
  for (const op of ops) {
    switch (op.op) {
      case 'open': {
        if (open.length >= limits.maxStreams) break;
        const s: ModelStream = { id: nextId, windowBytes: INITIAL_STREAM_WINDOW_BYTES, finSent: false };
        nextId += 2;
        opens += 1;
        open.push(s);
        frame(FrameType.Data, Flag.SYN, s.id, op.withData);
        parts.push(ZERO_PAYLOAD.subarray(0, op.withData));
        s.windowBytes -= op.withData;
        break;
      }
      case 'data': {
        const s = pick(op.stream);
        if (s === undefined || s.finSent) break;
        const n = Math.min(op.bytes, s.windowBytes);
        frame(FrameType.Data, 0, s.id, n);
        parts.push(ZERO_PAYLOAD.subarray(0, n));
        s.windowBytes -= n;
        break;
      }
      case 'window': {
        const s = pick(op.stream);
        if (s !== undefined) frame(FrameType.WindowUpdate, 0, s.id, op.delta);
        break;
      }
      case 'fin': {
        const s = pick(op.stream);
        if (s === undefined || s.finSent) break;
        s.finSent = true;
        frame(FrameType.WindowUpdate, Flag.FIN, s.id, 0);
        break;
      }
      case 'rst': {
        const s = pick(op.stream);
        if (s === undefined) break;
        open.splice(open.indexOf(s), 1);
        frame(FrameType.WindowUpdate, Flag.RST, s.id, 0);
        break;
      }
      case 'ping':
        pings.push(op.opaque);
        frame(FrameType.Ping, Flag.SYN, 0, op.opaque);
        break;
      case 'goaway':
        frame(FrameType.GoAway, 0, 0, 0);
        break;
    }
  }
  return { parts, expect: { pings, opens } };
}
