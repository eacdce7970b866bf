/**
 * The `Trailer` header names the trailer fields that follow a chunked body
 * (RFC 9110 section 6.6.2). It goes with the hop-by-hop headers, because
 * Node throws (`ERR_HTTP_TRAILER_INVALID`) on a message carrying it that it
 * does not chunk; a forwarder puts it back with these helpers when the
 * message it writes will be chunked, so the next hop still sees it.
 */
import type { ServerResponse } from 'node:http';

/** The `Trailer` headers of a raw header list (`[name, value, ...]`), names and values as received. */
export function trailerDeclaration(rawHeaders: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if ((rawHeaders[i] as string).toLowerCase() === 'trailer') out.push(rawHeaders[i] as string, rawHeaders[i + 1] as string);
  }
  return out;
}

/**
 * True when `res`, written with `status` and `headers` (no `Content-Length`,
 * no `Transfer-Encoding`, as a forwarder writes a streamed body), will be
 * chunked: a visitor that understands chunking, a status and method that
 * carry a body. Node's own rule (`_storeHeader`).
 */
export function responseWillBeChunked(res: ServerResponse, status: number, method: string | undefined, headers: readonly string[]): boolean {
  if (!res.useChunkedEncodingByDefault || method === 'HEAD' || status === 204 || status === 304 || status < 200) return false;
  for (let i = 0; i < headers.length; i += 2) {
    const name = (headers[i] as string).toLowerCase();
    if (name === 'content-length' || name === 'transfer-encoding') return false;
  }
  return true;
}
