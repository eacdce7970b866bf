/**
 * The SQLite backend of `TokenStore` (better-sqlite3, synchronous underneath).
 * Revocations are announced to `onRevoked` listeners at once, and written to
 * a log that other processes' stores pick up with `pollRevocations()`, so a
 * relay disconnects a session revoked by the CLI within one poll interval.
 */
import { randomBytes } from 'node:crypto';
import type { Database, Statement } from 'better-sqlite3';
import { systemClock } from '../../shared/clock.js';
import type { Clock, TimerHandle } from '../../shared/clock.js';
import { noopLogger } from '../../shared/logger.js';
import type { Logger } from '../../shared/logger.js';
import type { Secret } from '../../shared/secret.js';
import { requireInt } from '../../shared/validate.js';
import type { AccessMode } from '../access/access-policy.js';
import { assertValidAgentName, isValidAgentName } from './agent-name.js';
import { noteLocalWrite } from './local-write-generation.js';
import { RevocationNotifier } from './revocation-notifier.js';
import { validateTokenLabel } from './token-label.js';
import {
  DEFAULT_LAST_USED_THROTTLE_MS,
  DEFAULT_REVOCATION_POLL_INTERVAL_MS,
  type AgentInfo,
  type AgentTokenInfo,
  type CreatedAgentToken,
  type RevocationWatchOptions,
  type RevokeResult,
  type TokenRevocation,
  type TokenRevocationReason,
  type TokenRevokedListener,
  type TokenStore,
  type TokenStoreOptions,
  type VerifiedAgentToken,
} from './token-store.js';
import {
  AGENT_TOKEN_PREFIX,
  generateSecretToken,
  parseSecretToken,
  secretHashMatches,
} from './secret-token.js';
import { StoreNotFoundError, StoreConflictError } from './store-errors.js';

/** Options of `SqliteTokenStore`; every field optional. */
export interface SqliteTokenStoreOptions extends TokenStoreOptions {
  clock?: Clock;
  logger?: Logger;
}

interface AgentRow {
  name: string;
  created_at: number;
  active_tokens: number;
  last_used_at: number | null;
  mode: AccessMode | null;
}

interface TokenRow {
  id: string;
  agent_name: string;
  label: string | null;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
}

interface VerifyRow {
  agent_name: string;
  secret_hash: Buffer;
  last_used_at: number | null;
  revoked_at: number | null;
}

interface RevocationRow {
  seq: number;
  token_id: string;
  agent_name: string;
  revoked_at: number;
  reason: TokenRevocationReason;
  origin: string;
}

const AGENT_SELECT = `
  SELECT a.name, a.created_at,
         (SELECT COUNT(*) FROM agent_tokens t WHERE t.agent_name = a.name AND t.revoked_at IS NULL) AS active_tokens,
         (SELECT MAX(t.last_used_at) FROM agent_tokens t WHERE t.agent_name = a.name) AS last_used_at,
         p.mode
  FROM agents a LEFT JOIN access_policies p ON p.agent_name = a.name`;

const TOKEN_COLUMNS = 'id, agent_name, label, created_at, last_used_at, revoked_at';

