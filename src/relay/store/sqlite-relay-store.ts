/**
 * The embedded backend of `RelayStore`: one SQLite file (better-sqlite3),
 * opened and migrated synchronously at creation, with its token store and
 * access policy store.
 */
import type { Database } from 'better-sqlite3';
import { openStoreDatabase } from './database.js';
import type { RelayStore, RelayStoreOptions, StoreHealth } from './relay-store.js';
import { SqliteAccessPolicyStore } from './sqlite-access-policy-store.js';
import { SqliteTokenStore } from './sqlite-token-store.js';

/** An open SQLite relay store; `db` is its connection (tests and tools only). */
export class SqliteRelayStore implements RelayStore {
  readonly kind = 'sqlite' as const;
  readonly location: string;
  readonly db: Database;
  readonly tokens: SqliteTokenStore;
  readonly access: SqliteAccessPolicyStore;
  readonly health: StoreHealth = 'up';

  /** Opens (creating and migrating as needed) the file at `path`; see `openStoreDatabase` for errors. */
  constructor(path: string, options: RelayStoreOptions = {}) {
    this.location = path;
    this.db = openStoreDatabase(path, options);
    try {
      const shared = {
        ...(options.clock === undefined ? {} : { clock: options.clock }),
        ...(options.logger === undefined ? {} : { logger: options.logger }),
      };
      this.tokens = new SqliteTokenStore(this.db, { ...options.tokens, ...shared });
      this.access = new SqliteAccessPolicyStore(this.db, { ...options.access, ...shared });
    } catch (err) {
      this.db.close();
      throw err;
    }
  }

  /** An SQLite file never goes down: the listener is never called. */
  onHealthChange(): () => void {
    return () => {};
  }

  /** Opened at construction. */
  open(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    if (this.db.open) this.db.close();
    return Promise.resolve();
  }
}
