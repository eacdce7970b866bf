/**
 * What happens to a visitor's request body that was not read to its end
 * when the response completed (the device answered early: 401, 413, 417...).
 * Those bytes are still on the visitor's connection, and must not be parsed
 * as the next request: a small rest is read and dropped, so the connection
 * stays alive; a larger one (or one of unknown size) makes the relay close
 * the connection, gracefully: FIN after the response, then it keeps reading
 * for `lingerMs`, so the visitor is not reset before it read the response.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock } from '../shared/clock.js';

/** How much of an unread body is read and dropped to keep the connection alive (Go's server: 256 KiB). */
export const MAX_SKIPPED_BODY_BYTES = 256 * 1024;

/** How long a connection closed with an unread body is still read from before it is destroyed. */
export const UNREAD_BODY_LINGER_MS = 1000;

/** What `skipUnreadRequestBody` needs. */
export interface SkipUnreadBodyOptions {
  /** Body bytes already read from `req`. */
  bodyBytesRead: number;
  clock: Clock;
  /** Default `MAX_SKIPPED_BODY_BYTES`. */
  maxBytes?: number;
  /** Default `UNREAD_BODY_LINGER_MS`. */
  lingerMs?: number;
}

/**
 * Takes over `req`'s remaining body once `res` completed (or is completing):
 * drops up to `maxBytes` of it, or closes the connection as described above.
 * The caller must have removed its own `'data'` listeners. Returns whether
 * the connection is being closed.
 */
export function skipUnreadRequestBody(req: IncomingMessage, res: ServerResponse, options: SkipUnreadBodyOptions): boolean {
  if (req.complete || req.destroyed) return false;
  const maxBytes = options.maxBytes ?? MAX_SKIPPED_BODY_BYTES;
  const lingerMs = options.lingerMs ?? UNREAD_BODY_LINGER_MS;
  const socket = req.socket;
  let skipped = 0;
  let closing = false;
  const close = (): void => {
    if (closing) return;
    closing = true;
    req.off('data', onData);
    const linger = (): void => {
      socket.end();
      const timer = options.clock.setTimeout(() => socket.destroy(), lingerMs);
      timer.unref?.();
      socket.once('close', () => options.clock.clearTimeout(timer));
    };
    if (res.writableFinished) linger();
    else res.once('finish', linger);
  };
  const onData = (chunk: Buffer): void => {
    skipped += chunk.length;
    if (skipped > maxBytes) close();
  };
  req.on('data', onData);
  // Flowing with no listener left once closing: whatever still arrives is dropped.
  req.resume();
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared - options.bodyBytesRead > maxBytes) close();
  return closing;
}
