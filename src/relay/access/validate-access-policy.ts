/**
 * Validation of access policies given by operators (CLI, admin API, config
 * file): unknown fields refused, key material imported once to prove it is
 * usable, private key material refused.
 */
import type { JSONWebKeySet, JWK } from 'jose';
import { StoreValidationError } from '../store/store-errors.js';
import {
  ACCESS_MODES,
  JWT_ALGORITHMS,
  MIN_HS256_SECRET_BYTES,
} from './access-policy.js';
import type { AccessMode, AccessPolicy, JwtAccessPolicy, JwtAlgorithm } from './access-policy.js';
import { loadJwtVerificationKey } from './jwt-key.js';
import { loadJose } from './load-jose.js';

const JWT_FIELDS = new Set([
  'mode',
  'algorithm',
  'secret',
  'publicKeyPem',
  'jwks',
  'issuer',
  'audience',
  'clockToleranceSec',
  'requireExpiry',
]);
const MAX_CLOCK_TOLERANCE_SEC = 3600;
const MAX_KEY_TEXT_LENGTH = 64 * 1024;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optionalString(input: Record<string, unknown>, field: string): string | undefined {
  const value = input[field];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_KEY_TEXT_LENGTH) {
    throw new StoreValidationError(`policy.${field}`, 'must be a non-empty string');
  }
  return value;
}

/**
 * Checks an operator-supplied policy and returns its normalized form (JWKS
 * text parsed, absent options omitted). Throws `StoreValidationError` naming
 * the field at fault. Async because JWT keys are imported to check them.
 */
export async function validateAccessPolicy(input: unknown): Promise<AccessPolicy> {
  if (!isRecord(input)) throw new StoreValidationError('policy', 'must be an object with a mode');
  const mode = input['mode'];
  if (typeof mode !== 'string' || !(ACCESS_MODES as readonly string[]).includes(mode)) {
    throw new StoreValidationError('policy.mode', `must be one of ${ACCESS_MODES.join(', ')} (got: ${JSON.stringify(mode)})`);
  }
  if (mode !== 'jwt') {
    const extra = Object.keys(input).filter((k) => k !== 'mode');
    if (extra.length > 0) throw new StoreValidationError(`policy.${extra[0]}`, `is not an option of mode ${mode}`);
    return { mode: mode as Exclude<AccessMode, 'jwt'> };
  }
  return validateJwtPolicy(input);
}

