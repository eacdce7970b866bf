/**
 * Bearer secrets of the form `<prefix>_<tokenId>_<secret>`: `tokenId` is 16
 * hex characters (the database key, not secret), `secret` is 32 random bytes
 * in base64url (43 characters). Only SHA-256(secret) is stored. A fast hash is
 * enough here because the secret carries 256 bits of entropy: there is nothing
 * to brute-force, so a salted slow KDF (as for human passwords) would only cost
 * CPU on every agent connect and visitor request.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { Secret } from '../../shared/secret.js';

/** Random bytes in a token id (rendered as hex). */
export const TOKEN_ID_BYTES = 8;
/** Random bytes in a token secret (rendered as base64url). */
export const TOKEN_SECRET_BYTES = 32;
/** Longest token text ever parsed, in characters; longer input is rejected before any work. */
export const MAX_TOKEN_TEXT_LENGTH = 256;

/** Prefix of agent tokens (`vt_<id>_<secret>`). */
export const AGENT_TOKEN_PREFIX = 'vt';
/** Prefix of visitor bearer tokens (`vtv_<id>_<secret>`). */
export const VISITOR_TOKEN_PREFIX = 'vtv';

/** A freshly generated token: `token` is shown once; only `secretHash` is stored. */
export interface GeneratedSecretToken {
  readonly tokenId: string;
  readonly secretHash: Buffer;
  readonly token: Secret;
}

/** The two parts of a well-formed token text. */
export interface ParsedSecretToken {
  readonly tokenId: string;
  readonly secret: string;
}

const SECRET_CHARS = Math.ceil((TOKEN_SECRET_BYTES * 4) / 3);
const patterns = new Map<string, RegExp>();

function patternFor(prefix: string): RegExp {
  let re = patterns.get(prefix);
  if (re === undefined) {
    re = new RegExp(`^${prefix}_([0-9a-f]{${TOKEN_ID_BYTES * 2}})_([A-Za-z0-9_-]{${SECRET_CHARS}})$`);
    patterns.set(prefix, re);
  }
  return re;
}

/** Generates a new `<prefix>_<id>_<secret>` token from the system CSPRNG. */
export function generateSecretToken(prefix: string): GeneratedSecretToken {
  const tokenId = randomBytes(TOKEN_ID_BYTES).toString('hex');
  const secret = randomBytes(TOKEN_SECRET_BYTES).toString('base64url');
  return { tokenId, secretHash: hashTokenSecret(secret), token: new Secret(`${prefix}_${tokenId}_${secret}`) };
}

/** Splits a token text into id and secret; `null` when it is not a well-formed `<prefix>_...` token. */
export function parseSecretToken(prefix: string, text: string): ParsedSecretToken | null {
  if (text.length > MAX_TOKEN_TEXT_LENGTH) return null;
  const m = patternFor(prefix).exec(text);
  if (m === null) return null;
  return { tokenId: m[1] as string, secret: m[2] as string };
}

/** SHA-256 of a token secret: the only form in which a secret is stored. */
export function hashTokenSecret(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

const DUMMY_HASH = hashTokenSecret(randomBytes(TOKEN_SECRET_BYTES).toString('base64url'));

/**
 * Constant-time check of `secret` against a stored SHA-256 hash. With no
 * stored hash (unknown token id) a dummy is compared, so both paths do the
 * same work; the result is then always false.
 */
export function secretHashMatches(storedHash: Uint8Array | undefined, secret: string): boolean {
  const actual = hashTokenSecret(secret);
  const expected = storedHash !== undefined && storedHash.length === actual.length ? storedHash : DUMMY_HASH;
  return timingSafeEqual(expected, actual) && expected !== DUMMY_HASH;
}
