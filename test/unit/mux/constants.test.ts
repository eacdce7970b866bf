/**
 * Pins every wire constant to hashicorp/yamux `spec.md` / `const.go`
 * (as its `const_test.go` does): a changed value breaks interop.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  Flag,
  FrameType,
  GoAwayCode,
  HEADER_LENGTH_BYTES,
  INITIAL_STREAM_WINDOW_BYTES,
  PROTOCOL_VERSION,
  goAwayCodeName,
} from '../../../src/mux/index.js';

describe('yamux wire constants', () => {
  it('uses protocol version 0', () => {
    assert.equal(PROTOCOL_VERSION, 0, 'spec.md "Version Field": always 0');
  });

  it('has a 12-byte header', () => {
    assert.equal(HEADER_LENGTH_BYTES, 12, 'spec.md "Framing": 8+8+16+32+32 bits');
  });

  it('starts every stream with a 256 KiB window', () => {
    assert.equal(INITIAL_STREAM_WINDOW_BYTES, 262144, 'spec.md "Flow Control": 256KB initial window');
  });

  it('numbers the frame types as the spec does', () => {
    assert.deepEqual(
      { ...FrameType },
      { Data: 0, WindowUpdate: 1, Ping: 2, GoAway: 3 },
      'spec.md "Type Field": Data 0x0, Window Update 0x1, Ping 0x2, Go Away 0x3',
    );
  });

  it('uses the spec bit for each flag', () => {
    assert.deepEqual(
      { ...Flag },
      { SYN: 1, ACK: 2, FIN: 4, RST: 8 },
      'spec.md "Flag Field": SYN 0x1, ACK 0x2, FIN 0x4, RST 0x8',
    );
  });

  it('numbers the GoAway codes as the spec does', () => {
    assert.deepEqual(
      { ...GoAwayCode },
      { Normal: 0, ProtocolError: 1, InternalError: 2 },
      'spec.md "Session termination": normal 0x0, protocol error 0x1, internal error 0x2',
    );
  });

  it('names each GoAway code and says when a code is unknown', () => {
    assert.equal(goAwayCodeName(0), 'normal', 'code 0 is normal termination');
    assert.equal(goAwayCodeName(1), 'protocol error', 'code 1 is a protocol error');
    assert.equal(goAwayCodeName(2), 'internal error', 'code 2 is an internal error');
    assert.equal(goAwayCodeName(7), 'unknown (7)', 'an unknown code is shown with its value');
  });
});
