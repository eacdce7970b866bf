/**
 * The visitor access evaluator: given the routed agent name, a visitor
 * request and the agent's effective policy, decides whether the request may
 * be forwarded, and which credentials to strip first. Credentials are per
 * agent: basic users and visitor tokens come from the agent's own policy, a
 * JWT must carry `agent: <routed agent>`, and the access cookie is named after
 * the agent.
 */
import { createHash } from 'node:crypto';
import type { JWTPayload } from 'jose';
import { systemClock } from '../../shared/clock.js';
import type { Clock } from '../../shared/clock.js';
import { noopLogger } from '../../shared/logger.js';
import type { Logger } from '../../shared/logger.js';
import { requireInt } from '../../shared/validate.js';
import { VISITOR_TOKEN_PREFIX, parseSecretToken, secretHashMatches } from '../store/secret-token.js';
import { DEFAULT_JWT_CLOCK_TOLERANCE_SEC } from './access-policy.js';
import type { BasicUserCredential, EffectiveAccessPolicy, JwtAccessPolicy, VisitorTokenCredential } from './access-policy.js';
import { loadJwtVerificationKey } from './jwt-key.js';
import { loadJose } from './load-jose.js';
import { verifyPassword } from './password-hash.js';
import type {
  VisitorAccessDecision,
  VisitorAccessDenialCode,
  VisitorAccessGranted,
  VisitorAccessRefused,
  VisitorAccessRequest,
} from './visitor-access-decision.js';
import {
  HOST_COOKIE_PREFIX,
  ACCESS_TOKEN_QUERY_PARAM,
  MAX_CREDENTIAL_LENGTH,
  accessCookieName,
  buildAccessCookie,
  buildClearAccessCookie,
  cookieValues,
  isRelayCookieName,
  decodeBasicCredentials,
  getQueryParam,
  isUpgradeRequest,
  parseAuthorization,
  parseCookieHeader,
  removeQueryParam,
  safeRedirectPath,
} from './visitor-credentials.js';

/** Options of `VisitorAccessChecker`; every field optional. */
export interface VisitorAccessCheckerOptions {
  /** Wall clock for JWT `exp`/`nbf`, cookie lifetimes and the basic-auth cache. */
  clock?: Clock;
  logger?: Logger;
  /** How long a verified basic user/password pair skips scrypt (ms, default 300000; 0 disables the cache). */
  basicAuthCacheTtlMs?: number;
  /** Most verified basic pairs remembered (default 1000). */
  basicAuthCacheMaxEntries?: number;
}

/** Default lifetime of a basic-auth cache entry, in ms. */
export const DEFAULT_BASIC_AUTH_CACHE_TTL_MS = 300_000;
/** Default size bound of the basic-auth cache, in entries. */
export const DEFAULT_BASIC_AUTH_CACHE_MAX_ENTRIES = 1000;

type CredentialSource = 'query' | 'header' | 'cookie';

type TokenCheck =
  | { ok: true; principal: string | undefined; expiresAtSec: number | undefined }
  | { ok: false; status: 401 | 403; code: VisitorAccessDenialCode };

/**
 * Evaluates visitor requests against access policies. Keeps a small cache of
 * verified basic-auth pairs (keyed by a hash that includes the stored
 * password hash, so a password change invalidates it), because scrypt on
 * every asset of a page would cost tens of ms each. One instance per relay.
 */
export class VisitorAccessChecker {
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #basicCacheTtlMs: number;
  readonly #basicCacheMax: number;
  readonly #basicVerified = new Map<string, number>();
  readonly #basicInFlight = new Map<string, Promise<boolean>>();

