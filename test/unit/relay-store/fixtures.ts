// Shared fixtures of the relay-store tests: a temp directory per test and a manual clock.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { Clock, TimerHandle } from '../../../src/shared/clock.js';
import { openRelayStore } from '../../../src/relay/store/index.js';
import type { RelayStore, RelayStoreOptions } from '../../../src/relay/store/index.js';

/** scrypt parameters cheap enough for tests (the default costs ~60 ms a hash). */
export const FAST_PASSWORD_HASH = { cost: 1024, blockSize: 8, parallelization: 1 } as const;

/** A fresh directory under the OS temp dir, removed when the test ends. */
export async function makeTempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'vt-relay-store-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Opens a store on `<dir>/relay.db`, closed when the test ends. */
export function openTestStore(t: TestContext, dir: string, options: RelayStoreOptions = {}): RelayStore {
  const store = openRelayStore(join(dir, 'relay.db'), { access: { passwordHashParams: FAST_PASSWORD_HASH }, ...options });
  t.after(() => store.close());
  return store;
}

interface ManualTimer extends TimerHandle {
  dueMs: number;
  fn: () => void;
  cleared: boolean;
}

/** A clock that moves only when told; timers fire inside `advance`. */
export class ManualClock implements Clock {
  #nowMs: number;
  readonly #timers = new Set<ManualTimer>();

  constructor(startMs = Date.UTC(2025, 0, 1)) {
    this.#nowMs = startMs;
  }

  now(): number {
    return this.#nowMs;
  }

  setTimeout(fn: () => void, delayMs: number): TimerHandle {
    const timer: ManualTimer = { dueMs: this.#nowMs + delayMs, fn, cleared: false, unref: () => undefined };
    this.#timers.add(timer);
    return timer;
  }

  clearTimeout(handle: TimerHandle): void {
    const timer = handle as ManualTimer;
    timer.cleared = true;
    this.#timers.delete(timer);
  }

  /** Pending timers. */
  get timerCount(): number {
    return this.#timers.size;
  }

  /** Moves time forward, firing due timers in order. */
  advance(ms: number): void {
    const target = this.#nowMs + ms;
    for (;;) {
      const next = [...this.#timers].filter((x) => x.dueMs <= target).sort((a, b) => a.dueMs - b.dueMs)[0];
      if (next === undefined) break;
      this.#timers.delete(next);
      this.#nowMs = next.dueMs;
      next.fn();
    }
    this.#nowMs = target;
  }
}
