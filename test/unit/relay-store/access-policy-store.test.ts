/**
 * The access policy store's contract, run against both backends (an SQLite
 * file and a real PostgreSQL database), plus the SQLite backend's per-turn
 * cache rules.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { exportJWK, exportPKCS8, exportSPKI, generateKeyPair } from 'jose';
import { isPasswordHash, redactAccessPolicy } from '../../../src/relay/access/index.js';
import type { AccessPolicyInput } from '../../../src/relay/access/index.js';
import { StoreConflictError, StoreNotFoundError, StoreValidationError } from '../../../src/relay/store/index.js';
import { waitFor } from '../../helpers/wait-for.js';
import { STORE_BACKENDS, makeTempDir, openBackendStore, openTestStore } from './fixtures.js';

const HS_SECRET = 'a-shared-secret-of-at-least-32-bytes!!';

for (const backend of STORE_BACKENDS) {
  describe(`AccessPolicyStore policies (${backend})`, () => {
    it('gives a new agent the private policy and an unknown agent none', async (t) => {
      const { tokens, access } = await openBackendStore(t, backend);
      await tokens.createAgent('cam-1');
      assert.deepEqual(access.getPolicy('cam-1'), { mode: 'private' }, 'a new agent is private');
      assert.deepEqual(await access.getPolicyConfig('cam-1'), { mode: 'private' }, 'its stored config is private');
      assert.equal(access.getPolicy('ghost'), undefined, 'an unknown agent has no policy');
      assert.equal(access.getPolicy('Not A Name'), undefined, 'an invalid name has no policy');
      assert.equal(await access.getPolicyConfig('ghost'), undefined, 'an unknown agent has no stored config');
    });

    it('stores each mode and returns it, replacing the previous one', async (t) => {
      const { tokens, access } = await openBackendStore(t, backend);
      await tokens.createAgent('cam-1');
      for (const mode of ['public', 'basic', 'bearer', 'private'] as const) {
        await access.setPolicy('cam-1', { mode });
        assert.equal(access.getPolicy('cam-1')?.mode, mode, `mode ${mode} is returned`);
        assert.equal((await tokens.getAgent('cam-1'))?.accessMode, mode, `the agent listing shows ${mode}`);
      }
      const jwt = await access.setPolicy('cam-1', {
        mode: 'jwt',
        algorithm: 'HS256',
        secret: HS_SECRET,
        issuer: 'https://issuer.example',
        audience: 'visiona',
      });
      assert.deepEqual(await access.getPolicyConfig('cam-1'), jwt, 'the jwt policy round-trips');
      assert.deepEqual(access.getPolicy('cam-1'), jwt, 'and is what visitors are checked against');
      assert.deepEqual(
        redactAccessPolicy(jwt),
        { mode: 'jwt', algorithm: 'HS256', secret: '[secret]', issuer: 'https://issuer.example', audience: 'visiona' },
        'redaction masks the secret',
      );
    });

    it('accepts RS256 and ES256 public keys as PEM or JWKS (object or JSON text)', async (t) => {
      const { tokens, access } = await openBackendStore(t, backend);
      await tokens.createAgent('cam-1');
      const rsa = await generateKeyPair('RS256', { extractable: true });
      const ec = await generateKeyPair('ES256', { extractable: true });
      await access.setPolicy('cam-1', { mode: 'jwt', algorithm: 'RS256', publicKeyPem: await exportSPKI(rsa.publicKey) });
      assert.equal((await access.getPolicyConfig('cam-1'))?.mode, 'jwt', 'RS256 PEM is accepted');
      const jwk = { ...(await exportJWK(ec.publicKey)), kid: 'k1' };
      await access.setPolicy('cam-1', { mode: 'jwt', algorithm: 'ES256', jwks: { keys: [jwk] } });
      await access.setPolicy('cam-1', { mode: 'jwt', algorithm: 'ES256', jwks: JSON.stringify({ keys: [jwk] }) });
      const stored = await access.getPolicyConfig('cam-1');
      assert.ok(stored?.mode === 'jwt' && typeof stored.jwks === 'object', 'JWKS text is stored parsed');
    });

    it('rejects invalid policies with StoreValidationError naming the field, and stores nothing', async (t) => {
      const { tokens, access } = await openBackendStore(t, backend);
      await tokens.createAgent('cam-1');
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

    it('sees its own writes at once, through either part of the store', async (t) => {
      const { tokens, access } = await openBackendStore(t, backend);
      assert.equal(access.getPolicy('cam-1'), undefined, 'an unknown agent has no policy');
      await tokens.createAgent('cam-1');
      assert.deepEqual(access.getPolicy('cam-1'), { mode: 'private' }, 'a just created agent has the default policy');
      await access.setPolicy('cam-1', { mode: 'public' });
      assert.equal(access.getPolicy('cam-1')?.mode, 'public', 'the store’s own write is seen at once');
      await access.addVisitorToken('cam-1');
      await access.setPolicy('cam-1', { mode: 'bearer' });
      const bearer = access.getPolicy('cam-1');
      assert.ok(bearer?.mode === 'bearer' && bearer.tokens.size === 1, 'a just added token is in the policy');
      await tokens.deleteAgent('cam-1');
      assert.equal(access.getPolicy('cam-1'), undefined, 'a just deleted agent has no policy any more');
    });

    it('sees policies and credentials changed through another handle (the CLI, another node)', async (t) => {
      const node = await openBackendStore(t, backend);
      const cli = await node.another();
      await node.tokens.createAgent('cam-1');
      await cli.access.setPolicy('cam-1', { mode: 'public' });
      await waitFor(() => node.access.getPolicy('cam-1')?.mode === 'public', 'the other handle’s policy is seen');
      await cli.access.addVisitorToken('cam-1');
      await cli.access.setPolicy('cam-1', { mode: 'bearer' });
      await waitFor(() => node.access.getPolicy('cam-1')?.mode === 'bearer', 'the bearer policy is seen');
      const bearer = node.access.getPolicy('cam-1');
      assert.ok(bearer?.mode === 'bearer' && bearer.tokens.size === 1, 'the other handle’s token is in the effective policy');
      await cli.tokens.createAgent('cam-2');
      await waitFor(() => node.access.getPolicy('cam-2') !== undefined, 'an agent created by the other handle is known');
      assert.deepEqual(node.access.getPolicy('cam-2'), { mode: 'private' }, 'with the private default');
    });
  });

  describe(`AccessPolicyStore credentials (${backend})`, () => {
    it('stores basic users as salted scrypt hashes, never the password', async (t) => {
      const fx = await openBackendStore(t, backend);
      const { tokens, access } = fx;
      await tokens.createAgent('cam-1');
      await access.addBasicUser('cam-1', 'alice', 'correct horse battery staple');
      await access.addBasicUser('cam-1', 'bob', 'correct horse battery staple');
      await access.setPolicy('cam-1', { mode: 'basic' });
      const policy = access.getPolicy('cam-1');
      assert.ok(policy?.mode === 'basic', 'the effective policy is basic');
      const hashes = [...policy.users.values()].sort((a, b) => a.username.localeCompare(b.username));
      assert.deepEqual(hashes.map((u) => u.username), ['alice', 'bob'], 'both users are in the effective policy');
      for (const u of hashes) {
        assert.ok(isPasswordHash(u.passwordHash), `${u.username}'s hash is an encoded scrypt hash`);
        assert.ok(u.passwordHash.startsWith('scrypt$'), `${u.username}'s hash names its algorithm`);
      }
      assert.notEqual(hashes[0]?.passwordHash, hashes[1]?.passwordHash, 'the same password hashes differently per user (salt)');
      const dump = await fx.dumpRows();
      assert.ok(dump.includes(hashes[0]?.passwordHash as string), 'the dump holds the hashes');
      assert.ok(!dump.includes('horse'), 'no row contains the password');
      assert.deepEqual((await access.listBasicUsers('cam-1')).map((u) => u.username), ['alice', 'bob'], 'listBasicUsers names them');
    });

    it('refuses a duplicate user unless replace is set, and removes users', async (t) => {
      const { tokens, access } = await openBackendStore(t, backend);
      await tokens.createAgent('cam-1');
      await access.addBasicUser('cam-1', 'alice', 'one');
      await assert.rejects(access.addBasicUser('cam-1', 'alice', 'two'), StoreConflictError, 'a duplicate conflicts');
      await access.addBasicUser('cam-1', 'alice', 'two', { replace: true });
      await assert.rejects(access.addBasicUser('cam-1', 'a:b', 'x'), StoreValidationError, 'a user name with ":" is refused');
      await assert.rejects(access.addBasicUser('cam-1', 'carol', ''), StoreValidationError, 'an empty password is refused');
      await assert.rejects(access.addBasicUser('ghost', 'carol', 'x'), StoreNotFoundError, 'an unknown agent is refused');
      await access.removeBasicUser('cam-1', 'alice');
      assert.deepEqual(await access.listBasicUsers('cam-1'), [], 'alice is gone');
      await assert.rejects(access.removeBasicUser('cam-1', 'alice'), StoreNotFoundError, 'removing again throws');
    });

    it('issues visitor tokens shown once and stores only their hash', async (t) => {
      const fx = await openBackendStore(t, backend);
      const { tokens, access } = fx;
      await tokens.createAgent('cam-1');
      const created = await access.addVisitorToken('cam-1', { label: 'dashboard' });
      const text = created.token.reveal();
      assert.match(text, /^vtv_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/, 'the token has the vtv_<id>_<secret> form');
      const secret = text.slice(21);
      const dump = await fx.dumpRows();
      assert.ok(dump.includes(created.tokenId), 'the row is there');
      assert.ok(!dump.includes(secret), 'the secret is not stored');
      assert.deepEqual(
        (await access.listVisitorTokens('cam-1')).map((x) => [x.tokenId, x.label]),
        [[created.tokenId, 'dashboard']],
        'listVisitorTokens shows id and label',
      );
      await access.removeVisitorToken('cam-1', created.tokenId);
      assert.deepEqual(await access.listVisitorTokens('cam-1'), [], 'the token is removed');
      await assert.rejects(access.removeVisitorToken('cam-1', created.tokenId), StoreNotFoundError, 'removing again throws');
    });
  });
}

describe('SqliteAccessPolicyStore cache', () => {
  it('sees a policy changed through another connection from the next event-loop turn, and reuses the cached object otherwise', async (t) => {
    const dir = await makeTempDir(t);
    const relay = openTestStore(t, dir);
    const cli = openTestStore(t, dir);
    await relay.tokens.createAgent('cam-1');
    const first = relay.access.getPolicy('cam-1');
    assert.equal(relay.access.getPolicy('cam-1'), first, 'an unchanged database returns the same object');
    await nextTurn();
    assert.equal(relay.access.getPolicy('cam-1'), first, 'still the same object in a later turn');
    await cli.access.setPolicy('cam-1', { mode: 'public' });
    await nextTurn();
    assert.equal(relay.access.getPolicy('cam-1')?.mode, 'public', 'the change by the other connection is seen in the next turn');
  });

  it('sees writes through the same connection in the same turn, by either store class', async (t) => {
    const { tokens, access } = openTestStore(t, await makeTempDir(t));
    const created = tokens.createAgent('cam-1');
    // The write itself is synchronous underneath: the policy is there before the promise settles.
    assert.deepEqual(access.getPolicy('cam-1'), { mode: 'private' }, 'an agent created in the same turn has the default policy');
    await created;
  });
});

/** Resolves in the next event-loop turn (after the check phase), when cached stamps are checked again. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
