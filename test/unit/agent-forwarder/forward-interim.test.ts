/**
 * LocalForwarder and interim responses: one final response per stream,
 * the local service's 1xx passed on only when the stream allows it
 * (`interimResponses`, the relay announced it), `Expect: 100-continue`
 * honoured towards the local service (the body waits for its 100, or for
 * `EXPECT_CONTINUE_TIMEOUT_MS`, and is never sent after an early answer),
 * and a 431 that names its code. The "relay" is a raw socket, so every byte
 * written on the stream is seen.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { EXPECT_CONTINUE_TIMEOUT_MS } from '../../../src/agent/local-forwarder.js';
import { FakeClock } from '../../helpers/mux-fake-clock.js';
import { connectRaw, listen, readToEnd, readUntil, startFront, startLocal } from './harness.js';

const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';
const EARLY_HINTS = 'HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\nLink: </b.js>; rel=preload\r\n\r\n';

/** A POST head with `Expect: 100-continue` for a `length`-byte body. */
function expectHead(length: number): string {
  return `POST /upload HTTP/1.1\r\nHost: edge.tunnel.test\r\nContent-Length: ${length}\r\nExpect: 100-continue\r\n\r\n`;
}

/** A local service that reads the whole body and answers `got N`; `sendContinue` as a Node server would. */
async function startReadingService(t: TestContext, sendContinue: boolean): Promise<{ port: number; bodies: Buffer[] }> {
  const bodies: Buffer[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      bodies.push(Buffer.concat(chunks));
      res.writeHead(200, { 'Content-Length': String(`got ${bodies.at(-1)?.length}`.length) });
      res.end(`got ${bodies.at(-1)?.length}`);
    });
  });
  // Without a listener Node says 100 itself; with one that does nothing, it never does.
  if (!sendContinue) server.on('checkContinue', (req: http.IncomingMessage, res: http.ServerResponse) => server.emit('request', req, res));
  return { port: await listen(t, server), bodies };
}

/** A raw local service: answers `answer` once the head arrived, and counts the bytes received after the head. */
async function startRawService(t: TestContext, answer: string): Promise<{ port: number; bytesAfterHead: () => number; heads: number }> {
  let after = 0;
  const state = { heads: 0 };
  const server = net.createServer((socket) => {
    let head = Buffer.alloc(0);
    let headDone = false;
    socket.on('data', (c: Buffer) => {
      if (headDone) {
        after += c.length;
        return;
      }
      head = Buffer.concat([head, c]);
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) return;
      headDone = true;
      state.heads += 1;
      after += head.length - end - 4;
      socket.end(answer);
    });
    socket.on('error', () => {});
  });
  const port = await listen(t, server);
  return {
    port,
    bytesAfterHead: () => after,
    get heads() {
      return state.heads;
    },
  };
}

