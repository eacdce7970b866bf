/**
 * The PostgreSQL backend of `TokenStore`. Writes run in a transaction that
 * also appends to the change log (so every node hears of them), then wait
 * until this node's own memory has applied them. `verifyToken` and
 * `isTokenActive` answer from memory: an agent reconnect never waits on the
 * database, and keeps working while it is down. A token newer than the last
 * change read is looked up in the database once.
 */
import type { PoolClient } from 'pg';
import type { Clock } from '../../../shared/clock.js';
import type { Logger } from '../../../shared/logger.js';
import type { Secret } from '../../../shared/secret.js';
import type { AccessMode } from '../../access/access-policy.js';
import { assertValidAgentName, isValidAgentName } from '../agent-name.js';
import type { RevocationNotifier } from '../revocation-notifier.js';
import { AGENT_TOKEN_PREFIX, generateSecretToken, parseSecretToken, secretHashMatches } from '../secret-token.js';
import { StoreConflictError, StoreNotFoundError, StoreUnavailableError } from '../store-errors.js';
import { validateTokenLabel } from '../token-label.js';
import type {
  AgentInfo,
  AgentTokenInfo,
  CreatedAgentToken,
  RevokeResult,
  TokenRevocationReason,
  TokenRevokedListener,
  TokenStore,
  VerifiedAgentToken,
} from '../token-store.js';
import { appendChanges, type NewStoreChange } from './change-log.js';
import type { LastUsedWriter } from './last-used-writer.js';
import { pgQuery, pgTransaction, type PgExecutor } from './pg-transaction.js';
import type { StoreMemory } from './store-memory.js';

/** What the token store shares with the rest of the PostgreSQL store. */
export interface PostgresTokenStoreDeps {
  executor: PgExecutor;
  memory: StoreMemory;
  notifier: RevocationNotifier;
  lastUsed: LastUsedWriter;
  /** Resolves once this node applied every change committed so far. */
  catchUp(): Promise<void>;
  /** Whether the store can be reached now (a token unknown to memory is then looked up). */
  isUp(): boolean;
  lastUsedThrottleMs: number;
  clock: Clock;
  logger: Logger;
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

const AGENT_SELECT = `
  SELECT a.name, a.created_at,
         (SELECT COUNT(*) FROM agent_tokens t WHERE t.agent_name = a.name AND t.revoked_at IS NULL)::int AS active_tokens,
         (SELECT MAX(t.last_used_at) FROM agent_tokens t WHERE t.agent_name = a.name) AS last_used_at,
         p.mode
  FROM agents a LEFT JOIN access_policies p ON p.agent_name = a.name`;

const TOKEN_COLUMNS = 'id, agent_name, label, created_at, last_used_at, revoked_at';

/** Agents and agent tokens in PostgreSQL. */
export class PostgresTokenStore implements TokenStore {
  readonly #d: PostgresTokenStoreDeps;

  constructor(deps: PostgresTokenStoreDeps) {
    this.#d = deps;
  }

  async createAgent(name: string): Promise<AgentInfo> {
    assertValidAgentName(name);
    await this.#write('creating an agent', async (client) => {
      const inserted = await client.query('INSERT INTO agents (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', [name, this.#d.clock.now()]);
      if (inserted.rowCount === 0) throw new StoreConflictError('agent', name);
      return [{ kind: 'agent-created', agentName: name }];
    });
    this.#d.logger.info('agent created', { agentName: name });
    return (await this.getAgent(name)) as AgentInfo;
  }

  async ensureAgent(name: string): Promise<AgentInfo> {
    assertValidAgentName(name);
    const existing = await this.getAgent(name);
    if (existing !== undefined) return existing;
    try {
      return await this.createAgent(name);
    } catch (err) {
      // Created by another node or process in between.
      if (err instanceof StoreConflictError) return (await this.getAgent(name)) as AgentInfo;
      throw err;
    }
  }

