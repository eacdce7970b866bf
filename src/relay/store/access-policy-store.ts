/**
 * Per-agent visitor access policies and the credentials they check (basic
 * users as scrypt hashes, visitor bearer tokens as SHA-256 of the secret), as
 * every store backend offers them. `getPolicy` is on every visitor request's
 * path, so it is synchronous and answers from memory; everything else reads
 * or writes the database and is async.
 */
import type { Secret } from '../../shared/secret.js';
import type { AccessPolicy, AccessPolicyInput, EffectiveAccessPolicy } from '../access/access-policy.js';
import type { PasswordHashParams } from '../access/password-hash.js';

/** Longest basic-auth user name, in characters. */
export const MAX_USERNAME_LENGTH = 128;
/** Longest basic-auth password, in characters. */
export const MAX_PASSWORD_LENGTH = 1024;
/** Longest visitor token label, in characters. */
export const MAX_VISITOR_TOKEN_LABEL_LENGTH = 200;

/** A basic-auth user as listed (no hash). Times are ms since the Unix epoch. */
export interface BasicUserInfo {
  readonly username: string;
  readonly createdAtMs: number;
  readonly updatedAtMs: number;
}

/** A visitor token as listed (no secret). */
export interface VisitorTokenInfo {
  readonly tokenId: string;
  readonly agentName: string;
  readonly label: string | null;
  readonly createdAtMs: number;
}

/** A new visitor token; `token` is its only copy. */
export interface CreatedVisitorToken {
  readonly tokenId: string;
  readonly agentName: string;
  readonly token: Secret;
}

/** Options of a store backend's access part; every field optional. */
export interface AccessPolicyStoreOptions {
  /** scrypt parameters for new basic-user passwords (default `DEFAULT_PASSWORD_HASH_PARAMS`). */
  passwordHashParams?: PasswordHashParams;
}

/** Visitor access policies and credentials of a relay store. */
export interface AccessPolicyStore {
  /**
   * Validates and stores an agent's policy (replacing the previous one;
   * users and visitor tokens are kept). Throws `StoreValidationError` for a
   * bad policy, `StoreNotFoundError` for an unknown agent.
   */
  setPolicy(agentName: string, policy: AccessPolicyInput): Promise<AccessPolicy>;
  /** The stored policy (no credentials; contains an HS256 secret if any), or undefined for an unknown agent. */
  getPolicyConfig(agentName: string): Promise<AccessPolicy | undefined>;
  /**
   * The policy with the agent's credentials, for the visitor access check;
   * undefined for an unknown agent. Synchronous, from memory: the same object
   * is returned while the policy is unchanged, so per-policy caches (JWT keys)
   * hold.
   */
  getPolicy(agentName: string): EffectiveAccessPolicy | undefined;
  /**
   * Adds a basic-auth user (scrypt-hashed, fresh salt). An existing user is
   * replaced only with `{ replace: true }`, otherwise `StoreConflictError`.
   */
  addBasicUser(agentName: string, username: string, password: string | Secret, options?: { replace?: boolean }): Promise<void>;
  /** Removes a basic-auth user; `StoreNotFoundError` if absent. */
  removeBasicUser(agentName: string, username: string): Promise<void>;
  /** The agent's basic-auth users (names and times only). */
  listBasicUsers(agentName: string): Promise<BasicUserInfo[]>;
  /** Issues a visitor bearer token (`vtv_<id>_<secret>`); `token` is the only copy. */
  addVisitorToken(agentName: string, options?: { label?: string }): Promise<CreatedVisitorToken>;
  /** Deletes a visitor token; `StoreNotFoundError` if the agent has no such token. */
  removeVisitorToken(agentName: string, tokenId: string): Promise<void>;
  /** The agent's visitor tokens (ids, labels, times; never secrets). */
  listVisitorTokens(agentName: string): Promise<VisitorTokenInfo[]>;
}
