/**
 * The peer link's parts on real loopback sockets: the handshake (mutual
 * proof of the shared secret, refusals by reason, replay), the stream
 * preamble, the splice of two streams, and a stream request answered
 * `not_here` / `ok` over a real pair of nodes' links.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, connect, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { Session } from '../../../src/mux/index.js';
import { resolveClusterConfig, defaultNodeId } from '../../../src/relay/cluster/cluster-config.js';
import { helloMac, NonceCache } from '../../../src/relay/cluster/peer-auth.js';
import { acceptPeer, dialPeer } from '../../../src/relay/cluster/peer-handshake.js';
import { decodePeerAnswer, decodePeerRequest, encodePeerAnswer, encodePeerRequest } from '../../../src/relay/cluster/peer-preamble.js';
import { PeerLink } from '../../../src/relay/cluster/peer-link.js';
import { spliceStreams } from '../../../src/relay/cluster/splice-streams.js';
import { systemClock } from '../../../src/shared/clock.js';
import { TunnelError } from '../../../src/shared/errors.js';
import { noopLogger } from '../../../src/shared/logger.js';
import { Secret } from '../../../src/shared/secret.js';
import { listenOnLoopback } from '../../helpers/loopback.js';
import { readBytes } from '../../helpers/ws-fixtures.js';

const SECRET = new Secret('the-shared-secret-of-this-test-cluster');
const OTHER = new Secret('another-secret-of-another-cluster-entirely');

/** A peer listener of node `nodeId` on loopback: every accepted, authenticated socket and every refusal are recorded. */
async function acceptor(t: { after(fn: () => unknown): void }, nodeId: string, secret = SECRET) {
  const nonces = new NonceCache();
  const accepted: { peer: string; socket: Socket }[] = [];
  const refused: TunnelError[] = [];
  const server = createServer((socket) => {
    socket.on('error', () => {});
    acceptPeer(socket, { nodeId, secret, nonces, timeoutMs: 2000, clock: systemClock }).then(
      (peer) => accepted.push({ peer, socket }),
      (err: TunnelError) => refused.push(err),
    );
  });
  const port = await listenOnLoopback(t, server);
  t.after(() => {
    for (const a of accepted) a.socket.destroy();
  });
  return { address: `127.0.0.1:${port}`, accepted, refused, port };
}

/** Sends one raw hello line and returns the acceptor's answer line (then hangs up). */
async function rawHello(port: number, hello: Record<string, unknown>): Promise<string> {
  const socket = connect({ host: '127.0.0.1', port });
  await once(socket, 'connect');
  socket.write(`${JSON.stringify(hello)}\n`);
  let text = '';
  socket.setEncoding('utf8');
  await new Promise<void>((resolve) => {
    socket.on('data', (c: string) => {
      text += c;
      if (text.includes('\n')) resolve();
    });
    socket.once('close', () => resolve());
  });
  socket.destroy();
  return text.split('\n')[0] as string;
}

