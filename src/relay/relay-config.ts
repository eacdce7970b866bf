/**
 * Relay configuration: options as given (CLI, config file, library user),
 * validated defaults, and the resolver that checks everything once, at
 * construction.
 */
import { createProxyTrust, parseHostHeader, type ProxyTrust } from '../http/index.js';
import { systemClock, type Clock } from '../shared/clock.js';
import { ConfigError } from '../shared/errors.js';
import { noopLogger, type Logger } from '../shared/logger.js';
import { Secret } from '../shared/secret.js';
import { requireHostPort, requireInt, requireString } from '../shared/validate.js';
import { resolveClusterConfig, type ClusterConfig, type ClusterOptions } from './cluster/cluster-config.js';
import type { DashboardClusterSource } from './dashboard/dashboard-cluster.js';

/** A listener address: host and port (0 picks a free port). */
export interface ListenAddress {
  host: string;
  port: number;
}

/** Per-address limits on failed agent authentications (options). */
export interface AuthRateLimitOptions {
  /** Failed attempts allowed per address within `windowMs`; further failures get 429. */
  maxFailures?: number;
  /** Length of the counting window, in milliseconds. */
  windowMs?: number;
  /** Addresses tracked at most (oldest forgotten first), so a flood of sources cannot grow memory. */
  maxTrackedAddresses?: number;
}

/** Per-address limits on failed agent authentications (resolved). */
export type AuthRateLimitConfig = Required<AuthRateLimitOptions>;

/** Limits and timeouts (options; every field optional). */
export interface RelayLimitsOptions {
  /** Concurrent visitor streams per agent session; over it visitors get 503 with Retry-After. */
  maxStreamsPerAgent?: number;
  /** How long a visitor request waits for an offline (known) agent to come back before 502. */
  offlineGraceMs?: number;
  /** Time allowed for the agent's response headers once the request is fully sent; 0 = no limit. */
  responseHeaderTimeoutMs?: number;
  /** A forwarded exchange with no byte in either direction for this long is aborted; 0 = no limit. */
  idleTimeoutMs?: number;
  /** yamux keepalive ping interval towards each agent. */
  keepAliveIntervalMs?: number;
  /** A keepalive ping unanswered for this long ends the agent's session. */
  keepAliveTimeoutMs?: number;
  /** How long a session replaced by a newer one (newest wins) may finish its in-flight streams. */
  replacedSessionGraceMs?: number;
  /** How often revocations made by other processes (the CLI) are read from the store. */
  revocationPollIntervalMs?: number;
  /** Longest time an agent or visitor may take to send its request head (slowloris bound). */
  headersTimeoutMs?: number;
  authRateLimit?: AuthRateLimitOptions;
}

/** Limits and timeouts (resolved). */
export interface RelayLimits {
  maxStreamsPerAgent: number;
  offlineGraceMs: number;
  responseHeaderTimeoutMs: number;
  idleTimeoutMs: number;
  keepAliveIntervalMs: number;
  keepAliveTimeoutMs: number;
  replacedSessionGraceMs: number;
  revocationPollIntervalMs: number;
  headersTimeoutMs: number;
  authRateLimit: AuthRateLimitConfig;
}

/** PEM certificate chain and private key: the relay terminates TLS on its agent and public listeners. */
export interface RelayTlsOptions {
  cert: string | Buffer;
  key: string | Buffer;
}

