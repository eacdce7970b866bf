/**
 * The ordered schema migrations of the PostgreSQL store. Versions start at 1
 * and grow by one; a released migration is never edited, only followed by a
 * new one. The applied version lives in `visiona_schema`; nodes starting at
 * the same time migrate once (a transaction-level advisory lock). Times are
 * milliseconds since the Unix epoch in `bigint` columns, as in the SQLite
 * schema, except where the database's own clock decides (leases).
 */
import type { PoolClient } from 'pg';
import { SchemaVersionError, StoreError } from '../store-errors.js';

/** One schema step, run inside the migration transaction. */
export interface PgMigration {
  readonly version: number;
  readonly description: string;
  readonly sql: string;
}

/** Key of the advisory lock that serialises migrations ("visiona-migrate"). */
const MIGRATION_LOCK_KEY = 0x7669_6d67;

const V1_SQL = `
CREATE TABLE agents (
  name        text PRIMARY KEY,
  created_at  bigint NOT NULL
);

-- Agent tokens: secret_hash is SHA-256 of the secret part; the token text is never stored.
CREATE TABLE agent_tokens (
  id            text PRIMARY KEY,
  agent_name    text NOT NULL REFERENCES agents(name) ON DELETE CASCADE,
  secret_hash   bytea NOT NULL,
  label         text,
  created_at    bigint NOT NULL,
  last_used_at  bigint,
  revoked_at    bigint
);
CREATE INDEX agent_tokens_by_agent ON agent_tokens(agent_name);

-- Visitor access policy; no row means 'private'.
CREATE TABLE access_policies (
  agent_name   text PRIMARY KEY REFERENCES agents(name) ON DELETE CASCADE,
  mode         text NOT NULL CHECK (mode IN ('private', 'public', 'basic', 'bearer', 'jwt')),
  config_json  text NOT NULL,
  updated_at   bigint NOT NULL
);

-- Basic-auth users; password_hash is an encoded scrypt hash with its own salt.
CREATE TABLE basic_users (
  agent_name     text NOT NULL REFERENCES agents(name) ON DELETE CASCADE,
  username       text NOT NULL,
  password_hash  text NOT NULL,
  created_at     bigint NOT NULL,
  updated_at     bigint NOT NULL,
  PRIMARY KEY (agent_name, username)
);

-- Visitor bearer tokens, per agent; secret_hash as for agent tokens.
CREATE TABLE visitor_tokens (
  id           text PRIMARY KEY,
  agent_name   text NOT NULL REFERENCES agents(name) ON DELETE CASCADE,
  secret_hash  bytea NOT NULL,
  label        text,
  created_at   bigint NOT NULL
);
CREATE INDEX visitor_tokens_by_agent ON visitor_tokens(agent_name);

-- The change log every node reads from its last applied position (LISTEN/NOTIFY only wakes it up).
-- Writers append under an advisory lock held to commit, so seq order is commit order.
CREATE TABLE store_changes (
  seq         bigserial PRIMARY KEY,
  kind        text NOT NULL,
  agent_name  text,
  token_id    text,
  node_id     text,
  link_index  integer,
  epoch       bigint,
  detail      text,
  created_at  bigint NOT NULL
);
CREATE INDEX store_changes_by_time ON store_changes(created_at);

-- One row: how far the change log was pruned (a node behind it reloads everything).
CREATE TABLE store_meta (
  id              integer PRIMARY KEY CHECK (id = 1),
  pruned_through  bigint NOT NULL
);
INSERT INTO store_meta (id, pruned_through) VALUES (1, 0);

-- Relay nodes of a cluster: each renews its lease; readers trust a node while its lease is current.
CREATE TABLE relay_nodes (
  node_id           text PRIMARY KEY,
  -- Random per process start: tells two processes claiming the same node id apart.
  incarnation       text NOT NULL,
  peer_address      text,
  public_url        text,
  state             text NOT NULL CHECK (state IN ('ready', 'draining', 'stopped')),
  started_at        bigint NOT NULL,
  lease_expires_at  bigint NOT NULL,
  updated_at        bigint NOT NULL
);

-- The session directory: one row per agent link, the newest epoch wins.
CREATE SEQUENCE agent_link_epochs;
CREATE TABLE agent_links (
  agent_name      text NOT NULL,
  link_index      integer NOT NULL,
  node_id         text NOT NULL,
  epoch           bigint NOT NULL,
  instance_id     text,
  token_id        text,
  remote_address  text,
  agent_version   text,
  connected_at    bigint NOT NULL,
  PRIMARY KEY (agent_name, link_index)
);
CREATE INDEX agent_links_by_node ON agent_links(node_id);
`;

/** Every migration this build knows, in order. */
export const PG_MIGRATIONS: readonly PgMigration[] = [
  { version: 1, description: 'agents, tokens, access policies, change log, relay nodes, session directory', sql: V1_SQL },
];

/** The schema version this build writes. */
export const PG_SCHEMA_VERSION: number = PG_MIGRATIONS[PG_MIGRATIONS.length - 1]?.version ?? 0;

/** What `migratePostgres` did. */
export interface PgMigrationResult {
  readonly fromVersion: number;
  readonly toVersion: number;
}

/**
 * Brings the schema up to date in one transaction on `client`. Throws
 * `SchemaVersionError` for a database from a newer build, `StoreError` when a
 * step fails (the database is then unchanged).
 */
export async function migratePostgres(client: PoolClient, location: string, migrations: readonly PgMigration[] = PG_MIGRATIONS): Promise<PgMigrationResult> {
  const latest = migrations[migrations.length - 1]?.version ?? 0;
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
    await client.query('CREATE TABLE IF NOT EXISTS visiona_schema (id integer PRIMARY KEY CHECK (id = 1), version integer NOT NULL)');
    const row = await client.query<{ version: number }>('SELECT version FROM visiona_schema WHERE id = 1');
    const current = row.rows[0]?.version ?? 0;
    if (current > latest) throw new SchemaVersionError(location, current, latest);
    for (const m of migrations) {
      if (m.version <= current) continue;
      try {
        await client.query(m.sql);
      } catch (err) {
        throw new StoreError(`Schema migration ${m.version} (${m.description}) failed (location: ${location})`, { cause: err });
      }
    }
    if (current !== latest) {
      await client.query(
        'INSERT INTO visiona_schema (id, version) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET version = excluded.version',
        [latest],
      );
    }
    await client.query('COMMIT');
    return { fromVersion: current, toVersion: latest };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}
