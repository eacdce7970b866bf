/** The relay's store: agents, agent tokens, visitor access policies; SQLite for one node, PostgreSQL for a cluster. */
export { createRelayStore, openRelayStore } from './create-relay-store.js';
export type { CreateRelayStoreOptions } from './create-relay-store.js';
export { isPostgresLocation } from './relay-store.js';
export type { RelayStore, RelayStoreOptions, StoreHealth } from './relay-store.js';
export { SqliteRelayStore } from './sqlite-relay-store.js';
export { PostgresRelayStore } from './postgres/postgres-relay-store.js';
export type { PostgresStoreOptions } from './postgres/postgres-relay-store.js';
export {
  DEFAULT_STORE_BUSY_TIMEOUT_MS,
  migrateStoreDatabase,
  openStoreDatabase,
  readSchemaVersion,
} from './database.js';
export type { MigrationResult, StoreDatabaseOptions } from './database.js';
export { STORE_MIGRATIONS, STORE_SCHEMA_VERSION } from './store-migrations.js';
export type { StoreMigration } from './store-migrations.js';
export { PG_MIGRATIONS, PG_SCHEMA_VERSION } from './postgres/pg-migrations.js';
export {
  DEFAULT_LAST_USED_THROTTLE_MS,
  DEFAULT_REVOCATION_POLL_INTERVAL_MS,
  MAX_TOKEN_LABEL_LENGTH,
} from './token-store.js';
export type {
  AgentInfo,
  AgentTokenInfo,
  CreatedAgentToken,
  RevocationWatchOptions,
  RevokeResult,
  TokenRevocation,
  TokenRevocationReason,
  TokenRevokedListener,
  TokenStore,
  TokenStoreOptions,
  VerifiedAgentToken,
} from './token-store.js';
export { SqliteTokenStore } from './sqlite-token-store.js';
export type { SqliteTokenStoreOptions } from './sqlite-token-store.js';
export {
  MAX_PASSWORD_LENGTH,
  MAX_USERNAME_LENGTH,
  MAX_VISITOR_TOKEN_LABEL_LENGTH,
} from './access-policy-store.js';
export type {
  AccessPolicyStore,
  AccessPolicyStoreOptions,
  BasicUserInfo,
  CreatedVisitorToken,
  VisitorTokenInfo,
} from './access-policy-store.js';
export { SqliteAccessPolicyStore } from './sqlite-access-policy-store.js';
export type { SqliteAccessPolicyStoreOptions } from './sqlite-access-policy-store.js';
export { AGENT_NAME_PATTERN, MAX_AGENT_NAME_LENGTH, assertValidAgentName, isValidAgentName } from './agent-name.js';
export {
  AGENT_TOKEN_PREFIX,
  VISITOR_TOKEN_PREFIX,
} from './secret-token.js';
export {
  InvalidAgentNameError,
  SchemaVersionError,
  StoreConflictError,
  StoreError,
  StoreNotFoundError,
  StoreUnavailableError,
  StoreValidationError,
} from './store-errors.js';
export type { StoreEntityKind } from './store-errors.js';
