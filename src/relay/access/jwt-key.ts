/**
 * Turns a `jwt` policy into the key `jose.jwtVerify` takes: the HS256 secret
 * bytes, an imported public key (SPKI or X.509 PEM), or a local JWKS
 * resolver. Keys are imported once per policy object and cached.
 */
import type { CryptoKey, JWTVerifyGetKey } from 'jose';
import type { JwtAccessPolicy } from './access-policy.js';
import { loadJose } from './load-jose.js';

/** What `jwtVerify` is called with for a policy. */
export type JwtVerificationKey = Uint8Array | CryptoKey | JWTVerifyGetKey;

const cache = new WeakMap<JwtAccessPolicy, Promise<JwtVerificationKey>>();

/**
 * The verification key of a `jwt` policy, imported on first use and cached
 * for the life of the policy object. Rejects when the key material is
 * unusable (the store validates it on `setPolicy`, so this means a corrupted row).
 */
export function loadJwtVerificationKey(policy: JwtAccessPolicy): Promise<JwtVerificationKey> {
  let key = cache.get(policy);
  if (key === undefined) {
    key = importJwtKey(policy);
    cache.set(policy, key);
    // A failed import is not cached, so a fixed policy object is retried.
    key.catch(() => cache.delete(policy));
  }
  return key;
}

async function importJwtKey(policy: JwtAccessPolicy): Promise<JwtVerificationKey> {
  if (policy.algorithm === 'HS256') {
    if (policy.secret === undefined) throw new TypeError('HS256 policy without a secret');
    return new TextEncoder().encode(policy.secret);
  }
  const { createLocalJWKSet, importSPKI, importX509 } = await loadJose();
  if (policy.publicKeyPem !== undefined) {
    const pem = policy.publicKeyPem.trim();
    return pem.includes('-----BEGIN CERTIFICATE-----')
      ? await importX509(pem, policy.algorithm)
      : await importSPKI(pem, policy.algorithm);
  }
  if (policy.jwks !== undefined) return createLocalJWKSet(policy.jwks);
  throw new TypeError(`${policy.algorithm} policy without publicKeyPem or jwks`);
}