async function validateJwtPolicy(input: Record<string, unknown>): Promise<JwtAccessPolicy> {
  for (const key of Object.keys(input)) {
    if (!JWT_FIELDS.has(key)) throw new StoreValidationError(`policy.${key}`, 'is not an option of mode jwt');
  }
  const algorithm = input['algorithm'];
  if (typeof algorithm !== 'string' || !(JWT_ALGORITHMS as readonly string[]).includes(algorithm)) {
    throw new StoreValidationError('policy.algorithm', `must be one of ${JWT_ALGORITHMS.join(', ')} (got: ${JSON.stringify(algorithm)})`);
  }
  const alg = algorithm as JwtAlgorithm;
  const secret = optionalString(input, 'secret');
  const publicKeyPem = optionalString(input, 'publicKeyPem');
  const issuer = optionalString(input, 'issuer');
  const audience = optionalString(input, 'audience');
  const jwks = parseJwks(input['jwks']);

  const tolerance = input['clockToleranceSec'];
  if (
    tolerance !== undefined &&
    (typeof tolerance !== 'number' || !Number.isInteger(tolerance) || tolerance < 0 || tolerance > MAX_CLOCK_TOLERANCE_SEC)
  ) {
    throw new StoreValidationError('policy.clockToleranceSec', `must be an integer between 0 and ${MAX_CLOCK_TOLERANCE_SEC}`);
  }
  const requireExpiry = input['requireExpiry'];
  if (requireExpiry !== undefined && typeof requireExpiry !== 'boolean') {
    throw new StoreValidationError('policy.requireExpiry', 'must be a boolean');
  }

  if (alg === 'HS256') {
    if (secret === undefined || Buffer.byteLength(secret, 'utf8') < MIN_HS256_SECRET_BYTES) {
      throw new StoreValidationError('policy.secret', `HS256 needs a secret of at least ${MIN_HS256_SECRET_BYTES} bytes`);
    }
    if (publicKeyPem !== undefined || jwks !== undefined) {
      throw new StoreValidationError('policy.publicKeyPem', 'HS256 takes a secret, not a public key');
    }
  } else {
    if (secret !== undefined) throw new StoreValidationError('policy.secret', `${alg} takes a public key, not a secret`);
    if ((publicKeyPem === undefined) === (jwks === undefined)) {
      throw new StoreValidationError('policy.publicKeyPem', `${alg} needs exactly one of publicKeyPem or jwks`);
    }
    if (publicKeyPem !== undefined && /PRIVATE KEY-----/.test(publicKeyPem)) {
      throw new StoreValidationError('policy.publicKeyPem', 'must be a public key or certificate, not a private key');
    }
    if (jwks !== undefined) await checkJwksKeys(jwks, alg);
  }

  const policy: JwtAccessPolicy = {
    mode: 'jwt',
    algorithm: alg,
    ...(secret === undefined ? {} : { secret }),
    ...(publicKeyPem === undefined ? {} : { publicKeyPem }),
    ...(jwks === undefined ? {} : { jwks }),
    ...(issuer === undefined ? {} : { issuer }),
    ...(audience === undefined ? {} : { audience }),
    ...(tolerance === undefined ? {} : { clockToleranceSec: tolerance }),
    ...(requireExpiry === undefined ? {} : { requireExpiry }),
  };
  try {
    await loadJwtVerificationKey(policy);
  } catch (err) {
    const field = publicKeyPem !== undefined ? 'policy.publicKeyPem' : 'policy.jwks';
    throw new StoreValidationError(field, `is not a usable ${alg} public key`, { cause: err });
  }
  return policy;
}

function parseJwks(value: unknown): JSONWebKeySet | undefined {
  if (value === undefined) return undefined;
  let parsed: unknown = value;
  if (typeof value === 'string') {
    if (value.length > MAX_KEY_TEXT_LENGTH) throw new StoreValidationError('policy.jwks', 'is too long');
    try {
      parsed = JSON.parse(value);
    } catch (err) {
      throw new StoreValidationError('policy.jwks', 'is not valid JSON', { cause: err });
    }
  }
  if (!isRecord(parsed) || !Array.isArray(parsed['keys']) || parsed['keys'].length === 0 || !parsed['keys'].every(isRecord)) {
    throw new StoreValidationError('policy.jwks', 'must be a JSON Web Key Set with at least one key');
  }
  return { keys: parsed['keys'] as JWK[] };
}

async function checkJwksKeys(jwks: JSONWebKeySet, alg: JwtAlgorithm): Promise<void> {
  const kty = alg === 'RS256' ? 'RSA' : 'EC';
  const { importJWK } = await loadJose();
  let usable = 0;
  for (const [i, jwk] of jwks.keys.entries()) {
    if ('d' in jwk || 'p' in jwk || 'k' in jwk) {
      throw new StoreValidationError(`policy.jwks.keys[${i}]`, 'must be a public key (private or symmetric key material found)');
    }
    if (jwk.kty !== kty || (jwk.alg !== undefined && jwk.alg !== alg)) continue;
    try {
      await importJWK(jwk, alg);
      usable += 1;
    } catch (err) {
      throw new StoreValidationError(`policy.jwks.keys[${i}]`, `is not a usable ${alg} public key`, { cause: err });
    }
  }
  if (usable === 0) throw new StoreValidationError('policy.jwks', `has no ${alg} public key`);
}
