/**
 * Turns resolved `relay` settings into the `Relay`'s options (reading the
 * TLS files). The relay validates them once more, with the same field names.
 */
import type { RelayOptions } from '../../relay/index.js';
import { ConfigError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { Secret } from '../../shared/secret.js';
import { readSettingFile } from './load-command-settings.js';
import type { RelaySettings } from './relay-config-schema.js';

/** Environment variable holding the admin token when no `adminTokenFile` is given. */
export const ADMIN_TOKEN_ENV = 'VISIONA_TUNNEL_ADMIN_TOKEN';

/** The admin token from `adminTokenFile` (trimmed), else `VISIONA_TUNNEL_ADMIN_TOKEN`, else undefined. */
export function readAdminToken(adminTokenFile: string | undefined, env: NodeJS.ProcessEnv): Secret | undefined {
  if (adminTokenFile !== undefined) return new Secret(readSettingFile('adminTokenFile', adminTokenFile).toString('utf8').trim());
  const fromEnv = env[ADMIN_TOKEN_ENV];
  return fromEnv === undefined || fromEnv === '' ? undefined : new Secret(fromEnv.trim());
}

/** Environment variable holding the cluster secret when no `clusterSecretFile` is given. */
export const CLUSTER_SECRET_ENV = 'VISIONA_TUNNEL_CLUSTER_SECRET';

/** The cluster options, when `peerListen` makes this relay a cluster node. */
function clusterFromSettings(s: RelaySettings, env: NodeJS.ProcessEnv): RelayOptions['cluster'] {
  if (s.peerListen === undefined) {
    for (const key of ['nodeId', 'peerAdvertise', 'clusterSecretFile', 'peerTlsCert', 'peerTlsKey', 'peerCa'] as const) {
      if (s[key] !== undefined) throw new ConfigError(key, 'only applies to a cluster node: set peerListen (--peer-listen) too', s[key]);
    }
    return undefined;
  }
  const secretText =
    s.clusterSecretFile !== undefined ? readSettingFile('clusterSecretFile', s.clusterSecretFile).toString('utf8').trim() : env[CLUSTER_SECRET_ENV]?.trim();
  if (secretText === undefined || secretText === '') {
    throw new ConfigError('clusterSecretFile', `is required for a cluster node (--cluster-secret-file FILE, or ${CLUSTER_SECRET_ENV})`, undefined);
  }
  if ((s.peerTlsCert === undefined) !== (s.peerTlsKey === undefined)) {
    const missing = s.peerTlsCert === undefined ? 'peerTlsCert' : 'peerTlsKey';
    throw new ConfigError(missing, 'is required with the other (--peer-tls-cert and --peer-tls-key go together)', undefined);
  }
  return {
    peerListen: s.peerListen,
    secret: new Secret(secretText),
    ...(s.nodeId === undefined ? {} : { nodeId: s.nodeId }),
    ...(s.peerAdvertise === undefined ? {} : { peerAdvertise: s.peerAdvertise }),
    ...(s.peerTlsCert !== undefined && s.peerTlsKey !== undefined
      ? {
          tls: {
            cert: readSettingFile('peerTlsCert', s.peerTlsCert),
            key: readSettingFile('peerTlsKey', s.peerTlsKey),
            ...(s.peerCa === undefined ? {} : { ca: readSettingFile('peerCa', s.peerCa) }),
          },
        }
      : {}),
    nodeLeaseMs: s['cluster.nodeLeaseMs'],
    drainGraceMs: s['cluster.drainGraceMs'],
    drainSpreadMs: s['cluster.drainSpreadMs'],
  };
}

/** The `Relay` options for `settings`; TLS needs both `tlsCert` and `tlsKey`. The admin token may come from `env`. */
export function relayOptionsFromSettings(settings: RelaySettings, logger: Logger, env: NodeJS.ProcessEnv = {}): RelayOptions {
  const s = settings;
  if ((s.tlsCert === undefined) !== (s.tlsKey === undefined)) {
    const missing = s.tlsCert === undefined ? 'tlsCert' : 'tlsKey';
    throw new ConfigError(missing, `is required with ${missing === 'tlsCert' ? 'tlsKey' : 'tlsCert'} (--tls-cert and --tls-key go together)`, undefined);
  }
  const adminToken = readAdminToken(s.adminTokenFile, env);
  const cluster = clusterFromSettings(s, env);
  return {
    agentListen: s.agentListen,
    ...(s.publicListen === undefined ? {} : { publicListen: s.publicListen }),
    ...(s.adminListen === undefined ? {} : { adminListen: s.adminListen }),
    ...(adminToken === undefined ? {} : { adminToken }),
    adminMetricsPublic: s.adminMetricsPublic,
    adminDashboard: s.adminDashboard === 'on',
    adminSessionTtlMs: s.adminSessionTtlMs,
    // Process metrics are read only through /metrics on the admin listener; without one, prom-client is not loaded.
    processMetrics: s.adminListen !== undefined,
    baseDomain: s.domain,
    ...(s.agentPublicUrl === undefined ? {} : { agentPublicUrl: s.agentPublicUrl }),
    allowPathRouting: s.allowPathRouting,
    dbPath: s.db,
    ...(cluster === undefined ? {} : { cluster }),
    trustProxy: [...s.trustProxy],
    ...(s.tlsCert !== undefined && s.tlsKey !== undefined
      ? { tls: { cert: readSettingFile('tlsCert', s.tlsCert), key: readSettingFile('tlsKey', s.tlsKey) } }
      : {}),
    limits: {
      maxStreamsPerAgent: s['limits.maxStreamsPerAgent'],
      offlineGraceMs: s['limits.offlineGraceMs'],
      responseHeaderTimeoutMs: s['limits.responseHeaderTimeoutMs'],
      idleTimeoutMs: s['limits.idleTimeoutMs'],
      keepAliveIntervalMs: s['limits.keepAliveIntervalMs'],
      keepAliveTimeoutMs: s['limits.keepAliveTimeoutMs'],
      replacedSessionGraceMs: s['limits.replacedSessionGraceMs'],
      revocationPollIntervalMs: s['limits.revocationPollIntervalMs'],
      headersTimeoutMs: s['limits.headersTimeoutMs'],
      authRateLimit: {
        maxFailures: s['limits.authRateLimit.maxFailures'],
        windowMs: s['limits.authRateLimit.windowMs'],
        maxTrackedAddresses: s['limits.authRateLimit.maxTrackedAddresses'],
      },
    },
    logger,
  };
}
