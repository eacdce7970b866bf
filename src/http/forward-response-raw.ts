/**
 * A device's final response copied onto a raw byte stream as an ordinary
 * HTTP/1.1 response that closes the connection, for a refused upgrade: once
 * a request asked to upgrade, Node's server has let go of the connection, so
 * no `ServerResponse` exists to write it. Hop-by-hop headers (`Upgrade`,
 * `Connection` and what it names) are dropped, `Connection: close` is added,
 * and the body is framed by the device's `Content-Length`, or chunked, and
 * streamed with backpressure.
 */
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { removeHopByHopRawHeaders } from './hop-by-hop-headers.js';

/** What `forwardResponseRaw` needs besides the two ends. */
export interface RawResponseForwardOptions {
  /** The request's method: the response to a `HEAD` has no body. */
  method: string;
  /** Raw headers (`[name, value, ...]`) to add, e.g. a relay's `Set-Cookie`. */
  extraRawHeaders?: readonly string[];
  /** Applied to the device's headers after hop-by-hop removal (e.g. drops a forbidden `Set-Cookie`). */
  filterRawHeaders?: (rawHeaders: string[]) => string[];
  /** Called with the size of each body chunk copied. */
  onBodyBytes?(n: number): void;
}

/** Characters that would let a value end the header line early. */
const UNSAFE_HEADER_TEXT = /[\r\n\0]/;

/** True for a status whose response never has a body (RFC 9110 section 6.4.1). */
function statusHasNoBody(status: number): boolean {
  return status < 200 || status === 204 || status === 304;
}

/**
 * Writes `res` on `socket` and ends it (FIN) once the body is complete.
 * Resolves true when the whole response was written, false when either side
 * went away first (then `socket` is destroyed, so a cut body never looks
 * complete). Never rejects.
 */
export function forwardResponseRaw(socket: Duplex, res: IncomingMessage, o: RawResponseForwardOptions): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    let settled = false;
    const settle = (complete: boolean): void => {
      if (settled) return;
      settled = true;
      if (!complete) {
        res.destroy();
        socket.destroy();
      }
      resolve(complete);
    };
    if (socket.destroyed || !socket.writable) {
      settle(false);
      return;
    }
    const status = res.statusCode ?? 502;
    let raw = removeHopByHopRawHeaders(res.rawHeaders);
    if (o.filterRawHeaders !== undefined) raw = o.filterRawHeaders(raw);
    raw.push(...(o.extraRawHeaders ?? []));
    const noBody = statusHasNoBody(status) || o.method.toUpperCase() === 'HEAD';
    const hasLength = raw.some((name, i) => i % 2 === 0 && name.toLowerCase() === 'content-length');
    const chunked = !noBody && !hasLength;
    const reason = res.statusMessage !== undefined && !UNSAFE_HEADER_TEXT.test(res.statusMessage) ? res.statusMessage : (STATUS_CODES[status] ?? 'Unknown');
    const lines = [`HTTP/1.1 ${status} ${reason}`];
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const name = raw[i] as string;
      const value = raw[i + 1] as string;
      if (UNSAFE_HEADER_TEXT.test(name) || UNSAFE_HEADER_TEXT.test(value)) continue;
      lines.push(`${name}: ${value}`);
    }
    if (chunked) lines.push('Transfer-Encoding: chunked');
    lines.push('Connection: close', '', '');
    socket.write(Buffer.from(lines.join('\r\n'), 'latin1'));
    socket.once('close', () => settle(socket.writableFinished));
    if (noBody) {
      res.resume();
      socket.end();
      socket.once('finish', () => settle(true));
      return;
    }
    res.on('data', (chunk: Buffer) => {
      o.onBodyBytes?.(chunk.length);
      const data = chunked ? Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`, 'latin1'), chunk, Buffer.from('\r\n', 'latin1')]) : chunk;
      if (!socket.write(data)) res.pause();
    });
    socket.on('drain', () => res.resume());
    res.once('end', () => {
      socket.end(chunked ? Buffer.from('0\r\n\r\n', 'latin1') : undefined);
      socket.once('finish', () => settle(true));
    });
    res.once('close', () => {
      if (!res.complete) settle(false);
    });
    res.on('error', () => settle(false));
  });
}
