/**
 * Where visitor credentials travel, and how they are taken out: the
 * `Authorization` header, the `access_token` query parameter and the
 * per-agent access cookie. Pure string functions, no I/O.
 */
import type { IncomingHttpHeaders } from 'node:http';

/** Prefix of relay access cookies; every cookie with it is removed before forwarding. */
export const ACCESS_COOKIE_PREFIX = 'vt_access_';
/** Query parameter that may carry a visitor JWT or bearer token. */
export const ACCESS_TOKEN_QUERY_PARAM = 'access_token';
/** Longest credential value considered, in characters; longer ones are treated as malformed. */
export const MAX_CREDENTIAL_LENGTH = 8192;

/** Prefix a browser accepts only on a `Secure`, `Path=/` cookie without `Domain`, set over TLS: no other origin can toss it. */
export const HOST_COOKIE_PREFIX = '__Host-';

/** The access cookie name of an agent: `vt_access_<agent>`. */
export function accessCookieName(agentName: string): string {
  return `${ACCESS_COOKIE_PREFIX}${agentName}`;
}

/**
 * True for the name of a relay access cookie, with or without a `__Host-` or
 * `__Secure-` prefix, in any case (browsers differ on prefix case): such
 * cookies are the relay's alone, never forwarded and never set by an agent.
 */
export function isRelayCookieName(name: string): boolean {
  const lower = name.trim().toLowerCase();
  const bare = lower.startsWith('__host-') ? lower.slice(7) : lower.startsWith('__secure-') ? lower.slice(9) : lower;
  return bare.startsWith(ACCESS_COOKIE_PREFIX);
}

/** Every value of cookie `name` in a `Cookie` header, in order (a browser sends the most specific path first). */
export function cookieValues(header: string | undefined, name: string): string[] {
  if (header === undefined) return [];
  const out: string[] = [];
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0 || part.slice(0, eq).trim() !== name) continue;
    let value = part.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    out.push(value);
  }
  return out;
}

/**
 * A copy of a raw response header list without the `Set-Cookie` headers that
 * name a relay access cookie: an agent must not set, replace or delete the
 * access cookie of any agent (cookie tossing, session fixation).
 */
export function removeRelaySetCookies(rawHeaders: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    const value = rawHeaders[i + 1] as string;
    if (name.toLowerCase() === 'set-cookie') {
      const eq = value.indexOf('=');
      const cookieName = eq < 0 ? value.split(';')[0] ?? '' : value.slice(0, eq);
      if (isRelayCookieName(cookieName)) continue;
    }
    out.push(name, value);
  }
  return out;
}

/** Parses a `Cookie` header into name -> value (first occurrence wins; surrounding quotes removed). */
export function parseCookieHeader(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  if (header === undefined) return out;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    let value = part.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    if (name.length > 0 && !(name in out)) out[name] = value;
  }
  return out;
}

/** The `Cookie` header without the named cookies; undefined when nothing is left. */
export function removeCookies(header: string | undefined, names: readonly string[]): string | undefined {
  if (header === undefined) return undefined;
  if (names.length === 0) return header;
  const drop = new Set(names);
  const kept = header
    .split(';')
    .map((p) => p.trim())
    .filter((p) => p.length > 0 && !drop.has(p.slice(0, Math.max(p.indexOf('='), 0)).trim()));
  return kept.length === 0 ? undefined : kept.join('; ');
}