/** What a `Relay` is created with. */
export interface RelayOptions {
  /** `HOST:PORT` of the agent listener (serves `GET /tunnel/connect`). */
  agentListen: string;
  /** `HOST:PORT` of the public (visitor) listener; when omitted, the agent listener serves visitors too. */
  publicListen?: string;
  /** `HOST:PORT` of the admin listener (`/healthz`, `/readyz`, `/metrics`, `/api/...`); none when omitted. */
  adminListen?: string;
  /**
   * Bearer token of the admin API and `/metrics` (at least 16 characters).
   * Without it only `/healthz` and `/readyz` (and `/metrics` if
   * `adminMetricsPublic`) are served; the rest answers 403.
   */
  adminToken?: Secret;
  /** Serve `/metrics` on the admin listener without the admin token (default false). */
  adminMetricsPublic?: boolean;
  /** Serve the operator dashboard at `/` of the admin listener (default true). */
  adminDashboard?: boolean;
  /** Lifetime of a dashboard session from its login, in ms (default 8 hours). */
  adminSessionTtlMs?: number;
  /** The relay cluster, for the dashboard's cluster strip and per-node sessions (none: a single relay). */
  dashboardCluster?: DashboardClusterSource;
  /** Add Node.js process metrics (CPU, memory, event loop lag) to `/metrics` (default false). */
  processMetrics?: boolean;
  /** Public domain: agents are reached at `<agent>.<baseDomain>` (and at `/a/<agent>/` on any host). */
  baseDomain: string;
  /**
   * The URL visitors reach an agent at, with `{agent}` for its name
   * (`https://{agent}.tunnel.example.com/`), sent to each agent on its `101`
   * as `X-Tunnel-Public-Url` so it can print it. Default: derived from the
   * public listener (`http(s)://{agent}.<baseDomain>:<port>/`, no port for
   * 80/443), except behind trusted proxies (`trustProxy` set), where the
   * listener's port is not the visitors' and nothing is sent unless this is set.
   */
  agentPublicUrl?: string;
  /**
   * Serve access-controlled (non-public) agents at `/a/<agent>/` too (default
   * false: only at `<agent>.<baseDomain>`). Path routing puts every agent in
   * one browser origin, where one agent's pages can read another's responses
   * with the visitor's credentials; public agents are always path-routed.
   */
  allowPathRouting?: boolean;
  /**
   * The store: an SQLite file (created if missing; `:memory:` for tests), or a
   * `postgres://` / `postgresql://` URL of a PostgreSQL database shared by the
   * nodes of a cluster.
   */
  dbPath: string;
  /** Makes this relay a node of a cluster (needs a PostgreSQL `dbPath`). */
  cluster?: ClusterOptions;
  limits?: RelayLimitsOptions;
  /** Addresses or CIDR ranges of proxies whose `X-Forwarded-*` headers are believed. */
  trustProxy?: readonly string[];
  tls?: RelayTlsOptions;
  logger?: Logger;
  clock?: Clock;
}

/** A validated relay configuration; every field set. */
export interface RelayConfig {
  agentListen: ListenAddress;
  publicListen: ListenAddress | null;
  adminListen: ListenAddress | null;
  adminToken: Secret | null;
  adminMetricsPublic: boolean;
  adminDashboard: boolean;
  adminSessionTtlMs: number;
  dashboardCluster: DashboardClusterSource | null;
  processMetrics: boolean;
  baseDomain: string;
  /** `agentPublicUrl` as given (a template with `{agent}`), or null to derive it from the public listener. */
  agentPublicUrl: string | null;
  allowPathRouting: boolean;
  dbPath: string;
  /** Cluster membership, or null for a single relay. */
  cluster: Readonly<ClusterConfig> | null;
  limits: RelayLimits;
  trustProxy: readonly string[];
  /** `trustProxy` compiled. */
  proxyTrust: ProxyTrust;
  tls: RelayTlsOptions | null;
  logger: Logger;
  clock: Clock;
}

/** Default limits and timeouts. */
export const DEFAULT_RELAY_LIMITS: Readonly<RelayLimits> = Object.freeze({
  maxStreamsPerAgent: 1024,
  offlineGraceMs: 10_000,
  responseHeaderTimeoutMs: 60_000,
  idleTimeoutMs: 0,
  keepAliveIntervalMs: 10_000,
  keepAliveTimeoutMs: 15_000,
  replacedSessionGraceMs: 30_000,
  revocationPollIntervalMs: 250,
  headersTimeoutMs: 30_000,
  authRateLimit: Object.freeze({ maxFailures: 10, windowMs: 60_000, maxTrackedAddresses: 10_000 }),
});

