/**
 * Limits on HTTP heads (request line or status line plus header fields), in
 * bytes, as Node's parser counts them (`maxHeaderSize`). Node's default of
 * 16 KiB refuses heads that browsers and the Go peers send without a second
 * thought (a 32 KiB cookie); these are large enough for those and still
 * bound what one connection can make us buffer.
 */

/** A head from a visitor, or from the local service: larger ones get 431 (or 502 for a response). */
export const MAX_HTTP_HEAD_BYTES = 64 * 1024;

/**
 * A head read off a tunnel stream: the relay adds `X-Forwarded-*` to what it
 * accepted (and a Go relay accepts heads of up to 1 MiB), so the agent
 * accepts more than a visitor may send.
 */
export const MAX_TUNNEL_HEAD_BYTES = 2 * MAX_HTTP_HEAD_BYTES;
