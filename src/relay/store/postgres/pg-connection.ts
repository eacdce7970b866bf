/**
 * PostgreSQL connections for the relay store (the `pg` client, loaded on
 * first use so that an SQLite relay never pays for it): a pool with bounded
 * waits, 64-bit integers read as numbers (every number the store keeps is a
 * millisecond time, a count or a sequence well below 2^53), and the errors of
 * an unreachable server told apart from every other database error.
 */
import { createRequire } from 'node:module';
import type * as PgModule from 'pg';
import { TunnelError } from '../../../shared/errors.js';
import { StoreError, StoreUnavailableError } from '../store-errors.js';

/** The `pg` module, required once. */
let pgModule: typeof PgModule | undefined;

/** The `pg` module (CommonJS, loaded with require(): no ESM export-name scan at start). */
export function loadPg(): typeof PgModule {
  pgModule ??= createRequire(import.meta.url)('pg') as typeof PgModule;
  return pgModule;
}

/** Settings of `createPgPool`. */
export interface PgPoolSettings {
  /** A `postgres://` or `postgresql://` URL. */
  url: string;
  /** Connections in the pool. */
  maxConnections: number;
  /** How long a connect may take before the query fails as unavailable (ms). */
  connectTimeoutMs: number;
  /** Server-side limit of one statement (ms). */
  statementTimeoutMs: number;
  /** Name shown in `pg_stat_activity`. */
  applicationName: string;
}

const INT8_OID = 20;

/** A pool whose clients read int8 as numbers; an idle client's error (server gone) is passed to `onIdleError`. */
export function createPgPool(settings: PgPoolSettings, onIdleError: (err: Error) => void): PgModule.Pool {
  const pg = loadPg();
  const pool = new pg.Pool({
    connectionString: settings.url,
    max: settings.maxConnections,
    connectionTimeoutMillis: settings.connectTimeoutMs,
    idleTimeoutMillis: 30_000,
    statement_timeout: settings.statementTimeoutMs,
    query_timeout: settings.statementTimeoutMs + 1000,
    application_name: settings.applicationName,
    types: int8AsNumber(),
  });
  pool.on('error', onIdleError);
  // A checked-out client has no pool listener: a server that ends the connection between two
  // queries (shutdown, 57P01) would emit an unhandled 'error' and crash the process. The query
  // in flight, if any, rejects on its own; this only keeps the event from being fatal.
  pool.on('connect', (client: PgModule.PoolClient) => client.on('error', onIdleError));
  return pool;
}

/** Options of a single `pg.Client` (the LISTEN connection), with the pool's parsers and limits. */
export function pgClientConfig(settings: PgPoolSettings): PgModule.ClientConfig {
  return {
    connectionString: settings.url,
    connectionTimeoutMillis: settings.connectTimeoutMs,
    application_name: `${settings.applicationName} (listen)`,
    types: int8AsNumber(),
    keepAlive: true,
  };
}

function int8AsNumber(): { getTypeParser: (oid: number, format?: string) => (value: string) => unknown } {
  const { types } = loadPg();
  return {
    getTypeParser: (oid: number, format?: string) =>
      oid === INT8_OID ? (value: string) => Number(value) : (types.getTypeParser(oid, format as 'text') as (value: string) => unknown),
  };
}

/**
 * SQLSTATE classes that mean "the server cannot serve now", not "this
 * statement is wrong": connection exceptions (08), insufficient resources
 * (53), operator intervention such as a shutdown or a cancelled statement
 * (57), system errors (58).
 */
const UNAVAILABLE_SQLSTATE = /^(08|53|57|58)/;

/**
 * The store error for a failure of the `pg` client (our own errors pass
 * through as they are): `StoreUnavailableError`
 * when the server cannot be reached or did not answer (no SQLSTATE: socket
 * errors, connect or query timeouts, a connection that ended; or an
 * availability SQLSTATE), `StoreError` for any other database error.
 */
export function toStoreError(err: unknown, what: string): TunnelError {
  if (err instanceof TunnelError) return err;
  const { DatabaseError } = loadPg();
  if (err instanceof DatabaseError && !(err.code !== undefined && UNAVAILABLE_SQLSTATE.test(err.code))) {
    return new StoreError(`${what} failed (sqlstate: ${err.code ?? 'none'})`, { cause: err });
  }
  return new StoreUnavailableError(`The PostgreSQL store cannot be reached: ${what} failed`, { cause: err });
}

/** `url` without its password, for logs. */
export function redactPostgresUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    for (const key of [...parsed.searchParams.keys()]) if (/pass/i.test(key)) parsed.searchParams.set(key, '***');
    return parsed.toString();
  } catch {
    return 'postgres://(unparsable URL)';
  }
}