/** The agent and agent-token part of the relay store, over an open `openStoreDatabase` connection. */
export class SqliteTokenStore implements TokenStore {
  readonly #db: Database;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #lastUsedThrottleMs: number;
  // Distinguishes this instance's log entries from other processes' in pollRevocations().
  readonly #origin = randomBytes(8).toString('hex');
  readonly #notifier: RevocationNotifier;
  #pollCursor: number;
  readonly #stmt: {
    insertAgent: Statement<[string, number]>;
    agent: Statement<[string], AgentRow>;
    agents: Statement<[], AgentRow>;
    agentExists: Statement<[string], { one: number }>;
    deleteAgent: Statement<[string]>;
    insertToken: Statement<[string, string, Buffer, string | null, number]>;
    verify: Statement<[string], VerifyRow>;
    touch: Statement<[number, string]>;
    isActive: Statement<[string], { one: number }>;
    tokenById: Statement<[string], TokenRow>;
    tokens: Statement<[], TokenRow>;
    tokensOf: Statement<[string], TokenRow>;
    activeTokensOf: Statement<[string], { id: string }>;
    revoke: Statement<[number, string]>;
    logRevocation: Statement<[string, string, number, TokenRevocationReason, string]>;
    revocationsSince: Statement<[number], RevocationRow>;
    revocationsAfter: Statement<[number], RevocationRow>;
    maxSeq: Statement<[], { seq: number }>;
  };

  constructor(db: Database, options: SqliteTokenStoreOptions = {}) {
    this.#db = db;
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger ?? noopLogger;
    this.#notifier = new RevocationNotifier(this.#logger);
    this.#lastUsedThrottleMs = requireInt(
      'lastUsedThrottleMs',
      options.lastUsedThrottleMs ?? DEFAULT_LAST_USED_THROTTLE_MS,
      0,
    );
    this.#stmt = {
      insertAgent: db.prepare('INSERT INTO agents (name, created_at) VALUES (?, ?)'),
      agent: db.prepare(`${AGENT_SELECT} WHERE a.name = ?`),
      agents: db.prepare(`${AGENT_SELECT} ORDER BY a.name`),
      agentExists: db.prepare('SELECT 1 AS one FROM agents WHERE name = ?'),
      deleteAgent: db.prepare('DELETE FROM agents WHERE name = ?'),
      insertToken: db.prepare(
        'INSERT INTO agent_tokens (id, agent_name, secret_hash, label, created_at) VALUES (?, ?, ?, ?, ?)',
      ),
      verify: db.prepare('SELECT agent_name, secret_hash, last_used_at, revoked_at FROM agent_tokens WHERE id = ?'),
      touch: db.prepare('UPDATE agent_tokens SET last_used_at = ? WHERE id = ?'),
      isActive: db.prepare('SELECT 1 AS one FROM agent_tokens WHERE id = ? AND revoked_at IS NULL'),
      tokenById: db.prepare(`SELECT ${TOKEN_COLUMNS} FROM agent_tokens WHERE id = ?`),
      tokens: db.prepare(`SELECT ${TOKEN_COLUMNS} FROM agent_tokens ORDER BY agent_name, created_at, id`),
      tokensOf: db.prepare(`SELECT ${TOKEN_COLUMNS} FROM agent_tokens WHERE agent_name = ? ORDER BY created_at, id`),
      activeTokensOf: db.prepare('SELECT id FROM agent_tokens WHERE agent_name = ? AND revoked_at IS NULL ORDER BY id'),
      revoke: db.prepare('UPDATE agent_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL'),
      logRevocation: db.prepare(
        'INSERT INTO token_revocations (token_id, agent_name, revoked_at, reason, origin) VALUES (?, ?, ?, ?, ?)',
      ),
      revocationsSince: db.prepare('SELECT * FROM token_revocations WHERE revoked_at >= ? ORDER BY seq'),
      revocationsAfter: db.prepare('SELECT * FROM token_revocations WHERE seq > ? ORDER BY seq'),
      maxSeq: db.prepare('SELECT COALESCE(MAX(seq), 0) AS seq FROM token_revocations'),
    };
    this.#pollCursor = (this.#stmt.maxSeq.get() as { seq: number }).seq;
  }

  /** Creates an agent; throws `InvalidAgentNameError`, or `StoreConflictError` if it exists. */
  async createAgent(name: string): Promise<AgentInfo> {
    assertValidAgentName(name);
    const create = this.#db.transaction(() => {
      if (this.#stmt.agentExists.get(name) !== undefined) throw new StoreConflictError('agent', name);
      this.#stmt.insertAgent.run(name, this.#clock.now());
    });
    create.immediate();
    noteLocalWrite(this.#db);
    this.#logger.info('agent created', { agentName: name });
    return this.#agentInfo(name) as AgentInfo;
  }

  /** Returns the agent, creating it first if it does not exist. */
  async ensureAgent(name: string): Promise<AgentInfo> {
    assertValidAgentName(name);
    return this.#agentInfo(name) ?? this.createAgent(name);
  }

  /** The agent, or undefined (also for an invalid name). */
  async getAgent(name: string): Promise<AgentInfo | undefined> {
    return this.#agentInfo(name);
  }

  #agentInfo(name: string): AgentInfo | undefined {
    if (!isValidAgentName(name)) return undefined;
    const row = this.#stmt.agent.get(name);
    return row === undefined ? undefined : toAgentInfo(row);
  }

  /** Every agent, by name. */
  async listAgents(): Promise<AgentInfo[]> {
    return this.#stmt.agents.all().map(toAgentInfo);
  }

  /**
   * Deletes an agent with its tokens, access policy and visitor credentials.
   * Its active tokens are announced as revoked (reason `agent-deleted`).
   * Throws `StoreNotFoundError` if there is no such agent.
   */
  async deleteAgent(name: string): Promise<RevokeResult> {
    const revocations = this.#db
      .transaction((): TokenRevocation[] => {
        if (!isValidAgentName(name) || this.#stmt.agentExists.get(name) === undefined) {
          throw new StoreNotFoundError('agent', name);
        }
        const ids = this.#stmt.activeTokensOf.all(name).map((r) => r.id);
        const out = this.#revokeIds(ids.map((id) => ({ id, agentName: name })), 'agent-deleted');
        this.#stmt.deleteAgent.run(name);
        return out;
      })
      .immediate();
    noteLocalWrite(this.#db);
    this.#logger.info('agent deleted', { agentName: name, revokedTokens: revocations.length });
    this.#emit(revocations);
    return { revokedTokenIds: revocations.map((r) => r.tokenId), agentNames: [name] };
  }

  /**
   * Creates a token for an existing agent. The returned `token` is the only
   * copy: only a hash is stored. Throws `StoreNotFoundError` for an unknown
   * agent, `StoreValidationError` for a bad label.
   */
  async createToken(agentName: string, options: { label?: string } = {}): Promise<CreatedAgentToken> {
    const label = validateTokenLabel(options.label);
    const generated = generateSecretToken(AGENT_TOKEN_PREFIX);
    this.#db
      .transaction(() => {
        if (!isValidAgentName(agentName) || this.#stmt.agentExists.get(agentName) === undefined) {
          throw new StoreNotFoundError('agent', agentName);
        }
        this.#stmt.insertToken.run(generated.tokenId, agentName, generated.secretHash, label, this.#clock.now());
      })
      .immediate();
    this.#logger.info('agent token created', { agentName, tokenId: generated.tokenId });
    return { tokenId: generated.tokenId, agentName, token: generated.token };
  }

  /**
   * The agent a token belongs to, or null when the token is malformed,
   * unknown or revoked. The secret is compared in constant time. Updates
   * `last_used_at` at most once per `lastUsedThrottleMs`.
   */
  async verifyToken(token: string | Secret): Promise<VerifiedAgentToken | null> {
    const text = typeof token === 'string' ? token : token.reveal();
    const parsed = parseSecretToken(AGENT_TOKEN_PREFIX, text);
    if (parsed === null) return null;
    const row = this.#stmt.verify.get(parsed.tokenId);
    const matches = secretHashMatches(row?.secret_hash, parsed.secret);
    if (row === undefined || !matches || row.revoked_at !== null) return null;
    const now = this.#clock.now();
    if (row.last_used_at === null || now - row.last_used_at >= this.#lastUsedThrottleMs) {
      try {
        this.#stmt.touch.run(now, parsed.tokenId);
      } catch (err) {
        // A busy database must not turn a valid token into a refused agent.
        this.#logger.warn('cannot record token use', { tokenId: parsed.tokenId, err });
      }
    }
    return { agentName: row.agent_name, tokenId: parsed.tokenId };
  }

  /** True while the token exists and is not revoked (for periodic re-checks of live sessions). */
  async isTokenActive(tokenId: string): Promise<boolean> {
    return this.#stmt.isActive.get(tokenId) !== undefined;
  }

  /**
   * Revokes one token (by token id) or every token of an agent (by agent
   * name); a token id takes precedence over an agent of the same name.
   * Already revoked tokens are left as they are (idempotent). Throws
   * `StoreNotFoundError` when the reference names neither.
   */
  async revokeToken(tokenIdOrAgentName: string): Promise<RevokeResult> {
    const ref = tokenIdOrAgentName;
    const revocations = this.#db
      .transaction((): TokenRevocation[] => {
        const token = this.#stmt.tokenById.get(ref);
        if (token !== undefined) {
          return token.revoked_at === null ? this.#revokeIds([{ id: token.id, agentName: token.agent_name }], 'revoked') : [];
        }
        if (isValidAgentName(ref) && this.#stmt.agentExists.get(ref) !== undefined) {
          const ids = this.#stmt.activeTokensOf.all(ref).map((r) => ({ id: r.id, agentName: ref }));
          return this.#revokeIds(ids, 'revoked');
        }
        throw new StoreNotFoundError('token', ref);
      })
      .immediate();
    for (const r of revocations) this.#logger.info('agent token revoked', { agentName: r.agentName, tokenId: r.tokenId });
    this.#emit(revocations);
    return {
      revokedTokenIds: revocations.map((r) => r.tokenId),
      agentNames: [...new Set(revocations.map((r) => r.agentName))],
    };
  }

  /** Tokens (never secrets), of one agent or of all; revoked ones included. */
  async listTokens(agentName?: string): Promise<AgentTokenInfo[]> {
    const rows = agentName === undefined ? this.#stmt.tokens.all() : this.#stmt.tokensOf.all(agentName);
    return rows.map(toTokenInfo);
  }

  /** Registers a listener for revocations made through this store or found by `pollRevocations`; returns its remover. */
  onRevoked(listener: TokenRevokedListener): () => void {
    return this.#notifier.add(listener);
  }

  /** Polls the revocation log every `intervalMs` (`startRevocationPolling`). */
  watchRevocations(options: RevocationWatchOptions = {}): () => void {
    return this.startRevocationPolling(options);
  }

  /** Revocations logged at or after `timestampMs` (ms since the Unix epoch), by any process, oldest first. */
  revocationsSince(timestampMs: number): TokenRevocation[] {
    return this.#stmt.revocationsSince.all(timestampMs).map(toRevocation);
  }

  /**
   * Reads revocations committed by other connections (another process such as
   * the CLI) since the last poll, announces each to the `onRevoked` listeners
   * and returns them. Uses the log's sequence numbers, not clocks, so nothing
   * is missed or repeated whatever the writers' clocks say.
   */
  pollRevocations(): TokenRevocation[] {
    const rows = this.#stmt.revocationsAfter.all(this.#pollCursor);
    const last = rows[rows.length - 1];
    if (last === undefined) return [];
    this.#pollCursor = last.seq;
    const foreign = rows.filter((r) => r.origin !== this.#origin).map(toRevocation);
    this.#emit(foreign);
    return foreign;
  }

  /**
   * Calls `pollRevocations()` every `intervalMs` until the returned stop
   * function is called (idempotent) or `signal` aborts. Timers are unref'd.
   */
  startRevocationPolling(options: RevocationWatchOptions = {}): () => void {
    const intervalMs = requireInt('intervalMs', options.intervalMs ?? DEFAULT_REVOCATION_POLL_INTERVAL_MS, 1);
    const { signal } = options;
    let timer: TimerHandle | undefined;
    let stopped = false;
    const stop = (): void => {
      if (stopped) return;
      stopped = true;
      if (timer !== undefined) this.#clock.clearTimeout(timer);
      signal?.removeEventListener('abort', stop);
    };
    const tick = (): void => {
      if (stopped) return;
      try {
        this.pollRevocations();
      } catch (err) {
        this.#logger.warn('revocation poll failed', { err });
      }
      schedule();
    };
    const schedule = (): void => {
      if (stopped) return;
      timer = this.#clock.setTimeout(tick, intervalMs);
      timer.unref?.();
    };
    if (signal?.aborted === true) return stop;
    signal?.addEventListener('abort', stop, { once: true });
    schedule();
    return stop;
  }

  #revokeIds(tokens: readonly { id: string; agentName: string }[], reason: TokenRevocationReason): TokenRevocation[] {
    const now = this.#clock.now();
    const out: TokenRevocation[] = [];
    for (const t of tokens) {
      if (this.#stmt.revoke.run(now, t.id).changes === 0) continue;
      this.#stmt.logRevocation.run(t.id, t.agentName, now, reason, this.#origin);
      out.push({ tokenId: t.id, agentName: t.agentName, revokedAtMs: now, reason });
    }
    return out;
  }

  #emit(revocations: readonly TokenRevocation[]): void {
    this.#notifier.emit(revocations);
  }
}

function toAgentInfo(row: AgentRow): AgentInfo {
  return {
    name: row.name,
    createdAtMs: row.created_at,
    activeTokenCount: row.active_tokens,
    lastUsedAtMs: row.last_used_at,
    accessMode: row.mode ?? 'private',
  };
}

function toTokenInfo(row: TokenRow): AgentTokenInfo {
  return {
    tokenId: row.id,
    agentName: row.agent_name,
    label: row.label,
    createdAtMs: row.created_at,
    lastUsedAtMs: row.last_used_at,
    revokedAtMs: row.revoked_at,
    isActive: row.revoked_at === null,
  };
}

function toRevocation(row: RevocationRow): TokenRevocation {
  return { tokenId: row.token_id, agentName: row.agent_name, revokedAtMs: row.revoked_at, reason: row.reason };
}
