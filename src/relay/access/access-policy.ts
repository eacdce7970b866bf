/**
 * Visitor access policies: what a visitor must present before the relay
 * forwards a request to an agent. One policy per agent, stored by
 * `AccessPolicyStore`; `private` when none was set.
 */
import type { JSONWebKeySet } from 'jose';

/** The access modes, from closed to open. */
export const ACCESS_MODES = ['private', 'public', 'basic', 'bearer', 'jwt'] as const;

/** How visitors of one agent are let in. */
export type AccessMode = (typeof ACCESS_MODES)[number];

/** JWT signature algorithms a `jwt` policy may use. */
export const JWT_ALGORITHMS = ['HS256', 'RS256', 'ES256'] as const;

/** A JWT signature algorithm. */
export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number];

/** Every visitor gets 401 (the default for a new agent). */
export interface PrivateAccessPolicy {
  readonly mode: 'private';
}

/** Every visitor is let in. */
export interface PublicAccessPolicy {
  readonly mode: 'public';
}

/** HTTP Basic with the agent's users (`AccessPolicyStore.addBasicUser`). */
export interface BasicAccessPolicy {
  readonly mode: 'basic';
}

/** Visitor bearer tokens issued for the agent (`AccessPolicyStore.addVisitorToken`). */
export interface BearerAccessPolicy {
  readonly mode: 'bearer';
}

/**
 * JWTs checked with `jose`. HS256 takes `secret` (at least 32 bytes; stored
 * as given, since verification needs it). RS256/ES256 take exactly one of
 * `publicKeyPem` (SPKI public key or X.509 certificate) or `jwks` (a JSON Web
 * Key Set). The token's `agent` claim must equal the routed agent name.
 */
export interface JwtAccessPolicy {
  readonly mode: 'jwt';
  readonly algorithm: JwtAlgorithm;
  readonly secret?: string;
  readonly publicKeyPem?: string;
  readonly jwks?: JSONWebKeySet;
  /** Required `iss` claim, when set. */
  readonly issuer?: string;
  /** Required `aud` claim (one of the token's audiences), when set. */
  readonly audience?: string;
  /** Allowed clock skew for `exp`/`nbf`, in seconds (default 30). */
  readonly clockToleranceSec?: number;
  /** Refuse tokens without `exp` (default true). */
  readonly requireExpiry?: boolean;
}

/** The stored configuration of an agent's visitor access. */
export type AccessPolicy =
  | PrivateAccessPolicy
  | PublicAccessPolicy
  | BasicAccessPolicy
  | BearerAccessPolicy
  | JwtAccessPolicy;

/** `AccessPolicy` as accepted from users: `jwks` may also be JSON text. */
export type AccessPolicyInput =
  | Exclude<AccessPolicy, JwtAccessPolicy>
  | (Omit<JwtAccessPolicy, 'jwks'> & { readonly jwks?: JSONWebKeySet | string });

/** A basic-auth user as the evaluator needs it: the encoded scrypt hash, never the password. */
export interface BasicUserCredential {
  readonly username: string;
  readonly passwordHash: string;
}

/** A visitor token as the evaluator needs it: SHA-256 of its secret. */
export interface VisitorTokenCredential {
  readonly tokenId: string;
  readonly secretHash: Uint8Array;
}

/**
 * A policy with the agent's stored credentials, as `AccessPolicyStore.getPolicy`
 * returns it and `checkVisitorAccess` takes it. Contains hashes and the HS256
 * secret: never log or serve it (see `redactAccessPolicy`).
 */
export type EffectiveAccessPolicy =
  | PrivateAccessPolicy
  | PublicAccessPolicy
  | (BasicAccessPolicy & { readonly users: ReadonlyMap<string, BasicUserCredential> })
  | (BearerAccessPolicy & { readonly tokens: ReadonlyMap<string, VisitorTokenCredential> })
  | JwtAccessPolicy;

/** Default allowed clock skew of `jwt` policies, in seconds. */
export const DEFAULT_JWT_CLOCK_TOLERANCE_SEC = 30;
/** Shortest HS256 secret accepted, in bytes (RFC 7518 section 3.2: key size at least the hash size). */
export const MIN_HS256_SECRET_BYTES = 32;

/** A copy of `policy` safe to log or show: the HS256 secret masked, credentials reduced to counts. */
export function redactAccessPolicy(policy: AccessPolicy | EffectiveAccessPolicy): Record<string, unknown> {
  switch (policy.mode) {
    case 'private':
    case 'public':
      return { mode: policy.mode };
    case 'basic':
      return { mode: 'basic', ...('users' in policy ? { userCount: policy.users.size } : {}) };
    case 'bearer':
      return { mode: 'bearer', ...('tokens' in policy ? { tokenCount: policy.tokens.size } : {}) };
    case 'jwt':
      return { ...policy, ...(policy.secret === undefined ? {} : { secret: '[secret]' }) };
  }
}