describe('LocalForwarder: interim responses and Expect: 100-continue', () => {
  it('never writes a 100 Continue of its own on the stream (the Go relay would take it for the response)', async (t) => {
    const local = await startReadingService(t, true);
    const front = await startFront(t, { localAddr: `127.0.0.1:${local.port}` });
    const relay = await connectRaw(t, front.port);
    relay.write(expectHead(5) + 'hello');
    const text = (await readToEnd(relay)).toString('latin1');
    assert.match(text, /^HTTP\/1\.1 200 OK\r\n/, 'the final response is the first thing on the stream');
    assert.ok(!text.includes('100 Continue'), 'no 100 on the stream');
    assert.match(text, /got 5$/, 'the local service got the body');
  });

  it("passes the local service's 100 on when the stream allows interim responses, and the body only follows it", async (t) => {
    const local = await startReadingService(t, true);
    const front = await startFront(t, { localAddr: `127.0.0.1:${local.port}` }, { interimResponses: true });
    const relay = await connectRaw(t, front.port);
    relay.write(expectHead(5));
    const first = await readUntil(relay, (all) => all.includes('\r\n\r\n'));
    assert.equal(first.toString('latin1'), CONTINUE, "the local service's 100, exactly once");
    relay.write('hello');
    const rest = (await readToEnd(relay)).toString('latin1');
    assert.match(rest, /^HTTP\/1\.1 200 OK\r\n/, 'then the final response');
    assert.ok(!rest.includes('100 Continue'), 'no second 100');
    assert.deepEqual(local.bodies.map((b) => b.toString()), ['hello'], 'the body reached the local service');
  });

  it('never sends the body to a local service that answered before asking for it, and relays its answer', async (t) => {
    const local = await startRawService(t, 'HTTP/1.1 417 Expectation Failed\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnope');
    const front = await startFront(t, { localAddr: `127.0.0.1:${local.port}`, clock: new FakeClock() });
    const relay = await connectRaw(t, front.port);
    // A relay that does not wait (the Go relay) sends the body right after the head.
    relay.write(expectHead(64 * 1024) + 'x'.repeat(64 * 1024));
    const reply = await readUntil(relay, (all) => all.includes('nope'));
    assert.match(reply.toString('latin1'), /^HTTP\/1\.1 417 Expectation Failed\r\n/, 'the 417 is the response on the stream');
    relay.end();
    await front.nextRecord();
    assert.equal(local.heads, 1, 'the local service got the head');
    assert.equal(local.bytesAfterHead(), 0, 'and not one byte of the body');
  });

  it(`sends the body anyway after ${EXPECT_CONTINUE_TIMEOUT_MS} ms without an answer from the local service`, async (t) => {
    const clock = new FakeClock();
    const local = await startReadingService(t, false);
    const front = await startFront(t, { localAddr: `127.0.0.1:${local.port}`, clock });
    const relay = await connectRaw(t, front.port);
    relay.write(expectHead(5) + 'hello');
    const reply = readToEnd(relay);
    // The local service says nothing and waits for the body: only the (fake) timeout sends it.
    for (let turn = 0; local.bodies.length === 0; turn++) {
      assert.ok(turn < 10_000, 'the body reached the local service after the timeout');
      clock.advance(EXPECT_CONTINUE_TIMEOUT_MS);
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.match((await reply).toString('latin1'), /got 5$/, 'the body went after the timeout');
  });

  it('on that timeout, asks a visitor still waiting for its 100 for the body, where interim responses are allowed', async (t) => {
    const clock = new FakeClock();
    const local = await startReadingService(t, false);
    const front = await startFront(t, { localAddr: `127.0.0.1:${local.port}`, clock }, { interimResponses: true });
    const relay = await connectRaw(t, front.port);
    relay.write(expectHead(5));
    const cont = readUntil(relay, (all) => all.includes('\r\n\r\n'));
    let got: Buffer | undefined;
    void cont.then((b) => (got = b));
    for (let turn = 0; got === undefined; turn++) {
      assert.ok(turn < 10_000, 'a 100 came after the timeout');
      clock.advance(EXPECT_CONTINUE_TIMEOUT_MS);
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.equal((await cont).toString('latin1'), CONTINUE, 'the agent said 100 for the silent local service');
    relay.write('hello');
    const rest = (await readToEnd(relay)).toString('latin1');
    assert.match(rest, /^HTTP\/1\.1 200 OK\r\n[\s\S]*got 5$/, 'the body reached the local service, then its answer');
  });

  for (const interimResponses of [false, true]) {
    it(`${interimResponses ? 'passes' : 'drops'} the local service's 103 and 102 ${interimResponses ? 'when the stream allows them' : 'on a stream that does not allow them'}`, async (t) => {
      const local = await startLocal(t, (req, res) => {
        req.socket.write(EARLY_HINTS);
        res.writeProcessing();
        res.writeHead(200, { 'Content-Length': 4 });
        res.end('done');
      });
      const front = await startFront(t, { localAddr: `127.0.0.1:${local.port}` }, { interimResponses });
      const relay = await connectRaw(t, front.port);
      relay.write('GET /x HTTP/1.1\r\nHost: edge.tunnel.test\r\n\r\n');
      const text = (await readToEnd(relay)).toString('latin1');
      const expectedStart = interimResponses ? `${EARLY_HINTS}HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 200 OK\r\n` : 'HTTP/1.1 200 OK\r\n';
      assert.ok(text.startsWith(expectedStart), `the stream starts with ${JSON.stringify(expectedStart)} (got ${JSON.stringify(text.slice(0, 200))})`);
      assert.match(text, /done$/, 'then the body');
    });
  }

  it('answers a head over 128 KiB with 431 and X-Tunnel-Error, without touching the local service', async (t) => {
    let requests = 0;
    const local = await startLocal(t, (_req, res) => {
      requests += 1;
      res.end();
    });
    const front = await startFront(t, { localAddr: `127.0.0.1:${local.port}` });
    const relay = await connectRaw(t, front.port);
    const reply = readUntil(relay, (all) => all.includes('bytes\n'));
    relay.write(`GET /x HTTP/1.1\r\nHost: h\r\nX-Big: ${'b'.repeat(130 * 1024)}\r\n\r\n`);
    const text = (await reply).toString('latin1');
    assert.match(text, /^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/, 'status 431');
    assert.match(text, /\r\nX-Tunnel-Error: ERR_AGENT_HEADERS_TOO_LARGE\r\n/, 'the code');
    const record = await front.nextRecord();
    assert.equal(record.error, 'ERR_AGENT_HEADERS_TOO_LARGE', 'recorded with the code');
    assert.equal(requests, 0, 'the local service saw nothing');
  });
});
