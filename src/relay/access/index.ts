/** Visitor access control: policies, their validation, and the per-request evaluator. */
export {
  ACCESS_MODES,
  DEFAULT_JWT_CLOCK_TOLERANCE_SEC,
  JWT_ALGORITHMS,
  MIN_HS256_SECRET_BYTES,
  redactAccessPolicy,
} from './access-policy.js';
export type {
  AccessMode,
  AccessPolicy,
  AccessPolicyInput,
  BasicAccessPolicy,
  BasicUserCredential,
  BearerAccessPolicy,
  EffectiveAccessPolicy,
  JwtAccessPolicy,
  JwtAlgorithm,
  PrivateAccessPolicy,
  PublicAccessPolicy,
  VisitorTokenCredential,
} from './access-policy.js';
export { validateAccessPolicy } from './validate-access-policy.js';
export { DEFAULT_PASSWORD_HASH_PARAMS, hashPassword, isPasswordHash, verifyPassword } from './password-hash.js';
export type { PasswordHashParams } from './password-hash.js';
export {
  DEFAULT_BASIC_AUTH_CACHE_MAX_ENTRIES,
  DEFAULT_BASIC_AUTH_CACHE_TTL_MS,
  VisitorAccessChecker,
  checkVisitorAccess,
} from './visitor-access-checker.js';
export type { VisitorAccessCheckerOptions } from './visitor-access-checker.js';
export { VISITOR_ACCESS_DENIAL_CODES } from './visitor-access-decision.js';
export type {
  VisitorAccessDecision,
  VisitorAccessDenialCode,
  VisitorAccessGranted,
  VisitorAccessRefused,
  VisitorAccessRequest,
} from './visitor-access-decision.js';
export {
  ACCESS_COOKIE_PREFIX,
  ACCESS_TOKEN_QUERY_PARAM,
  HOST_COOKIE_PREFIX,
  accessCookieName,
  accessCookieSetName,
  isRelayCookieName,
  parseCookieHeader,
  removeRelaySetCookies,
  removeQueryParam,
} from './visitor-credentials.js';
export { stripVisitorCredentials, stripVisitorCredentialsRaw } from './strip-visitor-credentials.js';
