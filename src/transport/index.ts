/**
 * The WebSocket byte transport: a `Duplex` over binary WebSocket messages, a
 * dialer with a handshake deadline, and a listener with pre-upgrade auth.
 */
export {
  WebSocketDuplex,
  DEFAULT_WEBSOCKET_DUPLEX_CONFIG,
  DEFAULT_MAX_PAYLOAD_BYTES,
  resolveWebSocketDuplexConfig,
  type WebSocketDuplexOptions,
  type WebSocketDuplexConfig,
  type CloseGracefullyOptions,
} from './websocket-duplex.js';
export { dialWebSocket, type DialWebSocketOptions } from './websocket-dialer.js';
export {
  WebSocketListener,
  type WebSocketListenerOptions,
  type UpgradeAuthResult,
  type ListenerCloseOptions,
} from './websocket-listener.js';
export { HandshakeRejectedError, HandshakeTimeoutError, isHandshakeRejectedError, MAX_REJECTION_BODY_BYTES } from './errors.js';
export { redactUrl } from './redact-url.js';
export { isBufferUtilActive } from './buffer-util-check.js';
