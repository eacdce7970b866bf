/**
 * The streaming frame decoder: any chunking of a byte stream decodes to the
 * same frames and payload bytes (js-libp2p "chunked chaotically", with
 * fast-check choosing the split points so failures shrink), and malformed
 * headers are protocol errors wherever the chunk boundaries fall.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  Flag,
  FrameDecoder,
  FrameType,
  GoAwayCode,
  MuxProtocolError,
  encodeHeader,
  type FrameHeader,
} from '../../../src/mux/index.js';

interface DecodedFrame {
  header: FrameHeader;
  payload: Buffer;
}

/** A decoder that records whole frames (payload pieces joined). */
function recordingDecoder(maxDataFrameBytes: number): { decoder: FrameDecoder; frames: DecodedFrame[]; dataPieces: () => number } {
  const frames: DecodedFrame[] = [];
  let parts: Buffer[] = [];
  let pieces = 0;
  const decoder = new FrameDecoder(
    {
      onFrame: (header) => {
        if (header.type !== FrameType.Data) frames.push({ header, payload: Buffer.alloc(0) });
      },
      onData: (_h, chunk) => {
        pieces += 1;
        parts.push(Buffer.from(chunk));
      },
      onDataEnd: (header) => {
        frames.push({ header, payload: Buffer.concat(parts) });
        parts = [];
      },
    },
    maxDataFrameBytes,
  );
  return { decoder, frames, dataPieces: () => pieces };
}

/** Cuts `bytes` at the given (sorted, deduplicated) offsets. */
function split(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((x, y) => x - y);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(bytes.subarray(prev, p));
    prev = p;
  }
  out.push(bytes.subarray(prev));
  return out;
}

const frameArb: fc.Arbitrary<DecodedFrame> = fc.oneof(
  fc
    .record({
      flags: fc.constantFrom(0, Flag.SYN, Flag.ACK, Flag.FIN, Flag.RST, Flag.SYN | Flag.FIN),
      streamId: fc.integer({ min: 1, max: 0xffff_ffff }),
      payload: fc.uint8Array({ minLength: 0, maxLength: 300 }),
    })
    .map(({ flags, streamId, payload }) => ({
      header: { version: 0, type: FrameType.Data, flags, streamId, length: payload.length },
      payload: Buffer.from(payload),
    })),
  fc
    .record({
      type: fc.constantFrom(FrameType.WindowUpdate, FrameType.Ping, FrameType.GoAway),
      flags: fc.integer({ min: 0, max: 0xffff }),
      streamId: fc.integer({ min: 0, max: 0xffff_ffff }),
      length: fc.integer({ min: 0, max: 0xffff_ffff }),
    })
    .map(({ type, flags, streamId, length }) => ({
      header: { version: 0, type, flags, streamId, length },
      payload: Buffer.alloc(0),
    })),
);

function encodeFrames(frames: DecodedFrame[]): Buffer {
  return Buffer.concat(
    frames.flatMap((f) => [encodeHeader(f.header.type, f.header.flags, f.header.streamId, f.header.length), f.payload]),
  );
}

describe('FrameDecoder', () => {
  it('decodes the same frames and payload bytes under any chunking', () => {
    fc.assert(
      fc.property(fc.array(frameArb, { minLength: 1, maxLength: 20 }), fc.array(fc.nat(), { maxLength: 40 }), (frames, cuts) => {
        const bytes = encodeFrames(frames);
        const { decoder, frames: decoded } = recordingDecoder(1024);
        for (const chunk of split(bytes, cuts)) decoder.push(chunk);
        assert.deepEqual(decoded, frames, 'every frame and payload byte comes out as it went in, in order');
      }),
      { numRuns: 500 },
    );
  });

  it('decodes a stream fed one byte at a time', () => {
    const frames: DecodedFrame[] = [
      { header: { version: 0, type: FrameType.Data, flags: Flag.SYN, streamId: 1, length: 5 }, payload: Buffer.from('hello') },
      { header: { version: 0, type: FrameType.Ping, flags: Flag.SYN, streamId: 0, length: 42 }, payload: Buffer.alloc(0) },
      { header: { version: 0, type: FrameType.Data, flags: Flag.FIN, streamId: 1, length: 0 }, payload: Buffer.alloc(0) },
    ];
    const bytes = encodeFrames(frames);
    const { decoder, frames: decoded } = recordingDecoder(1024);
    for (let i = 0; i < bytes.length; i++) decoder.push(bytes.subarray(i, i + 1));
    assert.deepEqual(decoded, frames, 'single-byte chunks decode to the same frames');
  });

  it('hands a large payload out in pieces as it arrives, without waiting for the whole frame', () => {
    const payload = Buffer.alloc(100_000, 9);
    const bytes = Buffer.concat([encodeHeader(FrameType.Data, 0, 3, payload.length), payload]);
    const { decoder, frames, dataPieces } = recordingDecoder(256 * 1024);
    decoder.push(bytes.subarray(0, 50_012));
    assert.equal(frames.length, 0, 'the frame is not complete after half its payload');
    assert.equal(dataPieces(), 1, 'the first half was already handed out');
    decoder.push(bytes.subarray(50_012));
    assert.equal(frames.length, 1, 'the frame completes with its last byte');
    assert.ok(frames[0]?.payload.equals(payload), 'the payload pieces join to the original bytes');
  });

  it('ignores everything after stop()', () => {
    const { decoder, frames } = recordingDecoder(1024);
    decoder.push(encodeHeader(FrameType.Ping, Flag.SYN, 0, 1));
    decoder.stop();
    decoder.push(encodeHeader(FrameType.Ping, Flag.SYN, 0, 2));
    assert.equal(frames.length, 1, 'only the frame before stop() is reported');
  });

  describe('rejects malformed headers wherever the chunk boundary falls', () => {
    const cases: Array<[string, Buffer]> = [
      ['a version other than 0', Buffer.from('010200010000000000000001', 'hex')],
      ['an unknown frame type', Buffer.from('000400000000000100000000', 'hex')],
      ['a Data frame longer than the largest window', encodeHeader(FrameType.Data, 0, 1, 1025)],
    ];
    for (const [what, header] of cases) {
      it(`throws MuxProtocolError(protocol error) for ${what}`, () => {
        for (let cut = 0; cut <= header.length; cut++) {
          const { decoder, frames } = recordingDecoder(1024);
          const good = encodeHeader(FrameType.Ping, Flag.SYN, 0, 7);
          const bytes = Buffer.concat([good, header]);
          assert.throws(
            () => {
              decoder.push(bytes.subarray(0, good.length + cut));
              decoder.push(bytes.subarray(good.length + cut));
            },
            (err: unknown) => err instanceof MuxProtocolError && err.goAwayCode === GoAwayCode.ProtocolError && err.code === 'ERR_MUX_PROTOCOL',
            `split at ${cut}: a MuxProtocolError with goAwayCode 1`,
          );
          assert.equal(frames.length, 1, `split at ${cut}: the good frame before it was still reported`);
        }
      });
    }

    it('accepts a Data frame exactly as long as the largest window', () => {
      const { decoder, frames } = recordingDecoder(1024);
      decoder.push(Buffer.concat([encodeHeader(FrameType.Data, 0, 1, 1024), Buffer.alloc(1024)]));
      assert.equal(frames.length, 1, 'a 1024-byte frame with a 1024-byte limit decodes');
    });
  });
});
