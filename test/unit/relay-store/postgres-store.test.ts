/**
 * What only the PostgreSQL backend does, against a real server: versioned
 * migrations (applied once when two nodes start together, a newer schema
 * refused), following the change log after its LISTEN connection was cut
 * (the position, not the notifications, is the truth), and a store outage:
 * health down, memory still answering, what cannot be checked refused with
 * StoreUnavailableError, health up again once the server is back.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { openRelayStore, PG_SCHEMA_VERSION, SchemaVersionError, StoreUnavailableError, type StoreHealth } from '../../../src/relay/store/index.js';
import { startPostgres, type PostgresServer } from '../../helpers/postgres-server.js';
import { waitFor } from '../../helpers/wait-for.js';

// A server of this file's own: the outage test stops and restarts it.
let server: PostgresServer | undefined;
const pg = async (): Promise<PostgresServer> => (server ??= await startPostgres());
after(() => server?.destroy());

describe('PostgreSQL store', () => {
  it('migrates a new database once when two nodes open it together, and records the version', async (t) => {
    const url = await (await pg()).createDatabase('mig');
    const [a, b] = await Promise.all([openRelayStore(url), openRelayStore(url)]);
    t.after(() => Promise.all([a.close(), b.close()]));
    const rows = await (await pg()).query<{ version: number }>(new URL(url).pathname.slice(1), 'SELECT version FROM visiona_schema');
    assert.deepEqual(rows, [{ version: PG_SCHEMA_VERSION }], 'one row with the current version');
    await a.tokens.createAgent('edge');
    assert.equal((await b.tokens.getAgent('edge'))?.name, 'edge', 'both use the same tables');
  });

  it('refuses a database written by a newer build, unchanged', async () => {
    const s = await pg();
    const url = await s.createDatabase('newer');
    const first = await openRelayStore(url);
    await first.close();
    const db = new URL(url).pathname.slice(1);
    await s.query(db, 'UPDATE visiona_schema SET version = $1', [PG_SCHEMA_VERSION + 1]);
    await assert.rejects(openRelayStore(url), (e: unknown) => e instanceof SchemaVersionError && e.foundVersion === PG_SCHEMA_VERSION + 1, 'SchemaVersionError with the version found');
    assert.deepEqual(await s.query(db, 'SELECT version FROM visiona_schema'), [{ version: PG_SCHEMA_VERSION + 1 }], 'never downgraded');
  });

  it('catches up from its position when its LISTEN connection was cut and notifications were missed', async (t) => {
    const s = await pg();
    const url = await s.createDatabase('catchup');
    const node = await openRelayStore(url, { postgres: { changePollIntervalMs: 60_000 } });
    const cli = await openRelayStore(url);
    t.after(() => Promise.all([node.close(), cli.close()]));
    await cli.tokens.createAgent('edge');
    const token = await cli.tokens.createToken('edge');
    await waitFor(() => node.access.getPolicy('edge') !== undefined, 'the node learns of the agent');
    const revoked: string[] = [];
    node.tokens.onRevoked((r) => revoked.push(r.tokenId));
    // Cut the node's LISTEN connection, and revoke while it is down: that notification goes nowhere.
    const db = new URL(url).pathname.slice(1);
    await s.query(db, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'visiona-tunnel (listen)' AND datname = $1", [db]);
    await cli.tokens.revokeToken(token.tokenId);
    await waitFor(() => revoked.length === 1, 'the revocation announced after the listener reconnected and read from its position', 20_000);
    assert.deepEqual(revoked, [token.tokenId], 'exactly the missed revocation, once');
    assert.equal(await node.tokens.verifyToken(token.token), null, 'and the token is refused');
  });

  it('serves from memory through an outage, refuses what it cannot check, and comes back', async (t) => {
    const s = await pg();
    const url = await s.createDatabase('outage');
    const store = await openRelayStore(url, { postgres: { connectTimeoutMs: 500, changePollIntervalMs: 200 } });
    t.after(() => store.close());
    await store.tokens.createAgent('edge');
    await store.access.setPolicy('edge', { mode: 'public' });
    const known = await store.tokens.createToken('edge');
    const healths: StoreHealth[] = [];
    store.onHealthChange((h) => healths.push(h));

    await s.stop();
    await waitFor(() => store.health === 'down', 'health goes down', 20_000);
    assert.deepEqual(store.access.getPolicy('edge'), { mode: 'public' }, 'policies answer from memory');
    assert.deepEqual(await store.tokens.verifyToken(known.token), { agentName: 'edge', tokenId: known.tokenId }, 'a token in memory still verifies');
    await assert.rejects(store.tokens.verifyToken(`vt_${'0'.repeat(16)}_${'A'.repeat(43)}`), StoreUnavailableError, 'a token unknown here cannot be checked');
    await assert.rejects(store.tokens.createAgent('other'), (e: unknown) => e instanceof StoreUnavailableError && e.code === 'ERR_STORE_UNAVAILABLE', 'writes fail as unavailable');

    await s.start();
    await waitFor(() => store.health === 'up', 'health comes back', 30_000);
    await store.tokens.createAgent('other');
    assert.equal((await store.tokens.getAgent('other'))?.name, 'other', 'writes work again');
    assert.deepEqual(healths, ['down', 'up'], 'each change of health announced once');
  });
});
