/**
 * A slow visitor must not make the agent buffer a large download: with the
 * visitor paused, backpressure runs visitor <- ref-relay <- yamux window <-
 * agent stream <- forwarder <- local service, and the local service ends up
 * blocked in write() after producing a small fraction of 1 GiB. Asserts on
 * stream and window state, not on timing; the reader pauses instead of
 * reading the whole GiB.
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { describe, it } from 'node:test';
import { TunnelClient } from '../../src/agent/tunnel-client.js';
import type { MuxStream } from '../../src/mux/index.js';
import { HookRecorder, originPattern, startLocalService, waitUntil } from '../agent/agent-fixtures.js';
import { RefProcess } from '../helpers/ref-process.js';
import { interopSkip } from '../helpers/interop-skip.js';

const TOKEN = 'slow-visitor-token';
const TOTAL_BYTES = 1024 * 1024 * 1024;
const CHUNK_BYTES = 64 * 1024;
/** Far below 1 GiB, far above what loopback socket buffers plus one yamux window can hold. */
const PRODUCED_BOUND_BYTES = 64 * 1024 * 1024;

/** A local service streaming TOTAL_BYTES of the ref-origin pattern with backpressure, observable by the test. */
function bigDownloadHandler(state: { produced: number; blocked: boolean; responses: number }): http.RequestListener {
  return (_req, res) => {
    state.responses += 1;
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(TOTAL_BYTES) });
    const pump = (): void => {
      while (state.produced < TOTAL_BYTES) {
        const chunk = originPattern(CHUNK_BYTES, state.produced);
        state.produced += chunk.length;
        if (!res.write(chunk)) {
          state.blocked = true;
          res.once('drain', () => {
            state.blocked = false;
            pump();
          });
          return;
        }
      }
      res.end();
    };
    res.on('close', () => (state.produced = Math.min(state.produced, TOTAL_BYTES)));
    pump();
  };
}

/**
 * A condition that holds once the download is held up all the way to the local
 * service: blocked in write(), no send credit, the forwarder waiting for
 * 'drain', and not one byte produced since the previous check.
 */
function settledBackpressure(state: { produced: number; blocked: boolean }, stream: MuxStream): () => boolean {
  let producedAtLastCheck = -1;
  return () => {
    const still = state.produced === producedAtLastCheck;
    producedAtLastCheck = state.produced;
    return still && state.blocked && stream.sendWindowBytes === 0 && stream.writableNeedDrain;
  };
}

describe('our agent serving a slow visitor through ref-relay', { skip: interopSkip('ref-relay') }, () => {
  it('keeps a 1 GiB download bounded by backpressure while the visitor is paused, and resumes intact', async (t) => {
    const state = { produced: 0, blocked: false, responses: 0 };
    const local = await startLocalService(t, bigDownloadHandler(state));
    const { process: relay, listening } = await RefProcess.start('ref-relay', ['-listen', '127.0.0.1:0', '-public', '127.0.0.1:0', '-token', TOKEN]);
    t.after(() => relay.stop());
    const rec = new HookRecorder();
    const client = new TunnelClient({ relayUrl: listening.url as string, token: TOKEN, localAddr: local.addr, hooks: rec.hooks });
    t.after(() => client.stop());
    client.start();
    await rec.waitForCount('up', 1);
    await relay.waitForEvent('agent_connected');
    const streams: MuxStream[] = [];
    client.session?.on('stream', (s: MuxStream) => streams.push(s));

    // 1. The visitor starts the download, reads the first 4 MiB, then stops reading.
    const res = await new Promise<http.IncomingMessage>((resolve, reject) =>
      http.get(`http://${listening.public as string}/big`, { agent: false }, resolve).once('error', reject),
    );
    t.after(() => res.destroy());
    assert.equal(res.statusCode, 200, 'status 200');
    assert.equal(res.headers['content-length'], String(TOTAL_BYTES), '1 GiB announced');
    let received = 0;
    let intact = true;
    let target = 4 * 1024 * 1024;
    const onData = (chunk: Buffer): void => {
      if (intact && !chunk.equals(originPattern(chunk.length, received))) intact = false;
      received += chunk.length;
      if (received >= target) res.pause();
    };
    res.on('data', onData);
    await waitUntil(() => res.isPaused(), 'the visitor to pause after 4 MiB');

    // 2. Backpressure reaches the local service: it is blocked in write(), and the agent's stream has no send credit.
    await waitUntil(() => streams.length === 1, 'the agent-side stream');
    const stream = streams[0] as MuxStream;
    // The local service's write() returns false on every 64 KiB chunk even while
    // data flows, and the window can touch 0 between two updates from the relay:
    // wait until nothing moved between two polls, not for one lucky sample.
    const backpressured = settledBackpressure(state, stream);
    await waitUntil(backpressured, 'the local service blocked and the send window used up', 60_000);
    assert.ok(state.produced < PRODUCED_BOUND_BYTES, `the local service produced ${state.produced} bytes, under ${PRODUCED_BOUND_BYTES}`);
    assert.ok(state.produced < TOTAL_BYTES / 16, 'a small fraction of the 1 GiB');
    assert.equal(stream.sendWindowBytes, 0, 'the relay granted no more credit: the agent may not send');
    assert.ok(
      stream.writableLength <= stream.writableHighWaterMark + 2 * CHUNK_BYTES,
      `the agent stream buffers ${stream.writableLength} bytes, about its high-water mark (${stream.writableHighWaterMark})`,
    );
    assert.equal(stream.writableNeedDrain, true, 'the forwarder is waiting for the stream to drain');
    assert.equal(client.activeStreams, 1, 'one stream being served');

    // 3. The visitor reads another 32 MiB: the download resumes and stays intact, then is bounded again.
    const producedBefore = state.produced;
    target = received + 32 * 1024 * 1024;
    res.resume();
    await waitUntil(() => received >= target && res.isPaused(), 'another 32 MiB read', 60_000);
    assert.ok(intact, 'every byte matched the pattern');
    assert.ok(state.produced > producedBefore, 'the local service produced more once the visitor read');
    await waitUntil(settledBackpressure(state, stream), 'blocked again', 60_000);
    assert.ok(state.produced - received < PRODUCED_BOUND_BYTES, `in flight ${state.produced - received} bytes, bounded`);
    assert.equal(state.responses, 1, 'one local request');
  });
});
