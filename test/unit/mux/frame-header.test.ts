/**
 * The 12-byte frame header: exact byte layout (big-endian, spec.md
 * "Framing") and a round trip over every field value.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Flag, FrameType, HEADER_LENGTH_BYTES, decodeHeader, encodeHeader } from '../../../src/mux/index.js';

describe('frame header', () => {
  it('lays out version, type, flags, stream id and length big-endian', () => {
    const buf = encodeHeader(FrameType.WindowUpdate, Flag.SYN | Flag.FIN, 0x01020304, 0x0a0b0c0d);
    assert.equal(buf.length, HEADER_LENGTH_BYTES, 'a header is 12 bytes');
    assert.equal(
      buf.toString('hex'),
      '00' + '01' + '0005' + '01020304' + '0a0b0c0d',
      'bytes are version | type | flags (16) | stream id (32) | length (32), network order',
    );
  });

  it('decodes a header written by hand', () => {
    const buf = Buffer.from('000300000000000000000002', 'hex');
    assert.deepEqual(
      decodeHeader(buf),
      { version: 0, type: FrameType.GoAway, flags: 0, streamId: 0, length: 2 },
      'a GoAway(internal error) header decodes field by field',
    );
  });

  it('decodes a header at an offset inside a larger buffer', () => {
    const buf = Buffer.concat([Buffer.from([0xff, 0xff, 0xff]), encodeHeader(FrameType.Ping, Flag.ACK, 0, 77)]);
    assert.deepEqual(
      decodeHeader(buf, 3),
      { version: 0, type: FrameType.Ping, flags: Flag.ACK, streamId: 0, length: 77 },
      'the header is read from the given offset',
    );
  });

  it('round-trips every field value', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xff }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0, max: 0xffff_ffff }),
        fc.integer({ min: 0, max: 0xffff_ffff }),
        (type, flags, streamId, length) => {
          const decoded = decodeHeader(encodeHeader(type, flags, streamId, length));
          assert.deepEqual(decoded, { version: 0, type, flags, streamId, length }, 'decode(encode(h)) equals h');
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('round-trips the extreme values of each field', () => {
    for (const [type, flags, streamId, length] of [
      [0, 0, 0, 0],
      [0xff, 0xffff, 0xffff_ffff, 0xffff_ffff],
      [3, 0x8000, 0x8000_0000, 0x8000_0000],
    ] as const) {
      assert.deepEqual(
        decodeHeader(encodeHeader(type, flags, streamId, length)),
        { version: 0, type, flags, streamId, length },
        `extremes survive (${type}, ${flags}, ${streamId}, ${length})`,
      );
    }
  });
});
