/**
 * Session basics over every transport: open/accept with echo, stream ids by
 * role, ping RTT, 1 000 concurrent streams, and a larger window advertised
 * through window updates and used.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AbortError } from '../../src/shared/errors.js';
import type { MuxStream } from '../../src/mux/index.js';
import { forEachConnType } from '../helpers/mux-conn-types.js';
import { RawPeer } from '../helpers/mux-raw-peer.js';
import { byteLength, createSessionPair, drainSync, echoInbound, leaveOpen, patternBytes, readAll, waitFor } from '../helpers/mux-sessions.js';

forEachConnType((connType) => {
  describe(`Session over ${connType.name}`, () => {
    it('opens a stream from the client and echoes its bytes through a server listening for streams', async (t) => {
      const { client, server } = await createSessionPair(t, connType);
      echoInbound(server);
      const stream = client.openStream();
      assert.equal(stream.id, 1, 'the client opens odd ids, starting at 1');
      const data = patternBytes(300_000, 1);
      stream.end(data);
      const echoed = await readAll(stream);
      assert.ok(echoed.equals(data), 'every byte came back in order');
    });

    it('delivers streams to accept() when no listener is set, and opens streams from the server too', async (t) => {
      const { client, server } = await createSessionPair(t, connType);
      const accepting = server.accept();
      const fromClient = client.openStream();
      fromClient.end('from client');
      const accepted = await accepting;
      assert.equal(accepted.id, fromClient.id, 'accept() yields the stream the client opened');
      assert.equal((await readAll(accepted)).toString(), 'from client', 'its bytes arrive');

      const clientAccepting = client.accept();
      const fromServer = server.openStream();
      assert.equal(fromServer.id, 2, 'the server opens even ids, starting at 2');
      fromServer.end('from server');
      const clientSide = await clientAccepting;
      assert.equal((await readAll(clientSide)).toString(), 'from server', 'server-opened streams carry bytes too');
      leaveOpen(fromClient, accepted, fromServer, clientSide);
    });

    it('lets an aborted accept() reject without taking a stream', async (t) => {
      const { client, server } = await createSessionPair(t, connType);
      const controller = new AbortController();
      const accepting = server.accept({ signal: controller.signal });
      controller.abort();
      await assert.rejects(accepting, AbortError, 'accept() rejects with AbortError');
      const stream = client.openStream();
      stream.write('x');
      const next = await server.accept();
      leaveOpen(stream, next);
      assert.equal(next.id, stream.id, 'the next stream goes to the next accept(), not the aborted one');
    });

    it('measures ping round trips both ways and keeps the last RTT readable', async (t) => {
      const { client, server } = await createSessionPair(t, connType);
      assert.equal(client.lastRttMs, undefined, 'no RTT before the first ping');
      const rtt = await client.ping();
      assert.ok(Number.isFinite(rtt) && rtt >= 0, 'the client ping resolves with a finite RTT');
      assert.equal(client.lastRttMs, rtt, 'lastRttMs is the last RTT measured');
      const serverRtt = await server.ping();
      assert.equal(server.lastRttMs, serverRtt, 'the server can ping too');
      const aborted = new AbortController();
      aborted.abort();
      assert.throws(() => client.ping({ signal: aborted.signal }), AbortError, 'an already-aborted signal throws at once');
    });

    it('echoes 1 000 concurrent streams, each with its own bytes', async (t) => {
      const { client, server } = await createSessionPair(t, connType);
      echoInbound(server);
      const count = 1000;
      const results = Array.from({ length: count }, (_, i) => {
        const stream = client.openStream();
        const data = patternBytes(1024 + (i % 7) * 100, i);
        stream.end(data);
        return readAll(stream).then((echoed) => echoed.equals(data));
      });
      assert.equal(client.streamCount, count, 'all streams are open at the same time');
      const ok = await Promise.all(results);
      assert.equal(ok.filter(Boolean).length, count, 'every stream got exactly its own bytes back');
      await waitFor(() => client.streamCount === 0 && server.streamCount === 0, 'every stream to be closed on both sides');
    });

    it('advertises a 4 MiB window with its window update and lets the peer use all of it', async (t) => {
      const windowBytes = 4 * 1024 * 1024;
      const { client, server, link } = await createSessionPair(t, connType, { server: { maxStreamWindowBytes: windowBytes } });
      let inbound: MuxStream | undefined;
      server.on('stream', (s: MuxStream) => (inbound = s));
      const tap = new RawPeer(link.b);
      const stream = client.openStream();
      leaveOpen(stream);
      await waitFor(() => stream.acknowledged, 'the ACK carrying the window update');
      assert.equal(stream.sendWindowBytes, windowBytes, 'the sender may send the whole 4 MiB window at once');
      const data = patternBytes(windowBytes, 3);
      stream.write(data);
      await waitFor(() => stream.sendWindowBytes === 0, 'the sender to use its whole window');
      assert.ok(inbound !== undefined, 'the server has the stream');
      await waitFor(() => tap.dataBytes(stream.id) === windowBytes, 'the whole window to reach the receiver');
      assert.equal(inbound.receiveWindowBytes, 0, 'the receiver granted nothing more while nobody read');
      const held = drainSync(inbound);
      assert.equal(byteLength(held), windowBytes, 'the receiver held exactly 4 MiB, unread');
      stream.end();
      const received = Buffer.concat([...held, await readAll(inbound)]);
      assert.ok(received.equals(data), 'all 4 MiB arrive intact once read');
    });
  });
});

