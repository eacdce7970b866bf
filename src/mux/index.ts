/**
 * yamux, wire-compatible with hashicorp/yamux: sessions, streams, errors and
 * wire constants.
 */
export { Session, type SessionCloseOptions } from './session.js';
export { MuxStream } from './stream.js';
export { FrameDecoder, type FrameSink } from './frame-decoder.js';
export { encodeHeader, decodeHeader, type FrameHeader } from './frame-header.js';
export {
  Flag,
  FrameType,
  GoAwayCode,
  HEADER_LENGTH_BYTES,
  INITIAL_STREAM_WINDOW_BYTES,
  PROTOCOL_VERSION,
  goAwayCodeName,
} from './constants.js';
export {
  GoAwayError,
  KeepAliveTimeoutError,
  MuxProtocolError,
  SessionClosedError,
  StreamOpenTimeoutError,
  StreamResetError,
} from './errors.js';
export { DEFAULT_MUX_CONFIG, resolveMuxConfig, type MuxConfig, type SessionOptions, type SessionRole } from './mux-config.js';
