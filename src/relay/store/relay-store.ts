/**
 * The relay's store in one handle, whatever the backend: an SQLite file (the
 * embedded default for one node) or a PostgreSQL database (shared by the
 * nodes of a cluster). `createRelayStore` picks the backend from the
 * location: a `postgres://` or `postgresql://` URL, or a file path.
 */
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import type { AccessPolicyStore, AccessPolicyStoreOptions } from './access-policy-store.js';
import type { StoreDatabaseOptions } from './database.js';
import type { TokenStore, TokenStoreOptions } from './token-store.js';

/** Whether the store can be reached: `down` only for a networked store during an outage. */
export type StoreHealth = 'up' | 'down';

/** Options of `createRelayStore`; every field optional. */
export interface RelayStoreOptions extends StoreDatabaseOptions {
  clock?: Clock;
  logger?: Logger;
  tokens?: TokenStoreOptions;
  access?: AccessPolicyStoreOptions;
}

/** A relay store. `close()` is idempotent. */
export interface RelayStore {
  /** The backend. */
  readonly kind: 'sqlite' | 'postgres';
  /** Where it is, for logs: the file path, or the URL without its password. */
  readonly location: string;
  readonly tokens: TokenStore;
  readonly access: AccessPolicyStore;
  /** `up`, or `down` while a networked store cannot be reached (what is in memory keeps serving). */
  readonly health: StoreHealth;
  /** Called on every change of `health`; returns the remover. */
  onHealthChange(listener: (health: StoreHealth) => void): () => void;
  /**
   * Connects, applies migrations and loads what the visitor path reads from
   * memory; resolves at once for SQLite (opened by `createRelayStore`).
   * Idempotent. Store methods called before wait for it.
   */
  open(options?: { signal?: AbortSignal }): Promise<void>;
  /** Releases the database connection(s). Idempotent. */
  close(): Promise<void>;
}

/** True when `location` names a PostgreSQL database rather than an SQLite file. */
export function isPostgresLocation(location: string): boolean {
  return /^postgres(ql)?:\/\//i.test(location);
}