/** Default lifetime of a dashboard session, in ms (8 hours). */
export const DEFAULT_ADMIN_SESSION_TTL_MS = 8 * 3600_000;
/** Bounds of `adminSessionTtlMs`: one minute to seven days. */
export const ADMIN_SESSION_TTL_BOUNDS_MS = Object.freeze({ min: 60_000, max: 7 * 24 * 3600_000 });

/** Defaults of everything but the required `agentListen`, `baseDomain` and `dbPath`. */
export const DEFAULT_RELAY_CONFIG: Readonly<Omit<RelayConfig, 'agentListen' | 'baseDomain' | 'dbPath'>> = Object.freeze({
  publicListen: null,
  agentPublicUrl: null,
  cluster: null,
  adminListen: null,
  adminToken: null,
  adminMetricsPublic: false,
  adminDashboard: true,
  adminSessionTtlMs: DEFAULT_ADMIN_SESSION_TTL_MS,
  dashboardCluster: null,
  processMetrics: false,
  allowPathRouting: false,
  limits: DEFAULT_RELAY_LIMITS,
  trustProxy: Object.freeze([]) as readonly string[],
  proxyTrust: createProxyTrust([]),
  tls: null,
  logger: noopLogger,
  clock: systemClock,
});

function resolveLimits(options: RelayLimitsOptions = {}): RelayLimits {
  const d = DEFAULT_RELAY_LIMITS;
  const pick = <K extends keyof RelayLimitsOptions>(k: K) => (options[k] ?? d[k as keyof RelayLimits]) as unknown;
  const limits: RelayLimits = {
    maxStreamsPerAgent: requireInt('limits.maxStreamsPerAgent', pick('maxStreamsPerAgent'), 1, 1_000_000),
    offlineGraceMs: requireInt('limits.offlineGraceMs', pick('offlineGraceMs'), 0, 3_600_000),
    responseHeaderTimeoutMs: requireInt('limits.responseHeaderTimeoutMs', pick('responseHeaderTimeoutMs'), 0),
    idleTimeoutMs: requireInt('limits.idleTimeoutMs', pick('idleTimeoutMs'), 0),
    keepAliveIntervalMs: requireInt('limits.keepAliveIntervalMs', pick('keepAliveIntervalMs'), 0),
    keepAliveTimeoutMs: requireInt('limits.keepAliveTimeoutMs', pick('keepAliveTimeoutMs'), 1),
    replacedSessionGraceMs: requireInt('limits.replacedSessionGraceMs', pick('replacedSessionGraceMs'), 0),
    revocationPollIntervalMs: requireInt('limits.revocationPollIntervalMs', pick('revocationPollIntervalMs'), 10, 1000),
    headersTimeoutMs: requireInt('limits.headersTimeoutMs', pick('headersTimeoutMs'), 1000),
    authRateLimit: {
      maxFailures: requireInt('limits.authRateLimit.maxFailures', options.authRateLimit?.maxFailures ?? d.authRateLimit.maxFailures, 1),
      windowMs: requireInt('limits.authRateLimit.windowMs', options.authRateLimit?.windowMs ?? d.authRateLimit.windowMs, 1),
      maxTrackedAddresses: requireInt(
        'limits.authRateLimit.maxTrackedAddresses',
        options.authRateLimit?.maxTrackedAddresses ?? d.authRateLimit.maxTrackedAddresses,
        1,
      ),
    },
  };
  if (limits.keepAliveIntervalMs > 0 && limits.keepAliveTimeoutMs <= limits.keepAliveIntervalMs) {
    throw new ConfigError(
      'limits.keepAliveTimeoutMs',
      `must be greater than limits.keepAliveIntervalMs (${limits.keepAliveIntervalMs})`,
      limits.keepAliveTimeoutMs,
    );
  }
  return limits;
}

