/**
 * The relay's embedded store in one handle: the SQLite connection with its
 * token store and access policy store.
 */
import type { Database } from 'better-sqlite3';
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import { AccessPolicyStore } from './access-policy-store.js';
import type { AccessPolicyStoreOptions } from './access-policy-store.js';
import { openStoreDatabase } from './database.js';
import type { StoreDatabaseOptions } from './database.js';
import { TokenStore } from './token-store.js';
import type { TokenStoreOptions } from './token-store.js';

/** Options of `openRelayStore`; every field optional. */
export interface RelayStoreOptions extends StoreDatabaseOptions {
  clock?: Clock;
  logger?: Logger;
  tokens?: Omit<TokenStoreOptions, 'clock' | 'logger'>;
  access?: Omit<AccessPolicyStoreOptions, 'clock' | 'logger'>;
}

/** An open relay store. `close()` is idempotent. */
export interface RelayStore {
  readonly db: Database;
  readonly tokens: TokenStore;
  readonly access: AccessPolicyStore;
  close(): void;
}

/** Opens (creating and migrating as needed) the store at `path`; see `openStoreDatabase` for errors. */
export function openRelayStore(path: string, options: RelayStoreOptions = {}): RelayStore {
  const db = openStoreDatabase(path, options);
  try {
    const shared = {
      ...(options.clock === undefined ? {} : { clock: options.clock }),
      ...(options.logger === undefined ? {} : { logger: options.logger }),
    };
    const tokens = new TokenStore(db, { ...options.tokens, ...shared });
    const access = new AccessPolicyStore(db, { ...options.access, ...shared });
    return {
      db,
      tokens,
      access,
      close: () => {
        if (db.open) db.close();
      },
    };
  } catch (err) {
    db.close();
    throw err;
  }
}
