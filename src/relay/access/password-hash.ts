/**
 * Password hashing for basic-auth visitors: scrypt (node:crypto) with a
 * 16-byte random salt per user, encoded with its parameters as
 * `scrypt$<N>$<r>$<p>$<salt>$<hash>` (base64url), so costs can be raised
 * later without invalidating stored hashes. Runs on the libuv pool, never on
 * the event loop.
 */
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import type { ScryptOptions } from 'node:crypto';

/** scrypt cost parameters. */
export interface PasswordHashParams {
  /** CPU/memory cost N, a power of two. */
  readonly cost: number;
  /** Block size r. */
  readonly blockSize: number;
  /** Parallelization p. */
  readonly parallelization: number;
}

/** Default scrypt parameters (N=2^15, r=8, p=1: about 32 MiB and tens of ms per hash, per OWASP). */
export const DEFAULT_PASSWORD_HASH_PARAMS: Readonly<PasswordHashParams> = { cost: 32768, blockSize: 8, parallelization: 1 };

const SALT_BYTES = 16;
const KEY_BYTES = 32;
const MAX_COST = 1 << 20;
const MAX_BLOCK_SIZE = 32;
const MAX_PARALLELIZATION = 16;

interface DecodedHash {
  params: PasswordHashParams;
  salt: Buffer;
  hash: Buffer;
}

function derive(password: string, salt: Buffer, keyBytes: number, params: PasswordHashParams): Promise<Buffer> {
  const options: ScryptOptions = {
    N: params.cost,
    r: params.blockSize,
    p: params.parallelization,
    maxmem: 256 * params.cost * params.blockSize * params.parallelization + 1024 * 1024,
  };
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFC'), salt, keyBytes, options, (err, key) => (err === null ? resolve(key) : reject(err)));
  });
}

function isValidParams(p: PasswordHashParams): boolean {
  return (
    Number.isInteger(p.cost) &&
    p.cost >= 2 &&
    p.cost <= MAX_COST &&
    (p.cost & (p.cost - 1)) === 0 &&
    Number.isInteger(p.blockSize) &&
    p.blockSize >= 1 &&
    p.blockSize <= MAX_BLOCK_SIZE &&
    Number.isInteger(p.parallelization) &&
    p.parallelization >= 1 &&
    p.parallelization <= MAX_PARALLELIZATION
  );
}

/** Hashes a password with a fresh salt; the result is what `verifyPassword` takes. */
export async function hashPassword(
  password: string,
  params: PasswordHashParams = DEFAULT_PASSWORD_HASH_PARAMS,
): Promise<string> {
  if (!isValidParams(params)) throw new RangeError(`Invalid scrypt parameters (got: ${JSON.stringify(params)})`);
  const salt = randomBytes(SALT_BYTES);
  const hash = await derive(password, salt, KEY_BYTES, params);
  return ['scrypt', params.cost, params.blockSize, params.parallelization, salt.toString('base64url'), hash.toString('base64url')].join('$');
}

function decodeHash(encoded: string): DecodedHash | null {
  const parts = encoded.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return null;
  const params = { cost: Number(parts[1]), blockSize: Number(parts[2]), parallelization: Number(parts[3]) };
  if (!isValidParams(params)) return null;
  const salt = Buffer.from(parts[4] as string, 'base64url');
  const hash = Buffer.from(parts[5] as string, 'base64url');
  if (salt.length < 8 || hash.length < 16 || hash.length > 64) return null;
  return { params, salt, hash };
}

// Hash checked for unknown users, so that an unknown name costs as much as a wrong password.
let dummyHash: Promise<string> | undefined;

/**
 * True when `password` matches the encoded hash (constant-time compare).
 * With `encoded` undefined (unknown user) or malformed, a dummy hash is
 * checked at the default cost and the result is false.
 */
export async function verifyPassword(password: string, encoded: string | undefined): Promise<boolean> {
  const decoded = encoded === undefined ? null : decodeHash(encoded);
  if (decoded === null) {
    dummyHash ??= hashPassword('visiona-tunnel dummy password');
    const dummy = decodeHash(await dummyHash) as DecodedHash;
    const key = await derive(password, dummy.salt, dummy.hash.length, dummy.params);
    timingSafeEqual(key, dummy.hash);
    return false;
  }
  const key = await derive(password, decoded.salt, decoded.hash.length, decoded.params);
  return timingSafeEqual(key, decoded.hash);
}

/** True when `encoded` is a well-formed hash produced by `hashPassword`. */
export function isPasswordHash(encoded: string): boolean {
  return decodeHash(encoded) !== null;
}
