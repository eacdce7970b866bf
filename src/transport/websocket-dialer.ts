/**
 * Dials a WebSocket and hands back a `WebSocketDuplex`, with a handshake
 * deadline that covers the whole upgrade (ws's own `handshakeTimeout` is a
 * socket idle timeout, which a server trickling bytes never trips), an
 * AbortSignal, and refusals surfaced with their status and body.
 */
import type { IncomingMessage } from 'node:http';
import { WebSocket } from './ws-module.js';
import { throwIfAborted, onAbort } from '../shared/abort.js';
import { systemClock, type Clock } from '../shared/clock.js';
import { ConfigError, TunnelError } from '../shared/errors.js';
import { noopLogger, type Logger } from '../shared/logger.js';
import { requireInt } from '../shared/validate.js';
import { warnIfBufferUtilMissing } from './buffer-util-check.js';
import { HandshakeRejectedError, HandshakeTimeoutError, MAX_REJECTION_BODY_BYTES } from './errors.js';
import { redactUrl } from './redact-url.js';
import { DEFAULT_MAX_PAYLOAD_BYTES, WebSocketDuplex, type WebSocketDuplexOptions } from './websocket-duplex.js';

/** Options of `dialWebSocket`; every field optional. */
export interface DialWebSocketOptions {
  /** Extra request headers (e.g. `Authorization`). */
  headers?: Record<string, string>;
  /** Deadline for the whole upgrade, TCP connect to 101 (default 10000). */
  handshakeTimeoutMs?: number;
  signal?: AbortSignal;
  /** Trusted CA certificates for wss:// (PEM). */
  ca?: string | Buffer | Array<string | Buffer>;
  logger?: Logger;
  /** Largest message accepted from the peer (default 16 MiB). */
  maxPayloadBytes?: number;
  /** Settings of the returned duplex. */
  duplex?: WebSocketDuplexOptions;
  /** Source address to connect from (e.g. one of 127.0.0.x when one address runs out of ephemeral ports). */
  localAddress?: string;
  clock?: Clock;
}

/**
 * Opens a WebSocket to `url` (ws:// or wss://). Rejects with a
 * `HandshakeTimeoutError` when the upgrade stalls, an `AbortError` when
 * `signal` aborts, a `HandshakeRejectedError` on a non-101 answer, and a
 * `TunnelError` 'ERR_TRANSPORT_DIAL_FAILED' (cause: the system error) when no
 * answer came at all. The duplex carries the `101`'s headers (`upgradeHeaders`). The URL's token never reaches a log or error message.
 */
export async function dialWebSocket(url: string | URL, options: DialWebSocketOptions = {}): Promise<WebSocketDuplex> {
  const handshakeTimeoutMs = requireInt('handshakeTimeoutMs', options.handshakeTimeoutMs ?? 10_000, 1);
  const maxPayloadBytes = requireInt('maxPayloadBytes', options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES, 1024);
  const target = parseWebSocketUrl(url);
  const safeUrl = redactUrl(target);
  const logger = options.logger ?? noopLogger;
  const clock = options.clock ?? systemClock;
  throwIfAborted(options.signal);
  warnIfBufferUtilMissing(logger);
  logger.debug('dialing WebSocket', { url: safeUrl });

  const ws = new WebSocket(target, {
    headers: options.headers,
    ca: options.ca,
    maxPayload: maxPayloadBytes,
    perMessageDeflate: false,
    followRedirects: false,
    ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
  });

  return new Promise<WebSocketDuplex>((resolve, reject) => {
    let settled = false;
    let upgradeHeaders: IncomingMessage['headers'] = {};
    const settle = (err: Error | undefined): void => {
      if (settled) return;
      settled = true;
      clock.clearTimeout(timer);
      removeAbort();
      ws.off('open', onOpen);
      ws.off('unexpected-response', onUnexpectedResponse);
      ws.off('upgrade', onUpgrade);
      if (err === undefined) {
        ws.off('error', onError);
        try {
          resolve(new WebSocketDuplex(ws, { ...options.duplex, upgradeHeaders }));
        } catch (e) {
          ws.terminate();
          reject(e as Error);
        }
        return;
      }
      // onError stays attached: terminate() emits 'error' on the next tick.
      ws.terminate();
      logger.debug('WebSocket dial failed', { url: safeUrl, code: (err as TunnelError).code, error: err.message });
      reject(err);
    };
    const onOpen = (): void => settle(undefined);
    const onUpgrade = (res: IncomingMessage): void => {
      upgradeHeaders = res.headers;
    };
    const onError = (err: Error): void =>
      settle(new TunnelError('ERR_TRANSPORT_DIAL_FAILED', `WebSocket dial failed: ${err.message} (url: ${safeUrl})`, { cause: err }));
    const onUnexpectedResponse = (_req: unknown, res: IncomingMessage): void => {
      readBoundedBody(res, MAX_REJECTION_BODY_BYTES, (body) =>
        settle(new HandshakeRejectedError(res.statusCode ?? 0, body, { ...res.headers })),
      );
    };

    const timer = clock.setTimeout(() => settle(new HandshakeTimeoutError(handshakeTimeoutMs)), handshakeTimeoutMs);
    const removeAbort = onAbort(options.signal, settle);
    ws.on('upgrade', onUpgrade);
    ws.on('open', onOpen);
    ws.on('error', onError);
    ws.on('unexpected-response', onUnexpectedResponse);
  });
}

/** `url` as a URL if it is ws:// or wss://; throws `ConfigError` (with the token redacted) otherwise. */
function parseWebSocketUrl(url: string | URL): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError('url', 'must be a ws:// or wss:// URL', redactUrl(url));
  }
  if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') {
    throw new ConfigError('url', 'must be a ws:// or wss:// URL', redactUrl(parsed));
  }
  return parsed;
}

/** Calls `done` once with up to `maxBytes` of the body as text (when it ends, fails, or the cap is reached). */
function readBoundedBody(res: IncomingMessage, maxBytes: number, done: (body: string) => void): void {
  const chunks: Buffer[] = [];
  let length = 0;
  let finished = false;
  const finish = (): void => {
    if (finished) return;
    finished = true;
    res.off('data', onData);
    // Invalid UTF-8 (or a character cut at the cap) becomes U+FFFD.
    done(Buffer.concat(chunks).subarray(0, maxBytes).toString('utf8'));
  };
  const onData = (chunk: Buffer): void => {
    chunks.push(chunk);
    length += chunk.length;
    if (length >= maxBytes) finish();
  };
  res.on('data', onData);
  res.once('end', finish);
  res.once('error', finish);
  res.once('close', finish);
}
