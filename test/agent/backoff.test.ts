import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { backoff, withJitter, BACKOFF_INITIAL_MS, BACKOFF_MAX_MS } from '../../src/shared/backoff.js';

describe('backoff', () => {
  it('follows the Go client schedule exactly: 1, 2, 4, 8, 16, then 30 s', () => {
    const schedule = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((n) => backoff(n));
    assert.deepEqual(schedule, [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000, 30000], 'schedule of attempts 1..10');
  });

  it('gives the initial delay for attempt 0 and negative attempts', () => {
    for (const attempt of [0, -1, -31, Number.MIN_SAFE_INTEGER, -Number.MAX_VALUE]) {
      assert.equal(backoff(attempt), BACKOFF_INITIAL_MS, `backoff(${attempt}) is the initial delay`);
    }
  });

  it('caps huge attempts at 30 s without overflowing', () => {
    for (const attempt of [31, 32, 53, 64, 1024, 2 ** 31, 2 ** 53, Number.MAX_SAFE_INTEGER, Number.MAX_VALUE]) {
      assert.equal(backoff(attempt), BACKOFF_MAX_MS, `backoff(${attempt}) is the cap`);
    }
  });

  it('gives the initial delay for non-finite attempts, as documented', () => {
    for (const attempt of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      assert.equal(backoff(attempt), BACKOFF_INITIAL_MS, `backoff(${attempt}) is the initial delay`);
    }
  });

  it('stays within [1 s, 30 s] and never decreases as attempts grow, for any integer', () => {
    fc.assert(
      fc.property(fc.integer({ min: -(2 ** 40), max: 2 ** 40 }), (n) => {
        const d = backoff(n);
        assert.ok(d >= BACKOFF_INITIAL_MS && d <= BACKOFF_MAX_MS, `backoff(${n}) = ${d} within bounds`);
        assert.ok(backoff(n + 1) >= d, `backoff(${n + 1}) >= backoff(${n})`);
      }),
    );
  });

  it('scales with a custom base and cap', () => {
    const schedule = [1, 2, 3, 4, 5].map((n) => backoff(n, 50, 300));
    assert.deepEqual(schedule, [50, 100, 200, 300, 300], 'schedule with base 50 ms and cap 300 ms');
  });
});

describe('withJitter', () => {
  it('returns the delay unchanged when the ratio is 0', () => {
    for (const r of [0, 0.5, 0.999]) {
      assert.equal(withJitter(4000, 0, () => r), 4000, `no jitter with random ${r}`);
    }
  });

  it('spreads the delay within +/-20 % for the default ratio', () => {
    assert.equal(withJitter(1000, 0.2, () => 0), 800, 'random 0 gives the lower bound');
    assert.equal(withJitter(1000, 0.2, () => 0.5), 1000, 'random 0.5 gives the delay itself');
    assert.ok(withJitter(1000, 0.2, () => 0.999999) <= 1200, 'random near 1 stays within the upper bound');
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 30_000 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (d, r) => {
        const j = withJitter(d, 0.2, () => r);
        assert.ok(j >= Math.floor(d * 0.8) && j <= Math.ceil(d * 1.2), `withJitter(${d}, 0.2) = ${j} within +/-20 %`);
      }),
    );
  });
});
