/**
 * spec.md "Framing": the 12-byte frame header, big-endian.
 *
 *   Version (8) | Type (8) | Flags (16) | StreamID (32) | Length (32)
 */
import { HEADER_LENGTH_BYTES, PROTOCOL_VERSION } from './constants.js';

/** A decoded frame header. `length` is the payload size for Data frames,
 * the window delta for WindowUpdate, the opaque value for Ping and the
 * error code for GoAway. */
export interface FrameHeader {
  version: number;
  type: number;
  flags: number;
  streamId: number;
  length: number;
}

/** Encodes one header into a new 12-byte buffer. */
export function encodeHeader(type: number, flags: number, streamId: number, length: number): Buffer {
  const buf = Buffer.allocUnsafe(HEADER_LENGTH_BYTES);
  buf[0] = PROTOCOL_VERSION;
  buf[1] = type;
  buf.writeUInt16BE(flags, 2);
  buf.writeUInt32BE(streamId, 4);
  buf.writeUInt32BE(length, 8);
  return buf;
}

/** Decodes the header at `offset`; the caller ensures 12 bytes are there. */
export function decodeHeader(buf: Buffer, offset = 0): FrameHeader {
  return {
    version: buf[offset] as number,
    type: buf[offset + 1] as number,
    flags: buf.readUInt16BE(offset + 2),
    streamId: buf.readUInt32BE(offset + 4),
    length: buf.readUInt32BE(offset + 8),
  };
}