function resolveListen(field: string, value: unknown): ListenAddress {
  const { host, port } = requireHostPort(field, value, true);
  return { host, port };
}

/** Shortest admin token accepted, in characters. */
export const MIN_ADMIN_TOKEN_LENGTH = 16;
/** Least estimated strength of an admin token, in bits (`estimateTokenBits`): a guess per request must be hopeless. */
export const MIN_ADMIN_TOKEN_BITS = 128;

/**
 * An upper estimate of a token's strength in bits: its length times log2 of
 * the alphabet its character classes span (digits 10, lowercase 26,
 * uppercase 26, `-` `_` 2, anything else 32). A 32-digit hex token scores
 * about 165, `openssl rand -hex 12` (96 bits) about 124.
 */
export function estimateTokenBits(token: string): number {
  let alphabet = 0;
  if (/[0-9]/.test(token)) alphabet += 10;
  if (/[a-z]/.test(token)) alphabet += 26;
  if (/[A-Z]/.test(token)) alphabet += 26;
  if (/[-_]/.test(token)) alphabet += 2;
  if (/[^0-9a-zA-Z_-]/.test(token)) alphabet += 32;
  return alphabet <= 1 ? 0 : token.length * Math.log2(alphabet);
}

function resolveAdminToken(value: unknown): Secret | null {
  if (value === undefined) return null;
  // Never echo the token itself in the error.
  if (!(value instanceof Secret)) throw new ConfigError('adminToken', 'must be a Secret', typeof value);
  const text = value.reveal();
  if (text.length < MIN_ADMIN_TOKEN_LENGTH || /\s/.test(text)) {
    throw new ConfigError('adminToken', `must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters without spaces`, `${text.length} characters`);
  }
  const bits = estimateTokenBits(text);
  if (bits < MIN_ADMIN_TOKEN_BITS) {
    throw new ConfigError(
      'adminToken',
      `must carry at least ${MIN_ADMIN_TOKEN_BITS} bits (e.g. \`openssl rand -hex 16\` or 32 random characters)`,
      `about ${Math.floor(bits)} bits`,
    );
  }
  return value;
}

function resolveFlag(field: string, value: unknown): boolean {
  if (value === undefined) return false;
  if (typeof value !== 'boolean') throw new ConfigError(field, 'must be true or false', value);
  return value;
}

function resolveCluster(options: ClusterOptions | undefined, dbPath: string): Readonly<ClusterConfig> | null {
  if (options === undefined) return null;
  if (!/^postgres(ql)?:\/\//i.test(dbPath)) {
    throw new ConfigError('dbPath', 'must be a postgres:// URL for a cluster node (the nodes share one PostgreSQL store)', dbPath.replace(/:[^:@/]*@/, ':***@'));
  }
  return resolveClusterConfig(options);
}

