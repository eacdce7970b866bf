/**
 * Picks the store backend from its location: a `postgres://` or
 * `postgresql://` URL is a PostgreSQL database shared by a cluster's nodes,
 * anything else an SQLite file for one node.
 */
import { PostgresRelayStore, type PostgresStoreOptions } from './postgres/postgres-relay-store.js';
import { isPostgresLocation, type RelayStore, type RelayStoreOptions } from './relay-store.js';
import { SqliteRelayStore } from './sqlite-relay-store.js';

/** Options of `createRelayStore`: the common ones, plus PostgreSQL settings (ignored for SQLite). */
export type CreateRelayStoreOptions = RelayStoreOptions & { postgres?: PostgresStoreOptions };

/**
 * Creates the store at `location`. An SQLite file is opened (created,
 * migrated) at once and errors are thrown here (`StoreError`,
 * `SchemaVersionError`); a PostgreSQL store connects in `open()`.
 */
export function createRelayStore(location: string, options: CreateRelayStoreOptions = {}): RelayStore {
  return isPostgresLocation(location) ? new PostgresRelayStore(location, options) : new SqliteRelayStore(location, options);
}

/** `createRelayStore`, then `open()`: a store ready to use. */
export async function openRelayStore(location: string, options: CreateRelayStoreOptions = {}): Promise<RelayStore> {
  const store = createRelayStore(location, options);
  try {
    await store.open();
  } catch (err) {
    await store.close();
    throw err;
  }
  return store;
}
