/**
 * The relay: agent gateway, agent registry, public ingress with visitor
 * access control, and the `Relay` that runs them. The token store and access
 * policies live in `./store/` and `./access/`.
 */
export { Relay, DEFAULT_RELAY_CLOSE_GRACE_MS, type RelayAddresses, type RelayCloseOptions } from './relay.js';
export {
  ADMIN_SESSION_TTL_BOUNDS_MS,
  DEFAULT_ADMIN_SESSION_TTL_MS,
  DEFAULT_RELAY_CONFIG,
  DEFAULT_RELAY_LIMITS,
  MIN_ADMIN_TOKEN_LENGTH,
  resolveRelayConfig,
  type AuthRateLimitConfig,
  type AuthRateLimitOptions,
  type ListenAddress,
  type RelayConfig,
  type RelayLimits,
  type RelayLimitsOptions,
  type RelayOptions,
  type RelayTlsOptions,
} from './relay-config.js';
export { AgentConnection, AgentRegistry, type AgentConnectionInit, type AgentRegistryOptions } from './agent-registry.js';
export {
  AGENT_CONNECT_PATH,
  AgentGateway,
  type AgentAuthContext,
  type AgentGatewayAttachOptions,
  type AgentGatewayOptions,
} from './agent-gateway.js';
export { AuthRateLimiter } from './auth-rate-limiter.js';
export { PublicIngress, type PublicIngressOptions } from './public-ingress.js';
export { forwardHttpExchange, type ExchangeOutcome, type ExchangeResult, type HttpExchangeOptions } from './http-forwarder.js';
export { forwardUpgrade, formatRequestHead, type UpgradeForwardOptions, type UpgradeResult } from './upgrade-forwarder.js';
export { clientAddress } from './client-address.js';
export { sendVisitorError, sendVisitorRedirect, type ExtraHeaders } from './visitor-response.js';
export {
  DEFAULT_MAX_AGENT_SERIES,
  LATENCY_BUCKETS_SECONDS,
  OVERFLOW_AGENT_LABEL,
  RELAY_METRICS_PREFIX,
  RelayMetrics,
  type AuthFailureReason,
  type RelayMetricsOptions,
  type SessionCloseReason,
} from './metrics.js';
export { ADMIN_MAX_KICK_GRACE_MS, AdminApi, type AdminAgentView, type AdminApiOptions, type AdminPages } from './admin-api.js';
export { liveAgentState, type AgentLiveState } from './agent-live-state.js';
export * from './dashboard/index.js';
export { ADMIN_MAX_BODY_BYTES, AdminRequestError } from './admin-http.js';
export { ACCESS_LOG_MESSAGE, logVisitorRequest, type VisitorRequestOutcome, type VisitorRequestRecord } from './access-log.js';
