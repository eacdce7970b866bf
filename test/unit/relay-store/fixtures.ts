// Shared fixtures of the relay-store tests: a store of either backend (an SQLite file in a
// temp directory, or a fresh database on the file's throwaway PostgreSQL server), a temp
// directory per test, and a manual clock.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { Clock, TimerHandle } from '../../../src/shared/clock.js';
import { openRelayStore, SqliteRelayStore } from '../../../src/relay/store/index.js';
import type { CreateRelayStoreOptions, RelayStore } from '../../../src/relay/store/index.js';
import { usePostgres } from '../../helpers/postgres-server.js';

/** The store backends every contract test runs against. */
export const STORE_BACKENDS = ['sqlite', 'postgres'] as const;

/** One of `STORE_BACKENDS`. */
export type StoreBackend = (typeof STORE_BACKENDS)[number];

const postgres = usePostgres();

/** A store under test, with what the tests need to look behind it. */
export interface TestStore {
  readonly backend: StoreBackend;
  readonly store: RelayStore;
  readonly tokens: RelayStore['tokens'];
  readonly access: RelayStore['access'];
  /** Every row of every table, as text (buffers in base64url). */
  dumpRows(): Promise<string>;
  /** The raw bytes of every file the database keeps (SQLite's files; PostgreSQL's data folder). */
  dataFiles(): Promise<Buffer[]>;
  /** Another store on the same database, as another process (the CLI) or another relay node would open it. */
  another(options?: CreateRelayStoreOptions): Promise<TestStore>;
}

/** Opens a store of `backend`, fresh and empty, closed when the test ends. */
export async function openBackendStore(t: TestContext, backend: StoreBackend, options: CreateRelayStoreOptions = {}): Promise<TestStore> {
  const location = backend === 'sqlite' ? join(await makeTempDir(t), 'relay.db') : await (await postgres()).createDatabase('store');
  return openStoreAt(t, backend, location, options);
}

async function openStoreAt(t: TestContext, backend: StoreBackend, location: string, options: CreateRelayStoreOptions): Promise<TestStore> {
  const store = await openRelayStore(location, {
    access: { passwordHashParams: FAST_PASSWORD_HASH },
    ...options,
    postgres: { changePollIntervalMs: 200, ...options.postgres },
  });
  t.after(() => store.close());
  return {
    backend,
    store,
    tokens: store.tokens,
    access: store.access,
    dumpRows: () => (store instanceof SqliteRelayStore ? Promise.resolve(dumpSqlite(store)) : dumpPostgres(location)),
    dataFiles: async () => (backend === 'sqlite' ? filesUnder(join(location, '..')) : filesUnder((await postgres()).dataDir)),
    another: (more = {}) => openStoreAt(t, backend, location, { ...options, ...more }),
  };
}

function dumpSqlite(store: SqliteRelayStore): string {
  const { db } = store;
  const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((r) => r.name);
  return tables.map((table) => JSON.stringify(db.prepare(`SELECT * FROM "${table}"`).all(), bufferAsText)).join('\n');
}

async function dumpPostgres(url: string): Promise<string> {
  const server = await postgres();
  const name = new URL(url).pathname.slice(1);
  const tables = await server.query<{ table_name: string }>(name, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'");
  const out: string[] = [];
  for (const { table_name } of tables) out.push(JSON.stringify(await server.query(name, `SELECT * FROM "${table_name}"`), bufferAsText));
  // Whatever the server still holds in memory goes to its files, for dataFiles().
  await server.query(name, 'CHECKPOINT');
  return out.join('\n');
}

function bufferAsText(_key: string, value: unknown): unknown {
  if (value !== null && typeof value === 'object' && (value as { type?: unknown }).type === 'Buffer' && Array.isArray((value as { data?: unknown }).data)) {
    return Buffer.from((value as { data: number[] }).data).toString('base64url');
  }
  return Buffer.isBuffer(value) ? value.toString('base64url') : value;
}

function filesUnder(dir: string): Buffer[] {
  if (dir === '') return [];
  const out: Buffer[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const info = statSync(path);
    if (info.isDirectory()) out.push(...filesUnder(path));
    else if (info.isFile()) out.push(readFileSync(path));
  }
  return out;
}

/** scrypt parameters cheap enough for tests (the default costs ~60 ms a hash). */
export const FAST_PASSWORD_HASH = { cost: 1024, blockSize: 8, parallelization: 1 } as const;

/** A fresh directory under the OS temp dir, removed when the test ends. */
export async function makeTempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'vt-relay-store-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Opens an SQLite store on `<dir>/relay.db`, closed when the test ends (SQLite-only tests). */
export function openTestStore(t: TestContext, dir: string, options: CreateRelayStoreOptions = {}): SqliteRelayStore {
  const store = new SqliteRelayStore(join(dir, 'relay.db'), { access: { passwordHashParams: FAST_PASSWORD_HASH }, ...options });
  t.after(() => store.close());
  return store;
}

interface ManualTimer extends TimerHandle {
  dueMs: number;
  fn: () => void;
  cleared: boolean;
}

/** A clock that moves only when told; timers fire inside `advance`. */
export class ManualClock implements Clock {
  #nowMs: number;
  readonly #timers = new Set<ManualTimer>();

  constructor(startMs = Date.UTC(2025, 0, 1)) {
    this.#nowMs = startMs;
  }

  now(): number {
    return this.#nowMs;
  }

  setTimeout(fn: () => void, delayMs: number): TimerHandle {
    const timer: ManualTimer = { dueMs: this.#nowMs + delayMs, fn, cleared: false, unref: () => undefined };
    this.#timers.add(timer);
    return timer;
  }

  clearTimeout(handle: TimerHandle): void {
    const timer = handle as ManualTimer;
    timer.cleared = true;
    this.#timers.delete(timer);
  }

  /** Pending timers. */
  get timerCount(): number {
    return this.#timers.size;
  }

  /** Moves time forward, firing due timers in order. */
  advance(ms: number): void {
    const target = this.#nowMs + ms;
    for (;;) {
      const next = [...this.#timers].filter((x) => x.dueMs <= target).sort((a, b) => a.dueMs - b.dueMs)[0];
      if (next === undefined) break;
      this.#timers.delete(next);
      this.#nowMs = next.dueMs;
      next.fn();
    }
    this.#nowMs = target;
  }
}
