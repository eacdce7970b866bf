/**
 * Interim (1xx) responses on a tunnel: the wire contract allows exactly one
 * final response per stream, so a `100 Continue`, `102 Processing` or
 * `103 Early Hints` travels on a stream only when both ends announced the
 * `interim-responses` capability (the Go peers take the first response on a
 * stream for the final one). These helpers pass one on to a `ServerResponse`.
 */
import type { IncomingMessage, InformationEvent, ServerResponse } from 'node:http';
import { STATUS_CODES } from 'node:http';
import { removeHopByHopRawHeaders } from './hop-by-hop-headers.js';

/** Node's test for a `100-continue` expectation (`_http_server.js`). */
const CONTINUE_EXPECTATION = /(?:^|\W)100-continue(?:$|\W)/i;

/** Characters that would let a name or value end a head line early. */
const UNSAFE_HEAD_TEXT = /[\r\n\0]/;

/**
 * True when `req` asks for a `100 Continue` that Node's server honours: an
 * HTTP/1.1 (or later) request with `Expect: 100-continue`. (HTTP/1.0 clients
 * send their body anyway and must never get a 1xx, RFC 9110 section 15.2.)
 */
export function expectsContinue(req: Pick<IncomingMessage, 'headers' | 'httpVersionMajor' | 'httpVersionMinor'>): boolean {
  const expect = req.headers.expect;
  return req.httpVersionMajor === 1 && req.httpVersionMinor >= 1 && typeof expect === 'string' && CONTINUE_EXPECTATION.test(expect);
}

/** True for a status a tunnel may pass on as an interim response: 1xx except 101 (which is an upgrade). */
export function isInterimStatus(status: number): boolean {
  return status >= 100 && status < 200 && status !== 101;
}

/** `ServerResponse` internals used to write a raw interim head (Node's own `writeEarlyHints` does the same). */
interface RawWritableResponse {
  _writeRaw(data: string, encoding: BufferEncoding): boolean;
}

/**
 * Writes `interim` on `res`, before its final head, hop-by-hop headers
 * removed. `100` goes through `writeContinue()`, so Node knows the body was
 * asked for (and keeps the connection alive after the final response); any
 * other 1xx is written as received, since `writeEarlyHints()` would merge
 * repeated `Link` headers and drop values it does not know. Returns false
 * (writing nothing) once the final head was sent, for a non-interim status,
 * or for a header Node's parser should never have let through.
 */
export function writeInterimResponse(res: ServerResponse, interim: Pick<InformationEvent, 'statusCode' | 'statusMessage' | 'rawHeaders'>): boolean {
  if (res.headersSent || res.writableEnded || !isInterimStatus(interim.statusCode)) return false;
  const headers = removeHopByHopRawHeaders(interim.rawHeaders);
  if (interim.statusCode === 100 && headers.length === 0) {
    res.writeContinue();
    return true;
  }
  const reason = interim.statusMessage === '' ? (STATUS_CODES[interim.statusCode] ?? '') : interim.statusMessage;
  if (UNSAFE_HEAD_TEXT.test(reason)) return false;
  let head = `HTTP/1.1 ${interim.statusCode} ${reason}\r\n`;
  for (let i = 0; i + 1 < headers.length; i += 2) {
    const name = headers[i] as string;
    const value = headers[i + 1] as string;
    if (UNSAFE_HEAD_TEXT.test(name) || UNSAFE_HEAD_TEXT.test(value)) return false;
    head += `${name}: ${value}\r\n`;
  }
  (res as unknown as RawWritableResponse)._writeRaw(`${head}\r\n`, 'latin1');
  if (interim.statusCode === 100) (res as unknown as { _sent100: boolean })._sent100 = true;
  return true;
}
