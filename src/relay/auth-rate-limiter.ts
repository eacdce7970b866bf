/**
 * Counts failed agent authentications per source address in fixed windows:
 * once an address has failed `maxFailures` times within `windowMs`, its
 * further failures are answered 429 until the window ends. Memory is bounded:
 * at most `maxTrackedAddresses` addresses are remembered, oldest dropped first.
 */
import { systemClock, type Clock } from '../shared/clock.js';
import { requireInt } from '../shared/validate.js';
import type { AuthRateLimitConfig } from './relay-config.js';

interface Entry {
  windowStartMs: number;
  failures: number;
}

/** Per-address failure counter for the agent gateway. */
export class AuthRateLimiter {
  readonly #maxFailures: number;
  readonly #windowMs: number;
  readonly #maxTracked: number;
  readonly #clock: Clock;
  readonly #entries = new Map<string, Entry>();

  constructor(config: AuthRateLimitConfig, clock: Clock = systemClock) {
    this.#maxFailures = requireInt('authRateLimit.maxFailures', config.maxFailures, 1);
    this.#windowMs = requireInt('authRateLimit.windowMs', config.windowMs, 1);
    this.#maxTracked = requireInt('authRateLimit.maxTrackedAddresses', config.maxTrackedAddresses, 1);
    this.#clock = clock;
  }

  /** Addresses currently tracked. */
  get size(): number {
    return this.#entries.size;
  }

  /** Milliseconds until `address` may fail again without 429; 0 when it is not limited. */
  retryAfterMs(address: string): number {
    const entry = this.#live(address);
    if (entry === undefined || entry.failures < this.#maxFailures) return 0;
    return Math.max(1, entry.windowStartMs + this.#windowMs - this.#clock.now());
  }

  /** Counts one failed authentication from `address`. */
  recordFailure(address: string): void {
    const entry = this.#live(address);
    if (entry !== undefined) {
      entry.failures += 1;
      return;
    }
    this.#entries.set(address, { windowStartMs: this.#clock.now(), failures: 1 });
    if (this.#entries.size > this.#maxTracked) {
      const oldest = this.#entries.keys().next();
      if (oldest.done !== true) this.#entries.delete(oldest.value);
    }
  }

  /** Forgets every address. */
  clear(): void {
    this.#entries.clear();
  }

  #live(address: string): Entry | undefined {
    const entry = this.#entries.get(address);
    if (entry === undefined) return undefined;
    if (this.#clock.now() - entry.windowStartMs >= this.#windowMs) {
      this.#entries.delete(address);
      return undefined;
    }
    return entry;
  }
}
