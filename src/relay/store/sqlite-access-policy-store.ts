/**
 * The SQLite backend of `AccessPolicyStore`.
 * `getPolicy` is called on every visitor request, so it serves from a cache
 * that is dropped whenever the database changed, through this connection
 * (`total_changes()`) or another one, e.g. the CLI (`PRAGMA data_version`).
 * That stamp query is run at most once per event-loop turn: a write by another
 * process is seen by the first request read after it, and a write through this
 * process's store classes at once (`local-write-generation.ts`).
 */
import type { Database, Statement } from 'better-sqlite3';
import { systemClock } from '../../shared/clock.js';
import type { Clock } from '../../shared/clock.js';
import { noopLogger } from '../../shared/logger.js';
import type { Logger } from '../../shared/logger.js';
import type { Secret } from '../../shared/secret.js';
import type { AccessMode, AccessPolicy, AccessPolicyInput, EffectiveAccessPolicy } from '../access/access-policy.js';
import { DEFAULT_PASSWORD_HASH_PARAMS, hashPassword } from '../access/password-hash.js';
import type { PasswordHashParams } from '../access/password-hash.js';
import { validateAccessPolicy } from '../access/validate-access-policy.js';
import { isValidAgentName } from './agent-name.js';
import { effectivePolicy, policyFromRow } from './effective-policy.js';
import { localWriteGeneration, noteLocalWrite } from './local-write-generation.js';
import { VISITOR_TOKEN_PREFIX, generateSecretToken } from './secret-token.js';
import { StoreConflictError, StoreNotFoundError } from './store-errors.js';
import { validatePassword, validateUsername, validateVisitorTokenLabel } from './credential-input.js';
import {
  type AccessPolicyStore,
  type AccessPolicyStoreOptions,
  type BasicUserInfo,
  type CreatedVisitorToken,
  type VisitorTokenInfo,
} from './access-policy-store.js';

/** Options of `SqliteAccessPolicyStore`; every field optional. */
export interface SqliteAccessPolicyStoreOptions extends AccessPolicyStoreOptions {
  clock?: Clock;
  logger?: Logger;
}

interface PolicyRow {
  mode: AccessMode;
  config_json: string;
}