  async getAgent(name: string): Promise<AgentInfo | undefined> {
    if (!isValidAgentName(name)) return undefined;
    await this.#d.lastUsed.flush();
    const rows = await pgQuery<AgentRow>(this.#d.executor, 'reading an agent', `${AGENT_SELECT} WHERE a.name = $1`, [name]);
    return rows[0] === undefined ? undefined : toAgentInfo(rows[0]);
  }

  async listAgents(): Promise<AgentInfo[]> {
    await this.#d.lastUsed.flush();
    const rows = await pgQuery<AgentRow>(this.#d.executor, 'listing agents', `${AGENT_SELECT} ORDER BY a.name COLLATE "C"`);
    return rows.map(toAgentInfo);
  }

  async deleteAgent(name: string): Promise<RevokeResult> {
    let revoked: string[] = [];
    await this.#write('deleting an agent', async (client) => {
      const found = isValidAgentName(name) ? await client.query('SELECT 1 FROM agents WHERE name = $1 FOR UPDATE', [name]) : { rowCount: 0 };
      if (found.rowCount === 0) throw new StoreNotFoundError('agent', name);
      revoked = await this.#revokeWhere(client, 'agent_name = $2', [name]);
      await client.query('DELETE FROM agents WHERE name = $1', [name]);
      return [...revokedChanges(revoked, name, 'agent-deleted'), { kind: 'agent-deleted', agentName: name }];
    });
    this.#d.logger.info('agent deleted', { agentName: name, revokedTokens: revoked.length });
    return { revokedTokenIds: revoked, agentNames: [name] };
  }

