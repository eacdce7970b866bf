/**
 * A complete HTTP/1.1 response written by hand on a raw byte stream, for the
 * moments when no `ServerResponse` exists: an upgrade that failed after Node's
 * parser let go of the socket, or a request too malformed to parse.
 */
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';

/** What to write: status, headers (names as given) and an optional body. */
export interface RawResponse {
  status: number;
  headers?: Readonly<Record<string, string | number>>;
  body?: Buffer | string;
}

/** Characters that would let a value end the header line early. */
const UNSAFE_HEADER_VALUE = /[\r\n\0]/;

/**
 * Writes `response` on `socket` as `HTTP/1.1 <status> <reason>`, with
 * `Content-Length` and `Connection: close` set by this function, then ends
 * the socket (FIN). Returns false (and writes nothing) when the socket can no
 * longer be written. Throws `TypeError` for a header value with CR, LF or NUL.
 */
export function writeRawResponse(socket: Duplex, response: RawResponse): boolean {
  if (socket.destroyed || !socket.writable) return false;
  const body = typeof response.body === 'string' ? Buffer.from(response.body, 'utf8') : (response.body ?? Buffer.alloc(0));
  const lines = [`HTTP/1.1 ${response.status} ${STATUS_CODES[response.status] ?? 'Unknown'}`];
  for (const [name, value] of Object.entries(response.headers ?? {})) {
    const lower = name.toLowerCase();
    if (lower === 'content-length' || lower === 'connection' || lower === 'transfer-encoding') continue;
    const text = String(value);
    if (UNSAFE_HEADER_VALUE.test(name) || UNSAFE_HEADER_VALUE.test(text)) {
      throw new TypeError(`Invalid header for a raw response (header: ${name})`);
    }
    lines.push(`${name}: ${text}`);
  }
  lines.push(`Content-Length: ${body.length}`, 'Connection: close', '', '');
  socket.write(Buffer.concat([Buffer.from(lines.join('\r\n'), 'latin1'), body]));
  socket.end();
  return true;
}
