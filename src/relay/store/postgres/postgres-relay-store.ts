/**
 * The PostgreSQL backend of `RelayStore`, shared by the nodes of a relay
 * cluster: a connection pool, the versioned schema, the change log followed
 * by a `ChangeFeed`, and this node's memory of policies and tokens, which
 * the visitor and agent paths read without waiting on the database. While
 * the server cannot be reached, `health` is `down`: what is in memory keeps
 * serving, writes and unknown tokens fail with `StoreUnavailableError`, and
 * the feed catches up when the server is back.
 */
import type { Pool } from 'pg';
import { throwIfAborted } from '../../../shared/abort.js';
import { systemClock, type Clock, type TimerHandle } from '../../../shared/clock.js';
import { noopLogger, type Logger } from '../../../shared/logger.js';
import { DEFAULT_PASSWORD_HASH_PARAMS } from '../../access/password-hash.js';
import type { RelayStore, RelayStoreOptions, StoreHealth } from '../relay-store.js';
import { RevocationNotifier } from '../revocation-notifier.js';
import { StoreError, StoreUnavailableError } from '../store-errors.js';
import { DEFAULT_LAST_USED_THROTTLE_MS } from '../token-store.js';
import { ChangeFeed, type ChangeSubscriber } from './change-feed.js';
import { pruneChanges } from './change-log.js';
import { LastUsedWriter } from './last-used-writer.js';
import { createPgPool, pgClientConfig, redactPostgresUrl, toStoreError, type PgPoolSettings } from './pg-connection.js';
import { migratePostgres } from './pg-migrations.js';
import { pgTransaction, type PgExecutor } from './pg-transaction.js';
import { PostgresAccessPolicyStore } from './postgres-access-policy-store.js';
import { PostgresTokenStore } from './postgres-token-store.js';
import { StoreMemory } from './store-memory.js';

/** Options of the PostgreSQL store beyond `RelayStoreOptions`; every field optional. */
export interface PostgresStoreOptions {
  /** Connections in the pool (default 10). */
  maxConnections?: number;
  /** Connect timeout of one connection (ms, default 3000). */
  connectTimeoutMs?: number;
  /** Server-side limit of one statement (ms, default 10000). */
  statementTimeoutMs?: number;
  /** Fallback poll of the change log, beside LISTEN/NOTIFY (ms, default 1000). */
  changePollIntervalMs?: number;
  /** How long changes are kept before pruning (ms, default one hour). */
  changeRetentionMs?: number;
  /** Name in `pg_stat_activity` (default `visiona-tunnel`). */
  applicationName?: string;
}

const PRUNE_INTERVAL_MS = 10 * 60_000;

/** A relay store in PostgreSQL. */
export class PostgresRelayStore implements RelayStore {
  readonly kind = 'postgres' as const;
  readonly location: string;
  readonly tokens: PostgresTokenStore;
  readonly access: PostgresAccessPolicyStore;
  /** The change log as this node follows it (cluster modules subscribe before `open()`). */
  readonly changes: ChangeFeed;
  /** Where the store's queries go (cluster modules use it for their own tables). */
  readonly executor: PgExecutor;
  readonly #settings: PgPoolSettings;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #retentionMs: number;
  readonly #memory: StoreMemory;
  readonly #lastUsed: LastUsedWriter;
  readonly #healthListeners = new Set<(health: StoreHealth) => void>();
  #pool: Pool | undefined;
  #opening: Promise<void> | undefined;
  #closing: Promise<void> | undefined;
  #reachable = true;
  /** The LISTEN connection failed and is not back yet (not set before its first connect). */
  #listenerLost = false;
  #health: StoreHealth = 'up';
  #pruneTimer: TimerHandle | undefined;

