/**
 * Options of the agent's stream -> local service forwarder, their defaults,
 * and their validation.
 */
import { ConfigError } from '../shared/errors.js';
import { requireHostPort, requireInt, requireString } from '../shared/validate.js';

/** How the forwarder sets `Host` on requests to the local service. */
export type HostHeaderMode = 'preserve' | 'local' | (string & {});

/** User input; every field but `localAddr` optional. */
export interface LocalForwarderOptions {
  /** The local service, `host:port` (`127.0.0.1:3000`, `localhost:3000`, `[::1]:3000`). */
  localAddr: string;
  /**
   * `preserve` (default, as the Go client): the visitor's Host; `local`: the
   * `localAddr` text; any other string: that value (many dev servers reject
   * a foreign Host).
   */
  hostHeader?: HostHeaderMode;
  /** Time allowed to open a TCP connection to the local service (lookup included); default 10 000 ms. */
  connectTimeoutMs?: number;
  /** Most concurrent connections to the local service; default unlimited. */
  maxSockets?: number;
  /** Most idle keep-alive connections kept in the pool; default 256. */
  maxFreeSockets?: number;
}

/** Validated configuration. */
export interface LocalForwarderConfig {
  localAddr: string;
  localHost: string;
  localPort: number;
  hostHeader: HostHeaderMode;
  connectTimeoutMs: number;
  maxSockets: number;
  maxFreeSockets: number;
}

/** Defaults of every optional field. */
export const DEFAULT_LOCAL_FORWARDER_CONFIG: Readonly<
  Pick<LocalForwarderConfig, 'hostHeader' | 'connectTimeoutMs' | 'maxSockets' | 'maxFreeSockets'>
> = Object.freeze({
  hostHeader: 'preserve',
  connectTimeoutMs: 10_000,
  maxSockets: Number.POSITIVE_INFINITY,
  maxFreeSockets: 256,
});

/** Merges `options` with the defaults and validates them; throws `ConfigError` naming the field. */
export function resolveLocalForwarderConfig(options: LocalForwarderOptions): Readonly<LocalForwarderConfig> {
  const { host, port } = requireHostPort('localAddr', options.localAddr);
  const hostHeader = requireString('hostHeader', options.hostHeader ?? DEFAULT_LOCAL_FORWARDER_CONFIG.hostHeader);
  if (/[\r\n\0]/.test(hostHeader)) throw new ConfigError('hostHeader', 'must not contain CR, LF or NUL', hostHeader);
  const maxSockets =
    options.maxSockets === undefined || options.maxSockets === Number.POSITIVE_INFINITY
      ? DEFAULT_LOCAL_FORWARDER_CONFIG.maxSockets
      : requireInt('maxSockets', options.maxSockets, 1);
  return Object.freeze({
    localAddr: options.localAddr,
    localHost: host,
    localPort: port,
    hostHeader,
    connectTimeoutMs: requireInt(
      'connectTimeoutMs',
      options.connectTimeoutMs ?? DEFAULT_LOCAL_FORWARDER_CONFIG.connectTimeoutMs,
      1,
    ),
    maxSockets,
    maxFreeSockets: requireInt('maxFreeSockets', options.maxFreeSockets ?? DEFAULT_LOCAL_FORWARDER_CONFIG.maxFreeSockets, 0),
  });
}