describe('Peer link handshake', () => {
  it('authenticates both ways with the shared secret and hands both sides the connection', async (t) => {
    const b = await acceptor(t, 'n2');
    const socket = await dialPeer({ address: b.address, fromNodeId: 'n1', toNodeId: 'n2', secret: SECRET, tls: null, timeoutMs: 2000, clock: systemClock });
    t.after(() => socket.destroy());
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(b.accepted.length, 1, 'the acceptor took the link');
    assert.equal(b.accepted[0]?.peer, 'n1', 'and knows who dialed');
    socket.write('after the handshake');
    assert.equal((await readBytes(b.accepted[0]!.socket, 19)).toString(), 'after the handshake', 'the connection carries bytes on from there');
  });

  it('refuses a dialer with another secret (ERR_CLUSTER_PEER_AUTH on both sides), and a dialer refuses an acceptor with another secret', async (t) => {
    const b = await acceptor(t, 'n2');
    await assert.rejects(
      dialPeer({ address: b.address, fromNodeId: 'n1', toNodeId: 'n2', secret: OTHER, tls: null, timeoutMs: 2000, clock: systemClock }),
      (err: unknown) => err instanceof TunnelError && err.code === 'ERR_CLUSTER_PEER_AUTH' && /refused/.test(err.message),
      'the dialer learns it was refused',
    );
    await waitFor(() => b.refused.length === 1);
    assert.equal(b.refused[0]?.code, 'ERR_CLUSTER_PEER_AUTH', 'the acceptor refused for authentication');
    assert.match(b.refused[0]?.message ?? '', /bad proof/, 'because the proof was wrong');

    const impostor = await acceptor(t, 'n3', OTHER);
    // The impostor cannot check our proof either, so it refuses: an impostor that accepted anyway would fail our check of its proof.
    await assert.rejects(
      dialPeer({ address: impostor.address, fromNodeId: 'n1', toNodeId: 'n3', secret: SECRET, tls: null, timeoutMs: 2000, clock: systemClock }),
      (err: unknown) => err instanceof TunnelError && err.code === 'ERR_CLUSTER_PEER_AUTH',
      'no link to a node of another cluster',
    );
  });

  it('refuses a hello meant for another node, one with a stale time, and one replayed', async (t) => {
    const b = await acceptor(t, 'n2');
    const now = Date.now();
    const nonce = 'a'.repeat(32);
    const meantForN3 = await rawHello(b.port, { v: 1, from: 'n1', to: 'n3', ts: now, nonce, mac: helloMac(SECRET, 'n1', 'n3', now, nonce) });
    assert.deepEqual(JSON.parse(meantForN3), { v: 1, ok: false, code: 'ERR_CLUSTER_PEER_AUTH' }, 'a hello for n3 is refused by n2');
    const old = now - 5 * 60_000;
    const stale = await rawHello(b.port, { v: 1, from: 'n1', to: 'n2', ts: old, nonce: 'b'.repeat(32), mac: helloMac(SECRET, 'n1', 'n2', old, 'b'.repeat(32)) });
    assert.deepEqual(JSON.parse(stale), { v: 1, ok: false, code: 'ERR_CLUSTER_PEER_AUTH' }, 'a five-minute-old hello is refused');
    const fresh = { v: 1, from: 'n1', to: 'n2', ts: now, nonce: 'c'.repeat(32), mac: helloMac(SECRET, 'n1', 'n2', now, 'c'.repeat(32)) };
    const first = await rawHello(b.port, fresh);
    assert.equal((JSON.parse(first.split('\n')[0] as string) as { ok: boolean }).ok, true, 'a fresh hello is welcome');
    const replay = await rawHello(b.port, fresh);
    assert.deepEqual(JSON.parse(replay), { v: 1, ok: false, code: 'ERR_CLUSTER_PEER_AUTH' }, 'the same hello again is refused');
    await waitFor(() => b.refused.length === 3);
    assert.deepEqual(
      b.refused.map((e) => /reason: ([a-z ]+)/.exec(e.message)?.[1]),
      ['meant for another node', 'clock skew', 'replayed hello'],
      'each refusal names its reason',
    );
  });

  it('refuses garbage and an oversized line with ERR_CLUSTER_PEER_PROTOCOL', async (t) => {
    const b = await acceptor(t, 'n2');
    const garbage = await rawHello(b.port, { hello: 'world' });
    assert.deepEqual(JSON.parse(garbage), { v: 1, ok: false, code: 'ERR_CLUSTER_PEER_PROTOCOL' }, 'a JSON line that is no hello');
    const socket = connect({ host: '127.0.0.1', port: b.port });
    await once(socket, 'connect');
    socket.write('x'.repeat(4096));
    socket.on('data', () => {});
    await once(socket, 'close');
    await waitFor(() => b.refused.length === 2);
    assert.ok(b.refused.every((e) => e.code === 'ERR_CLUSTER_PEER_PROTOCOL'), 'both refused as protocol errors');
    assert.match(b.refused[1]?.message ?? '', /longer than 1024 bytes/, 'the long line is cut at the bound');
  });

  it('fails a dial to a port nothing listens on with ERR_CLUSTER_PEER_UNREACHABLE', async () => {
    const server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as { port: number }).port;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await assert.rejects(
      dialPeer({ address: `127.0.0.1:${port}`, fromNodeId: 'n1', toNodeId: 'n2', secret: SECRET, tls: null, timeoutMs: 2000, clock: systemClock }),
      (err: unknown) => err instanceof TunnelError && err.code === 'ERR_CLUSTER_PEER_UNREACHABLE',
    );
  });
});