/** Visitor access policies and credentials, over an open `openStoreDatabase` connection. */
export class SqliteAccessPolicyStore implements AccessPolicyStore {
  readonly #db: Database;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #passwordHashParams: PasswordHashParams;
  readonly #cache = new Map<string, EffectiveAccessPolicy | null>();
  #cacheStamp = '';
  /** `localWriteGeneration` when the cache was last validated. */
  #cacheGeneration = -1;
  /** True from a stamp check until the end of that event-loop turn. */
  #stampCheckedThisTurn = false;
  readonly #endTurn = (): void => {
    this.#stampCheckedThisTurn = false;
  };
  readonly #stmt: {
    stamp: Statement<[], { changes: number; version: number }>;
    agentExists: Statement<[string], { one: number }>;
    policy: Statement<[string], PolicyRow>;
    upsertPolicy: Statement<[string, AccessMode, string, number]>;
    users: Statement<[string], { username: string; password_hash: string; created_at: number; updated_at: number }>;
    user: Statement<[string, string], { one: number }>;
    upsertUser: Statement<[string, string, string, number, number]>;
    deleteUser: Statement<[string, string]>;
    tokens: Statement<[string], { id: string; secret_hash: Buffer; label: string | null; created_at: number }>;
    insertToken: Statement<[string, string, Buffer, string | null, number]>;
    deleteToken: Statement<[string, string]>;
  };

  constructor(db: Database, options: SqliteAccessPolicyStoreOptions = {}) {
    this.#db = db;
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger ?? noopLogger;
    this.#passwordHashParams = options.passwordHashParams ?? DEFAULT_PASSWORD_HASH_PARAMS;
    this.#stmt = {
      stamp: db.prepare('SELECT total_changes() AS changes, (SELECT data_version FROM pragma_data_version()) AS version'),
      agentExists: db.prepare('SELECT 1 AS one FROM agents WHERE name = ?'),
      policy: db.prepare('SELECT mode, config_json FROM access_policies WHERE agent_name = ?'),
      upsertPolicy: db.prepare(
        `INSERT INTO access_policies (agent_name, mode, config_json, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (agent_name) DO UPDATE SET mode = excluded.mode, config_json = excluded.config_json, updated_at = excluded.updated_at`,
      ),
      users: db.prepare(
        'SELECT username, password_hash, created_at, updated_at FROM basic_users WHERE agent_name = ? ORDER BY username',
      ),
      user: db.prepare('SELECT 1 AS one FROM basic_users WHERE agent_name = ? AND username = ?'),
      upsertUser: db.prepare(
        `INSERT INTO basic_users (agent_name, username, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (agent_name, username) DO UPDATE SET password_hash = excluded.password_hash, updated_at = excluded.updated_at`,
      ),
      deleteUser: db.prepare('DELETE FROM basic_users WHERE agent_name = ? AND username = ?'),
      tokens: db.prepare(
        'SELECT id, secret_hash, label, created_at FROM visitor_tokens WHERE agent_name = ? ORDER BY created_at, id',
      ),
      insertToken: db.prepare(
        'INSERT INTO visitor_tokens (id, agent_name, secret_hash, label, created_at) VALUES (?, ?, ?, ?, ?)',
      ),
      deleteToken: db.prepare('DELETE FROM visitor_tokens WHERE agent_name = ? AND id = ?'),
    };
  }

  /**
   * Validates and stores an agent's policy (replacing the previous one;
   * users and visitor tokens are kept). Throws `StoreValidationError` for a
   * bad policy, `StoreNotFoundError` for an unknown agent.
   */
  async setPolicy(agentName: string, policy: AccessPolicyInput): Promise<AccessPolicy> {
    this.#requireAgent(agentName);
    const valid = await validateAccessPolicy(policy);
    const { mode, ...config } = valid;
    this.#db
      .transaction(() => {
        this.#requireAgent(agentName);
        this.#stmt.upsertPolicy.run(agentName, mode, JSON.stringify(config), this.#clock.now());
      })
      .immediate();
    noteLocalWrite(this.#db);
    this.#logger.info('visitor access policy set', { agentName, mode });
    return valid;
  }

  /** The stored policy (no credentials; contains an HS256 secret if any), or undefined for an unknown agent. */
  async getPolicyConfig(agentName: string): Promise<AccessPolicy | undefined> {
    return this.#policyConfig(agentName);
  }

  #policyConfig(agentName: string): AccessPolicy | undefined {
    if (!this.#agentExists(agentName)) return undefined;
    return policyFromRow(this.#stmt.policy.get(agentName));
  }

  /**
   * The policy with the agent's credentials, for `checkVisitorAccess`; undefined
   * for an unknown agent. Served from a cache while the database is unchanged;
   * the same object is returned until then, so per-policy caches (JWT keys) hold.
   */
  getPolicy(agentName: string): EffectiveAccessPolicy | undefined {
    const generation = localWriteGeneration(this.#db);
    if (!this.#stampCheckedThisTurn || generation !== this.#cacheGeneration) this.#validateCache(generation);
    const cached = this.#cache.get(agentName);
    if (cached !== undefined) return cached ?? undefined;
    const policy = this.#loadPolicy(agentName);
    this.#cache.set(agentName, policy ?? null);
    return policy;
  }

  /**
   * Adds a basic-auth user to an agent (scrypt-hashed, fresh salt). An
   * existing user is replaced only with `{ replace: true }`, otherwise
   * `StoreConflictError`.
   */
  async addBasicUser(
    agentName: string,
    username: string,
    password: string | Secret,
    options: { replace?: boolean } = {},
  ): Promise<void> {
    validateUsername(username);
    const plain = validatePassword(password);
    this.#requireAgent(agentName);
    if (options.replace !== true && this.#stmt.user.get(agentName, username) !== undefined) {
      throw new StoreConflictError('basic-user', username);
    }
    const hash = await hashPassword(plain, this.#passwordHashParams);
    this.#db
      .transaction(() => {
        this.#requireAgent(agentName);
        if (options.replace !== true && this.#stmt.user.get(agentName, username) !== undefined) {
          throw new StoreConflictError('basic-user', username);
        }
        const now = this.#clock.now();
        this.#stmt.upsertUser.run(agentName, username, hash, now, now);
      })
      .immediate();
    noteLocalWrite(this.#db);
    this.#logger.info('basic user set', { agentName, username });
  }

  /** Removes a basic-auth user; `StoreNotFoundError` if absent. */
  async removeBasicUser(agentName: string, username: string): Promise<void> {
    if (this.#stmt.deleteUser.run(agentName, username).changes === 0) {
      throw new StoreNotFoundError('basic-user', `${agentName}/${username}`);
    }
    noteLocalWrite(this.#db);
    this.#logger.info('basic user removed', { agentName, username });
  }

  /** The agent's basic-auth users (names and times only). */
  async listBasicUsers(agentName: string): Promise<BasicUserInfo[]> {
    this.#requireAgent(agentName);
    return this.#stmt.users
      .all(agentName)
      .map((r) => ({ username: r.username, createdAtMs: r.created_at, updatedAtMs: r.updated_at }));
  }

  /** Issues a visitor bearer token (`vtv_<id>_<secret>`) for an agent; `token` is the only copy. */
  async addVisitorToken(agentName: string, options: { label?: string } = {}): Promise<CreatedVisitorToken> {
    const label = validateVisitorTokenLabel(options.label);
    const generated = generateSecretToken(VISITOR_TOKEN_PREFIX);
    this.#db
      .transaction(() => {
        this.#requireAgent(agentName);
        this.#stmt.insertToken.run(generated.tokenId, agentName, generated.secretHash, label, this.#clock.now());
      })
      .immediate();
    noteLocalWrite(this.#db);
    this.#logger.info('visitor token created', { agentName, tokenId: generated.tokenId });
    return { tokenId: generated.tokenId, agentName, token: generated.token };
  }

  /** Deletes a visitor token; `StoreNotFoundError` if the agent has no such token. */
  async removeVisitorToken(agentName: string, tokenId: string): Promise<void> {
    if (this.#stmt.deleteToken.run(agentName, tokenId).changes === 0) {
      throw new StoreNotFoundError('visitor-token', `${agentName}/${tokenId}`);
    }
    noteLocalWrite(this.#db);
    this.#logger.info('visitor token removed', { agentName, tokenId });
  }

  /** The agent's visitor tokens (ids, labels, times; never secrets). */
  async listVisitorTokens(agentName: string): Promise<VisitorTokenInfo[]> {
    this.#requireAgent(agentName);
    return this.#stmt.tokens
      .all(agentName)
      .map((r) => ({ tokenId: r.id, agentName, label: r.label, createdAtMs: r.created_at }));
  }

  #validateCache(generation: number): void {
    const stamp = this.#stmt.stamp.get() as { changes: number; version: number };
    const key = `${stamp.changes}:${stamp.version}`;
    if (key !== this.#cacheStamp) {
      this.#cache.clear();
      this.#cacheStamp = key;
    }
    this.#cacheGeneration = generation;
    if (!this.#stampCheckedThisTurn) {
      this.#stampCheckedThisTurn = true;
      setImmediate(this.#endTurn);
    }
  }

  #loadPolicy(agentName: string): EffectiveAccessPolicy | undefined {
    const config = this.#policyConfig(agentName);
    if (config === undefined) return undefined;
    const users = config.mode === 'basic' ? this.#stmt.users.all(agentName).map((r) => ({ username: r.username, passwordHash: r.password_hash })) : [];
    const tokens = config.mode === 'bearer' ? this.#stmt.tokens.all(agentName).map((r) => ({ tokenId: r.id, secretHash: r.secret_hash })) : [];
    return effectivePolicy(config, users, tokens);
  }

  #agentExists(agentName: string): boolean {
    return isValidAgentName(agentName) && this.#stmt.agentExists.get(agentName) !== undefined;
  }

  #requireAgent(agentName: string): void {
    if (!this.#agentExists(agentName)) throw new StoreNotFoundError('agent', agentName);
  }
}
