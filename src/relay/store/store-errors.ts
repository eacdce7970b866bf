/**
 * Errors thrown by the relay's embedded store. Callers branch on the class or
 * `code`: an admin API maps `StoreNotFoundError` to 404, `StoreConflictError`
 * to 409, the validation errors to 400.
 */
import { TunnelError } from '../../shared/errors.js';

/** A store failure (cannot open the file, I/O error, failed migration, unexpected database error); the cause is attached. */
export class StoreError extends TunnelError {
  override readonly code = 'ERR_STORE' as const;

  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_STORE', message, options);
  }
}

/**
 * A networked store (PostgreSQL) cannot be reached, or did not answer in
 * time. Callers degrade: the relay keeps serving from memory and refuses what
 * it cannot check (`503`, `ERR_RELAY_STORE_UNAVAILABLE`).
 */
export class StoreUnavailableError extends TunnelError {
  override readonly code = 'ERR_STORE_UNAVAILABLE' as const;

  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_STORE_UNAVAILABLE', message, options);
  }
}

/** The database was written by a newer version of visiona-tunnel; it is refused, never downgraded. */
export class SchemaVersionError extends TunnelError {
  override readonly code = 'ERR_STORE_SCHEMA_TOO_NEW' as const;
  /** Schema version found in the file. */
  readonly foundVersion: number;
  /** Newest schema version this build knows. */
  readonly supportedVersion: number;

  constructor(path: string, foundVersion: number, supportedVersion: number) {
    super(
      'ERR_STORE_SCHEMA_TOO_NEW',
      `Store schema version ${foundVersion} is newer than this build supports (${supportedVersion}); ` +
        `upgrade visiona-tunnel or use another database file (path: ${path})`,
    );
    this.foundVersion = foundVersion;
    this.supportedVersion = supportedVersion;
  }
}

/** An agent name is not a lowercase DNS label of 1-63 characters. */
export class InvalidAgentNameError extends TunnelError {
  override readonly code = 'ERR_STORE_INVALID_AGENT_NAME' as const;
  /** The rejected name. */
  readonly agentName: string;

  constructor(agentName: unknown) {
    super(
      'ERR_STORE_INVALID_AGENT_NAME',
      `Invalid agent name: must be 1-63 characters of a-z, 0-9 and "-", not starting or ending with "-" (got: ${JSON.stringify(agentName)})`,
    );
    this.agentName = String(agentName);
  }
}

/** Some other input (policy, user name, password, label) failed validation; `field` names it. */
export class StoreValidationError extends TunnelError {
  override readonly code = 'ERR_STORE_INVALID_INPUT' as const;
  /** The input field at fault, e.g. `policy.secret` or `username`. */
  readonly field: string;

  constructor(field: string, reason: string, options?: { cause?: unknown }) {
    super('ERR_STORE_INVALID_INPUT', `Invalid ${field}: ${reason}`, options);
    this.field = field;
  }
}

/** What a `StoreNotFoundError` or `StoreConflictError` is about. */
export type StoreEntityKind = 'agent' | 'token' | 'basic-user' | 'visitor-token';

/** The named agent, token or user does not exist. */
export class StoreNotFoundError extends TunnelError {
  override readonly code = 'ERR_STORE_NOT_FOUND' as const;
  /** What was looked up. */
  readonly kind: StoreEntityKind;
  /** The key that was not found. */
  readonly key: string;

  constructor(kind: StoreEntityKind, key: string) {
    super('ERR_STORE_NOT_FOUND', `No such ${kind} (got: ${JSON.stringify(key)})`);
    this.kind = kind;
    this.key = key;
  }
}

/** The agent or user already exists (or a reference is ambiguous). */
export class StoreConflictError extends TunnelError {
  override readonly code = 'ERR_STORE_CONFLICT' as const;
  /** What collided. */
  readonly kind: StoreEntityKind;
  /** The colliding key. */
  readonly key: string;

  constructor(kind: StoreEntityKind, key: string, reason = 'already exists') {
    super('ERR_STORE_CONFLICT', `The ${kind} ${reason} (got: ${JSON.stringify(key)})`);
    this.kind = kind;
    this.key = key;
  }
}