  async createToken(agentName: string, options: { label?: string } = {}): Promise<CreatedAgentToken> {
    const label = validateTokenLabel(options.label);
    const generated = generateSecretToken(AGENT_TOKEN_PREFIX);
    await this.#write('creating a token', async (client) => {
      const found = isValidAgentName(agentName) ? await client.query('SELECT 1 FROM agents WHERE name = $1 FOR SHARE', [agentName]) : { rowCount: 0 };
      if (found.rowCount === 0) throw new StoreNotFoundError('agent', agentName);
      await client.query('INSERT INTO agent_tokens (id, agent_name, secret_hash, label, created_at) VALUES ($1, $2, $3, $4, $5)', [
        generated.tokenId,
        agentName,
        generated.secretHash,
        label,
        this.#d.clock.now(),
      ]);
      return [{ kind: 'token-created', agentName, tokenId: generated.tokenId }];
    });
    this.#d.logger.info('agent token created', { agentName, tokenId: generated.tokenId });
    return { tokenId: generated.tokenId, agentName, token: generated.token };
  }

  /**
   * From memory; a token id memory does not know is looked up in the
   * database (it may be newer than the last change applied), unless the
   * store is down: then `StoreUnavailableError`, since an unknown token
   * cannot be checked safely.
   */
  async verifyToken(token: string | Secret): Promise<VerifiedAgentToken | null> {
    await this.#d.executor.ready();
    const text = typeof token === 'string' ? token : token.reveal();
    const parsed = parseSecretToken(AGENT_TOKEN_PREFIX, text);
    if (parsed === null) return null;
    let known = this.#d.memory.token(parsed.tokenId);
    if (known === undefined) {
      if (!this.#d.isUp()) throw new StoreUnavailableError('The PostgreSQL store cannot be reached: an agent token unknown to this node cannot be checked');
      const rows = await pgQuery<{ agent_name: string; secret_hash: Buffer; last_used_at: number | null }>(
        this.#d.executor,
        'verifying a token',
        'SELECT agent_name, secret_hash, last_used_at FROM agent_tokens WHERE id = $1 AND revoked_at IS NULL',
        [parsed.tokenId],
      );
      const row = rows[0];
      // One constant-time comparison either way (a dummy hash for an unknown id).
      if (!secretHashMatches(row?.secret_hash, parsed.secret) || row === undefined) return null;
      known = { agentName: row.agent_name, secretHash: row.secret_hash, lastUsedAtMs: row.last_used_at };
      this.#d.memory.addToken(parsed.tokenId, known);
    } else if (!secretHashMatches(known.secretHash, parsed.secret)) {
      return null;
    }
    const now = this.#d.clock.now();
    if (known.lastUsedAtMs === null || now - known.lastUsedAtMs >= this.#d.lastUsedThrottleMs) {
      known.lastUsedAtMs = now;
      this.#d.lastUsed.record(parsed.tokenId, now);
    }
    return { agentName: known.agentName, tokenId: parsed.tokenId };
  }

  async isTokenActive(tokenId: string): Promise<boolean> {
    await this.#d.executor.ready();
    return this.#d.memory.token(tokenId) !== undefined;
  }

  async revokeToken(tokenIdOrAgentName: string): Promise<RevokeResult> {
    const ref = tokenIdOrAgentName;
    const revoked: { id: string; agentName: string }[] = [];
    await this.#write('revoking tokens', async (client) => {
      const token = await client.query<{ id: string; agent_name: string; revoked_at: number | null }>(
        'SELECT id, agent_name, revoked_at FROM agent_tokens WHERE id = $1 FOR UPDATE',
        [ref],
      );
      const byId = token.rows[0];
      let agentName: string;
      if (byId !== undefined) {
        agentName = byId.agent_name;
        if (byId.revoked_at !== null) return [];
        for (const id of await this.#revokeWhere(client, 'id = $2', [ref])) revoked.push({ id, agentName });
      } else {
        const agent = isValidAgentName(ref) ? await client.query('SELECT 1 FROM agents WHERE name = $1 FOR UPDATE', [ref]) : { rowCount: 0 };
        if (agent.rowCount === 0) throw new StoreNotFoundError('token', ref);
        agentName = ref;
        for (const id of await this.#revokeWhere(client, 'agent_name = $2', [ref])) revoked.push({ id, agentName });
      }
      return revokedChanges(revoked.map((r) => r.id), agentName, 'revoked');
    });
    for (const r of revoked) this.#d.logger.info('agent token revoked', { agentName: r.agentName, tokenId: r.id });
    return { revokedTokenIds: revoked.map((r) => r.id), agentNames: [...new Set(revoked.map((r) => r.agentName))] };
  }

  async listTokens(agentName?: string): Promise<AgentTokenInfo[]> {
    // This node's recent token uses first, so that a listing shows them.
    await this.#d.lastUsed.flush();
    const rows =
      agentName === undefined
        ? await pgQuery<TokenRow>(this.#d.executor, 'listing tokens', `SELECT ${TOKEN_COLUMNS} FROM agent_tokens ORDER BY agent_name COLLATE "C", created_at, id COLLATE "C"`)
        : await pgQuery<TokenRow>(this.#d.executor, 'listing tokens', `SELECT ${TOKEN_COLUMNS} FROM agent_tokens WHERE agent_name = $1 ORDER BY created_at, id COLLATE "C"`, [agentName]);
    return rows.map(toTokenInfo);
  }

  onRevoked(listener: TokenRevokedListener): () => void {
    return this.#d.notifier.add(listener);
  }

  /** The change feed announces every node's revocations from the moment the store is open: nothing to start. */
  watchRevocations(): () => void {
    return () => {};
  }

  /** Sets `revoked_at` on the active tokens matching `where` (`$1` is the time); returns their ids. */
  async #revokeWhere(client: PoolClient, where: string, params: unknown[]): Promise<string[]> {
    const rows = await client.query<{ id: string }>(
      `UPDATE agent_tokens SET revoked_at = $1 WHERE ${where} AND revoked_at IS NULL RETURNING id`,
      [this.#d.clock.now(), ...params],
    );
    return rows.rows.map((r) => r.id).sort();
  }

  /** Runs `fn` in a transaction, appends the changes it returns, commits, then waits for this node to apply them. */
  async #write(what: string, fn: (client: PoolClient) => Promise<NewStoreChange[]>): Promise<void> {
    await pgTransaction(this.#d.executor, what, async (client) => {
      const changes = await fn(client);
      await appendChanges(client, changes, this.#d.clock.now());
    });
    await this.#d.catchUp();
  }
}

function revokedChanges(tokenIds: readonly string[], agentName: string, reason: TokenRevocationReason): NewStoreChange[] {
  return tokenIds.map((tokenId) => ({ kind: 'token-revoked', agentName, tokenId, detail: reason }));
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
