/**
 * Time as an injectable dependency, so backoff, keepalive and timeouts can be
 * tested with a fake clock instead of sleeps.
 */

/** An opaque timer handle returned by `Clock.setTimeout`. */
export interface TimerHandle {
  /** Lets the process exit while the timer is pending. */
  unref?(): unknown;
}

/** The subset of timers and wall time the project uses. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  setTimeout(fn: () => void, delayMs: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** The real clock. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, delayMs) => setTimeout(fn, delayMs),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** Milliseconds from a monotonic source, for durations and RTTs. */
export function monotonicMs(): number {
  return performance.now();
}
