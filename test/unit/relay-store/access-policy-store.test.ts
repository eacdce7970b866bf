import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { exportJWK, exportPKCS8, exportSPKI, generateKeyPair } from 'jose';
import { isPasswordHash, redactAccessPolicy } from '../../../src/relay/access/index.js';
import type { AccessPolicyInput } from '../../../src/relay/access/index.js';
import { StoreConflictError, StoreNotFoundError, StoreValidationError } from '../../../src/relay/store/index.js';
import { makeTempDir, openTestStore } from './fixtures.js';

const HS_SECRET = 'a-shared-secret-of-at-least-32-bytes!!';

describe('AccessPolicyStore policies', () => {
  it('gives a new agent the private policy and an unknown agent none', async (t) => {
    const { tokens, access } = openTestStore(t, await makeTempDir(t));
    tokens.createAgent('cam-1');
    assert.deepEqual(access.getPolicy('cam-1'), { mode: 'private' }, 'a new agent is private');
    assert.deepEqual(access.getPolicyConfig('cam-1'), { mode: 'private' }, 'its stored config is private');
    assert.equal(access.getPolicy('ghost'), undefined, 'an unknown agent has no policy');
    assert.equal(access.getPolicy('Not A Name'), undefined, 'an invalid name has no policy');
  });

  it('stores each mode and returns it, replacing the previous one', async (t) => {
    const { tokens, access } = openTestStore(t, await makeTempDir(t));
    tokens.createAgent('cam-1');
    for (const mode of ['public', 'basic', 'bearer', 'private'] as const) {
      await access.setPolicy('cam-1', { mode });
      assert.equal(access.getPolicy('cam-1')?.mode, mode, `mode ${mode} is returned`);
      assert.equal(tokens.getAgent('cam-1')?.accessMode, mode, `the agent listing shows ${mode}`);
    }
    const jwt = await access.setPolicy('cam-1', {
      mode: 'jwt',
      algorithm: 'HS256',
      secret: HS_SECRET,
      issuer: 'https://issuer.example',
      audience: 'visiona',
    });
    assert.deepEqual(access.getPolicyConfig('cam-1'), jwt, 'the jwt policy round-trips');
    assert.deepEqual(
      redactAccessPolicy(jwt),
      { mode: 'jwt', algorithm: 'HS256', secret: '[secret]', issuer: 'https://issuer.example', audience: 'visiona' },
      'redaction masks the secret',
    );
  });

  it('accepts RS256 and ES256 public keys as PEM or JWKS (object or JSON text)', async (t) => {
    const { tokens, access } = openTestStore(t, await makeTempDir(t));
    tokens.createAgent('cam-1');
    const rsa = await generateKeyPair('RS256', { extractable: true });
    const ec = await generateKeyPair('ES256', { extractable: true });
    await access.setPolicy('cam-1', { mode: 'jwt', algorithm: 'RS256', publicKeyPem: await exportSPKI(rsa.publicKey) });
    assert.equal(access.getPolicyConfig('cam-1')?.mode, 'jwt', 'RS256 PEM is accepted');
    const jwk = { ...(await exportJWK(ec.publicKey)), kid: 'k1' };
    await access.setPolicy('cam-1', { mode: 'jwt', algorithm: 'ES256', jwks: { keys: [jwk] } });
    await access.setPolicy('cam-1', { mode: 'jwt', algorithm: 'ES256', jwks: JSON.stringify({ keys: [jwk] }) });
    const stored = access.getPolicyConfig('cam-1');
    assert.ok(stored?.mode === 'jwt' && typeof stored.jwks === 'object', 'JWKS text is stored parsed');
  });

  it('rejects invalid policies with StoreValidationError naming the field, and stores nothing', async (t) => {
    const { tokens, access } = openTestStore(t, await makeTempDir(t));
    tokens.createAgent('cam-1');
    const rsa = await generateKeyPair('RS256', { extractable: true });
    const ec = await generateKeyPair('ES256', { extractable: true });
    const cases: [string, unknown, string][] = [
      ['not an object', 'public', 'policy'],
      ['unknown mode', { mode: 'open' }, 'policy.mode'],
      ['extra field on public', { mode: 'public', secret: 'x' }, 'policy.secret'],
      ['unknown jwt field', { mode: 'jwt', algorithm: 'HS256', secret: HS_SECRET, iss: 'x' }, 'policy.iss'],
      ['bad algorithm', { mode: 'jwt', algorithm: 'none', secret: HS_SECRET }, 'policy.algorithm'],
      ['short HS256 secret', { mode: 'jwt', algorithm: 'HS256', secret: 'short' }, 'policy.secret'],
      ['RS256 without key', { mode: 'jwt', algorithm: 'RS256' }, 'policy.publicKeyPem'],
      ['RS256 with a secret', { mode: 'jwt', algorithm: 'RS256', secret: HS_SECRET }, 'policy.secret'],
      ['private key PEM', { mode: 'jwt', algorithm: 'RS256', publicKeyPem: await exportPKCS8(rsa.privateKey) }, 'policy.publicKeyPem'],
      ['garbage PEM', { mode: 'jwt', algorithm: 'RS256', publicKeyPem: '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----' }, 'policy.publicKeyPem'],
      ['EC key for RS256', { mode: 'jwt', algorithm: 'RS256', publicKeyPem: await exportSPKI(ec.publicKey) }, 'policy.publicKeyPem'],
      ['JWKS not JSON', { mode: 'jwt', algorithm: 'ES256', jwks: '{nope' }, 'policy.jwks'],
      ['JWKS with a private key', { mode: 'jwt', algorithm: 'ES256', jwks: { keys: [await exportJWK(ec.privateKey)] } }, 'policy.jwks.keys[0]'],
      ['JWKS without a matching key', { mode: 'jwt', algorithm: 'ES256', jwks: { keys: [await exportJWK(rsa.publicKey)] } }, 'policy.jwks'],
      ['negative clock tolerance', { mode: 'jwt', algorithm: 'HS256', secret: HS_SECRET, clockToleranceSec: -1 }, 'policy.clockToleranceSec'],
    ];
    for (const [name, policy, field] of cases) {
      await assert.rejects(
        access.setPolicy('cam-1', policy as AccessPolicyInput),
        (err: unknown) => err instanceof StoreValidationError && err.field === field,
        `${name} is rejected on ${field}`,
      );
    }
    assert.deepEqual(access.getPolicy('cam-1'), { mode: 'private' }, 'the policy is still private');
    await assert.rejects(access.setPolicy('ghost', { mode: 'public' }), StoreNotFoundError, 'an unknown agent is rejected');
  });

  it('sees a policy changed through another connection from the next event-loop turn, and reuses the cached object otherwise', async (t) => {
    const dir = await makeTempDir(t);
    const relay = openTestStore(t, dir);
    const cli = openTestStore(t, dir);
    relay.tokens.createAgent('cam-1');
    const first = relay.access.getPolicy('cam-1');
    assert.equal(relay.access.getPolicy('cam-1'), first, 'an unchanged database returns the same object');
    await nextTurn();
    assert.equal(relay.access.getPolicy('cam-1'), first, 'still the same object in a later turn');
    await cli.access.setPolicy('cam-1', { mode: 'public' });
    await nextTurn();
    assert.equal(relay.access.getPolicy('cam-1')?.mode, 'public', 'the change by the other connection is seen in the next turn');
    cli.access.addVisitorToken('cam-1');
    await cli.access.setPolicy('cam-1', { mode: 'bearer' });
    await nextTurn();
    const bearer = relay.access.getPolicy('cam-1');
    assert.ok(bearer?.mode === 'bearer' && bearer.tokens.size === 1, 'the other connection’s token is in the effective policy');
  });
  it('sees writes through the same connection in the same turn, by either store class', async (t) => {
    const { tokens, access } = openTestStore(t, await makeTempDir(t));
    assert.equal(access.getPolicy('cam-1'), undefined, 'an unknown agent has no policy');
    tokens.createAgent('cam-1');
    assert.deepEqual(access.getPolicy('cam-1'), { mode: 'private' }, 'an agent created in the same turn has the default policy');
    await access.setPolicy('cam-1', { mode: 'public' });
    assert.equal(access.getPolicy('cam-1')?.mode, 'public', 'the store’s own write is seen at once');
    access.addVisitorToken('cam-1');
    await access.setPolicy('cam-1', { mode: 'bearer' });
    const bearer = access.getPolicy('cam-1');
    assert.ok(bearer?.mode === 'bearer' && bearer.tokens.size === 1, 'a token added in the same turn is in the policy');
    tokens.deleteAgent('cam-1');
    assert.equal(access.getPolicy('cam-1'), undefined, 'an agent deleted in the same turn has no policy any more');
  });
});

