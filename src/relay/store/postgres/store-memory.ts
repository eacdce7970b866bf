/**
 * What a node of a PostgreSQL store keeps in memory so that no visitor
 * request and no agent reconnect waits on the database: every agent's
 * effective access policy and every active agent token's hash. Kept current
 * from the change log (`ChangeFeed`); every application is idempotent, since
 * a change may be delivered again after a reload.
 */
import type { PoolClient } from 'pg';
import type { BasicUserCredential, EffectiveAccessPolicy, VisitorTokenCredential } from '../../access/access-policy.js';
import { effectivePolicy, policyFromRow, type StoredPolicyRow } from '../effective-policy.js';
import type { TokenRevocation, TokenRevocationReason } from '../token-store.js';
import type { StoreChange } from './change-log.js';
import type { ChangeSubscriber } from './change-feed.js';
import { pgTransaction, type PgExecutor } from './pg-transaction.js';

/** An active agent token as held in memory. */
export interface MemoryToken {
  readonly agentName: string;
  readonly secretHash: Buffer;
  lastUsedAtMs: number | null;
}

interface TokenRow {
  id: string;
  agent_name: string;
  secret_hash: Buffer;
  last_used_at: number | null;
}

type Queryable = Pick<PoolClient, 'query'>;

/** Policies and active tokens of every agent, from the change log. */
export class StoreMemory implements ChangeSubscriber {
  readonly #executor: PgExecutor;
  readonly #onRevoked: (revocations: TokenRevocation[]) => void;
  readonly #nowMs: () => number;
  #policies = new Map<string, EffectiveAccessPolicy>();
  #tokens = new Map<string, MemoryToken>();

  /** `onRevoked` hears every token that stopped being active (from the log, or found missing by a reload). */
  constructor(executor: PgExecutor, onRevoked: (revocations: TokenRevocation[]) => void, nowMs: () => number) {
    this.#executor = executor;
    this.#onRevoked = onRevoked;
    this.#nowMs = nowMs;
  }

  /** The agent's policy with its credentials; undefined for an unknown agent. */
  policy(agentName: string): EffectiveAccessPolicy | undefined {
    return this.#policies.get(agentName);
  }

  /** An active token by id. */
  token(tokenId: string): MemoryToken | undefined {
    return this.#tokens.get(tokenId);
  }

  /** Adds a token read from the database outside the log (a token newer than the last change read). */
  addToken(tokenId: string, token: MemoryToken): void {
    this.#tokens.set(tokenId, token);
  }

  /** Agents known. */
  get agentCount(): number {
    return this.#policies.size;
  }

  async apply(changes: readonly StoreChange[]): Promise<void> {
    const policyAgents = new Set<string>();
    const newTokens = new Set<string>();
    const revocations: TokenRevocation[] = [];
    for (const c of changes) {
      switch (c.kind) {
        case 'agent-created':
        case 'policy-changed':
          if (c.agentName !== null) policyAgents.add(c.agentName);
          break;
        case 'agent-deleted':
          if (c.agentName !== null) {
            policyAgents.delete(c.agentName);
            this.#policies.delete(c.agentName);
          }
          break;
        case 'token-created':
          if (c.tokenId !== null) newTokens.add(c.tokenId);
          break;
        case 'token-revoked':
          if (c.tokenId !== null && c.agentName !== null) {
            newTokens.delete(c.tokenId);
            this.#tokens.delete(c.tokenId);
            revocations.push({ tokenId: c.tokenId, agentName: c.agentName, revokedAtMs: c.createdAtMs, reason: (c.detail ?? 'revoked') as TokenRevocationReason });
          }
          break;
        default:
          break;
      }
    }
    if (policyAgents.size > 0 || newTokens.size > 0) {
      await pgTransaction(
        this.#executor,
        'reading changed policies and tokens',
        async (client) => {
          if (policyAgents.size > 0) {
            const loaded = await loadPolicies(client, [...policyAgents]);
            for (const name of policyAgents) {
              const policy = loaded.get(name);
              if (policy === undefined) this.#policies.delete(name);
              else this.#policies.set(name, policy);
            }
          }
          if (newTokens.size > 0) {
            const rows = await client.query<TokenRow>(
              'SELECT id, agent_name, secret_hash, last_used_at FROM agent_tokens WHERE id = ANY($1) AND revoked_at IS NULL',
              [[...newTokens]],
            );
            for (const r of rows.rows) this.#tokens.set(r.id, { agentName: r.agent_name, secretHash: r.secret_hash, lastUsedAtMs: r.last_used_at });
          }
        },
        { skipReady: true },
      );
    }
    if (revocations.length > 0) this.#onRevoked(revocations);
  }

  async reload(client: PoolClient): Promise<void> {
    const policies = await loadPolicies(client, undefined);
    const rows = await client.query<TokenRow>('SELECT id, agent_name, secret_hash, last_used_at FROM agent_tokens WHERE revoked_at IS NULL');
    const tokens = new Map<string, MemoryToken>();
    for (const r of rows.rows) tokens.set(r.id, { agentName: r.agent_name, secretHash: r.secret_hash, lastUsedAtMs: r.last_used_at });
    const gone: TokenRevocation[] = [];
    for (const [id, t] of this.#tokens) {
      if (!tokens.has(id)) gone.push({ tokenId: id, agentName: t.agentName, revokedAtMs: this.#nowMs(), reason: 'revoked' });
    }
    this.#policies = policies;
    this.#tokens = tokens;
    if (gone.length > 0) this.#onRevoked(gone);
  }
}

/** Effective policies of `agents` (all agents when undefined), from three queries. */
async function loadPolicies(client: Queryable, agents: string[] | undefined): Promise<Map<string, EffectiveAccessPolicy>> {
  const filter = agents === undefined ? '' : ' WHERE a.name = ANY($1)';
  const filterOf = agents === undefined ? '' : ' WHERE agent_name = ANY($1)';
  const params = agents === undefined ? [] : [agents];
  const policyRows = await client.query<{ name: string } & Partial<StoredPolicyRow>>(
    `SELECT a.name, p.mode, p.config_json FROM agents a LEFT JOIN access_policies p ON p.agent_name = a.name${filter}`,
    params,
  );
  const userRows = await client.query<{ agent_name: string; username: string; password_hash: string }>(
    `SELECT agent_name, username, password_hash FROM basic_users${filterOf}`,
    params,
  );
  const tokenRows = await client.query<{ agent_name: string; id: string; secret_hash: Buffer }>(
    `SELECT agent_name, id, secret_hash FROM visitor_tokens${filterOf}`,
    params,
  );
  const users = groupBy(userRows.rows, (r) => r.agent_name, (r): BasicUserCredential => ({ username: r.username, passwordHash: r.password_hash }));
  const tokens = groupBy(tokenRows.rows, (r) => r.agent_name, (r): VisitorTokenCredential => ({ tokenId: r.id, secretHash: r.secret_hash }));
  const out = new Map<string, EffectiveAccessPolicy>();
  for (const r of policyRows.rows) {
    const config = policyFromRow(r.mode === undefined || r.mode === null ? undefined : (r as StoredPolicyRow));
    out.set(r.name, effectivePolicy(config, users.get(r.name) ?? [], tokens.get(r.name) ?? []));
  }
  return out;
}

function groupBy<R, V>(rows: readonly R[], key: (r: R) => string, value: (r: R) => V): Map<string, V[]> {
  const out = new Map<string, V[]>();
  for (const r of rows) {
    const k = key(r);
    let list = out.get(k);
    if (list === undefined) {
      list = [];
      out.set(k, list);
    }
    list.push(value(r));
  }
  return out;
}
