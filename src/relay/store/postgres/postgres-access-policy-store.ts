/**
 * The PostgreSQL backend of `AccessPolicyStore`. `getPolicy` answers from
 * this node's memory (kept current from the change log), so a visitor
 * request never waits on the database and keeps being served while it is
 * down. Writes append `policy-changed` to the change log in their
 * transaction and wait until this node applied it.
 */
import type { PoolClient } from 'pg';
import type { Clock } from '../../../shared/clock.js';
import type { Logger } from '../../../shared/logger.js';
import type { Secret } from '../../../shared/secret.js';
import type { AccessPolicy, AccessPolicyInput, EffectiveAccessPolicy } from '../../access/access-policy.js';
import { hashPassword, type PasswordHashParams } from '../../access/password-hash.js';
import { validateAccessPolicy } from '../../access/validate-access-policy.js';
import type { AccessPolicyStore, BasicUserInfo, CreatedVisitorToken, VisitorTokenInfo } from '../access-policy-store.js';
import { isValidAgentName } from '../agent-name.js';
import { validatePassword, validateUsername, validateVisitorTokenLabel } from '../credential-input.js';
import { policyFromRow, type StoredPolicyRow } from '../effective-policy.js';
import { VISITOR_TOKEN_PREFIX, generateSecretToken } from '../secret-token.js';
import { StoreConflictError, StoreNotFoundError } from '../store-errors.js';
import { appendChanges } from './change-log.js';
import { pgQuery, pgTransaction, type PgExecutor } from './pg-transaction.js';
import type { StoreMemory } from './store-memory.js';

/** What the access store shares with the rest of the PostgreSQL store. */
export interface PostgresAccessPolicyStoreDeps {
  executor: PgExecutor;
  memory: StoreMemory;
  catchUp(): Promise<void>;
  passwordHashParams: PasswordHashParams;
  clock: Clock;
  logger: Logger;
}

/** Visitor access policies and credentials in PostgreSQL. */
export class PostgresAccessPolicyStore implements AccessPolicyStore {
  readonly #d: PostgresAccessPolicyStoreDeps;

  constructor(deps: PostgresAccessPolicyStoreDeps) {
    this.#d = deps;
  }