  constructor(options: VisitorAccessCheckerOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger ?? noopLogger;
    this.#basicCacheTtlMs = requireInt('basicAuthCacheTtlMs', options.basicAuthCacheTtlMs ?? DEFAULT_BASIC_AUTH_CACHE_TTL_MS, 0);
    this.#basicCacheMax = requireInt(
      'basicAuthCacheMaxEntries',
      options.basicAuthCacheMaxEntries ?? DEFAULT_BASIC_AUTH_CACHE_MAX_ENTRIES,
      1,
    );
  }

  /**
   * Decides on one visitor request for `agentName` (the name routing picked)
   * under `policy` (`AccessPolicyStore.getPolicy(agentName)`). Never throws
   * for bad credentials: they give a refusal with a stable code.
   */
  async check(agentName: string, request: VisitorAccessRequest, policy: EffectiveAccessPolicy): Promise<VisitorAccessDecision> {
    const cookies = request.cookies ?? parseCookieHeader(headerValue(request.headers.cookie));
    // Path routing puts every agent on one origin: no agent may see another's access cookie, nor its own.
    const stripCookies = Object.keys(cookies).filter((name) => isRelayCookieName(name));
    const base = { mode: policy.mode, stripHeaders: [] as string[], stripCookies, stripQueryParams: [] as string[] };

    switch (policy.mode) {
      case 'private':
        return refuse(401, 'ERR_ACCESS_DENIED');
      case 'public':
        return { allowed: true, ...base, forwardUrl: request.url };
      case 'basic':
        return this.#checkBasic(agentName, request, policy.users, base);
      case 'bearer':
      case 'jwt':
        return this.#checkToken(agentName, request, policy, cookies, base);
    }
  }

  async #checkBasic(
    agentName: string,
    request: VisitorAccessRequest,
    users: ReadonlyMap<string, BasicUserCredential>,
    base: Omit<VisitorAccessGranted, 'allowed' | 'forwardUrl'>,
  ): Promise<VisitorAccessDecision> {
    const challenge = `Basic realm="${agentName}", charset="UTF-8"`;
    const auth = parseAuthorization(headerValue(request.headers.authorization));
    if (auth === null || auth.scheme !== 'basic') return refuse(401, 'ERR_ACCESS_CREDENTIALS_REQUIRED', challenge);
    const pair = decodeBasicCredentials(auth.credentials);
    if (pair === null) return refuse(401, 'ERR_ACCESS_BAD_CREDENTIALS', challenge);
    const ok = await this.#verifyBasic(agentName, users.get(pair.username), pair.password);
    if (!ok) {
      this.#logger.debug('visitor basic auth failed', { agentName });
      return refuse(401, 'ERR_ACCESS_BAD_CREDENTIALS', challenge);
    }
    return { allowed: true, ...base, principal: pair.username, stripHeaders: ['authorization'], forwardUrl: request.url };
  }

  async #verifyBasic(agentName: string, user: BasicUserCredential | undefined, password: string): Promise<boolean> {
    if (user === undefined || this.#basicCacheTtlMs === 0) return verifyPassword(password, user?.passwordHash);
    const key = createHash('sha256')
      .update(`${agentName}\0${user.username}\0${user.passwordHash}\0${password}`, 'utf8')
      .digest('base64url');
    const now = this.#clock.now();
    const expiresAt = this.#basicVerified.get(key);
    if (expiresAt !== undefined && expiresAt > now) return true;
    if (expiresAt !== undefined) this.#basicVerified.delete(key);
    let pending = this.#basicInFlight.get(key);
    if (pending === undefined) {
      pending = verifyPassword(password, user.passwordHash).finally(() => this.#basicInFlight.delete(key));
      this.#basicInFlight.set(key, pending);
    }
    const ok = await pending;
    if (ok) {
      if (this.#basicVerified.size >= this.#basicCacheMax) {
        const oldest = this.#basicVerified.keys().next();
        if (oldest.done !== true) this.#basicVerified.delete(oldest.value);
      }
      this.#basicVerified.set(key, this.#clock.now() + this.#basicCacheTtlMs);
    }
    return ok;
  }

  async #checkToken(
    agentName: string,
    request: VisitorAccessRequest,
    policy: Extract<EffectiveAccessPolicy, { mode: 'bearer' | 'jwt' }>,
    cookies: Readonly<Record<string, string>>,
    base: Omit<VisitorAccessGranted, 'allowed' | 'forwardUrl'>,
  ): Promise<VisitorAccessDecision> {
    const secure = request.isTls === true;
    const scope = { secure, ...(request.cookiePath === undefined ? {} : { path: request.cookiePath }) };
    const queryToken = getQueryParam(request.url, ACCESS_TOKEN_QUERY_PARAM);
    const stripQueryParams = queryToken === undefined ? [] : [ACCESS_TOKEN_QUERY_PARAM];
    const forwardUrl = queryToken === undefined ? request.url : removeQueryParam(request.url, ACCESS_TOKEN_QUERY_PARAM);
    const auth = parseAuthorization(headerValue(request.headers.authorization));
    const candidates: { source: CredentialSource; token: string }[] = [];
    if (queryToken !== undefined && queryToken !== '') candidates.push({ source: 'query', token: queryToken });
    if (auth !== null && auth.scheme === 'bearer') candidates.push({ source: 'header', token: auth.credentials });
    // Every copy: a page on the same origin may have tossed a bad one in front of the good one.
    const cookieHeader = headerValue(request.headers.cookie);
    const name = accessCookieName(agentName);
    const cookieTokens =
      request.cookies !== undefined
        ? [cookies[`${HOST_COOKIE_PREFIX}${name}`], cookies[name]]
        : [...cookieValues(cookieHeader, `${HOST_COOKIE_PREFIX}${name}`), ...cookieValues(cookieHeader, name)];
    for (const token of cookieTokens) {
      if (token !== undefined && token !== '') candidates.push({ source: 'cookie', token });
    }

    const challenge = `Bearer realm="${agentName}"`;
    if (candidates.length === 0) return refuse(401, 'ERR_ACCESS_CREDENTIALS_REQUIRED', challenge);

    let firstFailure: Extract<TokenCheck, { ok: false }> | undefined;
    let cookieFailed = false;
    for (const { source, token } of candidates) {
      const result =
        policy.mode === 'bearer' ? checkVisitorToken(policy.tokens, token) : await this.#checkJwt(agentName, policy, token);
      if (!result.ok) {
        firstFailure ??= result;
        if (source === 'cookie') cookieFailed = true;
        continue;
      }
      const granted: VisitorAccessGranted = {
        allowed: true,
        ...base,
        ...(result.principal === undefined ? {} : { principal: result.principal }),
        // Every copy of a relay credential goes, not only the one that passed.
        stripHeaders: source === 'header' || (auth !== null && auth.scheme === 'bearer' && auth.credentials === token) ? ['authorization'] : [],
        stripQueryParams,
        forwardUrl,
      };
      if (source !== 'query') return granted;
      const maxAgeSec =
        result.expiresAtSec === undefined ? undefined : result.expiresAtSec - Math.floor(this.#clock.now() / 1000);
      const setCookie = buildAccessCookie(agentName, token, { ...scope, ...(maxAgeSec === undefined ? {} : { maxAgeSec }) });
      const method = (request.method ?? 'GET').toUpperCase();
      const redirectTo =
        (method === 'GET' || method === 'HEAD') && !isUpgradeRequest(request.headers) ? safeRedirectPath(forwardUrl) : undefined;
      return { ...granted, setCookie, ...(redirectTo === undefined ? {} : { redirectTo }) };
    }
    const failure = firstFailure as Extract<TokenCheck, { ok: false }>;
    this.#logger.debug('visitor token refused', { agentName, code: failure.code });
    return {
      ...refuse(failure.status, failure.code, failure.status === 401 ? `${challenge}, error="invalid_token"` : undefined),
      ...(cookieFailed ? { setCookie: buildClearAccessCookie(agentName, scope) } : {}),
    };
  }

  async #checkJwt(agentName: string, policy: JwtAccessPolicy, token: string): Promise<TokenCheck> {
    if (token.length > MAX_CREDENTIAL_LENGTH) return { ok: false, status: 401, code: 'ERR_ACCESS_BAD_CREDENTIALS' };
    let key;
    try {
      key = await loadJwtVerificationKey(policy);
    } catch (err) {
      this.#logger.error('visitor access policy key unusable', { agentName, err });
      return { ok: false, status: 403, code: 'ERR_ACCESS_POLICY_INVALID' };
    }
    const { errors: joseErrors, jwtVerify } = await loadJose();
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, key, {
        algorithms: [policy.algorithm],
        ...(policy.issuer === undefined ? {} : { issuer: policy.issuer }),
        ...(policy.audience === undefined ? {} : { audience: policy.audience }),
        clockTolerance: policy.clockToleranceSec ?? DEFAULT_JWT_CLOCK_TOLERANCE_SEC,
        currentDate: new Date(this.#clock.now()),
        requiredClaims: policy.requireExpiry === false ? [] : ['exp'],
      }));
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) return { ok: false, status: 401, code: 'ERR_ACCESS_TOKEN_EXPIRED' };
      if (err instanceof joseErrors.JOSEError) return { ok: false, status: 401, code: 'ERR_ACCESS_BAD_CREDENTIALS' };
      // jose reports malformed input with its own errors; anything else is a fault, not a visitor's doing.
      this.#logger.error('visitor JWT verification failed unexpectedly', { agentName, err });
      return { ok: false, status: 401, code: 'ERR_ACCESS_BAD_CREDENTIALS' };
    }
    if (payload['agent'] !== agentName) return { ok: false, status: 403, code: 'ERR_ACCESS_WRONG_AGENT' };
    return { ok: true, principal: typeof payload.sub === 'string' ? payload.sub : undefined, expiresAtSec: payload.exp };
  }
}

