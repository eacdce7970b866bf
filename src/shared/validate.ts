/**
 * Small validators for `resolveXxxConfig` functions: each throws a
 * `ConfigError` naming the field and the bad value.
 */
import { ConfigError } from './errors.js';

/** An integer within [min, max]. */
export function requireInt(field: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new ConfigError(field, 'must be an integer', value);
  }
  if (value < min || value > max) {
    throw new ConfigError(field, `must be between ${min} and ${max}`, value);
  }
  return value;
}

/** A finite number within [min, max]. */
export function requireNumber(field: string, value: unknown, min: number, max = Number.MAX_VALUE): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new ConfigError(field, 'must be a finite number', value);
  }
  if (value < min || value > max) {
    throw new ConfigError(field, `must be between ${min} and ${max}`, value);
  }
  return value;
}

/** A boolean. */
export function requireBoolean(field: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new ConfigError(field, 'must be a boolean', value);
  return value;
}

/** A non-empty string. */
export function requireString(field: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new ConfigError(field, 'must be a non-empty string', value);
  }
  return value;
}

/** One of the allowed string values. */
export function requireOneOf<T extends string>(field: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new ConfigError(field, `must be one of ${allowed.join(', ')}`, value);
  }
  return value as T;
}

/**
 * `host:port` (IPv6 hosts in brackets) parsed into its parts; port 0 allowed
 * when `allowZeroPort` (listeners), not for dial targets.
 */
export function requireHostPort(field: string, value: unknown, allowZeroPort = false): { host: string; port: number } {
  if (typeof value !== 'string') throw new ConfigError(field, 'must be HOST:PORT', value);
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value);
  if (m === null) throw new ConfigError(field, 'must be HOST:PORT', value);
  const host = (m[1] ?? m[2]) as string;
  const port = Number(m[3]);
  if (port > 65535 || (port === 0 && !allowZeroPort)) throw new ConfigError(field, 'has an invalid port', value);
  return { host, port };
}