/** An `agentPublicUrl` template: an http(s) URL once `{agent}` is put in, and `{agent}` in it. */
function resolveAgentPublicUrl(value: unknown): string {
  const text = requireString('agentPublicUrl', value);
  if (!text.includes('{agent}')) throw new ConfigError('agentPublicUrl', 'must contain {agent} where the agent name goes', text);
  let url: URL;
  try {
    url = new URL(text.replaceAll('{agent}', 'agent'));
  } catch {
    throw new ConfigError('agentPublicUrl', 'must be an absolute http:// or https:// URL', text);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError('agentPublicUrl', 'must be an absolute http:// or https:// URL', text);
  return text;
}

/**
 * The public URL of agent `agentName`: `template` with the name put in, or
 * (no template) `http(s)://<agent>.<baseDomain>[:port]/` from the public
 * listener's port; undefined when there is no template and the relay is
 * behind trusted proxies (the listener's port is then not the visitors').
 */
export function agentPublicUrlOf(
  agentName: string,
  config: Pick<RelayConfig, 'agentPublicUrl' | 'baseDomain' | 'trustProxy' | 'tls'>,
  publicPort: number,
): string | undefined {
  if (config.agentPublicUrl !== null) return config.agentPublicUrl.replaceAll('{agent}', agentName);
  if (config.trustProxy.length > 0) return undefined;
  const https = config.tls !== null;
  const defaultPort = https ? 443 : 80;
  return `${https ? 'https' : 'http'}://${agentName}.${config.baseDomain}${publicPort === defaultPort ? '' : `:${publicPort}`}/`;
}

/** Merges `options` over the defaults and validates; throws `ConfigError` naming the field and value. */
export function resolveRelayConfig(options: RelayOptions): Readonly<RelayConfig> {
  if (typeof options !== 'object' || options === null) throw new ConfigError('options', 'must be an object', options);
  const agentListen = resolveListen('agentListen', options.agentListen);
  const publicListen = options.publicListen === undefined ? null : resolveListen('publicListen', options.publicListen);
  const adminListen = options.adminListen === undefined ? null : resolveListen('adminListen', options.adminListen);

  const baseDomainRaw = requireString('baseDomain', options.baseDomain);
  const baseDomain = parseHostHeader(baseDomainRaw);
  if (baseDomain === undefined || baseDomain.startsWith('[') || baseDomainRaw.includes(':')) {
    throw new ConfigError('baseDomain', 'must be a DNS name without port', options.baseDomain);
  }
  const dbPath = requireString('dbPath', options.dbPath);
  const agentPublicUrl = options.agentPublicUrl === undefined ? null : resolveAgentPublicUrl(options.agentPublicUrl);

  if (!Array.isArray(options.trustProxy ?? [])) throw new ConfigError('trustProxy', 'must be a list of addresses', options.trustProxy);
  const trustProxy = Object.freeze([...(options.trustProxy ?? [])]);
  const proxyTrust = createProxyTrust(trustProxy, 'trustProxy');

  let tls: RelayTlsOptions | null = null;
  if (options.tls !== undefined) {
    const { cert, key } = options.tls;
    if (!(typeof cert === 'string' || Buffer.isBuffer(cert)) || cert.length === 0) {
      throw new ConfigError('tls.cert', 'must be a PEM certificate', typeof cert);
    }
    if (!(typeof key === 'string' || Buffer.isBuffer(key)) || key.length === 0) {
      // Never echo key material.
      throw new ConfigError('tls.key', 'must be a PEM private key', typeof key);
    }
    tls = { cert, key };
  }

  return Object.freeze({
    agentListen,
    publicListen,
    adminListen,
    adminToken: resolveAdminToken(options.adminToken),
    adminMetricsPublic: resolveFlag('adminMetricsPublic', options.adminMetricsPublic),
    adminDashboard: options.adminDashboard === undefined ? true : resolveFlag('adminDashboard', options.adminDashboard),
    adminSessionTtlMs: requireInt(
      'adminSessionTtlMs',
      options.adminSessionTtlMs ?? DEFAULT_ADMIN_SESSION_TTL_MS,
      ADMIN_SESSION_TTL_BOUNDS_MS.min,
      ADMIN_SESSION_TTL_BOUNDS_MS.max,
    ),
    dashboardCluster: options.dashboardCluster ?? null,
    processMetrics: resolveFlag('processMetrics', options.processMetrics),
    baseDomain,
    agentPublicUrl,
    allowPathRouting: resolveFlag('allowPathRouting', options.allowPathRouting),
    dbPath,
    cluster: resolveCluster(options.cluster, dbPath),
    limits: resolveLimits(options.limits),
    trustProxy,
    proxyTrust,
    tls,
    logger: options.logger ?? DEFAULT_RELAY_CONFIG.logger,
    clock: options.clock ?? DEFAULT_RELAY_CONFIG.clock,
  });
}
