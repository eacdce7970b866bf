import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { describe, it } from 'node:test';
import {
  TUNNEL_ERROR_HEADER,
  preferredErrorFormat,
  renderTunnelError,
  sendTunnelError,
  type TunnelErrorInfo,
} from '../../../src/http/index.js';
import { listenOnLoopback } from '../../helpers/loopback.js';

const info: TunnelErrorInfo = { status: 502, code: 'ERR_RELAY_AGENT_OFFLINE', message: 'The agent <edge-01> is offline' };

function get(port: number, headers: http.OutgoingHttpHeaders): Promise<{ res: http.IncomingMessage; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ res, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

describe('preferredErrorFormat', () => {
  const cases: Array<[string | undefined, 'json' | 'html']> = [
    [undefined, 'html'],
    ['*/*', 'html'],
    ['application/json', 'json'],
    ['application/problem+json', 'json'],
    ['application/json, text/plain, */*', 'json'],
    ['text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8', 'html'],
    ['text/html;q=0.5, application/json', 'json'],
    ['application/json;q=0.5, text/html', 'html'],
    ['application/json, text/html', 'json'],
    ['text/html, application/json', 'html'],
    ['application/json;q=0', 'html'],
  ];
  for (const [accept, expected] of cases) {
    it(`answers ${expected} for Accept ${String(accept)}`, () => {
      assert.equal(preferredErrorFormat(accept), expected, `Accept ${String(accept)} -> ${expected}`);
    });
  }
});

describe('renderTunnelError', () => {
  it('renders JSON with the code and message when the visitor asks for JSON', () => {
    const r = renderTunnelError(info, 'application/json');
    assert.equal(r.headers[TUNNEL_ERROR_HEADER], 'ERR_RELAY_AGENT_OFFLINE', 'X-Tunnel-Error carries the code');
    assert.match(r.headers['Content-Type'] ?? '', /^application\/json/, 'JSON content type');
    assert.deepEqual(JSON.parse(r.body.toString('utf8')), { error: { code: 'ERR_RELAY_AGENT_OFFLINE', message: 'The agent <edge-01> is offline' } }, 'JSON body shape');
    assert.equal(r.headers['Content-Length'], String(r.body.length), 'Content-Length matches the body');
  });

  it('renders an escaped self-contained HTML page otherwise', () => {
    const r = renderTunnelError(info, 'text/html');
    const html = r.body.toString('utf8');
    assert.match(r.headers['Content-Type'] ?? '', /^text\/html/, 'HTML content type');
    assert.ok(html.includes('&#60;edge-01&#62;'), 'the message is HTML-escaped');
    assert.ok(!html.includes('<edge-01>'), 'no raw markup from the message');
    assert.ok(html.includes('ERR_RELAY_AGENT_OFFLINE'), 'the page shows the code');
    assert.ok(!/src=|href=/.test(html), 'the page loads nothing external');
  });

  it('sets Retry-After in whole seconds when given', () => {
    const r = renderTunnelError({ status: 503, code: 'ERR_RELAY_AGENT_BUSY', message: 'busy', retryAfterS: 1.2 });
    assert.equal(r.headers['Retry-After'], '2', 'rounded up to whole seconds');
  });
});

describe('sendTunnelError', () => {
  it('answers on a ServerResponse with status, X-Tunnel-Error and JSON', async (t) => {
    const server = http.createServer((req, res) => {
      res.setHeader('Content-Encoding', 'gzip');
      sendTunnelError(res, info, req.headers.accept);
    });
    const port = await listenOnLoopback(t, server);
    const { res, body } = await get(port, { accept: 'application/json' });
    assert.equal(res.statusCode, 502, 'status from the info');
    assert.equal(res.headers['x-tunnel-error'], 'ERR_RELAY_AGENT_OFFLINE', 'X-Tunnel-Error header');
    assert.equal(res.headers['content-encoding'], undefined, 'headers set earlier are dropped');
    assert.equal(JSON.parse(body).error.code, 'ERR_RELAY_AGENT_OFFLINE', 'JSON body');
  });

  it('answers on a ServerResponse with HTML for a browser', async (t) => {
    const server = http.createServer((req, res) => sendTunnelError(res, info, req.headers.accept));
    const port = await listenOnLoopback(t, server);
    const { res, body } = await get(port, { accept: 'text/html,*/*;q=0.8' });
    assert.equal(res.headers['x-tunnel-error'], 'ERR_RELAY_AGENT_OFFLINE', 'X-Tunnel-Error header');
    assert.match(body, /^<!doctype html>/, 'HTML page');
  });

  it('destroys a response whose headers were already sent', async (t) => {
    let result: boolean | undefined;
    const server = http.createServer((req, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('partial', () => {
        result = sendTunnelError(res, info, req.headers.accept);
      });
    });
    const port = await listenOnLoopback(t, server);
    const outcome = await get(port, {}).then(
      () => 'complete',
      () => 'cut',
    );
    assert.equal(outcome, 'cut', 'the visitor sees a cut response, not a complete one');
    assert.equal(result, false, 'sendTunnelError reports it could not answer');
  });

  it('writes a full HTTP/1.1 response with Connection: close on a raw socket', async (t) => {
    const server = net.createServer((socket) => {
      sendTunnelError(socket, { status: 503, code: 'ERR_RELAY_AGENT_BUSY', message: 'busy', retryAfterS: 3 }, 'application/json');
    });
    const port = await listenOnLoopback(t, server);
    const client = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    client.on('data', (c: Buffer) => chunks.push(c));
    await once(client, 'end');
    client.destroy();
    const text = Buffer.concat(chunks).toString('utf8');
    const [head, body] = text.split('\r\n\r\n') as [string, string];
    assert.match(head, /^HTTP\/1\.1 503 Service Unavailable\r\n/, 'status line');
    assert.match(head, /\r\nX-Tunnel-Error: ERR_RELAY_AGENT_BUSY(\r\n|$)/, 'X-Tunnel-Error header');
    assert.match(head, /\r\nConnection: close(\r\n|$)/, 'Connection: close');
    assert.match(head, /\r\nRetry-After: 3(\r\n|$)/, 'Retry-After header');
    assert.match(head, new RegExp(`\\r\\nContent-Length: ${Buffer.byteLength(body)}(\\r\\n|$)`), 'Content-Length matches the body');
    assert.equal(JSON.parse(body).error.code, 'ERR_RELAY_AGENT_BUSY', 'JSON body');
  });
});
