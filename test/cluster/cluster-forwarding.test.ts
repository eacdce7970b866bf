/**
 * A relay cluster of three nodes (real processes, one PostgreSQL store): a
 * visitor through any node reaches an agent connected to another one, for
 * every kind of exchange (small GET, 50 MiB download checked by hash,
 * upload echoed, WebSocket, a streamed response), the Go agent too; the
 * peer listener refuses a node with the wrong secret, and the public
 * listener never speaks the peer protocol.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import * as http from 'node:http';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { RawHttpConnection } from '../helpers/raw-http-client.js';
import { startRef, startRefOrigin } from '../helpers/ref-process.js';
import { interopSkip } from '../helpers/interop-skip.js';
import { CleanupScope } from '../relay/relay-fixtures.js';
import {
  CLUSTER_DOMAIN,
  isAgentState,
  refBytesSha256,
  sha256,
  startCluster,
  startClusterAgent,
  visitAgent,
  eventually,
  type ClusterFixture,
  type NodeProcess,
} from './cluster-fixtures.js';

const AGENT = 'edge-fwd';
const GO_AGENT = 'edge-go';

describe('Relay cluster: forwarding between nodes', { skip: interopSkip('ref-origin', 'ref-agent') }, () => {
  const scope = new CleanupScope();
  let cluster: ClusterFixture;
  let nodes: NodeProcess[];
  let origin: string;

  before(async () => {
    cluster = await startCluster(scope);
    nodes = [await cluster.startNode('n1', 11), await cluster.startNode('n2', 12), await cluster.startNode('n3', 13)];
    origin = (await startRefOrigin(scope)).addr;
    const token = await cluster.createAgent(AGENT);
    const agent = startClusterAgent(scope, { relayUrls: [nodes[0]!.addresses.agentUrl], token, local: origin });
    await agent.waitForLine(isAgentState('online'), 'the agent online on n1');
    // Every node has learnt where the agent is once each answers for it.
    for (const node of nodes) await eventually(async () => (await visitAgent(node.addresses.public, AGENT, '/hello')).status === 200, `${node.nodeId} to reach the agent`);
  });
  after(() => scope.run());

  it('serves a GET through every node, the agent being on n1', async () => {
    for (const node of nodes) {
      const res = await visitAgent(node.addresses.public, AGENT, '/hello');
      assert.equal(res.status, 200, `GET through ${node.nodeId}`);
      assert.equal(res.body?.toString(), 'hello from origin\n', `the origin's body through ${node.nodeId}`);
    }
  });

  it('streams a 50 MiB download through a non-owning node intact (SHA-256)', async () => {
    const n = 50 * 1024 * 1024;
    const res = await visitAgent(nodes[1]!.addresses.public, AGENT, `/bytes?n=${n}`, { keepBody: false });
    assert.equal(res.status, 200, 'status');
    assert.equal(res.complete, true, 'the body ended as its framing said');
    assert.equal(res.bytes, n, 'every byte');
    assert.equal(res.sha256, refBytesSha256(n), 'the bytes the origin sent');
  });

  it('echoes an 8 MiB upload through a non-owning node', async () => {
    const body = randomBytes(8 * 1024 * 1024);
    const res = await visitAgent(nodes[2]!.addresses.public, AGENT, '/echo', { method: 'POST', body, keepBody: false, headers: { 'content-type': 'application/octet-stream' } });
    assert.equal(res.status, 200, 'status');
    assert.equal(res.bytes, body.length, 'the whole body came back');
    assert.equal(res.sha256, sha256(body), 'unchanged');
    assert.equal(res.headers['x-echo-method'], 'POST', 'the origin saw a POST');
  });

  it('answers Expect: 100-continue with exactly one 100, then the echo, through the owning node and a non-owning one', async () => {
    const body = randomBytes(64 * 1024);
    for (const node of [nodes[0]!, nodes[1]!]) {
      const c = await RawHttpConnection.connect(scope, node.addresses.public);
      await c.write(`POST /echo HTTP/1.1\r\nHost: ${AGENT}.${CLUSTER_DOMAIN}\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\n\r\n`);
      const first = await c.readResponse('POST');
      assert.equal(first.head.toString('latin1'), 'HTTP/1.1 100 Continue\r\n\r\n', `${node.nodeId}: a 100 first`);
      await c.write(body);
      const { interim, final } = await c.readExchange('POST');
      assert.deepEqual(interim, [], `${node.nodeId}: no second 100 (an agent on another node may send one on the stream; it is not passed on)`);
      assert.equal(final.status, 200, `${node.nodeId}: status`);
      assert.ok(final.body.equals(body), `${node.nodeId}: echoed intact`);
      c.destroy();
    }
  });

  it('carries a WebSocket through a non-owning node, text and a 256 KiB binary message', async () => {
    const ws = new WebSocket(`ws://${nodes[1]!.addresses.public}/ws`, { headers: { host: `${AGENT}.tunnel.test` } });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const echoes: Buffer[] = [];
    const both = new Promise<void>((resolve) => {
      ws.on('message', (data: Buffer) => {
        echoes.push(Buffer.from(data));
        if (echoes.length === 2) resolve();
      });
    });
    const big = randomBytes(256 * 1024);
    ws.send('ping-through-n2');
    ws.send(big);
    await both;
    assert.equal(echoes[0]?.toString(), 'ping-through-n2', 'the text message came back');
    assert.ok(echoes[1]?.equals(big), 'the binary message came back byte for byte');
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    ws.close(1000);
    assert.equal(await closed, 1000, 'a clean close, end to end');
  });

  it('delivers a streamed response line by line through a non-owning node, before the origin has finished', async () => {
    const lines: string[] = [];
    let firstLineAtMs = 0;
    let endAtMs = 0;
    await new Promise<void>((resolve, reject) => {
      const [host, port] = nodes[2]!.addresses.public.split(':') as [string, string];
      const req = http.get({ host, port: Number(port), path: '/stream?n=5&ms=150', headers: { host: `${AGENT}.tunnel.test` }, agent: false }, (res) => {
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          if (lines.length === 0) firstLineAtMs = performance.now();
          lines.push(...chunk.split('\n').filter((l) => l !== ''));
        });
        res.once('end', () => {
          endAtMs = performance.now();
          resolve();
        });
      });
      req.on('error', reject);
    });
    assert.deepEqual(lines, ['tick 0', 'tick 1', 'tick 2', 'tick 3', 'tick 4'], 'every line, in order');
    // The origin writes a line every 150 ms: the first can only reach us before the end if nothing buffered the response.
    assert.ok(firstLineAtMs < endAtMs, 'the first line arrived before the response ended');
    console.log(`# streamed response: first line ${Math.round(endAtMs - firstLineAtMs)} ms before the end (the origin spaces 5 lines by 150 ms)`);
  });

  it('serves the Go agent (ref-agent) through a node it is not connected to', async () => {
    const token = await cluster.createAgent(GO_AGENT);
    const goAgent = startRef(scope, 'ref-agent', ['-relay', nodes[0]!.addresses.agentUrl, '-token', token, '-local', origin]);
    await goAgent.waitForEvent('session_up', () => true, { what: 'the Go agent to connect to n1' });
    await eventually(async () => (await visitAgent(nodes[2]!.addresses.public, GO_AGENT, '/hello')).status === 200, 'n3 to reach the Go agent');
    const res = await visitAgent(nodes[2]!.addresses.public, GO_AGENT, '/bytes?n=1048576', { keepBody: false });
    assert.equal(res.status, 200, 'status through n3');
    assert.equal(res.sha256, refBytesSha256(1048576), 'a 1 MiB body through n3, intact');
  });

  it('refuses a peer link proven with another secret, with ERR_CLUSTER_PEER_AUTH, and counts nothing as a link', async () => {
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect({ host: nodes[0]!.host, port: Number(nodes[0]!.addresses.peer.split(':')[1]) }, () => {
        const nonce = randomBytes(16).toString('hex');
        const mac = createHash('sha256').update('not the secret').digest('hex');
        socket.write(`${JSON.stringify({ v: 1, from: 'intruder', to: 'n1', ts: Date.now(), nonce, mac })}\n`);
      });
      let text = '';
      socket.setEncoding('utf8');
      socket.on('data', (c: string) => (text += c));
      socket.once('close', () => resolve(text));
      socket.once('error', reject);
    });
    assert.deepEqual(JSON.parse(answer.trim()), { v: 1, ok: false, code: 'ERR_CLUSTER_PEER_AUTH' }, 'a refusal line, then the connection is closed');
    await nodes[0]!.proc.waitForLine((d) => d.msg === 'peer link refused', 'n1 to log the refused link');
  });

  it('keeps a node started with the wrong secret from reaching the others’ agents', async () => {
    const wrongSecret = `${cluster.dir}/wrong.secret`;
    const { writeFileSync } = await import('node:fs');
    writeFileSync(wrongSecret, randomBytes(32).toString('base64'));
    const rogue = await cluster.startNode('n9', 19, { secretFile: wrongSecret, config: { limits: { offlineGraceMs: 500 } } });
    const res = await visitAgent(rogue.addresses.public, AGENT, '/hello');
    assert.equal(res.status, 502, 'the rogue node cannot reach the agent');
    assert.equal(res.headers['x-tunnel-error'], 'ERR_RELAY_AGENT_OFFLINE', 'and says the device is offline');
    await nodes[0]!.proc.waitForLine((d) => d.msg === 'peer link refused' && typeof d.error === 'string' && d.error.includes('n9'), 'n1 to refuse n9');
    await rogue.proc.kill();
  });

  it('never answers the peer protocol on the public listener', async () => {
    const answer = await new Promise<string>((resolve, reject) => {
      const [host, port] = nodes[0]!.addresses.public.split(':') as [string, string];
      const socket = connect({ host, port: Number(port) }, () => {
        socket.write(`${JSON.stringify({ v: 1, from: 'n2', to: 'n1', ts: Date.now(), nonce: '0'.repeat(32), mac: '0'.repeat(64) })}\n`);
      });
      let text = '';
      socket.setEncoding('utf8');
      socket.on('data', (c: string) => (text += c));
      socket.once('close', () => resolve(text));
      socket.once('error', reject);
    });
    assert.match(answer, /^HTTP\/1\.1 400 /, 'the public listener parses HTTP and refuses the line as a bad request');
  });
});
