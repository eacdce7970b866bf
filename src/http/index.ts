/**
 * HTTP rules shared by the agent and the relay: hop-by-hop and
 * `X-Forwarded-*` headers, upgrade detection, visitor-facing error
 * responses, and route parsing.
 */
export {
  HOP_BY_HOP_HEADERS,
  connectionTokens,
  removeHopByHopHeaders,
  removeHopByHopRawHeaders,
  type HeaderMap,
  type HopByHopOptions,
} from './hop-by-hop-headers.js';
export { createProxyTrust, normalizeIpAddress, trustNoProxy, type ProxyTrust } from './proxy-trust.js';
export {
  SPOOFABLE_FORWARDING_HEADERS,
  applyForwardedHeaders,
  type ForwardedHeadersOptions,
} from './forwarded-headers.js';
export { isUpgradeRequest, upgradeProtocols } from './upgrade-request.js';
export { writeRawResponse, type RawResponse } from './raw-response.js';
export {
  TUNNEL_ERROR_HEADER,
  preferredErrorFormat,
  renderTunnelError,
  sendTunnelError,
  type RenderedTunnelError,
  type TunnelErrorFormat,
  type TunnelErrorInfo,
} from './tunnel-error-response.js';
export {
  AGENT_NAME_PATTERN,
  PATH_ROUTE_PREFIX,
  ROUTE_ERROR_STATUS,
  hasDotSegment,
  isRouteError,
  isValidAgentName,
  parseHostHeader,
  parseRoute,
  type Route,
  type RouteError,
  type RouteErrorCode,
  type RouteOptions,
  type RouteRequest,
} from './route-parser.js';
export { AGENT_VERSION_HEADER } from './tunnel-headers.js';
export { toOriginForm } from './origin-form.js';
export { requestHasBody } from './request-body.js';
export { MAX_HTTP_HEAD_BYTES, MAX_TUNNEL_HEAD_BYTES } from './head-limits.js';
export { expectsContinue, isInterimStatus, writeInterimResponse } from './interim-response.js';
export { responseWillBeChunked, trailerDeclaration } from './trailer-declaration.js';
export { formatSwitchingProtocolsHead, isAcceptedUpgrade } from './upgrade-response.js';
export { forwardResponseRaw, type RawResponseForwardOptions } from './forward-response-raw.js';