/**
 * One-shot evaluation with a fresh `VisitorAccessChecker` (no basic-auth
 * cache carried between calls). A relay should keep one checker instead.
 */
export function checkVisitorAccess(
  agentName: string,
  request: VisitorAccessRequest,
  policy: EffectiveAccessPolicy,
  options: VisitorAccessCheckerOptions = {},
): Promise<VisitorAccessDecision> {
  return new VisitorAccessChecker({ ...options, basicAuthCacheTtlMs: 0 }).check(agentName, request, policy);
}

function checkVisitorToken(tokens: ReadonlyMap<string, VisitorTokenCredential>, token: string): TokenCheck {
  const parsed = parseSecretToken(VISITOR_TOKEN_PREFIX, token);
  if (parsed === null) return { ok: false, status: 401, code: 'ERR_ACCESS_BAD_CREDENTIALS' };
  const stored = tokens.get(parsed.tokenId);
  if (!secretHashMatches(stored?.secretHash, parsed.secret)) {
    return { ok: false, status: 401, code: 'ERR_ACCESS_BAD_CREDENTIALS' };
  }
  return { ok: true, principal: parsed.tokenId, expiresAtSec: undefined };
}

function refuse(status: 401 | 403, code: VisitorAccessDenialCode, wwwAuthenticate?: string): VisitorAccessRefused {
  return { allowed: false, status, code, ...(wwwAuthenticate === undefined ? {} : { wwwAuthenticate }) };
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join('; ') : value;
}
