/**
 * The token store's contract, run against both backends (an SQLite file and
 * a real PostgreSQL database), plus what only the SQLite backend does
 * (polling its revocation log).
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { syncBuiltinESMExports } from 'node:module';
import { describe, it, mock } from 'node:test';
import { Secret } from '../../../src/shared/secret.js';
import {
  InvalidAgentNameError,
  StoreConflictError,
  StoreNotFoundError,
  StoreValidationError,
} from '../../../src/relay/store/index.js';
import type { TokenRevocation } from '../../../src/relay/store/index.js';
import { waitFor } from '../../helpers/wait-for.js';
import { ManualClock, STORE_BACKENDS, makeTempDir, openBackendStore, openTestStore } from './fixtures.js';

for (const backend of STORE_BACKENDS) {
  describe(`TokenStore agents (${backend})`, () => {
    it('accepts lowercase DNS labels of 1-63 characters as agent names', async (t) => {
      const { tokens } = await openBackendStore(t, backend);
      for (const name of ['a', '0', 'cam-1', 'edge-device-42', 'x'.repeat(63), 'a-b-c']) {
        assert.equal((await tokens.createAgent(name)).name, name, `${name} is accepted`);
      }
      assert.deepEqual(
        (await tokens.listAgents()).map((a) => a.name),
        ['0', 'a', 'a-b-c', 'cam-1', 'edge-device-42', 'x'.repeat(63)],
        'listAgents returns them sorted by name (bytewise, whatever the database collation)',
      );
    });

    it('rejects other agent names with InvalidAgentNameError', async (t) => {
      const { tokens } = await openBackendStore(t, backend);
      for (const name of ['', 'Cam', '-a', 'a-', 'a_b', 'a.b', 'x'.repeat(64), 'é', 'a b', '../x']) {
        await assert.rejects(
          () => tokens.createAgent(name),
          (err: unknown) => err instanceof InvalidAgentNameError && err.code === 'ERR_STORE_INVALID_AGENT_NAME',
          `${JSON.stringify(name)} is rejected`,
        );
      }
      assert.deepEqual(await tokens.listAgents(), [], 'nothing was stored');
    });

    it('refuses a duplicate agent but ensureAgent returns the existing one', async (t) => {
      const clock = new ManualClock();
      const { tokens } = await openBackendStore(t, backend, { clock });
      const created = await tokens.createAgent('cam-1');
      assert.equal(created.createdAtMs, clock.now(), 'createdAtMs is the clock time');
      assert.equal(created.accessMode, 'private', 'a new agent is private');
      await assert.rejects(() => tokens.createAgent('cam-1'), StoreConflictError, 'a second create conflicts');
      clock.advance(5000);
      assert.equal((await tokens.ensureAgent('cam-1')).createdAtMs, created.createdAtMs, 'ensureAgent keeps the original');
      assert.equal((await tokens.ensureAgent('cam-2')).name, 'cam-2', 'ensureAgent creates a missing agent');
    });
  });

  describe(`TokenStore tokens (${backend})`, () => {
    it('creates a vt_<id>_<secret> token with a 32-byte secret that verifies to its agent', async (t) => {
      const { tokens } = await openBackendStore(t, backend);
      await tokens.createAgent('cam-1');
      const created = await tokens.createToken('cam-1', { label: 'factory' });
      assert.ok(created.token instanceof Secret, 'the token is a Secret, masked in logs');
      assert.equal(String(created.token), '[secret]', 'printing the token masks it');
      const text = created.token.reveal();
      const m = /^vt_([0-9a-f]{16})_([A-Za-z0-9_-]+)$/.exec(text);
      assert.ok(m !== null, 'the token has the vt_<id>_<secret> form');
      assert.equal(m[1], created.tokenId, 'the id inside the token is tokenId');
      assert.ok(Buffer.from(m[2] as string, 'base64url').length >= 32, 'the secret carries at least 32 random bytes');
      assert.deepEqual(await tokens.verifyToken(text), { agentName: 'cam-1', tokenId: created.tokenId }, 'the text verifies');
      assert.deepEqual(await tokens.verifyToken(created.token), { agentName: 'cam-1', tokenId: created.tokenId }, 'the Secret verifies');
      assert.notEqual((await tokens.createToken('cam-1')).token.reveal(), text, 'a second token differs');
    });

    it('never stores the token text or its secret, only a hash', async (t) => {
      const fx = await openBackendStore(t, backend);
      await fx.tokens.createAgent('cam-1');
      const text = (await fx.tokens.createToken('cam-1')).token.reveal();
      const secret = text.split('_').slice(2).join('_');
      await fx.tokens.verifyToken(text);
      const dump = await fx.dumpRows();
      assert.ok(dump.includes('cam-1'), 'the dump does contain the stored rows');
      assert.ok(!dump.includes(secret), 'no row holds the secret, in text or base64url');
      const hex = Buffer.from(secret, 'base64url').toString('hex');
      assert.ok(!dump.includes(hex), 'no row holds the secret bytes');
      const files = await fx.dataFiles();
      assert.ok(files.length > 0, 'the database files were read');
      for (const bytes of files) {
        assert.equal(bytes.indexOf(secret), -1, 'no database file contains the secret');
        assert.equal(bytes.indexOf(Buffer.from(secret, 'base64url')), -1, 'no database file contains the secret bytes');
      }
    });

    it('returns null for malformed, unknown and tampered tokens', async (t) => {
      const { tokens } = await openBackendStore(t, backend);
      await tokens.createAgent('cam-1');
      const text = (await tokens.createToken('cam-1')).token.reveal();
      const [, id, secret] = /^vt_([0-9a-f]{16})_(.+)$/.exec(text) as RegExpExecArray;
      const flipped = (secret as string).slice(0, -1) + ((secret as string).endsWith('A') ? 'B' : 'A');
      const cases: Record<string, string> = {
        empty: '',
        garbage: 'not-a-token',
        'prefix only': 'vt_',
        'wrong prefix': `vtv_${id}_${secret}`,
        'uppercase id': `vt_${(id as string).toUpperCase()}_${secret}`,
        'short secret': `vt_${id}_${(secret as string).slice(1)}`,
        'tampered secret': `vt_${id}_${flipped}`,
        'unknown id': `vt_${'0'.repeat(16)}_${secret}`,
        'trailing space': `${text} `,
        huge: `vt_${id}_${'A'.repeat(100_000)}`,
      };
      for (const [name, candidate] of Object.entries(cases)) {
        assert.equal(await tokens.verifyToken(candidate), null, `${name} gives null`);
      }
      assert.notEqual(await tokens.verifyToken(text), null, 'the genuine token still verifies');
    });

    it('compares secrets with crypto.timingSafeEqual', async (t) => {
      const { tokens } = await openBackendStore(t, backend);
      await tokens.createAgent('cam-1');
      const text = (await tokens.createToken('cam-1')).token.reveal();
      const spy = mock.method(crypto, 'timingSafeEqual');
      syncBuiltinESMExports();
      t.after(() => {
        spy.mock.restore();
        syncBuiltinESMExports();
      });
      assert.notEqual(await tokens.verifyToken(text), null, 'the token verifies under the spy');
      assert.equal(spy.mock.callCount(), 1, 'one constant-time comparison for a known id');
      await tokens.verifyToken(`vt_${'0'.repeat(16)}_${text.slice(20)}`);
      assert.equal(spy.mock.callCount(), 2, 'an unknown id is compared too, against a dummy hash');
      const args = spy.mock.calls[0]?.arguments as unknown as [Uint8Array, Uint8Array];
      assert.equal(args[0].length, 32, 'the compared values are SHA-256 digests');
    });

    it('records creation and throttled last-use times', async (t) => {
      const clock = new ManualClock();
      const { tokens } = await openBackendStore(t, backend, { clock, tokens: { lastUsedThrottleMs: 60_000 } });
      await tokens.createAgent('cam-1');
      const t0 = clock.now();
      const created = await tokens.createToken('cam-1', { label: 'rack 3' });
      const info = async () => (await tokens.listTokens('cam-1'))[0];
      assert.equal((await info())?.createdAtMs, t0, 'createdAtMs is set');
      assert.equal((await info())?.lastUsedAtMs, null, 'an unused token has no lastUsedAtMs');
      assert.equal((await info())?.label, 'rack 3', 'the label is kept');

      clock.advance(1000);
      await tokens.verifyToken(created.token);
      assert.equal((await info())?.lastUsedAtMs, t0 + 1000, 'the first use is recorded');
      clock.advance(30_000);
      await tokens.verifyToken(created.token);
      assert.equal((await info())?.lastUsedAtMs, t0 + 1000, 'a use within the throttle is not written');
      clock.advance(30_000);
      await tokens.verifyToken(created.token);
      assert.equal((await info())?.lastUsedAtMs, t0 + 61_000, 'a use after the throttle is written');
      assert.equal((await tokens.getAgent('cam-1'))?.lastUsedAtMs, t0 + 61_000, 'the agent shows its latest token use');
    });

    it('rejects a token for an unknown agent and a label with control characters', async (t) => {
      const { tokens } = await openBackendStore(t, backend);
      await assert.rejects(() => tokens.createToken('ghost'), StoreNotFoundError, 'unknown agent');
      await tokens.createAgent('cam-1');
      await assert.rejects(() => tokens.createToken('cam-1', { label: 'a\nb' }), StoreValidationError, 'label with a newline');
      assert.deepEqual(await tokens.listTokens(), [], 'no token was stored');
    });
  });

  describe(`TokenStore revocation (${backend})`, () => {
    it('revokes one token by id, keeping its times, and leaves the agent’s other tokens working', async (t) => {
      const clock = new ManualClock();
      const { tokens } = await openBackendStore(t, backend, { clock });
      await tokens.createAgent('cam-1');
      const a = await tokens.createToken('cam-1');
      const b = await tokens.createToken('cam-1');
      await tokens.verifyToken(a.token);
      clock.advance(10_000);

      const result = await tokens.revokeToken(a.tokenId);
      assert.deepEqual(result, { revokedTokenIds: [a.tokenId], agentNames: ['cam-1'] }, 'the result names the token and agent');
      assert.equal(await tokens.verifyToken(a.token), null, 'the revoked token no longer verifies');
      assert.equal(await tokens.isTokenActive(a.tokenId), false, 'isTokenActive is false for it');
      assert.notEqual(await tokens.verifyToken(b.token), null, 'the other token still verifies');
      assert.equal(await tokens.isTokenActive(b.tokenId), true, 'isTokenActive is true for the other');

      const info = (await tokens.listTokens('cam-1')).find((x) => x.tokenId === a.tokenId);
      assert.equal(info?.revokedAtMs, clock.now(), 'revokedAtMs is recorded');
      assert.equal(info?.isActive, false, 'the listing marks it inactive');
      assert.notEqual(info?.createdAtMs, undefined, 'createdAtMs is kept');
      assert.notEqual(info?.lastUsedAtMs, null, 'lastUsedAtMs is kept');
      assert.equal((await tokens.getAgent('cam-1'))?.activeTokenCount, 1, 'the agent has one active token left');

      assert.deepEqual(await tokens.revokeToken(a.tokenId), { revokedTokenIds: [], agentNames: [] }, 'revoking again changes nothing');
    });

    it('revokes every token of an agent by agent name, and only that agent’s', async (t) => {
      const { tokens } = await openBackendStore(t, backend);
      await tokens.createAgent('cam-1');
      await tokens.createAgent('cam-2');
      const ids = [(await tokens.createToken('cam-1')).tokenId, (await tokens.createToken('cam-1')).tokenId].sort();
      const other = await tokens.createToken('cam-2');
      const result = await tokens.revokeToken('cam-1');
      assert.deepEqual([...result.revokedTokenIds].sort(), ids, 'both tokens of cam-1 are revoked');
      assert.deepEqual(result.agentNames, ['cam-1'], 'only cam-1 is affected');
      assert.notEqual(await tokens.verifyToken(other.token), null, 'cam-2’s token still verifies');
      await assert.rejects(() => tokens.revokeToken('nobody'), StoreNotFoundError, 'an unknown reference throws');
    });

    it('tells onRevoked listeners before revokeToken resolves, once per token, and survives a throwing listener', async (t) => {
      const { tokens } = await openBackendStore(t, backend);
      await tokens.createAgent('cam-1');
      const a = await tokens.createToken('cam-1');
      const seen: TokenRevocation[] = [];
      tokens.onRevoked(() => {
        throw new Error('listener bug');
      });
      const off = tokens.onRevoked((r) => seen.push(r));
      await tokens.revokeToken(a.tokenId);
      assert.equal(seen.length, 1, 'the listener saw one revocation before revokeToken resolved');
      assert.equal(seen[0]?.tokenId, a.tokenId, 'with the token id');
      assert.equal(seen[0]?.agentName, 'cam-1', 'and the agent name');
      assert.equal(seen[0]?.reason, 'revoked', 'and the reason');
      off();
      await tokens.revokeToken((await tokens.createToken('cam-1')).tokenId);
      assert.equal(seen.length, 1, 'a removed listener hears nothing more');
    });

    it('deletes an agent with its tokens and announces them as revoked', async (t) => {
      const { tokens, access } = await openBackendStore(t, backend);
      await tokens.createAgent('cam-1');
      const a = await tokens.createToken('cam-1');
      await access.setPolicy('cam-1', { mode: 'public' });
      const seen: TokenRevocation[] = [];
      tokens.onRevoked((r) => seen.push(r));

      const result = await tokens.deleteAgent('cam-1');
      assert.deepEqual(result, { revokedTokenIds: [a.tokenId], agentNames: ['cam-1'] }, 'the result names the token');
      assert.deepEqual(seen.map((r) => [r.tokenId, r.reason]), [[a.tokenId, 'agent-deleted']], 'listeners hear agent-deleted');
      assert.equal(await tokens.getAgent('cam-1'), undefined, 'the agent is gone');
      assert.equal(await tokens.verifyToken(a.token), null, 'its token no longer verifies');
      assert.deepEqual(await tokens.listTokens('cam-1'), [], 'its tokens are deleted');
      assert.equal(access.getPolicy('cam-1'), undefined, 'its policy is deleted');
      await assert.rejects(() => tokens.deleteAgent('cam-1'), StoreNotFoundError, 'deleting again throws');
    });

    it('announces a revocation made through another handle on the same database (the CLI, another node), once', async (t) => {
      const node = await openBackendStore(t, backend);
      const cli = await node.another();
      await node.tokens.createAgent('cam-1');
      const remote = await node.tokens.createToken('cam-1');
      const local = await node.tokens.createToken('cam-1');
      const seen: string[] = [];
      node.tokens.onRevoked((r) => seen.push(r.tokenId));
      const stop = node.tokens.watchRevocations({ intervalMs: 20 });
      t.after(stop);

      await node.tokens.revokeToken(local.tokenId);
      assert.deepEqual(seen, [local.tokenId], 'a local revocation is announced before revokeToken resolves');
      await cli.tokens.revokeToken(remote.tokenId);
      await waitFor(() => seen.length === 2, 'the other handle’s revocation is announced');
      assert.deepEqual(seen, [local.tokenId, remote.tokenId], 'announced after the local one, which is not repeated');
      assert.equal(await node.tokens.verifyToken(remote.token), null, 'the node no longer accepts the revoked token');
      // Another revocation after it: if the first were announced twice, it would show up again before this one.
      await cli.tokens.revokeToken((await cli.tokens.createToken('cam-1')).tokenId);
      await waitFor(() => seen.length === 3, 'a later revocation is announced');
      assert.equal(new Set(seen).size, 3, 'nothing was announced twice');
    });

    it('accepts a token created through another handle at once', async (t) => {
      const node = await openBackendStore(t, backend);
      const cli = await node.another();
      await cli.tokens.createAgent('cam-9');
      const created = await cli.tokens.createToken('cam-9');
      assert.deepEqual(await node.tokens.verifyToken(created.token), { agentName: 'cam-9', tokenId: created.tokenId }, 'verifies on the other handle');
    });
  });
}

describe('SqliteTokenStore revocation log', () => {
  it('lists revocations since a timestamp', async (t) => {
    const clock = new ManualClock();
    const { tokens } = openTestStore(t, await makeTempDir(t), { clock });
    await tokens.createAgent('cam-1');
    const a = await tokens.createToken('cam-1');
    const b = await tokens.createToken('cam-1');
    await tokens.revokeToken(a.tokenId);
    clock.advance(1000);
    const since = clock.now();
    await tokens.revokeToken(b.tokenId);
    assert.deepEqual(tokens.revocationsSince(since).map((r) => r.tokenId), [b.tokenId], 'only the later revocation');
    assert.equal(tokens.revocationsSince(0).length, 2, 'both since the epoch');
  });

  it('hears, by polling, a revocation made by another process, and not its own twice', async (t) => {
    const dir = await makeTempDir(t);
    const clock = new ManualClock();
    const relay = openTestStore(t, dir, { clock });
    const cli = openTestStore(t, dir, { clock });
    await relay.tokens.createAgent('cam-1');
    const remote = await relay.tokens.createToken('cam-1');
    const local = await relay.tokens.createToken('cam-1');
    const seen: string[] = [];
    relay.tokens.onRevoked((r) => seen.push(r.tokenId));
    const stop = relay.tokens.startRevocationPolling({ intervalMs: 250 });
    t.after(stop);

    await relay.tokens.revokeToken(local.tokenId);
    assert.deepEqual(seen, [local.tokenId], 'a local revocation is announced at once');
    await cli.tokens.revokeToken(remote.tokenId);
    assert.deepEqual(seen, [local.tokenId], 'a revocation in another connection is not seen before a poll');
    clock.advance(250);
    assert.deepEqual(seen, [local.tokenId, remote.tokenId], 'the next poll announces it, and not the local one again');
    clock.advance(250);
    assert.equal(seen.length, 2, 'later polls repeat nothing');

    stop();
    stop();
    assert.equal(clock.timerCount, 0, 'stopping (twice) leaves no timer');
  });

  it('stops polling when its AbortSignal aborts', async (t) => {
    const clock = new ManualClock();
    const { tokens } = openTestStore(t, await makeTempDir(t), { clock });
    const ac = new AbortController();
    tokens.startRevocationPolling({ signal: ac.signal });
    assert.equal(clock.timerCount, 1, 'a poll is scheduled');
    ac.abort();
    assert.equal(clock.timerCount, 0, 'abort cancels it');
  });
});