  async setPolicy(agentName: string, policy: AccessPolicyInput): Promise<AccessPolicy> {
    await this.#requireAgentNow(agentName);
    const valid = await validateAccessPolicy(policy);
    const { mode, ...config } = valid;
    await this.#write(agentName, 'setting an access policy', async (client) => {
      await client.query(
        `INSERT INTO access_policies (agent_name, mode, config_json, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (agent_name) DO UPDATE SET mode = excluded.mode, config_json = excluded.config_json, updated_at = excluded.updated_at`,
        [agentName, mode, JSON.stringify(config), this.#d.clock.now()],
      );
    });
    this.#d.logger.info('visitor access policy set', { agentName, mode });
    return valid;
  }

  async getPolicyConfig(agentName: string): Promise<AccessPolicy | undefined> {
    if (!isValidAgentName(agentName)) return undefined;
    const rows = await pgQuery<{ name: string } & Partial<StoredPolicyRow>>(
      this.#d.executor,
      'reading an access policy',
      'SELECT a.name, p.mode, p.config_json FROM agents a LEFT JOIN access_policies p ON p.agent_name = a.name WHERE a.name = $1',
      [agentName],
    );
    const row = rows[0];
    if (row === undefined) return undefined;
    return policyFromRow(row.mode === undefined || row.mode === null ? undefined : (row as StoredPolicyRow));
  }

  getPolicy(agentName: string): EffectiveAccessPolicy | undefined {
    return this.#d.memory.policy(agentName);
  }

  async addBasicUser(agentName: string, username: string, password: string | Secret, options: { replace?: boolean } = {}): Promise<void> {
    validateUsername(username);
    const plain = validatePassword(password);
    await this.#requireAgentNow(agentName);
    const hash = await hashPassword(plain, this.#d.passwordHashParams);
    await this.#write(agentName, 'adding a basic user', async (client) => {
      const now = this.#d.clock.now();
      const sql =
        options.replace === true
          ? `INSERT INTO basic_users (agent_name, username, password_hash, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)
             ON CONFLICT (agent_name, username) DO UPDATE SET password_hash = excluded.password_hash, updated_at = excluded.updated_at`
          : `INSERT INTO basic_users (agent_name, username, password_hash, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)
             ON CONFLICT (agent_name, username) DO NOTHING`;
      const result = await client.query(sql, [agentName, username, hash, now]);
      if (result.rowCount === 0) throw new StoreConflictError('basic-user', username);
    });
    this.#d.logger.info('basic user set', { agentName, username });
  }

  async removeBasicUser(agentName: string, username: string): Promise<void> {
    await this.#write(agentName, 'removing a basic user', async (client) => {
      const result = await client.query('DELETE FROM basic_users WHERE agent_name = $1 AND username = $2', [agentName, username]);
      if (result.rowCount === 0) throw new StoreNotFoundError('basic-user', `${agentName}/${username}`);
    }, { agentMayBeMissing: true });
    this.#d.logger.info('basic user removed', { agentName, username });
  }

  async listBasicUsers(agentName: string): Promise<BasicUserInfo[]> {
    await this.#requireAgentNow(agentName);
    const rows = await pgQuery<{ username: string; created_at: number; updated_at: number }>(
      this.#d.executor,
      'listing basic users',
      'SELECT username, created_at, updated_at FROM basic_users WHERE agent_name = $1 ORDER BY username COLLATE "C"',
      [agentName],
    );
    return rows.map((r) => ({ username: r.username, createdAtMs: r.created_at, updatedAtMs: r.updated_at }));
  }

  async addVisitorToken(agentName: string, options: { label?: string } = {}): Promise<CreatedVisitorToken> {
    const label = validateVisitorTokenLabel(options.label);
    const generated = generateSecretToken(VISITOR_TOKEN_PREFIX);
    await this.#write(agentName, 'adding a visitor token', async (client) => {
      await client.query('INSERT INTO visitor_tokens (id, agent_name, secret_hash, label, created_at) VALUES ($1, $2, $3, $4, $5)', [
        generated.tokenId,
        agentName,
        generated.secretHash,
        label,
        this.#d.clock.now(),
      ]);
    });
    this.#d.logger.info('visitor token created', { agentName, tokenId: generated.tokenId });
    return { tokenId: generated.tokenId, agentName, token: generated.token };
  }

  async removeVisitorToken(agentName: string, tokenId: string): Promise<void> {
    await this.#write(agentName, 'removing a visitor token', async (client) => {
      const result = await client.query('DELETE FROM visitor_tokens WHERE agent_name = $1 AND id = $2', [agentName, tokenId]);
      if (result.rowCount === 0) throw new StoreNotFoundError('visitor-token', `${agentName}/${tokenId}`);
    }, { agentMayBeMissing: true });
    this.#d.logger.info('visitor token removed', { agentName, tokenId });
  }

  async listVisitorTokens(agentName: string): Promise<VisitorTokenInfo[]> {
    await this.#requireAgentNow(agentName);
    const rows = await pgQuery<{ id: string; label: string | null; created_at: number }>(
      this.#d.executor,
      'listing visitor tokens',
      'SELECT id, label, created_at FROM visitor_tokens WHERE agent_name = $1 ORDER BY created_at, id COLLATE "C"',
      [agentName],
    );
    return rows.map((r) => ({ tokenId: r.id, agentName, label: r.label, createdAtMs: r.created_at }));
  }

  async #requireAgentNow(agentName: string): Promise<void> {
    const rows = isValidAgentName(agentName)
      ? await pgQuery(this.#d.executor, 'reading an agent', 'SELECT 1 FROM agents WHERE name = $1', [agentName])
      : [];
    if (rows.length === 0) throw new StoreNotFoundError('agent', agentName);
  }

  /**
   * Locks the agent's row (so a concurrent delete waits), runs `fn`, appends
   * `policy-changed`, commits, and waits until this node applied it.
   */
  async #write(agentName: string, what: string, fn: (client: PoolClient) => Promise<void>, options: { agentMayBeMissing?: boolean } = {}): Promise<void> {
    await pgTransaction(this.#d.executor, what, async (client) => {
      const found = isValidAgentName(agentName) ? await client.query('SELECT 1 FROM agents WHERE name = $1 FOR SHARE', [agentName]) : { rowCount: 0 };
      if (found.rowCount === 0 && options.agentMayBeMissing !== true) throw new StoreNotFoundError('agent', agentName);
      await fn(client);
      await appendChanges(client, [{ kind: 'policy-changed', agentName }], this.#d.clock.now());
    });
    await this.#d.catchUp();
  }
}
