/**
 * The relay's answer when Node's HTTP parser refuses what a visitor (or an
 * agent dialing in) sent, before any handler saw a request: the statuses
 * Node would send (431 for an oversized head, 408 for a head that came too
 * slowly, 400 for anything malformed), plus `X-Tunnel-Error` and a short
 * body, so a refusal by the relay can be told from one by the device.
 */
import type { Duplex } from 'node:stream';
import { MAX_HTTP_HEAD_BYTES, sendTunnelError, type TunnelErrorInfo } from '../http/index.js';

/** `clientError` arguments as Node passes them. */
type ClientErrorSocket = Duplex & { _httpMessage?: { headersSent?: boolean } | null };

/** The refusal for a parser error code. */
export function clientErrorInfo(code: string | undefined): TunnelErrorInfo {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return { status: 431, code: 'ERR_RELAY_HEADERS_TOO_LARGE', message: `The request head is over ${MAX_HTTP_HEAD_BYTES} bytes` };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { status: 408, code: 'ERR_RELAY_REQUEST_TIMEOUT', message: 'The request head did not arrive in time' };
    default:
      return { status: 400, code: 'ERR_RELAY_BAD_REQUEST', message: 'The request is not valid HTTP/1.1' };
  }
}

/**
 * The `clientError` listener of the relay's servers. Writes the refusal only
 * when no response is under way on the socket (a second one would corrupt
 * it), then closes the connection; a reset connection is just destroyed.
 */
export function answerClientError(err: NodeJS.ErrnoException, socket: ClientErrorSocket): void {
  const inFlight = socket._httpMessage?.headersSent === true;
  if (err.code === 'ECONNRESET' || inFlight || !socket.writable) {
    socket.destroy();
    return;
  }
  sendTunnelError(socket, clientErrorInfo(err.code));
  // The request could not be read, so neither can what follows it: close once the answer is out.
  socket.once('finish', () => socket.destroy());
}
