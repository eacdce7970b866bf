/**
 * Queries and transactions on the store's pool, with every failure turned
 * into a store error (`toStoreError`) and reported to a health callback, so
 * that the store's `health` follows what its queries meet.
 */
import type { Pool, PoolClient, QueryResultRow } from 'pg';
import { StoreUnavailableError } from '../store-errors.js';
import { toStoreError } from './pg-connection.js';

/** Where the store's queries go, and who hears how they went. */
export interface PgExecutor {
  readonly pool: Pool;
  /** Called after every query or transaction: `true` when the server answered, `false` when it could not be reached. */
  reportReachable(reachable: boolean): void;
  /** Resolves once the store is open (schema migrated, memory loaded); rejects if opening failed. */
  ready(): Promise<void>;
}

/** Runs one statement; rows as `T`. Errors are store errors. */
export async function pgQuery<T extends QueryResultRow>(ex: PgExecutor, what: string, sql: string, params: unknown[] = []): Promise<T[]> {
  await ex.ready();
  try {
    const result = await ex.pool.query<T>(sql, params);
    ex.reportReachable(true);
    return result.rows;
  } catch (err) {
    throw report(ex, err, what);
  }
}

/**
 * Runs `fn` in a transaction (READ COMMITTED unless `isolation` says
 * otherwise), committing when it resolves and rolling back when it throws.
 */
export async function pgTransaction<T>(
  ex: PgExecutor,
  what: string,
  fn: (client: PoolClient) => Promise<T>,
  options: { isolation?: 'REPEATABLE READ'; skipReady?: boolean } = {},
): Promise<T> {
  if (options.skipReady !== true) await ex.ready();
  let client: PoolClient;
  try {
    client = await ex.pool.connect();
  } catch (err) {
    throw report(ex, err, what);
  }
  let broken = false;
  try {
    await client.query(options.isolation === undefined ? 'BEGIN' : `BEGIN ISOLATION LEVEL ${options.isolation}`);
    const out = await fn(client);
    await client.query('COMMIT');
    ex.reportReachable(true);
    return out;
  } catch (err) {
    const storeErr = toStoreError(err, what);
    broken = storeErr instanceof StoreUnavailableError;
    if (!broken) await client.query('ROLLBACK').catch(() => undefined);
    throw report(ex, storeErr, what);
  } finally {
    // A client whose connection failed is discarded, not returned to the pool.
    client.release(broken ? true : undefined);
  }
}

function report(ex: PgExecutor, err: unknown, what: string): Error {
  const storeErr = toStoreError(err, what);
  ex.reportReachable(!(storeErr instanceof StoreUnavailableError));
  return storeErr;
}
