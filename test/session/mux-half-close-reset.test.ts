/**
 * Stream endings over every transport: half-close in both directions (data
 * written after the peer's FIN still arrives), RST in both directions
 * without touching other streams, and the accept backlog (over it, SYNs get
 * RST; a session torn down with streams still waiting never crashes).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { StreamResetError, type MuxStream } from '../../src/mux/index.js';
import { forEachConnType } from '../helpers/mux-conn-types.js';
import { createSessionPair, echoInbound, leaveOpen, readAll, streamError, waitFor } from '../helpers/mux-sessions.js';

function isReset(err: Error): boolean {
  return err instanceof StreamResetError && err.code === 'ERR_MUX_STREAM_RESET';
}

forEachConnType((connType) => {
  describe(`Stream endings over ${connType.name}`, () => {
    it('keeps delivering the server\'s writes after the client half-closed (FIN from the client first)', async (t) => {
      const { client, server } = await createSessionPair(t, connType);
      const accepting = server.accept();
      const stream = client.openStream();
      stream.end('request');
      const inbound = await accepting;
      const request = await readAll(inbound);
      assert.equal(request.toString(), 'request', 'the server reads the client\'s bytes up to its FIN');
      assert.equal(inbound.writable, true, 'the server can still write after the client\'s FIN');
      const reply = readAll(stream);
      inbound.write('response part 1, ');
      inbound.end('part 2');
      assert.equal((await reply).toString(), 'response part 1, part 2', 'the client reads everything written after its own FIN');
      await waitFor(() => client.streamCount === 0 && server.streamCount === 0, 'the stream to close on both sides once both sent FIN');
    });

    it('keeps delivering the client\'s writes after the server half-closed (FIN from the server first)', async (t) => {
      const { client, server } = await createSessionPair(t, connType);
      const accepting = server.accept();
      const stream = client.openStream();
      stream.write('hello');
      const inbound = await accepting;
      inbound.end('bye');
      const fromServer = readAll(stream);
      assert.equal((await fromServer).toString(), 'bye', 'the client sees the server\'s FIN as the end of its readable side');
      assert.equal(stream.writable, true, 'the client can still write after the server\'s FIN');
      const fromClient = readAll(inbound);
      stream.write(' after your FIN');
      stream.end(', then mine');
      assert.equal((await fromClient).toString(), 'hello after your FIN, then mine', 'the server reads bytes written after it sent FIN');
      await waitFor(() => client.streamCount === 0 && server.streamCount === 0, 'the stream to close on both sides');
    });

    it('resets a stream from the client: the server side errors with StreamResetError and other streams carry on', async (t) => {
      const { client, server } = await createSessionPair(t, connType);
      const inbound: MuxStream[] = [];
      server.on('stream', (s: MuxStream) => inbound.push(s));
      const doomed = client.openStream();
      const survivor = client.openStream();
      doomed.write('x');
      survivor.write('y');
      await waitFor(() => inbound.length === 2, 'both streams to reach the server');
      const [serverDoomed, serverSurvivor] = inbound as [MuxStream, MuxStream];
      const reset = streamError(serverDoomed);
      doomed.destroy();
      const err = await reset;
      assert.ok(isReset(err), 'the peer\'s stream is destroyed with StreamResetError (ERR_MUX_STREAM_RESET)');
      assert.equal((err as StreamResetError).streamId, doomed.id, 'the error names the reset stream');
      assert.equal(serverSurvivor.destroyed, false, 'the other stream is untouched');
      const rest = readAll(serverSurvivor);
      survivor.end('z');
      assert.equal((await rest).toString(), 'yz', 'the other stream delivers all its bytes');
      await waitFor(() => server.streamCount === 1, 'the reset stream to leave the server session');
      leaveOpen(survivor, serverSurvivor);
    });

    it('resets a stream from the server: the client side errors with StreamResetError and other streams carry on', async (t) => {
      const { client, server } = await createSessionPair(t, connType);
      echoInbound(server);
      const inbound: MuxStream[] = [];
      server.on('stream', (s: MuxStream) => inbound.push(s));
      const doomed = client.openStream();
      const survivor = client.openStream();
      doomed.write('x');
      await waitFor(() => inbound.length === 2, 'both streams to reach the server');
      const reset = streamError(doomed);
      inbound[0]?.destroy();
      const err = await reset;
      assert.ok(isReset(err), 'the client\'s stream is destroyed with StreamResetError (ERR_MUX_STREAM_RESET)');
      const echoed = readAll(survivor);
      survivor.end('still here');
      assert.equal((await echoed).toString(), 'still here', 'the other stream still echoes');
      assert.equal(client.isClosed || server.isClosed, false, 'the sessions stay open');
    });

    it('resets SYNs over the accept backlog when nobody accepts, and keeps the ones within it', async (t) => {
      const acceptBacklog = 4;
      const { client, server } = await createSessionPair(t, connType, { server: { acceptBacklog } });
      const streams = Array.from({ length: acceptBacklog + 2 }, () => client.openStream());
      const outcomes = streams.map((s) => {
        s.write('foo');
        return new Promise<'reset' | 'other'>((resolve) => s.once('error', (e: Error) => resolve(isReset(e) ? 'reset' : 'other')));
      });
      const over = await Promise.all(outcomes.slice(acceptBacklog));
      assert.deepEqual(over, ['reset', 'reset'], 'both streams beyond the backlog are reset');
      assert.equal(server.streamCount, acceptBacklog, 'the server holds exactly a backlog of waiting streams');
      assert.ok(streams.slice(0, acceptBacklog).every((s) => !s.destroyed), 'streams within the backlog stay open');
      for (let i = 0; i < acceptBacklog; i++) {
        const accepted = await server.accept();
        assert.equal(accepted.id, streams[i]?.id, `accept() #${i} yields the streams in arrival order`);
        assert.equal(accepted.read(3)?.toString(), 'foo', `the bytes sent before accept() wait in stream ${accepted.id}`);
        leaveOpen(accepted);
      }
      await waitFor(() => streams.slice(0, acceptBacklog).every((s) => s.acknowledged), 'accept() to acknowledge each stream');
      leaveOpen(...streams);
    });

    it('resets inbound streams beyond maxStreams and keeps the ones within it', async (t) => {
      const { client, server } = await createSessionPair(t, connType, { server: { maxStreams: 2 } });
      echoInbound(server);
      const streams = [client.openStream(), client.openStream(), client.openStream()];
      const third = streamError(streams[2] as MuxStream);
      streams[2]?.write('one too many');
      assert.ok(isReset(await third), 'the third stream is reset');
      const echoed = readAll(streams[0] as MuxStream);
      streams[0]?.end('first');
      assert.equal((await echoed).toString(), 'first', 'a stream within the limit still works');
      leaveOpen(...streams);
    });

    it('drops a backlogged stream quietly when its opener resets it before accept()', async (t) => {
      const { client, server } = await createSessionPair(t, connType, { server: { acceptBacklog: 2 } });
      const stream = client.openStream();
      stream.write('soon gone');
      await waitFor(() => server.streamCount === 1, 'the SYN to reach the backlog');
      stream.destroy();
      await waitFor(() => server.streamCount === 0, 'the reset to remove the waiting stream');
      const next = client.openStream();
      next.end('next');
      const accepted = await server.accept();
      assert.equal(accepted.id, next.id, 'accept() skips the stream that was reset while waiting');
      assert.equal((await readAll(accepted)).toString(), 'next', 'and reads the next stream');
      leaveOpen(next);
    });

    it('tears down a session with streams still in the backlog without an unhandled error', async (t) => {
      const { client, server } = await createSessionPair(t, connType);
      const stream = client.openStream();
      stream.write('never accepted');
      await waitFor(() => server.streamCount === 1, 'the SYN to reach the backlog');
      const clientStreamError = streamError(stream);
      server.destroy();
      assert.equal(server.streamCount, 0, 'the waiting stream is gone');
      await once(client, 'close');
      const err = await clientStreamError;
      assert.equal((err as { code?: string }).code, 'ERR_MUX_SESSION_CLOSED', 'the opener\'s stream fails with SessionClosedError');
    });
  });
});
