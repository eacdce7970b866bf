/**
 * The cluster's PostgreSQL side of `bench:cluster`: agents created through
 * our store (as `token create` and `access set` would), several writes in
 * flight at once, and the server's own transaction counters
 * (`pg_stat_database`) read from another database, so reading them does not
 * count as load.
 */
import pg from 'pg';
import type { RelayStore } from '../../src/relay/store/index.js';

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
