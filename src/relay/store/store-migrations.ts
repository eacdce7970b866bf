/**
 * The ordered schema migrations of the relay store. Versions start at 1 and
 * grow by one; a released migration is never edited, only followed by a new
 * one. The applied version lives in `PRAGMA user_version`.
 */
import type { Database } from 'better-sqlite3';

/** One schema step, applied inside the migration transaction. */
export interface StoreMigration {
  /** Schema version after this step: 1, 2, 3 ... */
  readonly version: number;
  /** What the step does, for logs. */
  readonly description: string;
  /** Applies the step; throwing rolls back every step of this open. */
  up(db: Database): void;
}

const V1_SQL = `
CREATE TABLE agents (
  name        TEXT PRIMARY KEY NOT NULL,
  created_at  INTEGER NOT NULL
) STRICT;

-- Agent tokens: secret_hash is SHA-256 of the secret part; the token text is never stored.
CREATE TABLE agent_tokens (
  id            TEXT PRIMARY KEY NOT NULL,
  agent_name    TEXT NOT NULL REFERENCES agents(name) ON DELETE CASCADE,
  secret_hash   BLOB NOT NULL,
  label         TEXT,
  created_at    INTEGER NOT NULL,
  last_used_at  INTEGER,
  revoked_at    INTEGER
) STRICT;
CREATE INDEX agent_tokens_by_agent ON agent_tokens(agent_name);

-- Append-only log of revocations, read by other processes (the relay polls it
-- to disconnect sessions revoked by the CLI). No foreign key: entries outlive
-- a deleted agent. origin is the id of the TokenStore instance that wrote it.
CREATE TABLE token_revocations (
  seq         INTEGER PRIMARY KEY AUTOINCREMENT,
  token_id    TEXT NOT NULL,
  agent_name  TEXT NOT NULL,
  revoked_at  INTEGER NOT NULL,
  reason      TEXT NOT NULL CHECK (reason IN ('revoked', 'agent-deleted')),
  origin      TEXT NOT NULL
) STRICT;
CREATE INDEX token_revocations_by_time ON token_revocations(revoked_at);

-- Visitor access policy; no row means 'private'.
CREATE TABLE access_policies (
  agent_name   TEXT PRIMARY KEY NOT NULL REFERENCES agents(name) ON DELETE CASCADE,
  mode         TEXT NOT NULL CHECK (mode IN ('private', 'public', 'basic', 'bearer', 'jwt')),
  config_json  TEXT NOT NULL,
  updated_at   INTEGER NOT NULL
) STRICT;

-- Basic-auth users; password_hash is an encoded scrypt hash with its own salt.
CREATE TABLE basic_users (
  agent_name     TEXT NOT NULL REFERENCES agents(name) ON DELETE CASCADE,
  username       TEXT NOT NULL,
  password_hash  TEXT NOT NULL,
  created_at     INTEGER NOT NULL,
  updated_at     INTEGER NOT NULL,
  PRIMARY KEY (agent_name, username)
) STRICT;

-- Visitor bearer tokens, per agent; secret_hash as for agent tokens.
CREATE TABLE visitor_tokens (
  id           TEXT PRIMARY KEY NOT NULL,
  agent_name   TEXT NOT NULL REFERENCES agents(name) ON DELETE CASCADE,
  secret_hash  BLOB NOT NULL,
  label        TEXT,
  created_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX visitor_tokens_by_agent ON visitor_tokens(agent_name);
`;

/** Every migration this build knows, in order. */
export const STORE_MIGRATIONS: readonly StoreMigration[] = [
  {
    version: 1,
    description: 'agents, agent tokens, revocation log, visitor access policies',
    up: (db) => db.exec(V1_SQL),
  },
];

/** The schema version this build writes (the last migration's version). */
export const STORE_SCHEMA_VERSION: number = STORE_MIGRATIONS[STORE_MIGRATIONS.length - 1]?.version ?? 0;
