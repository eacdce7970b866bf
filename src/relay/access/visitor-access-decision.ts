/**
 * The input and output of `checkVisitorAccess`: what the relay knows about a
 * visitor request, and what it must do with it.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { TunnelErrorCode } from '../../shared/errors.js';
import type { AccessMode } from './access-policy.js';

/**
 * Why a visitor was refused; sent as `X-Tunnel-Error`. Stable: clients may
 * branch on them. The `ERR_ACCESS_*` members of `TunnelErrorCode`:
 * - `ERR_ACCESS_DENIED` (401): the agent is private, nobody gets in;
 * - `ERR_ACCESS_CREDENTIALS_REQUIRED` (401): the policy needs a credential and none was presented;
 * - `ERR_ACCESS_BAD_CREDENTIALS` (401): wrong user, password or token, bad signature, wrong issuer
 *   or audience, malformed credential;
 * - `ERR_ACCESS_TOKEN_EXPIRED` (401): a JWT past its `exp`;
 * - `ERR_ACCESS_WRONG_AGENT` (403): a valid JWT whose `agent` claim names another agent;
 * - `ERR_ACCESS_POLICY_INVALID` (403): the stored policy cannot be used (its key fails to import).
 */
export type VisitorAccessDenialCode = Extract<TunnelErrorCode, `ERR_ACCESS_${string}`>;

/** Every `VisitorAccessDenialCode`, for exhaustive tests and docs. */
export const VISITOR_ACCESS_DENIAL_CODES = [
  'ERR_ACCESS_DENIED',
  'ERR_ACCESS_CREDENTIALS_REQUIRED',
  'ERR_ACCESS_BAD_CREDENTIALS',
  'ERR_ACCESS_TOKEN_EXPIRED',
  'ERR_ACCESS_WRONG_AGENT',
  'ERR_ACCESS_POLICY_INVALID',
] as const satisfies readonly VisitorAccessDenialCode[];

// Compile-time check that the list above names every code of the union.
type MissingDenialCode = Exclude<VisitorAccessDenialCode, (typeof VISITOR_ACCESS_DENIAL_CODES)[number]>;
const everyDenialCodeListed: [MissingDenialCode] extends [never] ? true : MissingDenialCode = true;
void everyDenialCodeListed;

/** What the evaluator looks at in a visitor request. */
export interface VisitorAccessRequest {
  readonly headers: IncomingHttpHeaders;
  /**
   * The request target as the visitor sent it (`req.url`, before any
   * `/a/<agent>` prefix is stripped), so `redirectTo` is right for the visitor.
   */
  readonly url: string;
  /** HTTP method (default GET); only GET and HEAD are redirected. */
  readonly method?: string;
  /** Cookies already parsed from the `Cookie` header; parsed here when absent. */
  readonly cookies?: Readonly<Record<string, string>>;
  /** The visitor reached the relay over TLS: access cookies get `Secure`. */
  readonly isTls?: boolean;
  /** The request was path-routed: the access cookie is scoped to this path (`/a/<agent>/`). */
  readonly cookiePath?: string;
}

/**
 * The visitor may proceed. The relay forwards `forwardUrl` with the listed
 * headers, cookies and query parameters removed (`stripVisitorCredentials`
 * does the header part) unless `redirectTo` is set: then it answers
 * `303 See Other` with `Location: redirectTo`, `Set-Cookie: setCookie` and
 * `Cache-Control: no-store`, and forwards nothing. When `setCookie` is set
 * without `redirectTo` (a non-GET or upgrade request carried `?access_token=`),
 * the relay adds it to the response it sends back.
 */
export interface VisitorAccessGranted {
  readonly allowed: true;
  readonly mode: AccessMode;
  /** Who was let in: basic user name, visitor token id or JWT `sub`; undefined for public. */
  readonly principal?: string;
  /** Lower-case header names to delete before forwarding (e.g. `authorization`). */
  readonly stripHeaders: string[];
  /** Cookie names to remove from the `Cookie` header: every relay access cookie, of any agent. */
  readonly stripCookies: string[];
  /** Query parameter names removed from `forwardUrl` (`access_token`). */
  readonly stripQueryParams: string[];
  /** `request.url` without the stripped query parameters. */
  readonly forwardUrl: string;
  /** A `Set-Cookie` header value for the visitor. */
  readonly setCookie?: string;
  /** Path-absolute URL to redirect to (303) instead of forwarding. */
  readonly redirectTo?: string;
}

/** The visitor is refused: answer `status` with `X-Tunnel-Error: code` and, when set, `WWW-Authenticate`. */
export interface VisitorAccessRefused {
  readonly allowed: false;
  readonly status: 401 | 403;
  readonly code: VisitorAccessDenialCode;
  readonly wwwAuthenticate?: string;
  /** A `Set-Cookie` value that clears a rejected (expired, invalid) access cookie. */
  readonly setCookie?: string;
}

/** The evaluator's verdict. */
export type VisitorAccessDecision = VisitorAccessGranted | VisitorAccessRefused;
