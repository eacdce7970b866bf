/** The operator dashboard of the admin listener: its server, fleet model, event streams and sessions. */
export {
  DASHBOARD_CSP,
  DEFAULT_MAX_DASHBOARD_STREAMS,
  DashboardServer,
  type DashboardServerOptions,
} from './dashboard-server.js';
export type { AgentSessionView, ClusterNodeView, ClusterPeerLinkView, DashboardClusterSource } from './dashboard-cluster.js';
export { FLEET_ROW_FIELDS, FleetModel, type FleetListener, type FleetModelOptions, type FleetOverview, type FleetRow } from './fleet-model.js';
export { DEFAULT_FLEET_EVENT_STREAM_LIMITS, FleetEventStream, type FleetEventStreamLimits, type FleetStreamEnd } from './fleet-event-stream.js';
export { DashboardSessionStore, type DashboardSession, type DashboardSessionStoreOptions } from './dashboard-session-store.js';
export { CSRF_HEADER, DASHBOARD_SESSION_COOKIE } from './dashboard-request.js';
export { VisitorActivity, pathWithoutQueryValues, type RecentVisitorRequest, type VisitorActivityOptions } from './visitor-activity.js';
export { TrafficSeries, type TrafficPoints } from './traffic-series.js';