describe('AccessPolicyStore credentials', () => {
  it('stores basic users as salted scrypt hashes, never the password', async (t) => {
    const { tokens, access, db } = openTestStore(t, await makeTempDir(t));
    tokens.createAgent('cam-1');
    await access.addBasicUser('cam-1', 'alice', 'correct horse battery staple');
    await access.addBasicUser('cam-1', 'bob', 'correct horse battery staple');
    const rows = db.prepare('SELECT username, password_hash FROM basic_users ORDER BY username').all() as {
      username: string;
      password_hash: string;
    }[];
    assert.deepEqual(rows.map((r) => r.username), ['alice', 'bob'], 'both users are stored');
    for (const r of rows) {
      assert.ok(isPasswordHash(r.password_hash), `${r.username}'s hash is an encoded scrypt hash`);
      assert.ok(r.password_hash.startsWith('scrypt$'), `${r.username}'s hash names its algorithm`);
      assert.ok(!r.password_hash.includes('horse'), `${r.username}'s row does not contain the password`);
    }
    assert.notEqual(rows[0]?.password_hash, rows[1]?.password_hash, 'the same password hashes differently per user (salt)');
    assert.deepEqual(access.listBasicUsers('cam-1').map((u) => u.username), ['alice', 'bob'], 'listBasicUsers names them');
  });

  it('refuses a duplicate user unless replace is set, and removes users', async (t) => {
    const { tokens, access } = openTestStore(t, await makeTempDir(t));
    tokens.createAgent('cam-1');
    await access.addBasicUser('cam-1', 'alice', 'one');
    await assert.rejects(access.addBasicUser('cam-1', 'alice', 'two'), StoreConflictError, 'a duplicate conflicts');
    await access.addBasicUser('cam-1', 'alice', 'two', { replace: true });
    await assert.rejects(access.addBasicUser('cam-1', 'a:b', 'x'), StoreValidationError, 'a user name with ":" is refused');
    await assert.rejects(access.addBasicUser('cam-1', 'carol', ''), StoreValidationError, 'an empty password is refused');
    await assert.rejects(access.addBasicUser('ghost', 'carol', 'x'), StoreNotFoundError, 'an unknown agent is refused');
    access.removeBasicUser('cam-1', 'alice');
    assert.deepEqual(access.listBasicUsers('cam-1'), [], 'alice is gone');
    assert.throws(() => access.removeBasicUser('cam-1', 'alice'), StoreNotFoundError, 'removing again throws');
  });

  it('issues visitor tokens shown once and stores only their hash', async (t) => {
    const { tokens, access, db } = openTestStore(t, await makeTempDir(t));
    tokens.createAgent('cam-1');
    const created = access.addVisitorToken('cam-1', { label: 'dashboard' });
    const text = created.token.reveal();
    assert.match(text, /^vtv_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/, 'the token has the vtv_<id>_<secret> form');
    const secret = text.slice(21);
    const dump = JSON.stringify(db.prepare('SELECT * FROM visitor_tokens').all(), (_k, v: unknown) =>
      Buffer.isBuffer(v) ? v.toString('base64url') : v,
    );
    assert.ok(dump.includes(created.tokenId), 'the row is there');
    assert.ok(!dump.includes(secret), 'the secret is not stored');
    assert.deepEqual(
      access.listVisitorTokens('cam-1').map((x) => [x.tokenId, x.label]),
      [[created.tokenId, 'dashboard']],
      'listVisitorTokens shows id and label',
    );
    access.removeVisitorToken('cam-1', created.tokenId);
    assert.deepEqual(access.listVisitorTokens('cam-1'), [], 'the token is removed');
    assert.throws(() => access.removeVisitorToken('cam-1', created.tokenId), StoreNotFoundError, 'removing again throws');
  });
});

/** Resolves in the next event-loop turn (after the check phase), when cached stamps are checked again. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