/** An `Authorization` header split into lower-case scheme and credentials; null when absent or malformed. */
export function parseAuthorization(header: string | undefined): { scheme: string; credentials: string } | null {
  if (header === undefined || header.length > MAX_CREDENTIAL_LENGTH) return null;
  const m = /^\s*([A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*)\s+(\S+)\s*$/.exec(header);
  if (m === null) return null;
  return { scheme: (m[1] as string).toLowerCase(), credentials: m[2] as string };
}

/** Decodes Basic credentials (`base64(user:password)`, UTF-8); null when malformed. */
export function decodeBasicCredentials(credentials: string): { username: string; password: string } | null {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(credentials)) return null;
  const text = Buffer.from(credentials, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon < 0) return null;
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

interface SplitUrl {
  path: string;
  query: string | undefined;
}

function splitUrl(url: string): SplitUrl {
  const hash = url.indexOf('#');
  const beforeHash = hash < 0 ? url : url.slice(0, hash);
  const q = beforeHash.indexOf('?');
  return q < 0 ? { path: beforeHash, query: undefined } : { path: beforeHash.slice(0, q), query: beforeHash.slice(q + 1) };
}

function decodeComponent(text: string): string | undefined {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

/** The first value of query parameter `name` in a request target, or undefined. */
export function getQueryParam(url: string, name: string): string | undefined {
  const { query } = splitUrl(url);
  if (query === undefined) return undefined;
  for (const part of query.split('&')) {
    const eq = part.indexOf('=');
    const key = decodeComponent(eq < 0 ? part : part.slice(0, eq));
    if (key === name) return eq < 0 ? '' : decodeComponent(part.slice(eq + 1));
  }
  return undefined;
}

/**
 * The request target without any occurrence of query parameter `name`; the
 * other parameters keep their exact encoding and order, the `?` goes when
 * nothing is left, and a fragment is dropped (visitors never send one).
 */
export function removeQueryParam(url: string, name: string): string {
  const { path, query } = splitUrl(url);
  if (query === undefined) return path;
  const kept = query.split('&').filter((part) => {
    if (part.length === 0) return false;
    const eq = part.indexOf('=');
    return decodeComponent(eq < 0 ? part : part.slice(0, eq)) !== name;
  });
  return kept.length === 0 ? path : `${path}?${kept.join('&')}`;
}

/**
 * A same-origin, path-absolute redirect target for `url`: leading slashes and
 * backslashes collapse to one `/`, so `//evil.example/` cannot become a
 * protocol-relative redirect. Undefined when `url` is not origin-form.
 */
export function safeRedirectPath(url: string): string | undefined {
  if (!url.startsWith('/')) return undefined;
  return `/${url.replace(/^[/\\]+/, '')}`;
}

/** Attributes of an access cookie. */
export interface AccessCookieOptions {
  /** Add `Secure` (the visitor came over TLS). */
  readonly secure: boolean;
  /** Lifetime in seconds; a session cookie when undefined. */
  readonly maxAgeSec?: number;
  /**
   * The path the cookie is scoped to: `/a/<agent>/` for a path-routed
   * request, so the browser never sends it with another agent's pages.
   * Undefined under host routing: then `Path=/`, and over TLS the name gets
   * the `__Host-` prefix, so no sibling subdomain can set or shadow it.
   */
  readonly path?: string;
}

/** The name the access cookie of `agentName` is set under, for these options. */
export function accessCookieSetName(agentName: string, options: Pick<AccessCookieOptions, 'secure' | 'path'>): string {
  const name = accessCookieName(agentName);
  return options.path === undefined && options.secure ? `${HOST_COOKIE_PREFIX}${name}` : name;
}

/**
 * A `Set-Cookie` value for the agent's access cookie: HttpOnly, SameSite=Lax,
 * Secure over TLS, scoped as `AccessCookieOptions.path` says.
 */
export function buildAccessCookie(agentName: string, value: string, options: AccessCookieOptions): string {
  const parts = [`${accessCookieSetName(agentName, options)}=${value}`, `Path=${options.path ?? '/'}`, 'HttpOnly', 'SameSite=Lax'];
  if (options.maxAgeSec !== undefined) parts.push(`Max-Age=${Math.max(0, Math.floor(options.maxAgeSec))}`);
  if (options.secure) parts.push('Secure');
  return parts.join('; ');
}

/** A `Set-Cookie` value that deletes the agent's access cookie. */
export function buildClearAccessCookie(agentName: string, options: Pick<AccessCookieOptions, 'secure' | 'path'>): string {
  return buildAccessCookie(agentName, '', { ...options, maxAgeSec: 0 });
}

/** True when the request asks for a protocol upgrade (WebSocket ...): those are never redirected. */
export function isUpgradeRequest(headers: IncomingHttpHeaders): boolean {
  return headers.upgrade !== undefined && headers.upgrade !== '';
}
