/**
 * Opens the relay's SQLite file (better-sqlite3): WAL journal so the CLI can
 * write while the relay reads, foreign keys on, a busy timeout for the moments
 * two processes write at once, and schema migrations applied in order.
 */
import { closeSync, openSync } from 'node:fs';
import { createRequire } from 'node:module';
import type BetterSqlite3Constructor from 'better-sqlite3';
import type { Database } from 'better-sqlite3';
import { ConfigError, isSystemError } from '../../shared/errors.js';
import { noopLogger } from '../../shared/logger.js';
import type { Logger } from '../../shared/logger.js';
import { requireInt } from '../../shared/validate.js';
import { SchemaVersionError, StoreError } from './store-errors.js';
import { STORE_MIGRATIONS } from './store-migrations.js';
import type { StoreMigration } from './store-migrations.js';

// Loaded with require(), not import: Node scans a CommonJS module imported
// from ESM for its export names, and that scan costs idle memory.
const BetterSqlite3 = createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3Constructor;

/** Options of `openStoreDatabase`; every field optional. */
export interface StoreDatabaseOptions {
  /** How long a statement waits for another connection's write lock before failing (ms, default 5000). */
  busyTimeoutMs?: number;
  logger?: Logger;
  /** Migrations to apply; tests only. Default `STORE_MIGRATIONS`. */
  migrations?: readonly StoreMigration[];
}

/** Default busy timeout of a store connection, in ms. */
export const DEFAULT_STORE_BUSY_TIMEOUT_MS = 5000;

/** What `migrateStoreDatabase` did. */
export interface MigrationResult {
  readonly fromVersion: number;
  readonly toVersion: number;
}

/**
 * Opens (creating if needed, with mode 0600) the SQLite file at `path` and
 * brings its schema up to date. Reopening an up-to-date file changes nothing.
 * Throws `SchemaVersionError` for a file from a newer build, `StoreError` when
 * the file cannot be opened or a migration fails (the file is then unchanged).
 * The caller closes the returned connection with `db.close()` (idempotent).
 */
export function openStoreDatabase(path: string, options: StoreDatabaseOptions = {}): Database {
  const busyTimeoutMs = requireInt('busyTimeoutMs', options.busyTimeoutMs ?? DEFAULT_STORE_BUSY_TIMEOUT_MS, 0, 600_000);
  const logger = options.logger ?? noopLogger;
  const migrations = options.migrations ?? STORE_MIGRATIONS;
  validateMigrations(migrations);

  if (path !== ':memory:' && path !== '') createPrivateFile(path);
  let db: Database;
  try {
    db = new BetterSqlite3(path, { timeout: busyTimeoutMs });
  } catch (err) {
    throw new StoreError(`Cannot open the store database (path: ${path})`, { cause: err });
  }
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    db.pragma(`busy_timeout = ${busyTimeoutMs}`);
    const result = migrateStoreDatabase(db, path, migrations);
    if (result.fromVersion !== result.toVersion) {
      logger.info('store schema migrated', { path, fromVersion: result.fromVersion, toVersion: result.toVersion });
    }
  } catch (err) {
    db.close();
    if (err instanceof SchemaVersionError || err instanceof StoreError) throw err;
    throw new StoreError(`Cannot prepare the store database (path: ${path})`, { cause: err });
  }
  return db;
}

/** The schema version recorded in the file (`PRAGMA user_version`); 0 for a new file. */
export function readSchemaVersion(db: Database): number {
  return db.pragma('user_version', { simple: true }) as number;
}

/**
 * Applies the pending migrations in one IMMEDIATE transaction: the write lock
 * is taken first, so two processes opening a new file at once migrate it once.
 */
export function migrateStoreDatabase(
  db: Database,
  path: string,
  migrations: readonly StoreMigration[] = STORE_MIGRATIONS,
): MigrationResult {
  const latest = migrations[migrations.length - 1]?.version ?? 0;
  const before = readSchemaVersion(db);
  if (before > latest) throw new SchemaVersionError(path, before, latest);
  if (before === latest) return { fromVersion: before, toVersion: before };

  const apply = db.transaction((): MigrationResult => {
    const current = readSchemaVersion(db);
    if (current > latest) throw new SchemaVersionError(path, current, latest);
    for (const m of migrations) {
      if (m.version <= current) continue;
      try {
        m.up(db);
      } catch (err) {
        throw new StoreError(`Schema migration ${m.version} (${m.description}) failed (path: ${path})`, { cause: err });
      }
      db.pragma(`user_version = ${m.version}`);
    }
    return { fromVersion: current, toVersion: latest };
  });
  return apply.immediate();
}

function validateMigrations(migrations: readonly StoreMigration[]): void {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new ConfigError(`migrations[${i}].version`, `must be ${i + 1}`, m.version);
  });
}

// The file holds token hashes and JWT secrets: create it owner-only. SQLite
// gives its -wal and -shm files the database file's permissions.
function createPrivateFile(path: string): void {
  if (path.startsWith('file:')) return;
  try {
    closeSync(openSync(path, 'wx', 0o600));
  } catch (err) {
    if (isSystemError(err, 'EEXIST')) return;
    throw new StoreError(`Cannot create the store database (path: ${path})`, { cause: err });
  }
}
