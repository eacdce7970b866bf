import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { ConfigError } from '../../../src/shared/errors.js';
import {
  STORE_SCHEMA_VERSION,
  SchemaVersionError,
  StoreError,
  openStoreDatabase,
  readSchemaVersion,
} from '../../../src/relay/store/index.js';
import type { StoreMigration } from '../../../src/relay/store/index.js';
import { makeTempDir } from './fixtures.js';

function tableNames(db: BetterSqlite3.Database): string[] {
  return (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[]).map(
    (r) => r.name,
  );
}

function countingMigrations(log: string[], count: number, failAt?: number): StoreMigration[] {
  return Array.from({ length: count }, (_, i) => ({
    version: i + 1,
    description: `step ${i + 1}`,
    up: (db: BetterSqlite3.Database) => {
      log.push(`up${i + 1}`);
      db.exec(`CREATE TABLE t${i + 1} (x INTEGER)`);
      if (failAt === i + 1) throw new Error(`step ${i + 1} broke`);
    },
  }));
}

describe('openStoreDatabase', () => {
  it('creates a fresh database at the latest schema version, in WAL mode with foreign keys on', async (t) => {
    const dir = await makeTempDir(t);
    const path = join(dir, 'relay.db');
    const db = openStoreDatabase(path, { busyTimeoutMs: 1234 });
    t.after(() => db.close());

    assert.equal(readSchemaVersion(db), STORE_SCHEMA_VERSION, 'user_version is the latest migration');
    assert.ok(STORE_SCHEMA_VERSION >= 1, 'at least one migration exists');
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal', 'journal mode is WAL');
    assert.equal(db.pragma('foreign_keys', { simple: true }), 1, 'foreign keys are enforced');
    assert.equal(db.pragma('busy_timeout', { simple: true }), 1234, 'busy timeout is the configured one');
    const tables = tableNames(db);
    for (const table of ['agents', 'agent_tokens', 'token_revocations', 'access_policies', 'basic_users', 'visitor_tokens']) {
      assert.ok(tables.includes(table), `table ${table} exists`);
    }
    assert.equal(statSync(path).mode & 0o777, 0o600, 'the database file is readable by its owner only');
  });

  it('leaves an up-to-date database and its data unchanged when reopened', async (t) => {
    const dir = await makeTempDir(t);
    const path = join(dir, 'relay.db');
    const log: string[] = [];
    const first = openStoreDatabase(path, { migrations: countingMigrations(log, 2) });
    first.prepare('INSERT INTO t1 (x) VALUES (42)').run();
    first.close();

    const again = openStoreDatabase(path, { migrations: countingMigrations(log, 2) });
    t.after(() => again.close());
    assert.deepEqual(log, ['up1', 'up2'], 'each migration ran once, on the first open only');
    assert.equal(readSchemaVersion(again), 2, 'the version stays 2');
    assert.deepEqual(again.prepare('SELECT x FROM t1').all(), [{ x: 42 }], 'rows written before survive the reopen');
  });

  it('applies only the pending migrations, in order, when the build gains new ones', async (t) => {
    const dir = await makeTempDir(t);
    const path = join(dir, 'relay.db');
    const log: string[] = [];
    openStoreDatabase(path, { migrations: countingMigrations(log, 1) }).close();
    const db = openStoreDatabase(path, { migrations: countingMigrations(log, 3) });
    t.after(() => db.close());
    assert.deepEqual(log, ['up1', 'up2', 'up3'], 'versions 2 and 3 ran after version 1, once each');
    assert.equal(readSchemaVersion(db), 3, 'the file is at version 3');
  });

  it('rolls every pending step back when a migration fails, leaving the file at its old version', async (t) => {
    const dir = await makeTempDir(t);
    const path = join(dir, 'relay.db');
    openStoreDatabase(path, { migrations: countingMigrations([], 1) }).close();

    assert.throws(
      () => openStoreDatabase(path, { migrations: countingMigrations([], 3, 3) }),
      (err: unknown) => err instanceof StoreError && err.code === 'ERR_STORE' && /migration 3/.test(err.message),
      'a failing migration throws StoreError naming its version',
    );
    const raw = new BetterSqlite3(path);
    t.after(() => raw.close());
    assert.equal(readSchemaVersion(raw), 1, 'the version is still 1');
    assert.ok(!tableNames(raw).includes('t2'), 'the table made by step 2 was rolled back with step 3');
  });

  it('refuses a database written by a newer build, without changing it', async (t) => {
    const dir = await makeTempDir(t);
    const path = join(dir, 'relay.db');
    openStoreDatabase(path).close();
    const raw = new BetterSqlite3(path);
    raw.pragma(`user_version = ${STORE_SCHEMA_VERSION + 5}`);
    raw.close();

    assert.throws(
      () => openStoreDatabase(path),
      (err: unknown) =>
        err instanceof SchemaVersionError &&
        err.code === 'ERR_STORE_SCHEMA_TOO_NEW' &&
        err.foundVersion === STORE_SCHEMA_VERSION + 5 &&
        err.supportedVersion === STORE_SCHEMA_VERSION,
      'opening throws SchemaVersionError with both versions',
    );
    const check = new BetterSqlite3(path);
    t.after(() => check.close());
    assert.equal(readSchemaVersion(check), STORE_SCHEMA_VERSION + 5, 'the newer version is left as it was');
  });

  it('rejects a migration list whose versions are not 1, 2, 3 ...', async (t) => {
    const dir = await makeTempDir(t);
    const gap: StoreMigration[] = [
      { version: 1, description: 'one', up: () => undefined },
      { version: 3, description: 'three', up: () => undefined },
    ];
    assert.throws(() => openStoreDatabase(join(dir, 'x.db'), { migrations: gap }), ConfigError, 'a gap is a ConfigError');
  });

  it('wraps an unopenable path in StoreError', async (t) => {
    const dir = await makeTempDir(t);
    assert.throws(
      () => openStoreDatabase(join(dir, 'missing-dir', 'relay.db')),
      (err: unknown) => err instanceof StoreError && err.cause !== undefined,
      'a missing directory gives StoreError with the cause attached',
    );
  });

  it('lets a second connection open the same file while the first is open', async (t) => {
    const dir = await makeTempDir(t);
    const path = join(dir, 'relay.db');
    const a = openStoreDatabase(path);
    t.after(() => a.close());
    const b = openStoreDatabase(path);
    t.after(() => b.close());
    a.prepare('INSERT INTO agents (name, created_at) VALUES (?, ?)').run('cam-1', 1);
    assert.deepEqual(b.prepare('SELECT name FROM agents').all(), [{ name: 'cam-1' }], 'the second connection sees the first one’s commit');
  });
});