describe('Peer stream preamble', () => {
  it('round-trips requests and answers, and refuses malformed ones', () => {
    assert.deepEqual(decodePeerRequest(encodePeerRequest({ agent: 'edge-1', link: 1 }).trim()), { agent: 'edge-1', link: 1 }, 'with a link');
    assert.deepEqual(decodePeerRequest(encodePeerRequest({ agent: 'edge-1' }).trim()), { agent: 'edge-1' }, 'without');
    for (const status of ['ok', 'not_here', 'draining', 'busy'] as const) assert.equal(decodePeerAnswer(encodePeerAnswer(status).trim()), status, status);
    for (const bad of ['{"agent":"Bad Name"}', '{"agent":"a","link":99}', '{"agent":"a","link":-1}', '[1]', 'nope']) {
      assert.throws(() => decodePeerRequest(bad), (e: unknown) => e instanceof TunnelError && e.code === 'ERR_CLUSTER_PEER_PROTOCOL', bad);
    }
    assert.throws(() => decodePeerAnswer('{"status":"maybe"}'), (e: unknown) => e instanceof TunnelError && e.code === 'ERR_CLUSTER_PEER_PROTOCOL');
  });
});

describe('Peer links between two nodes', () => {
  it('asks the other node for an agent stream and gets its answer before any byte of the request', async (t) => {
    const b = await acceptor(t, 'n2');
    const socket = await dialPeer({ address: b.address, fromNodeId: 'n1', toNodeId: 'n2', secret: SECRET, tls: null, timeoutMs: 2000, clock: systemClock });
    await waitFor(() => b.accepted.length === 1);
    const requests: string[] = [];
    // Node n2's side: answers not_here for edge-gone, ok (then echoes) for edge-here.
    const n2 = new PeerLink({
      socket: b.accepted[0]!.socket,
      peerNodeId: 'n1',
      dialed: false,
      keepAliveIntervalMs: 1000,
      keepAliveTimeoutMs: 2000,
      logger: noopLogger,
      clock: systemClock,
      onStream: (stream) => {
        stream.on('error', () => {});
        let line = '';
        const onData = (c: Buffer): void => {
          line += c.toString();
          const nl = line.indexOf('\n');
          if (nl === -1) return;
          stream.off('data', onData);
          const request = decodePeerRequest(line.slice(0, nl));
          requests.push(request.agent);
          if (request.agent !== 'edge-here') {
            stream.end(encodePeerAnswer('not_here'));
            return;
          }
          stream.write(encodePeerAnswer('ok'));
          stream.pipe(stream);
        };
        stream.on('data', onData);
      },
    });
    const n1 = new PeerLink({ socket, peerNodeId: 'n2', dialed: true, keepAliveIntervalMs: 1000, keepAliveTimeoutMs: 2000, logger: noopLogger, clock: systemClock, onStream: (s) => s.destroy() });
    t.after(() => {
      n1.destroy();
      n2.destroy();
    });
    assert.deepEqual(await n1.openAgentStream({ agent: 'edge-gone' }, 2000), { status: 'not_here' }, 'a node without the agent says so');
    const opening = await n1.openAgentStream({ agent: 'edge-here', link: 0 }, 2000);
    assert.equal(opening.status, 'ok', 'a node with it opens the stream');
    if (opening.status !== 'ok') return;
    opening.stream.write('GET / HTTP/1.1\r\n\r\n');
    assert.equal((await readBytes(opening.stream, 18)).toString(), 'GET / HTTP/1.1\r\n\r\n', 'the bytes after the answer are the exchange');
    assert.deepEqual(requests, ['edge-gone', 'edge-here'], 'n2 saw both requests');
    assert.ok(n1.session instanceof Session && n1.isUsable, 'the link stays usable');
  });
});

