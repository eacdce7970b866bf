/**
 * Dashboard sessions. Logging in exchanges the admin token for a session
 * cookie; the token itself is never put in a cookie or in the page. A cookie
 * value is `v1.<id>.<expiresAtSec>.<mac>`, the MAC an HMAC-SHA256 of the
 * first three parts under a key derived from the admin token with scrypt:
 * sessions survive a relay restart (the page reconnects by itself), and all
 * of them end when the admin token changes. Each session's CSRF token is
 * another HMAC of its id, so it survives too; the page keeps it in memory and
 * sends it with every action. Logging out puts the id on a deny list until
 * the session would have expired (in memory and bounded: see docs/admin-api.md).
 */
import { createHmac, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import type { Secret } from '../../shared/secret.js';

/** A live dashboard session. */
export interface DashboardSession {
  /** Random id (base64url); never the cookie itself. */
  readonly id: string;
  /** Ms since the epoch. */
  readonly expiresAtMs: number;
  /** Anti-CSRF token: sent by the page as `X-CSRF-Token` with every action. */
  readonly csrfToken: string;
}

/** Options of `DashboardSessionStore`. */
export interface DashboardSessionStoreOptions {
  adminToken: Secret;
  /** Lifetime of a session from login, in ms. */
  ttlMs: number;
  clock: Clock;
  logger: Logger;
  /** Logged-out sessions remembered at most (default 10000); the one expiring first is forgotten first. */
  maxEndedSessions?: number;
}

const VERSION = 'v1';
const COOKIE_PATTERN = /^v1\.([A-Za-z0-9_-]{22})\.(\d{1,12})\.([A-Za-z0-9_-]{43})$/;
/** scrypt cost of the key derivation: the MAC must not make a weak admin token cheap to guess offline. */
const SCRYPT_PARAMS = { N: 16_384, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };
const KEY_SALT = 'visiona-tunnel dashboard session key v1';

/** Issues and checks dashboard session cookies. */
export class DashboardSessionStore {
  readonly ttlMs: number;
  readonly #adminToken: Secret;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #maxEnded: number;
  /** Logged-out session id -> its expiry (ms). */
  readonly #ended = new Map<string, number>();
  #key: Promise<Buffer> | undefined;

  constructor(options: DashboardSessionStoreOptions) {
    this.ttlMs = options.ttlMs;
    this.#adminToken = options.adminToken;
    this.#clock = options.clock;
    this.#logger = options.logger;
    this.#maxEnded = options.maxEndedSessions ?? 10_000;
  }

  /** Starts a session; `cookieValue` goes into the `Set-Cookie` header only. */
  async create(): Promise<{ session: DashboardSession; cookieValue: string }> {
    const key = await this.#keyOf();
    const id = randomBytes(16).toString('base64url');
    const expiresAtSec = Math.floor((this.#clock.now() + this.ttlMs) / 1000);
    const unsigned = `${VERSION}.${id}.${expiresAtSec}`;
    return { session: sessionOf(key, id, expiresAtSec), cookieValue: `${unsigned}.${mac(key, unsigned)}` };
  }

  /** The session of a cookie value, or undefined when it is malformed, forged, expired or logged out. */
  async verify(cookieValue: string | undefined): Promise<DashboardSession | undefined> {
    if (cookieValue === undefined) return undefined;
    const m = COOKIE_PATTERN.exec(cookieValue);
    if (m === null) return undefined;
    const [, id, expiresAtText, presentedMac] = m as unknown as [string, string, string, string];
    const key = await this.#keyOf();
    const expected = Buffer.from(mac(key, `${VERSION}.${id}.${expiresAtText}`), 'utf8');
    if (!timingSafeEqual(expected, Buffer.from(presentedMac, 'utf8'))) return undefined;
    const expiresAtSec = Number(expiresAtText);
    if (expiresAtSec * 1000 <= this.#clock.now()) return undefined;
    if (this.#ended.has(id)) return undefined;
    return sessionOf(key, id, expiresAtSec);
  }

  /** True when `presented` is the session's CSRF token (constant time). */
  csrfMatches(session: DashboardSession, presented: string | undefined): boolean {
    if (presented === undefined) return false;
    const a = Buffer.from(session.csrfToken, 'utf8');
    const b = Buffer.from(presented, 'utf8');
    return a.length === b.length && timingSafeEqual(a, b);
  }

  /** Ends `session` (logout): its cookie is refused from now on. Idempotent. */
  end(session: DashboardSession): void {
    this.#prune();
    this.#ended.set(session.id, session.expiresAtMs);
    if (this.#ended.size > this.#maxEnded) {
      let first: [string, number] | undefined;
      for (const entry of this.#ended) if (first === undefined || entry[1] < first[1]) first = entry;
      if (first !== undefined) this.#ended.delete(first[0]);
      this.#logger.warn('dashboard deny list full: forgot the logged-out session that expires first', { maxEndedSessions: this.#maxEnded });
    }
  }

  /** True once `session` was logged out. */
  isEnded(session: DashboardSession): boolean {
    return this.#ended.has(session.id);
  }

  #prune(): void {
    const now = this.#clock.now();
    for (const [id, expiresAtMs] of this.#ended) if (expiresAtMs <= now) this.#ended.delete(id);
  }

  #keyOf(): Promise<Buffer> {
    this.#key ??= new Promise<Buffer>((resolve, reject) => {
      scrypt(this.#adminToken.reveal(), KEY_SALT, 32, SCRYPT_PARAMS, (err, key) => (err === null ? resolve(key) : reject(err)));
    });
    return this.#key;
  }
}

function mac(key: Buffer, text: string): string {
  return createHmac('sha256', key).update(text, 'utf8').digest('base64url');
}

function sessionOf(key: Buffer, id: string, expiresAtSec: number): DashboardSession {
  return { id, expiresAtMs: expiresAtSec * 1000, csrfToken: mac(key, `csrf.${id}`) };
}
