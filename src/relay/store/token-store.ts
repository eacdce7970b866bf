/**
 * Agents and their tokens, as every store backend offers them (SQLite for one
 * node, PostgreSQL for a cluster). A token is shown once at creation
 * (`vt_<tokenId>_<secret>`), stored as SHA-256(secret), looked up by id and
 * compared in constant time. Revocations are announced to `onRevoked`
 * listeners: at once for those made through the same store, and, once
 * `watchRevocations()` runs, for those made by other processes or nodes.
 */
import type { Secret } from '../../shared/secret.js';
import type { AccessMode } from '../access/access-policy.js';

/** Default throttle of `last_used_at` writes, in ms. */
export const DEFAULT_LAST_USED_THROTTLE_MS = 60_000;
/** Default period of revocation polling, in ms (well under the one-second disconnect budget). */
export const DEFAULT_REVOCATION_POLL_INTERVAL_MS = 250;
/** Longest token label, in characters. */
export const MAX_TOKEN_LABEL_LENGTH = 200;

/** An agent as listed by the store. Times are ms since the Unix epoch. */
export interface AgentInfo {
  readonly name: string;
  readonly createdAtMs: number;
  /** Tokens not revoked. */
  readonly activeTokenCount: number;
  /** Latest `lastUsedAtMs` over its tokens (throttled), or null if never used. */
  readonly lastUsedAtMs: number | null;
  /** Its visitor access mode (`private` when none was set). */
  readonly accessMode: AccessMode;
}

/** A token as listed by the store: never the secret. Times are ms since the Unix epoch. */
export interface AgentTokenInfo {
  readonly tokenId: string;
  readonly agentName: string;
  readonly label: string | null;
  readonly createdAtMs: number;
  readonly lastUsedAtMs: number | null;
  readonly revokedAtMs: number | null;
  readonly isActive: boolean;
}

/** A new token; `token` is its only copy (reveal it once to the operator). */
export interface CreatedAgentToken {
  readonly tokenId: string;
  readonly agentName: string;
  readonly token: Secret;
}

/** Who a valid token belongs to. */
export interface VerifiedAgentToken {
  readonly agentName: string;
  readonly tokenId: string;
}

/** Why a token stopped being valid. */
export type TokenRevocationReason = 'revoked' | 'agent-deleted';

/** One revoked token: the relay closes sessions authenticated with `tokenId`. */
export interface TokenRevocation {
  readonly tokenId: string;
  readonly agentName: string;
  readonly revokedAtMs: number;
  readonly reason: TokenRevocationReason;
}

/** What a revocation changed: tokens newly revoked and their agents (empty when all were already revoked). */
export interface RevokeResult {
  readonly revokedTokenIds: string[];
  readonly agentNames: string[];
}

/** Called once per revoked token, after the change is committed. Must not throw (errors are logged). */
export type TokenRevokedListener = (revocation: TokenRevocation) => void;

/** Options of `watchRevocations`. */
export interface RevocationWatchOptions {
  /** Poll period in ms where the backend polls (SQLite; default 250). */
  intervalMs?: number;
  /** Stops watching when aborted. */
  signal?: AbortSignal;
}

/** Options of a store backend's token part; every field optional. */
export interface TokenStoreOptions {
  /** `last_used_at` is rewritten at most this often per token (ms, default 60000), to keep verifies read-only. */
  lastUsedThrottleMs?: number;
}

/**
 * The agent and agent-token part of a relay store. Every method that reads or
 * writes the database is async; errors are the store errors of
 * `store-errors.ts` (`StoreUnavailableError` when a networked store cannot be
 * reached).
 */
export interface TokenStore {
  /** Creates an agent; throws `InvalidAgentNameError`, or `StoreConflictError` if it exists. */
  createAgent(name: string): Promise<AgentInfo>;
  /** Returns the agent, creating it first if it does not exist. */
  ensureAgent(name: string): Promise<AgentInfo>;
  /** The agent, or undefined (also for an invalid name). */
  getAgent(name: string): Promise<AgentInfo | undefined>;
  /** Every agent, by name. */
  listAgents(): Promise<AgentInfo[]>;
  /**
   * Deletes an agent with its tokens, access policy and visitor credentials;
   * its active tokens are announced as revoked (reason `agent-deleted`).
   * Throws `StoreNotFoundError` if there is no such agent.
   */
  deleteAgent(name: string): Promise<RevokeResult>;
  /**
   * Creates a token for an existing agent; the returned `token` is the only
   * copy. Throws `StoreNotFoundError` for an unknown agent,
   * `StoreValidationError` for a bad label.
   */
  createToken(agentName: string, options?: { label?: string }): Promise<CreatedAgentToken>;
  /**
   * The agent a token belongs to, or null when the token is malformed,
   * unknown or revoked. The secret is compared in constant time.
   */
  verifyToken(token: string | Secret): Promise<VerifiedAgentToken | null>;
  /** True while the token exists and is not revoked. */
  isTokenActive(tokenId: string): Promise<boolean>;
  /**
   * Revokes one token (by token id) or every token of an agent (by agent
   * name); a token id takes precedence over an agent of the same name.
   * Idempotent. Throws `StoreNotFoundError` when the reference names neither.
   */
  revokeToken(tokenIdOrAgentName: string): Promise<RevokeResult>;
  /** Tokens (never secrets), of one agent or of all; revoked ones included. */
  listTokens(agentName?: string): Promise<AgentTokenInfo[]>;
  /** Registers a listener for revocations (own and, while watching, foreign); returns its remover. */
  onRevoked(listener: TokenRevokedListener): () => void;
  /**
   * Starts announcing revocations made by other processes or nodes to the
   * `onRevoked` listeners, until the returned stop function is called
   * (idempotent) or `signal` aborts.
   */
  watchRevocations(options?: RevocationWatchOptions): () => void;
}