describe('spliceStreams', () => {
  it('carries bytes both ways with half-close, and a reset on one side destroys the other', async (t) => {
    const { a, b, c, d } = await twoSocketPairs(t);
    const spliced = spliceStreams(b, c);
    a.write('to d');
    assert.equal((await readBytes(d, 4)).toString(), 'to d', 'a -> d');
    d.write('to a');
    assert.equal((await readBytes(a, 4)).toString(), 'to a', 'd -> a');
    a.end();
    d.resume();
    await once(d, 'end');
    d.write('after a ended');
    // readBytes paused `a` after its first read; a new 'data' listener alone does not resume it.
    const late = readBytes(a, 13);
    a.resume();
    assert.equal((await late).toString(), 'after a ended', 'the other direction still flows after a half-close');
    d.end();
    const result = await spliced;
    assert.deepEqual(result, { clean: true, bytesAToB: 4, bytesBToA: 17 }, 'a clean end both ways, with the byte counts');

    const second = await twoSocketPairs(t);
    const cut = spliceStreams(second.b, second.c);
    second.a.resume();
    const aEnded = once(second.a, 'end');
    second.d.resetAndDestroy();
    const outcome = await cut;
    assert.equal(outcome.clean, false, 'a reset is not clean');
    await aEnded;
    assert.ok(second.b.destroyed && second.c.destroyed, 'both spliced sides were destroyed (a mux stream sends RST then), and the far side saw its end');
  });
});

describe('Cluster configuration', () => {
  it('derives a node id from the host name and validates every field by name', () => {
    assert.equal(defaultNodeId('Relay_01.Example.COM'), 'relay-01-example-com', 'lower-case, other characters as "-"');
    assert.equal(defaultNodeId('---'), 'relay', 'a host name with nothing usable');
    const ok = resolveClusterConfig({ nodeId: 'n1', peerListen: '127.0.0.1:0', secret: SECRET });
    assert.equal(ok.peerAdvertise, '127.0.0.1:0', 'advertised as bound (port filled in once listening)');
    const cases: [object, string][] = [
      [{ nodeId: 'N1', peerListen: '127.0.0.1:0', secret: SECRET }, 'cluster.nodeId'],
      [{ nodeId: 'n1', peerListen: '0.0.0.0:7401', secret: SECRET }, 'cluster.peerAdvertise'],
      [{ nodeId: 'n1', peerListen: '127.0.0.1:7401', secret: new Secret('short') }, 'cluster.secret'],
      [{ nodeId: 'n1', peerListen: 'nowhere', secret: SECRET }, 'cluster.peerListen'],
      [{ nodeId: 'n1', peerListen: '127.0.0.1:0', secret: SECRET, peerKeepAliveIntervalMs: 5000, peerKeepAliveTimeoutMs: 4000 }, 'cluster.peerKeepAliveTimeoutMs'],
    ];
    for (const [options, field] of cases) {
      assert.throws(() => resolveClusterConfig(options as never), (e: unknown) => e instanceof TunnelError && e.code === 'ERR_CONFIG_INVALID' && (e as { field?: string }).field === field, field);
    }
    assert.throws(() => resolveClusterConfig({ nodeId: 'n1', peerListen: '127.0.0.1:1', secret: new Secret('short') }), (e: unknown) => !(e as Error).message.includes('short'), 'the secret is never echoed');
  });
});

/** Two connected socket pairs on loopback: (a, b) and (c, d), half-open allowed. */
async function twoSocketPairs(t: { after(fn: () => unknown): void }): Promise<{ a: Socket; b: Socket; c: Socket; d: Socket }> {
  const pair = async (): Promise<[Socket, Socket]> => {
    const accepted: Socket[] = [];
    const server = createServer({ allowHalfOpen: true }, (s) => accepted.push(s));
    const port = await listenOnLoopback(t, server);
    const client = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    await once(client, 'connect');
    await waitFor(() => accepted.length === 1);
    for (const s of [client, accepted[0]!]) s.on('error', () => {});
    t.after(() => {
      client.destroy();
      accepted[0]?.destroy();
    });
    return [client, accepted[0] as Socket];
  };
  const [a, b] = await pair();
  const [c, d] = await pair();
  return { a, b, c, d };
}

async function waitFor(condition: () => boolean): Promise<void> {
  const { waitFor: poll } = await import('../../helpers/wait-for.js');
  await poll(condition, 'condition', 5000);
}
