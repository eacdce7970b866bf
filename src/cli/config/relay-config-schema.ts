/**
 * The settings of `visiona-tunnel relay`: flags, environment variables and
 * config-file keys, with their defaults (taken from the relay's own
 * defaults, so the two cannot drift).
 */
import { ADMIN_SESSION_TTL_BOUNDS_MS, DEFAULT_ADMIN_SESSION_TTL_MS, DEFAULT_RELAY_CLOSE_GRACE_MS, DEFAULT_RELAY_LIMITS } from '../../relay/index.js';
import type { ConfigField, ConfigSchema, ResolvedSettings } from './config-schema.js';

const L = DEFAULT_RELAY_LIMITS;

const RELAY_FIELDS = [
  {
    key: 'agentListen',
    flag: 'agent-listen',
    type: 'listen',
    required: true,
    description: 'Address of the agent listener (`GET /tunnel/connect`); it also serves visitors when `publicListen` is not set.',
  },
  {
    key: 'publicListen',
    flag: 'public-listen',
    type: 'listen',
    description: 'Address of a separate public (visitor) listener.',
  },
  {
    key: 'adminListen',
    flag: 'admin-listen',
    type: 'listen',
    description:
      'Address of the admin listener (`/healthz`, `/readyz`, `/metrics`, the admin API under `/api/`); keep it on a private interface.',
  },
  {
    key: 'adminTokenFile',
    flag: 'admin-token-file',
    type: 'path',
    description:
      'File holding the admin token (at least 16 characters; else `VISIONA_TUNNEL_ADMIN_TOKEN`), required as `Authorization: Bearer` by `/metrics` and `/api/`; without one they answer 403.',
  },
  {
    key: 'adminMetricsPublic',
    flag: 'admin-metrics-public',
    type: 'boolean',
    default: false,
    description: 'Serve `/metrics` on the admin listener without the admin token (for a scraper on a trusted network).',
  },
  {
    key: 'adminDashboard',
    flag: 'admin-dashboard',
    type: 'enum',
    values: ['on', 'off'],
    default: 'on',
    description:
      'The operator dashboard at `/` of the admin listener (login with the admin token, live fleet view, kick, revoke, access); `off` serves the JSON API alone.',
  },
  {
    key: 'adminSessionTtlMs',
    flag: 'admin-session-ttl-ms',
    type: 'integer',
    min: ADMIN_SESSION_TTL_BOUNDS_MS.min,
    max: ADMIN_SESSION_TTL_BOUNDS_MS.max,
    default: DEFAULT_ADMIN_SESSION_TTL_MS,
    description: 'Lifetime of a dashboard session from its login; the browser then has to log in again.',
  },
  {
    key: 'domain',
    flag: 'domain',
    type: 'string',
    required: true,
    description: 'Base domain: visitors reach agent `edge-01` at `edge-01.DOMAIN` (and at `/a/edge-01/` on any host).',
  },
  {
    key: 'agentPublicUrl',
    flag: 'agent-public-url',
    type: 'string',
    description:
      'The URL visitors reach an agent at, `{agent}` standing for its name (`https://{agent}.tunnel.example.com/`); each agent gets it on connecting and prints `Forwarding URL -> local`. Default: `http(s)://{agent}.DOMAIN:PORT/` from the public listener, or nothing behind `trustProxy` (set it there).',
  },
  {
    key: 'allowPathRouting',
    flag: 'allow-path-routing',
    type: 'boolean',
    default: false,
    description:
      'Also serve access-controlled agents at `/a/AGENT/` (public agents always are). Off by default: path routing puts every agent in one browser origin, so a page of one agent could read another agent\'s responses with the visitor\'s access cookie (docs/security.md).',
  },
  {
    key: 'db',
    flag: 'db',
    type: 'path',
    required: true,
    description:
      'The store of agents, hashed tokens and access policies: an SQLite file (created if missing) for one relay, or a `postgres://USER@HOST:PORT/DB` URL shared by the nodes of a cluster (password in the URL, `PGPASSWORD` or `~/.pgpass`).',
  },
  {
    key: 'nodeId',
    flag: 'node-id',
    type: 'string',
    description: 'This node\'s id in a cluster, unique among the nodes (1-63 of a-z, 0-9, "-"); default: derived from the host name.',
  },
  {
    key: 'peerListen',
    flag: 'peer-listen',
    type: 'listen',
    description:
      'Makes this relay a cluster node: the address of its peer listener, which the other nodes dial to reach its agents. Needs a `postgres://` `db` and `clusterSecretFile`; keep it on a private network.',
  },
  {
    key: 'peerAdvertise',
    flag: 'peer-advertise',
    type: 'hostPort',
    description: 'The `HOST:PORT` the other nodes dial for this node (default: `peerListen`, which must then not be a wildcard address).',
  },
  {
    key: 'clusterSecretFile',
    flag: 'cluster-secret-file',
    type: 'path',
    description:
      'File holding the secret all nodes share (at least 32 bytes; else `VISIONA_TUNNEL_CLUSTER_SECRET`), which authenticates peer links both ways; never sent on the wire.',
  },
  {
    key: 'peerTlsCert',
    flag: 'peer-tls-cert',
    type: 'path',
    description: 'PEM certificate of this node for TLS on peer links (with `peerTlsKey`; both ways, the dialing node presents it too).',
  },
  {
    key: 'peerTlsKey',
    flag: 'peer-tls-key',
    type: 'path',
    description: 'PEM private key of `peerTlsCert`.',
  },
  {
    key: 'peerCa',
    flag: 'peer-ca',
    type: 'path',
    description: 'PEM CA certificate(s) the peers\' certificates must chain to (default: the system CAs).',
  },
  {
    key: 'cluster.nodeLeaseMs',
    type: 'integer',
    min: 1000,
    max: 600_000,
    default: 10_000,
    description: 'How long this node\'s lease lasts without renewal (renewed every third of it); the other nodes stop routing to a node whose lease ran out.',
  },
  {
    key: 'cluster.drainGraceMs',
    flag: 'drain-grace-ms',
    type: 'integer',
    min: 0,
    max: 3_600_000,
    default: 30_000,
    description:
      'A cluster node\'s drain (SIGTERM, SIGINT, `POST /api/drain`): how long its agents may take to move to other nodes and its requests in flight to finish before it exits.',
  },
  {
    key: 'cluster.drainSpreadMs',
    type: 'integer',
    min: 0,
    max: 600_000,
    default: 5_000,
    description: 'Over how long a draining node asks its agents to move (GoAway, with jitter), so they do not all redial at once; at most a third of `cluster.drainGraceMs`.',
  },
  {
    key: 'tlsCert',
    flag: 'tls-cert',
    type: 'path',
    description: 'PEM certificate chain; with `tlsKey`, the relay serves `https://` and `wss://` itself.',
  },
  {
    key: 'tlsKey',
    flag: 'tls-key',
    type: 'path',
    description: 'PEM private key of `tlsCert`.',
  },
  {
    key: 'trustProxy',
    flag: 'trust-proxy',
    type: 'list',
    default: [],
    description:
      'Addresses or CIDR ranges of reverse proxies whose `X-Forwarded-For`/`-Proto`/`-Host` headers are believed; from anyone else they are replaced.',
  },
  {
    key: 'graceMs',
    flag: 'grace-ms',
    type: 'integer',
    min: 0,
    default: DEFAULT_RELAY_CLOSE_GRACE_MS,
    description: 'On SIGINT/SIGTERM, how long requests and upgrades in flight may finish before everything is closed.',
  },
  {
    key: 'limits.maxStreamsPerAgent',
    type: 'integer',
    min: 1,
    max: 1_000_000,
    default: L.maxStreamsPerAgent,
    description: 'Concurrent visitor streams per agent; over it visitors get `503` with `Retry-After`.',
  },
  {
    key: 'limits.offlineGraceMs',
    type: 'integer',
    min: 0,
    max: 3_600_000,
    default: L.offlineGraceMs,
    description: 'How long a visitor request waits for an offline (known) agent to come back before `502`.',
  },
  {
    key: 'limits.responseHeaderTimeoutMs',
    type: 'integer',
    min: 0,
    default: L.responseHeaderTimeoutMs,
    description: 'Time allowed for the agent\'s response headers once the request is sent (`504` after it); 0 = no limit.',
  },
  {
    key: 'limits.idleTimeoutMs',
    type: 'integer',
    min: 0,
    default: L.idleTimeoutMs,
    description: 'A forwarded exchange with no byte in either direction for this long is aborted; 0 = no limit.',
  },
  {
    key: 'limits.keepAliveIntervalMs',
    type: 'integer',
    min: 0,
    default: L.keepAliveIntervalMs,
    description: 'yamux keepalive ping interval towards each agent; 0 = off.',
  },
  {
    key: 'limits.keepAliveTimeoutMs',
    type: 'integer',
    min: 1,
    default: L.keepAliveTimeoutMs,
    description: 'A keepalive ping unanswered this long ends the agent\'s session; must exceed the interval.',
  },
  {
    key: 'limits.replacedSessionGraceMs',
    type: 'integer',
    min: 0,
    default: L.replacedSessionGraceMs,
    description: 'How long a session replaced by a newer one (newest wins) may finish its streams.',
  },
  {
    key: 'limits.revocationPollIntervalMs',
    type: 'integer',
    min: 10,
    max: 1000,
    default: L.revocationPollIntervalMs,
    description: 'How often revocations made by other processes (`token revoke`) are read from the store.',
  },
  {
    key: 'limits.headersTimeoutMs',
    type: 'integer',
    min: 1000,
    default: L.headersTimeoutMs,
    description: 'Longest time an agent or visitor may take to send its request head (slowloris bound).',
  },
  {
    key: 'limits.authRateLimit.maxFailures',
    type: 'integer',
    min: 1,
    default: L.authRateLimit.maxFailures,
    description: 'Failed agent authentications allowed per address within the window; further attempts get `429`.',
  },
  {
    key: 'limits.authRateLimit.windowMs',
    type: 'integer',
    min: 1,
    default: L.authRateLimit.windowMs,
    description: 'Length of the authentication-failure counting window.',
  },
  {
    key: 'limits.authRateLimit.maxTrackedAddresses',
    type: 'integer',
    min: 1,
    default: L.authRateLimit.maxTrackedAddresses,
    description: 'Addresses tracked at most by the rate limiter (oldest forgotten first).',
  },
] as const satisfies readonly ConfigField[];

/** The settings of `visiona-tunnel relay`. */
export const RELAY_CONFIG_SCHEMA: ConfigSchema<typeof RELAY_FIELDS> = Object.freeze({
  command: 'relay',
  summary:
    'The relay accepts agents on `GET /tunnel/connect` and visitors on its public listener. Durations are in milliseconds.',
  fields: RELAY_FIELDS,
});

/** Resolved settings of `relay`, keyed by config-file key. */
export type RelaySettings = ResolvedSettings<(typeof RELAY_CONFIG_SCHEMA)['fields']>;
