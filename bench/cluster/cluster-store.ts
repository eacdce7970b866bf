/**
 * The cluster's PostgreSQL side of `bench:cluster`: agents created through
 * our store (as `token create` and `access set` would), several writes in
 * flight at once, and the server's own transaction counters
 * (`pg_stat_database`) read from another database, so reading them does not
 * count as load.
 */
import pg from 'pg';
import { AGENT_TOKEN_PREFIX, type RelayStore } from '../../src/relay/store/index.js';
import { generateSecretToken } from '../../src/relay/store/secret-token.js';

/** A created agent: its name, token and token id. */
export interface BenchAgent {
  name: string;
  token: string;
  tokenId: string;
}

/** Creates `names` as agents with one token each and the `public` access policy, `concurrency` at a time. */
export async function createPublicAgents(store: RelayStore, names: readonly string[], concurrency = 16): Promise<BenchAgent[]> {
  const out: BenchAgent[] = new Array<BenchAgent>(names.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < names.length) {
      const i = next++;
      const name = names[i] as string;
      await store.tokens.createAgent(name);
      await store.access.setPolicy(name, { mode: 'public' });
      const created = await store.tokens.createToken(name);
      out[i] = { name, token: created.token.reveal(), tokenId: created.tokenId };
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, names.length) }, worker));
  return out;
}

/** Rows per multi-row INSERT of `insertPublicAgents`. */
const INSERT_BATCH = 2_000;

/**
 * Writes `names` as agents with one token each and the `public` access
 * policy straight into the database, in one transaction: the same rows
 * `createPublicAgents` makes, without their change-log entries, so 30 000
 * agents take seconds instead of minutes (the store's writes are serialised
 * by the change log's lock). Only for nodes started afterwards: a node
 * loads every agent and token from a snapshot when it starts.
 */
export async function insertPublicAgents(dbUrl: string, names: readonly string[]): Promise<BenchAgent[]> {
  const client = new pg.Client({ connectionString: dbUrl });
  await client.connect();
  const out: BenchAgent[] = [];
  try {
    await client.query('BEGIN');
    const now = Date.now();
    for (let from = 0; from < names.length; from += INSERT_BATCH) {
      const batch = names.slice(from, from + INSERT_BATCH);
      const tokens = batch.map(() => generateSecretToken(AGENT_TOKEN_PREFIX));
      await client.query('INSERT INTO agents (name, created_at) SELECT unnest($1::text[]), $2', [batch, now]);
      await client.query("INSERT INTO access_policies (agent_name, mode, config_json, updated_at) SELECT unnest($1::text[]), 'public', '{}', $2", [batch, now]);
      await client.query('INSERT INTO agent_tokens (id, agent_name, secret_hash, created_at) SELECT unnest($1::text[]), unnest($2::text[]), unnest($3::bytea[]), $4', [
        tokens.map((t) => t.tokenId),
        batch,
        tokens.map((t) => t.secretHash),
        now,
      ]);
      batch.forEach((name, i) => out.push({ name, token: tokens[i]!.token.reveal(), tokenId: tokens[i]!.tokenId }));
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    await client.end();
  }
  return out;
}

/** Committed plus rolled-back transactions of one database, as PostgreSQL counts them. */
export class TransactionCounter {
  readonly #client: pg.Client;
  readonly #database: string;

  private constructor(client: pg.Client, database: string) {
    this.#client = client;
    this.#database = database;
  }

  /** Connects to the server's `postgres` database (`serverUrl`) to watch `database`. */
  static async open(serverUrl: string, database: string): Promise<TransactionCounter> {
    const client = new pg.Client({ connectionString: serverUrl });
    await client.connect();
    return new TransactionCounter(client, database);
  }

  /**
   * Transactions so far. Backends report their counters at most once a
   * second (and when idle), so read over windows of several seconds.
   */
  async read(): Promise<{ transactions: number; atMs: number }> {
    await this.#client.query('SELECT pg_stat_clear_snapshot()');
    const r = await this.#client.query<{ n: string }>('SELECT (xact_commit + xact_rollback)::text AS n FROM pg_stat_database WHERE datname = $1', [this.#database]);
    return { transactions: Number(r.rows[0]?.n ?? 0), atMs: Date.now() };
  }

  async close(): Promise<void> {
    await this.#client.end();
  }
}

/** Transactions per second between two readings. */
export function transactionsPerSecond(from: { transactions: number; atMs: number }, to: { transactions: number; atMs: number }): number {
  return ((to.transactions - from.transactions) * 1000) / Math.max(1, to.atMs - from.atMs);
}