  /** Creates the store; nothing connects until `open()` (or the first method call). */
  constructor(url: string, options: RelayStoreOptions & { postgres?: PostgresStoreOptions } = {}) {
    this.location = redactPostgresUrl(url);
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger ?? noopLogger;
    const pg = options.postgres ?? {};
    this.#settings = {
      url,
      maxConnections: pg.maxConnections ?? 10,
      connectTimeoutMs: pg.connectTimeoutMs ?? 3000,
      statementTimeoutMs: pg.statementTimeoutMs ?? 10_000,
      applicationName: pg.applicationName ?? 'visiona-tunnel',
    };
    this.#retentionMs = pg.changeRetentionMs ?? 60 * 60_000;
    const notifier = new RevocationNotifier(this.#logger);
    const requirePool = (): Pool => this.#requirePool();
    this.executor = {
      get pool(): Pool {
        return requirePool();
      },
      reportReachable: (reachable) => this.#setReachable(reachable),
      ready: () => this.open(),
    };
    this.#memory = new StoreMemory(this.executor, (revocations) => notifier.emit(revocations), () => this.#clock.now());
    this.changes = new ChangeFeed({
      executor: this.executor,
      listenConfig: pgClientConfig(this.#settings),
      pollIntervalMs: pg.changePollIntervalMs ?? 1000,
      logger: this.#logger,
      clock: this.#clock,
    });
    this.changes.subscribe(this.#memory);
    this.changes.onListeningChange((listening) => {
      this.#listenerLost = !listening;
      this.#updateHealth();
    });
    this.#lastUsed = new LastUsedWriter(this.executor, { clock: this.#clock, logger: this.#logger, flushIntervalMs: 1000 });
    const catchUp = (): Promise<void> => this.changes.catchUp();
    this.tokens = new PostgresTokenStore({
      executor: this.executor,
      memory: this.#memory,
      notifier,
      lastUsed: this.#lastUsed,
      catchUp,
      isUp: () => this.#health === 'up',
      lastUsedThrottleMs: options.tokens?.lastUsedThrottleMs ?? DEFAULT_LAST_USED_THROTTLE_MS,
      clock: this.#clock,
      logger: this.#logger,
    });
    this.access = new PostgresAccessPolicyStore({
      executor: this.executor,
      memory: this.#memory,
      catchUp,
      passwordHashParams: options.access?.passwordHashParams ?? DEFAULT_PASSWORD_HASH_PARAMS,
      clock: this.#clock,
      logger: this.#logger,
    });
  }

  get health(): StoreHealth {
    return this.#health;
  }

  onHealthChange(listener: (health: StoreHealth) => void): () => void {
    this.#healthListeners.add(listener);
    return () => {
      this.#healthListeners.delete(listener);
    };
  }

  /** Adds a follower of the change log (cluster modules); before `open()` only. */
  subscribe(subscriber: ChangeSubscriber): void {
    this.changes.subscribe(subscriber);
  }

  /**
   * Connects, migrates the schema, loads this node's memory and starts
   * following the change log. Rejects with `StoreUnavailableError` when the
   * server cannot be reached, `SchemaVersionError` for a newer schema.
   * Idempotent; a failed open may be retried.
   */
  open(options: { signal?: AbortSignal } = {}): Promise<void> {
    throwIfAborted(options.signal);
    if (this.#closing !== undefined) return Promise.reject(new StoreError(`The store is closed (location: ${this.location})`));
    if (this.#opening === undefined) {
      const opening = this.#open();
      this.#opening = opening;
      opening.catch(() => {
        if (this.#opening === opening) this.#opening = undefined;
      });
    }
    return this.#opening;
  }

  async #open(): Promise<void> {
    this.#pool ??= createPgPool(this.#settings, (err) => {
      this.#logger.debug('idle store connection failed', { err: err.message });
      this.#setReachable(false);
    });
    let client;
    try {
      client = await this.#pool.connect();
    } catch (err) {
      throw toStoreError(err, `connecting (location: ${this.location})`);
    }
    try {
      const result = await migratePostgres(client, this.location);
      if (result.fromVersion !== result.toVersion) {
        this.#logger.info('store schema migrated', { location: this.location, fromVersion: result.fromVersion, toVersion: result.toVersion });
      }
    } catch (err) {
      throw toStoreError(err, `migrating the schema (location: ${this.location})`);
    } finally {
      client.release();
    }
    await this.changes.start();
    this.#schedulePrune(5000);
  }

  /** Stops following the log, writes pending token-use times, closes the pool. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      if (this.#pruneTimer !== undefined) this.#clock.clearTimeout(this.#pruneTimer);
      await this.#opening?.catch(() => undefined);
      await this.changes.stop();
      await this.#lastUsed.close().catch(() => undefined);
      await this.#pool?.end().catch(() => undefined);
    })();
    return this.#closing;
  }

  #requirePool(): Pool {
    if (this.#pool === undefined) throw new StoreUnavailableError(`The store is not open (location: ${this.location})`);
    return this.#pool;
  }

  #setReachable(reachable: boolean): void {
    if (this.#reachable === reachable) return;
    this.#reachable = reachable;
    this.#updateHealth();
  }

  #updateHealth(): void {
    if (this.#closing !== undefined) return;
    const next: StoreHealth = this.#reachable && !this.#listenerLost ? 'up' : 'down';
    if (next === this.#health) return;
    this.#health = next;
    if (next === 'down') this.#logger.error('store unavailable: serving from memory', { location: this.location });
    else this.#logger.info('store available again', { location: this.location });
    for (const listener of [...this.#healthListeners]) {
      try {
        listener(next);
      } catch (err) {
        this.#logger.error('store health listener threw', { err });
      }
    }
  }

  #schedulePrune(delayMs: number): void {
    this.#pruneTimer = this.#clock.setTimeout(() => {
      pgTransaction(this.executor, 'pruning the change log', (client) => pruneChanges(client, this.#clock.now() - this.#retentionMs))
        .catch((err: unknown) => this.#logger.debug('change log prune failed', { err: err instanceof Error ? err.message : String(err) }))
        .finally(() => {
          if (this.#closing === undefined) this.#schedulePrune(PRUNE_INTERVAL_MS);
        });
    }, delayMs);
    this.#pruneTimer.unref?.();
  }
}
