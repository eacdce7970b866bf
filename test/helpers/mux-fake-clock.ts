/**
 * A manual `Clock` for mux tests: timers fire only when the test calls
 * `advance(ms)`, so keepalive and open timeouts are driven without sleeps.
 */
import type { Clock, TimerHandle } from '../../src/shared/clock.js';

interface FakeTimer extends TimerHandle {
  dueMs: number;
  fn: () => void;
  cancelled: boolean;
}

/** A `Clock` whose time moves only through `advance()`. */
export class FakeClock implements Clock {
  #nowMs = 1_700_000_000_000;
  #timers: FakeTimer[] = [];

  now(): number {
    return this.#nowMs;
  }

  setTimeout(fn: () => void, delayMs: number): TimerHandle {
    const timer: FakeTimer = { dueMs: this.#nowMs + Math.max(0, delayMs), fn, cancelled: false, unref: () => timer };
    this.#timers.push(timer);
    return timer;
  }

  clearTimeout(handle: TimerHandle): void {
    (handle as FakeTimer).cancelled = true;
  }

  /** Timers scheduled and not yet fired or cancelled. */
  get pendingCount(): number {
    return this.#timers.filter((t) => !t.cancelled).length;
  }

  /** Moves time forward by `ms`, firing due timers in order (including ones they schedule). */
  advance(ms: number): void {
    const target = this.#nowMs + ms;
    for (;;) {
      const due = this.#timers
        .filter((t) => !t.cancelled && t.dueMs <= target)
        .sort((x, y) => x.dueMs - y.dueMs)[0];
      if (due === undefined) break;
      this.#nowMs = due.dueMs;
      due.cancelled = true;
      due.fn();
    }
    this.#timers = this.#timers.filter((t) => !t.cancelled);
    this.#nowMs = target;
  }
}
