/**
 * Mutual authentication of a peer link with the cluster's shared secret,
 * without ever sending it: the dialing node proves it knows the secret with
 * an HMAC over who it is, whom it dials, the time and a fresh nonce; the
 * accepting node checks the target is itself, the time is within a minute of
 * its own, the nonce was not seen before (replay), and answers with an HMAC
 * of its own over the same nonce, which the dialer checks in turn. Both MACs
 * are compared in constant time. Without TLS this authenticates the link's
 * start only: on an untrusted network, use TLS as well.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Secret } from '../../shared/secret.js';

/** Version tag bound into every MAC. */
const PROTOCOL_TAG = 'visiona-tunnel-peer-v1';

/** Largest difference between the dialer's and the acceptor's clocks accepted (ms). */
export const MAX_PEER_CLOCK_SKEW_MS = 60_000;

/** The dialer's proof: over `from`, `to`, `tsMs` and `nonce`. */
export function helloMac(secret: Secret, from: string, to: string, tsMs: number, nonce: string): string {
  return mac(secret, ['hello', from, to, String(tsMs), nonce]);
}

/** The acceptor's proof: over itself, the dialer and the dialer's nonce. */
export function welcomeMac(secret: Secret, acceptor: string, dialer: string, nonce: string): string {
  return mac(secret, ['welcome', acceptor, dialer, nonce]);
}

/** A fresh 128-bit nonce, hex. */
export function newNonce(): string {
  return randomBytes(16).toString('hex');
}

/** Constant-time comparison of two hex MACs (false for any malformed or different-length value). */
export function macEquals(expected: string, actual: unknown): boolean {
  if (typeof actual !== 'string' || !/^[0-9a-f]{64}$/.test(actual)) return false;
  return timingSafeEqual(Buffer.from(expected, 'hex'), Buffer.from(actual, 'hex'));
}

function mac(secret: Secret, parts: string[]): string {
  const h = createHmac('sha256', secret.reveal());
  h.update([PROTOCOL_TAG, ...parts].join('\n'));
  return h.digest('hex');
}

/**
 * Nonces seen within the skew window, so a captured hello cannot be replayed
 * while its time is still accepted. Bounded: beyond `maxEntries` the oldest
 * are dropped (a replay of those is still refused by their time once it is
 * out of the window).
 */
export class NonceCache {
  readonly #seen = new Map<string, number>();
  readonly #maxEntries: number;

  constructor(maxEntries = 100_000) {
    this.#maxEntries = maxEntries;
  }

  /** Records `nonce`; false when it was already seen within the window. */
  remember(nonce: string, nowMs: number): boolean {
    for (const [n, at] of this.#seen) {
      if (nowMs - at <= 2 * MAX_PEER_CLOCK_SKEW_MS && this.#seen.size < this.#maxEntries) break;
      this.#seen.delete(n);
    }
    if (this.#seen.has(nonce)) return false;
    this.#seen.set(nonce, nowMs);
    return true;
  }
}
