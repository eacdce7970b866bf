/** The relay's embedded SQLite store: agents, agent tokens, visitor access policies. */
export { openRelayStore } from './relay-store.js';
export type { RelayStore, RelayStoreOptions } from './relay-store.js';
export {
  DEFAULT_STORE_BUSY_TIMEOUT_MS,
  migrateStoreDatabase,
  openStoreDatabase,
  readSchemaVersion,
} from './database.js';
export type { MigrationResult, StoreDatabaseOptions } from './database.js';
export { STORE_MIGRATIONS, STORE_SCHEMA_VERSION } from './store-migrations.js';
export type { StoreMigration } from './store-migrations.js';
export {
  DEFAULT_LAST_USED_THROTTLE_MS,
  DEFAULT_REVOCATION_POLL_INTERVAL_MS,
  MAX_TOKEN_LABEL_LENGTH,
  TokenStore,
} from './token-store.js';
export type {
  AgentInfo,
  AgentTokenInfo,
  CreatedAgentToken,
  RevocationPollingOptions,
  RevokeResult,
  TokenRevocation,
  TokenRevocationReason,
  TokenRevokedListener,
  TokenStoreOptions,
  VerifiedAgentToken,
} from './token-store.js';
export {
  AccessPolicyStore,
  MAX_PASSWORD_LENGTH,
  MAX_USERNAME_LENGTH,
  MAX_VISITOR_TOKEN_LABEL_LENGTH,
} from './access-policy-store.js';
export type {
  AccessPolicyStoreOptions,
  BasicUserInfo,
  CreatedVisitorToken,
  VisitorTokenInfo,
} from './access-policy-store.js';
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
  StoreValidationError,
} from './store-errors.js';
export type { StoreEntityKind } from './store-errors.js';
