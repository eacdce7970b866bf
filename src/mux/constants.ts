/**
 * Wire constants of yamux, named as in hashicorp/yamux `spec.md` and
 * `const.go`. `test/unit/mux/constants.test.ts` pins every value.
 */

/** spec.md "Framing": the only protocol version. */
export const PROTOCOL_VERSION = 0;

/** spec.md "Framing": every frame starts with a 12-byte header. */
export const HEADER_LENGTH_BYTES = 12;

/** spec.md "Flow Control": every stream starts with a 256 KiB window each way. */
export const INITIAL_STREAM_WINDOW_BYTES = 256 * 1024;

/** Largest stream id (and window) a 32-bit header field can carry. */
export const MAX_UINT32 = 0xffff_ffff;

/** spec.md "Type field". */
export const FrameType = {
  Data: 0,
  WindowUpdate: 1,
  Ping: 2,
  GoAway: 3,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

/** spec.md "Flag field": bit flags, combinable. */
export const Flag = {
  SYN: 0x1,
  ACK: 0x2,
  FIN: 0x4,
  RST: 0x8,
} as const;
export type Flag = (typeof Flag)[keyof typeof Flag];

/** spec.md "GoAway": the error code carried in the length field. */
export const GoAwayCode = {
  Normal: 0,
  ProtocolError: 1,
  InternalError: 2,
} as const;
export type GoAwayCode = (typeof GoAwayCode)[keyof typeof GoAwayCode];

/** Human name of a GoAway code, for messages and logs. */
export function goAwayCodeName(code: number): string {
  switch (code) {
    case GoAwayCode.Normal:
      return 'normal';
    case GoAwayCode.ProtocolError:
      return 'protocol error';
    case GoAwayCode.InternalError:
      return 'internal error';
    default:
      return `unknown (${code})`;
  }
}
