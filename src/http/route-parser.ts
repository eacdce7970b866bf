/**
 * Route parsing for the relay's public ingress: which agent a visitor's
 * request is for, by Host (`<agent>.<baseDomain>`) or by path
 * (`/a/<agent>/...`). This is the one parse of the agent name: routing, access
 * control and logs must all use `Route.agent`, never re-read Host or path.
 */
import { isIP } from 'node:net';

/** A valid agent name: one lowercase DNS label (1 to 63 characters). */
export const AGENT_NAME_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** The path prefix of path routing; `/a/<agent>/rest` reaches `rest` on `<agent>`. */
export const PATH_ROUTE_PREFIX = '/a/';

/** Codes of requests that cannot be routed. */
export type RouteErrorCode = 'ERR_ROUTE_BAD_HOST' | 'ERR_ROUTE_BAD_PATH' | 'ERR_ROUTE_BAD_AGENT' | 'ERR_ROUTE_NO_AGENT';

/** Status to answer for each route error: malformed requests 400, no agent named 404. */
export const ROUTE_ERROR_STATUS: Readonly<Record<RouteErrorCode, 400 | 404>> = {
  ERR_ROUTE_BAD_HOST: 400,
  ERR_ROUTE_BAD_PATH: 400,
  ERR_ROUTE_BAD_AGENT: 400,
  ERR_ROUTE_NO_AGENT: 404,
};

/** A routed request. */
export interface Route {
  /** The agent name, validated against `AGENT_NAME_PATTERN`. */
  agent: string;
  /** The request target to send to the agent (origin-form, query kept), prefix stripped. */
  path: string;
  /** How the agent was named. */
  via: 'host' | 'path';
  /** The stripped prefix (`/a/edge-01`, no trailing slash), for `X-Forwarded-Prefix`; only with `via: 'path'`. */
  prefix?: string;
  /**
   * Set when the visitor wrote `/a/<agent>` without the trailing slash: where
   * to redirect (`/a/<agent>/` plus the query), so relative links resolve.
   */
  redirect?: string;
}

/** A request that cannot be routed. */
export interface RouteError {
  error: RouteErrorCode;
  /** The status to answer with (`ROUTE_ERROR_STATUS[error]`). */
  status: 400 | 404;
  /** A short explanation safe to show the visitor. */
  message: string;
}

/** What `parseRoute` needs from the request: the raw `Host` header and request target. */
export interface RouteRequest {
  host: string | undefined;
  url: string | undefined;
}

/** Routing options. */
export interface RouteOptions {
  /** The relay's public domain (`tunnel.example.com`); agents live at `<agent>.<baseDomain>`. */
  baseDomain: string;
}

/** True when `r` is a `RouteError`. */
export function isRouteError(r: Route | RouteError): r is RouteError {
  return 'error' in r;
}

/** True when `name` is a valid agent name. */
export function isValidAgentName(name: string): boolean {
  return AGENT_NAME_PATTERN.test(name);
}

function routeError(error: RouteErrorCode, message: string): RouteError {
  return { error, status: ROUTE_ERROR_STATUS[error], message };
}

const DNS_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * The hostname of a `Host` header value, lowercased, port and trailing dot
 * removed; undefined when the value is not `reg-name[:port]` made of DNS
 * labels, an IPv4 address, or a bracketed IPv6 address.
 */
export function parseHostHeader(host: string | undefined): string | undefined {
  if (host === undefined) return undefined;
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(host);
  if (m === null) return undefined;
  if (m[2] !== undefined && Number(m[2]) > 65535) return undefined;
  const name = (m[1] as string).toLowerCase();
  if (name.startsWith('[')) return isIP(name.slice(1, -1)) === 6 ? name : undefined;
  const hostname = name.endsWith('.') ? name.slice(0, -1) : name;
  if (hostname.length === 0 || hostname.length > 253) return undefined;
  return hostname.split('.').every((label) => DNS_LABEL.test(label)) ? hostname : undefined;
}

/**
 * True when the raw path holds a `.` or `..` segment, literally or encoded
 * (`%2e`), with `/`, `\`, `%2f` or `%5c` counted as separators, since some
 * servers decode or accept those before normalising.
 */
export function hasDotSegment(rawPath: string): boolean {
  const decoded = rawPath.replace(/%2e/gi, '.').replace(/%2f|%5c|\\/gi, '/');
  return decoded.split('/').some((segment) => segment === '.' || segment === '..');
}

/**
 * Routes a request. Host routing wins: on `<agent>.<baseDomain>` (any case,
 * port ignored) the whole target goes to that agent unchanged. On any other
 * valid Host, the target must be `/a/<agent>/...`; the prefix is stripped and
 * returned. Rejected: a missing or malformed Host, a target that is not
 * origin-form, any dot segment (also encoded), an encoded slash or backslash
 * in the agent segment, an agent name that is not a lowercase DNS label.
 */
export function parseRoute(request: RouteRequest, options: RouteOptions): Route | RouteError {
  const hostname = parseHostHeader(request.host);
  if (hostname === undefined) return routeError('ERR_ROUTE_BAD_HOST', 'The Host header is missing or invalid');

  const url = request.url;
  if (url === undefined || !url.startsWith('/')) {
    return routeError('ERR_ROUTE_BAD_PATH', 'The request target must be an absolute path');
  }
  const q = url.indexOf('?');
  const rawPath = q === -1 ? url : url.slice(0, q);
  const query = q === -1 ? '' : url.slice(q);
  if (hasDotSegment(rawPath)) return routeError('ERR_ROUTE_BAD_PATH', 'The path must not contain dot segments');

  const base = options.baseDomain.toLowerCase().replace(/^\.+|\.+$/g, '');
  if (base.length > 0 && hostname.endsWith(`.${base}`)) {
    const label = hostname.slice(0, -(base.length + 1));
    if (label.includes('.')) return routeError('ERR_ROUTE_BAD_HOST', 'The Host names more than one subdomain level');
    if (!isValidAgentName(label)) return routeError('ERR_ROUTE_BAD_AGENT', 'The agent name is invalid');
    return { agent: label, path: url, via: 'host' };
  }

  if (!rawPath.startsWith(PATH_ROUTE_PREFIX)) {
    return routeError('ERR_ROUTE_NO_AGENT', 'The request does not name an agent');
  }
  const afterPrefix = rawPath.slice(PATH_ROUTE_PREFIX.length);
  const slash = afterPrefix.indexOf('/');
  const segment = slash === -1 ? afterPrefix : afterPrefix.slice(0, slash);
  if (/%2f|%5c|\\/i.test(segment)) {
    return routeError('ERR_ROUTE_BAD_PATH', 'The agent segment must not contain encoded slashes or backslashes');
  }
  if (!isValidAgentName(segment)) return routeError('ERR_ROUTE_BAD_AGENT', 'The agent name is invalid');
  const prefix = `${PATH_ROUTE_PREFIX}${segment}`;
  if (slash === -1) return { agent: segment, path: `/${query}`, via: 'path', prefix, redirect: `${prefix}/${query}` };
  return { agent: segment, path: afterPrefix.slice(slash) + query, via: 'path', prefix };
}
