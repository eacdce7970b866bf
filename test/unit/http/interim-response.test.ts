/**
 * Interim responses and the framing helpers of the forwarders:
 * `expectsContinue`, `isInterimStatus`, `writeInterimResponse` (exact bytes
 * on a real Node server, hop-by-hop headers removed, never after the final
 * head), `trailerDeclaration` and `responseWillBeChunked` (Node's own rule,
 * checked against what a real server writes).
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { describe, it, type TestContext } from 'node:test';
import { expectsContinue, isInterimStatus, responseWillBeChunked, trailerDeclaration, writeInterimResponse } from '../../../src/http/index.js';
import { listenOnLoopback } from '../../helpers/loopback.js';
import { RawHttpConnection } from '../../helpers/raw-http-client.js';

/** Serves `handler` and returns a raw connection to it. */
async function rawTo(t: TestContext, handler: (req: http.IncomingMessage, res: http.ServerResponse) => void): Promise<RawHttpConnection> {
  const server = http.createServer(handler);
  // Node would otherwise answer Expect: 100-continue itself.
  server.on('checkContinue', handler);
  const port = await listenOnLoopback(t, server);
  return RawHttpConnection.connect(t, `127.0.0.1:${port}`);
}

describe('expectsContinue and isInterimStatus', () => {
  it('is true for an HTTP/1.1 request with a 100-continue expectation, in any case', () => {
    const v11 = { httpVersionMajor: 1, httpVersionMinor: 1 };
    assert.equal(expectsContinue({ ...v11, headers: { expect: '100-continue' } }), true, 'the usual value');
    assert.equal(expectsContinue({ ...v11, headers: { expect: '100-Continue' } }), true, 'case-insensitive');
    assert.equal(expectsContinue({ ...v11, headers: {} }), false, 'no Expect');
    assert.equal(expectsContinue({ ...v11, headers: { expect: 'something-else' } }), false, 'another expectation');
    assert.equal(expectsContinue({ httpVersionMajor: 1, httpVersionMinor: 0, headers: { expect: '100-continue' } }), false, 'never for HTTP/1.0 (RFC 9110 section 10.1.1)');
  });

  it('counts 100, 102, 103 and other 1xx as interim, but not 101 or a final status', () => {
    assert.deepEqual([100, 102, 103, 199].map(isInterimStatus), [true, true, true, true], 'interim');
    assert.deepEqual([101, 200, 204, 99].map(isInterimStatus), [false, false, false, false], 'not interim');
  });
});

describe('writeInterimResponse', () => {
  it('writes a 103 as received, repeated Link headers kept apart and hop-by-hop headers dropped, then the final response', async (t) => {
    const results: boolean[] = [];
    const c = await rawTo(t, (_req, res) => {
      results.push(
        writeInterimResponse(res, {
          statusCode: 103,
          statusMessage: 'Early Hints',
          rawHeaders: ['Link', '</a.css>; rel=preload', 'Connection', 'X-Hop', 'X-Hop', '1', 'link', '</b.js>; rel=preload'],
        }),
      );
      results.push(writeInterimResponse(res, { statusCode: 100, statusMessage: 'Continue', rawHeaders: [] }));
      res.writeHead(200, { 'Content-Length': 2 });
      res.end('ok');
      results.push(writeInterimResponse(res, { statusCode: 102, statusMessage: 'Processing', rawHeaders: [] }));
    });
    const { interim, final } = await c.exchange('/', { headers: [['Host', 'x']] });
    assert.deepEqual(
      interim.map((r) => r.head.toString('latin1')),
      ['HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\nlink: </b.js>; rel=preload\r\n\r\n', 'HTTP/1.1 100 Continue\r\n\r\n'],
      'both interim responses, byte for byte',
    );
    assert.equal(final.body.toString(), 'ok', 'then the final response');
    assert.deepEqual(results, [true, true, false], 'nothing is written after the final head');
  });

  it('refuses a 101 or a final status, and fills in a missing reason phrase', async (t) => {
    const results: boolean[] = [];
    const c = await rawTo(t, (_req, res) => {
      results.push(writeInterimResponse(res, { statusCode: 101, statusMessage: 'Switching Protocols', rawHeaders: [] }));
      results.push(writeInterimResponse(res, { statusCode: 200, statusMessage: 'OK', rawHeaders: [] }));
      results.push(writeInterimResponse(res, { statusCode: 102, statusMessage: '', rawHeaders: [] }));
      res.end();
    });
    const { interim } = await c.exchange('/', { headers: [['Host', 'x']] });
    assert.deepEqual(results, [false, false, true], 'only the 102 is written');
    assert.deepEqual(interim.map((r) => r.head.toString('latin1')), ['HTTP/1.1 102 Processing\r\n\r\n'], 'with its standard reason');
  });

  it('a 100 written through it keeps the connection alive after the final response (Node knows the body was asked for)', async (t) => {
    const c = await rawTo(t, (req, res) => {
      writeInterimResponse(res, { statusCode: 100, statusMessage: 'Continue', rawHeaders: [] });
      req.resume();
      req.on('end', () => res.end('done'));
    });
    await c.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n');
    const first = await c.readResponse('POST');
    assert.equal(first.status, 100, 'the 100');
    await c.write('hi');
    const final = await c.readResponse('POST');
    assert.equal(final.body.toString(), 'done', 'the final response');
    assert.notEqual(final.headers.find(([n]) => n.toLowerCase() === 'connection')?.[1], 'close', 'no Connection: close');
  });
});

describe('trailerDeclaration and responseWillBeChunked', () => {
  it('picks the Trailer headers of a raw list, as received', () => {
    assert.deepEqual(trailerDeclaration(['Content-Type', 'text/plain', 'Trailer', 'X-A, X-B', 'trailer', 'X-C']), ['Trailer', 'X-A, X-B', 'trailer', 'X-C'], 'every Trailer header');
    assert.deepEqual(trailerDeclaration(['Content-Type', 'text/plain']), [], 'none');
  });

  it("predicts Node's choice of chunking, so a Trailer header is only ever put on a chunked message", async (t) => {
    const cases: Array<{ what: string; version: string; method: string; status: number; headers: string[] }> = [
      { what: 'HTTP/1.1 200 without a length', version: 'HTTP/1.1', method: 'GET', status: 200, headers: [] },
      { what: 'HTTP/1.1 200 with a length', version: 'HTTP/1.1', method: 'GET', status: 200, headers: ['Content-Length', '4'] },
      { what: 'HTTP/1.0 200 without a length', version: 'HTTP/1.0', method: 'GET', status: 200, headers: [] },
      { what: 'HEAD', version: 'HTTP/1.1', method: 'HEAD', status: 200, headers: [] },
      { what: '204', version: 'HTTP/1.1', method: 'GET', status: 204, headers: [] },
      { what: '304', version: 'HTTP/1.1', method: 'GET', status: 304, headers: [] },
    ];
    for (const k of cases) {
      let predicted: boolean | undefined;
      const c = await rawTo(t, (req, res) => {
        predicted = responseWillBeChunked(res, k.status, req.method, k.headers);
        res.writeHead(k.status, k.headers);
        res.end(k.status === 200 && k.method !== 'HEAD' ? 'body' : undefined);
      });
      const { final } = await c.exchange('/', { version: k.version, method: k.method, headers: [['Host', 'x']] });
      assert.equal(predicted, final.framing === 'chunked', `${k.what}: predicted ${String(predicted)}, Node wrote ${final.framing}`);
    }
  });
});
