/**
 * Agent names: a lowercase DNS label, so `<agent>.<domain>` is a valid host
 * name and `/a/<agent>/` a clean path segment. Routing and the store use the
 * same rule.
 */
import { InvalidAgentNameError } from './store-errors.js';

/** A lowercase DNS label: 1-63 characters of `[a-z0-9-]`, not starting or ending with `-`. */
export const AGENT_NAME_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** Longest allowed agent name, in characters (a DNS label). */
export const MAX_AGENT_NAME_LENGTH = 63;

/** True when `name` is a valid agent name (case-sensitive: callers lowercase hosts first). */
export function isValidAgentName(name: unknown): name is string {
  return typeof name === 'string' && AGENT_NAME_PATTERN.test(name);
}

/** Returns `name` if valid, otherwise throws `InvalidAgentNameError`. */
export function assertValidAgentName(name: unknown): string {
  if (!isValidAgentName(name)) throw new InvalidAgentNameError(name);
  return name;
}
