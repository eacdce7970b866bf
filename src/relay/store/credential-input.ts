/**
 * Validation of the visitor credentials an operator stores (basic-auth user
 * names and passwords, visitor token labels), shared by the store backends.
 */
import type { Secret } from '../../shared/secret.js';
import { MAX_PASSWORD_LENGTH, MAX_USERNAME_LENGTH, MAX_VISITOR_TOKEN_LABEL_LENGTH } from './access-policy-store.js';
import { StoreValidationError } from './store-errors.js';

// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

/** Throws `StoreValidationError` unless `username` is 1-128 characters without ":" or control characters. */
export function validateUsername(username: unknown): void {
  if (
    typeof username !== 'string' ||
    username.length === 0 ||
    username.length > MAX_USERNAME_LENGTH ||
    username.includes(':') ||
    CONTROL_CHARS.test(username)
  ) {
    throw new StoreValidationError('username', `must be 1-${MAX_USERNAME_LENGTH} characters without ":" or control characters`);
  }
}

/** The password's text; throws `StoreValidationError` unless it is 1-1024 characters. */
export function validatePassword(password: string | Secret): string {
  const plain = typeof password === 'string' ? password : password.reveal();
  if (typeof plain !== 'string' || plain.length === 0 || plain.length > MAX_PASSWORD_LENGTH) {
    throw new StoreValidationError('password', `must be 1-${MAX_PASSWORD_LENGTH} characters`);
  }
  return plain;
}

/** The label, or null when absent; throws `StoreValidationError` when too long or with control characters. */
export function validateVisitorTokenLabel(label: string | undefined): string | null {
  if (label === undefined) return null;
  if (typeof label !== 'string' || label.length > MAX_VISITOR_TOKEN_LABEL_LENGTH || CONTROL_CHARS.test(label)) {
    throw new StoreValidationError('label', `must be at most ${MAX_VISITOR_TOKEN_LABEL_LENGTH} characters without control characters`);
  }
  return label;
}
