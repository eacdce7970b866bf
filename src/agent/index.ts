/**
 * The agent: tunnel client (dial, keepalive, backoff, hooks), its state
 * manager, and stream -> local service forwarding.
 */
export { TunnelClient } from './tunnel-client.js';
export {
  DEFAULT_TUNNEL_CLIENT_CONFIG,
  resolveTunnelClientConfig,
  type TunnelClientConfig,
  type TunnelClientOptions,
} from './tunnel-client-config.js';
export {
  callHook,
  combineHooks,
  type TunnelClientHookName,
  type TunnelClientHooks,
} from './tunnel-client-hooks.js';
export {
  ReconnectLoop,
  type LoopConnect,
  type LoopConnection,
  type ReconnectLoopOptions,
} from './reconnect-loop.js';
export {
  TunnelManager,
  type ConnectionStatusListener,
  type ManagedTunnelClient,
  type TunnelManagerOptions,
} from './tunnel-manager.js';
export {
  CONNECTION_STATES,
  describeConnectionError,
  type ConnectionErrorInfo,
  type ConnectionState,
  type ConnectionStatus,
} from './connection-status.js';
export { AgentAuthRejectedError, AgentEndpointNotFoundError, isRelayRefusal, RelayDisconnectedError } from './errors.js';
export { buildConnectHeaders, buildConnectUrl } from './connect-url.js';
export {
  EXPECT_CONTINUE_TIMEOUT_MS,
  LocalForwarder,
  type LocalForwarderDeps,
  type LocalRequestRecord,
  type LocalStreamOptions,
} from './local-forwarder.js';
export {
  DEFAULT_LOCAL_FORWARDER_CONFIG,
  resolveLocalForwarderConfig,
  type HostHeaderMode,
  type LocalForwarderConfig,
  type LocalForwarderOptions,
} from './local-forwarder-config.js';
export { LocalServiceError, type LocalServiceErrorCode } from './local-service-error.js';
export { StatusServer, type StatusServerOptions, type StatusServerAddress } from './status-server.js';
export { RequestRecorder, type RecordedRequest } from './request-recorder.js';
export { replayRequest } from './request-replay.js';
