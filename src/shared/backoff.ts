/**
 * Reconnect backoff, as in the Go client: 1 s x 2^(attempt-1), capped at 30 s.
 */

/** First delay, in milliseconds. */
export const BACKOFF_INITIAL_MS = 1_000;
/** Largest delay, in milliseconds. */
export const BACKOFF_MAX_MS = 30_000;

/**
 * The delay before redial number `attempt + 1`, without jitter:
 * 1 000, 2 000, 4 000, 8 000, 16 000, 30 000, 30 000 ... ms. `attempt <= 0`
 * (and any non-finite value) gives the initial delay; no overflow for any
 * integer, since the exponent is clamped before it is used.
 */
export function backoff(attempt: number, initialMs = BACKOFF_INITIAL_MS, maxMs = BACKOFF_MAX_MS): number {
  if (!Number.isFinite(attempt) || attempt <= 1) return Math.min(initialMs, maxMs);
  const exponent = Math.min(Math.floor(attempt) - 1, 52);
  const delayMs = initialMs * 2 ** exponent;
  return delayMs > maxMs || !Number.isFinite(delayMs) ? maxMs : delayMs;
}

/**
 * `delayMs` spread uniformly within +/- `jitterRatio` (0.2 = 20 %); 0 gives the
 * delay unchanged. `random` returns a number in [0, 1).
 */
export function withJitter(delayMs: number, jitterRatio: number, random: () => number = Math.random): number {
  if (jitterRatio <= 0) return delayMs;
  const spread = delayMs * jitterRatio;
  return Math.round(delayMs - spread + random() * 2 * spread);
}
