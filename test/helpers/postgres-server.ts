/**
 * A throwaway PostgreSQL server for tests: Debian's `initdb` and `postgres`
 * (package postgresql-15, installed by scripts/install-system-deps.sh) on a
 * free 127.0.0.1 port, with its data in a temporary folder. `initdb` refuses
 * to run as root, so as root both run as the `postgres` system user. Tuned
 * for tests (no fsync), never for data. `stop()` and `start()` let a test
 * take the server away and bring it back on the same port and data.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { after } from 'node:test';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closedPort } from './loopback.js';

/** A running (or stopped) test server. */
export interface PostgresServer {
  readonly host: string;
  readonly port: number;
  /** The data folder (for tests that look at what the server wrote). */
  readonly dataDir: string;
  /** URL of database `name` (superuser `postgres`, no password: trust on loopback). */
  url(name: string): string;
  /** Creates a fresh, empty database and returns its URL. */
  createDatabase(prefix?: string): Promise<string>;
  /** Runs one statement as the superuser in database `name`; rows as objects. */
  query<T = Record<string, unknown>>(name: string, sql: string, params?: unknown[]): Promise<T[]>;
  /** Fast shutdown (SIGINT: open connections are cut); resolves once the server exited. */
  stop(): Promise<void>;
  /** Starts it again on the same port and data folder; resolves once it accepts connections. */
  start(): Promise<void>;
  /** Stops it (if running) and deletes its data. Idempotent. */
  destroy(): Promise<void>;
}

/** Where Debian installs the server binaries. */
function findBinDir(): string {
  const base = '/usr/lib/postgresql';
  if (existsSync(base)) {
    const versions = readdirSync(base).filter((v) => existsSync(join(base, v, 'bin', 'postgres'))).sort((a, b) => Number(b) - Number(a));
    if (versions[0] !== undefined) return join(base, versions[0], 'bin');
  }
  throw new Error('PostgreSQL server binaries not found under /usr/lib/postgresql (run: bash scripts/install-system-deps.sh, which installs postgresql-15)');
}

interface RunAs {
  uid?: number;
  gid?: number;
}

/** As root: the postgres system user's ids (initdb and postgres refuse root). */
function runAs(): RunAs {
  if (process.getuid?.() !== 0) return {};
  const uid = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (uid.status !== 0 || gid.status !== 0) throw new Error('running as root, but there is no postgres system user to run the server as (apt-get install postgresql-15)');
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

let databaseCounter = 0;

/** Creates a data folder, runs initdb and starts the server. */
export async function startPostgres(): Promise<PostgresServer> {
  const bin = findBinDir();
  const ids = runAs();
  const root = mkdtempSync(join(tmpdir(), 'vt-pg-'));
  const dataDir = join(root, 'data');
  const socketDir = join(root, 'socket');
  chmodSync(root, 0o755);
  if (ids.uid !== undefined && ids.gid !== undefined) chownSync(root, ids.uid, ids.gid);
  const init = spawnSync(join(bin, 'initdb'), ['-D', dataDir, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--locale=C', '--no-sync'], {
    ...ids,
    encoding: 'utf8',
  });
  if (init.status !== 0) {
    rmSync(root, { recursive: true, force: true });
    throw new Error(`initdb failed (status ${init.status}): ${init.stderr}`);
  }
  spawnSync('mkdir', ['-p', socketDir], ids);
  const host = '127.0.0.1';
  const port = await closedPort();
  let child: ChildProcess | null = null;
  let log = '';

  const start = async (): Promise<void> => {
    if (child !== null) return;
    log = '';
    const proc = spawn(
      join(bin, 'postgres'),
      [
        '-D', dataDir,
        '-p', String(port),
        '-k', socketDir,
        '-c', `listen_addresses=${host}`,
        '-c', 'fsync=off',
        '-c', 'synchronous_commit=off',
        '-c', 'full_page_writes=off',
        '-c', 'max_connections=300',
        '-c', 'shared_buffers=32MB',
        '-c', 'log_min_messages=warning',
      ],
      { ...ids, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    proc.stdout?.on('data', (c: Buffer) => (log = (log + c.toString()).slice(-4000)));
    proc.stderr?.on('data', (c: Buffer) => (log = (log + c.toString()).slice(-4000)));
    child = proc;
    proc.once('exit', () => {
      if (child === proc) child = null;
    });
    await waitUntilAccepting(host, port, proc, () => log);
  };

  const stop = async (): Promise<void> => {
    const proc = child;
    if (proc === null) return;
    const exited = once(proc, 'exit');
    proc.kill('SIGINT');
    await exited;
  };

  const query = async <T,>(name: string, sql: string, params: unknown[] = []): Promise<T[]> => {
    const { Client } = (await import('pg')).default;
    const client = new Client({ connectionString: url(name) });
    client.on('error', () => {}); // the server may stop under it; the query rejects
    await client.connect();
    try {
      return (await client.query(sql, params)).rows as T[];
    } finally {
      await client.end();
    }
  };
  const url = (name: string): string => `postgres://postgres@${host}:${port}/${name}`;

  await start();
  let destroyed = false;
  return {
    host,
    port,
    dataDir,
    url,
    query,
    createDatabase: async (prefix = 't') => {
      databaseCounter += 1;
      const name = `${prefix}_${process.pid}_${databaseCounter}`;
      await query('postgres', `CREATE DATABASE "${name}"`);
      return url(name);
    },
    stop,
    start,
    destroy: async () => {
      if (destroyed) return;
      destroyed = true;
      await stop();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** Waits until the server accepts a connection (it prints nothing reliable on stdout to wait for). */
async function waitUntilAccepting(host: string, port: number, proc: ChildProcess, log: () => string): Promise<void> {
  const { Client } = (await import('pg')).default;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`postgres exited at start: ${log()}`);
    const client = new Client({ connectionString: `postgres://postgres@${host}:${port}/postgres`, connectionTimeoutMillis: 1000 });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.end();
      return;
    } catch {
      await client.end().catch(() => undefined);
    }
    if (Date.now() > deadline) throw new Error(`postgres did not accept connections within 30 s: ${log()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

let shared: Promise<PostgresServer> | undefined;

/**
 * One server for the whole test file, started on first use and destroyed
 * after the file's last test (node:test's top-level `after`); tests isolate
 * themselves with `createDatabase()`. Call it at the top level of the file.
 */
export function usePostgres(): () => Promise<PostgresServer> {
  after(async () => {
    const server = await shared?.catch(() => undefined);
    shared = undefined;
    await server?.destroy();
  });
  return () => (shared ??= startPostgres());
}
