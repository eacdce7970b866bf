/**
 * Configuration of a relay node in a cluster: its id, the peer listener other
 * nodes dial, the shared secret that authenticates peer links, optional TLS
 * on them, and the lease that tells the other nodes it is alive. A relay is a
 * cluster node when `cluster` is set in its options; it then needs a
 * PostgreSQL store shared with the other nodes.
 */
import { hostname } from 'node:os';
import { ConfigError } from '../../shared/errors.js';
import { Secret } from '../../shared/secret.js';
import { requireHostPort, requireInt } from '../../shared/validate.js';
import type { ListenAddress } from '../relay-config.js';

/** Shortest cluster secret accepted, in bytes (256 bits, as for HMAC-SHA256 keys). */
export const MIN_CLUSTER_SECRET_BYTES = 32;

/** TLS of peer links: this node's certificate and key, and the CA its peers' certificates chain to. */
export interface PeerTlsOptions {
  cert: string | Buffer;
  key: string | Buffer;
  /** Trusted CA(s) for the peers' certificates (default: the system's). */
  ca?: string | Buffer;
}

/** Cluster options of a relay (user input). */
export interface ClusterOptions {
  /** This node's id, unique in the cluster: 1-63 of a-z, 0-9, "-" (default: derived from the host name). */
  nodeId?: string;
  /** `HOST:PORT` of this node's peer listener. */
  peerListen: string;
  /** `HOST:PORT` the other nodes dial (default: `peerListen`, which must then name a host, not a wildcard). */
  peerAdvertise?: string;
  /** The secret every node of the cluster shares (at least 32 bytes). */
  secret: Secret;
  /** TLS on peer links (both ways); plain TCP when absent. */
  tls?: PeerTlsOptions;
  /** How long this node's lease lasts without renewal (ms, default 10000); renewed every third of it. */
  nodeLeaseMs?: number;
  /** Keepalive ping interval of peer links (ms, default 5000). */
  peerKeepAliveIntervalMs?: number;
  /** A peer that does not answer a ping for this long is dropped (ms, default 10000). */
  peerKeepAliveTimeoutMs?: number;
  /** Time allowed to dial and authenticate a peer link (ms, default 5000). */
  peerDialTimeoutMs?: number;
  /** How long a drain (SIGTERM, `POST /api/drain`) lets agents move and requests finish before the node stops (ms, default 30000). */
  drainGraceMs?: number;
  /** Over how long the agents of a draining node are asked to move, so that they do not all redial at once (ms, default 5000; at most a third of the grace). */
  drainSpreadMs?: number;
}

/** Resolved cluster configuration. */
export interface ClusterConfig {
  nodeId: string;
  peerListen: ListenAddress;
  /** `host:port` the other nodes dial. */
  peerAdvertise: string;
  secret: Secret;
  tls: PeerTlsOptions | null;
  nodeLeaseMs: number;
  peerKeepAliveIntervalMs: number;
  peerKeepAliveTimeoutMs: number;
  peerDialTimeoutMs: number;
  drainGraceMs: number;
  drainSpreadMs: number;
}

const NODE_ID_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** A node id from the host name: lower-case, other characters as "-", at most 63 characters. */
export function defaultNodeId(host: string = hostname()): string {
  const id = host
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/, '');
  return id === '' ? 'relay' : id;
}

/** Validates `options`; throws `ConfigError` naming the field (`cluster.*`). */
export function resolveClusterConfig(options: ClusterOptions): Readonly<ClusterConfig> {
  if (typeof options !== 'object' || options === null) throw new ConfigError('cluster', 'must be an object', options);
  const nodeId = options.nodeId ?? defaultNodeId();
  if (typeof nodeId !== 'string' || !NODE_ID_PATTERN.test(nodeId)) {
    throw new ConfigError('cluster.nodeId', 'must be 1-63 characters of a-z, 0-9 and "-", not starting or ending with "-"', nodeId);
  }
  const listen = requireHostPort('cluster.peerListen', options.peerListen, true);
  let peerAdvertise: string;
  if (options.peerAdvertise !== undefined) {
    const advertised = requireHostPort('cluster.peerAdvertise', options.peerAdvertise, false);
    peerAdvertise = formatHostPort(advertised.host, advertised.port);
  } else {
    if (isWildcard(listen.host)) {
      throw new ConfigError('cluster.peerAdvertise', 'is required when cluster.peerListen binds a wildcard address', options.peerListen);
    }
    // Port 0 is resolved once the listener is bound.
    peerAdvertise = formatHostPort(listen.host, listen.port);
  }
  if (!(options.secret instanceof Secret)) throw new ConfigError('cluster.secret', 'must be a Secret', typeof options.secret);
  const secretBytes = Buffer.byteLength(options.secret.reveal(), 'utf8');
  if (secretBytes < MIN_CLUSTER_SECRET_BYTES) {
    // Never echo the secret itself.
    throw new ConfigError('cluster.secret', `must be at least ${MIN_CLUSTER_SECRET_BYTES} bytes`, `${secretBytes} bytes`);
  }
  let tls: PeerTlsOptions | null = null;
  if (options.tls !== undefined) {
    const { cert, key, ca } = options.tls;
    if (!(typeof cert === 'string' || Buffer.isBuffer(cert)) || cert.length === 0) throw new ConfigError('cluster.tls.cert', 'must be a PEM certificate', typeof cert);
    if (!(typeof key === 'string' || Buffer.isBuffer(key)) || key.length === 0) throw new ConfigError('cluster.tls.key', 'must be a PEM private key', typeof key);
    tls = { cert, key, ...(ca === undefined ? {} : { ca }) };
  }
  const nodeLeaseMs = requireInt('cluster.nodeLeaseMs', options.nodeLeaseMs ?? 10_000, 1000, 600_000);
  const peerKeepAliveIntervalMs = requireInt('cluster.peerKeepAliveIntervalMs', options.peerKeepAliveIntervalMs ?? 5000, 100);
  const peerKeepAliveTimeoutMs = requireInt('cluster.peerKeepAliveTimeoutMs', options.peerKeepAliveTimeoutMs ?? 10_000, 200);
  if (peerKeepAliveTimeoutMs <= peerKeepAliveIntervalMs) {
    throw new ConfigError('cluster.peerKeepAliveTimeoutMs', `must be greater than cluster.peerKeepAliveIntervalMs (${peerKeepAliveIntervalMs})`, peerKeepAliveTimeoutMs);
  }
  return Object.freeze({
    nodeId,
    peerListen: { host: listen.host, port: listen.port },
    peerAdvertise,
    secret: options.secret,
    tls,
    nodeLeaseMs,
    peerKeepAliveIntervalMs,
    peerKeepAliveTimeoutMs,
    peerDialTimeoutMs: requireInt('cluster.peerDialTimeoutMs', options.peerDialTimeoutMs ?? 5000, 100),
    drainGraceMs: requireInt('cluster.drainGraceMs', options.drainGraceMs ?? 30_000, 0, 3_600_000),
    drainSpreadMs: requireInt('cluster.drainSpreadMs', options.drainSpreadMs ?? 5000, 0, 600_000),
  });
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '';
}

/** `host:port`, IPv6 hosts in brackets. */
export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
