/**
 * One visitor HTTP exchange forwarded over one yamux stream with Node's HTTP
 * client (`http.request({ createConnection: () => stream })`): both bodies
 * streamed with backpressure, no total timeout, optional response-header and
 * idle timeouts. A visitor that goes away resets the stream (RST, never FIN:
 * the Go client keeps writing after a FIN); a stream reset by the agent
 * destroys the visitor's connection, so a cut response never looks complete.
 */
import { request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { removeHopByHopRawHeaders, requestHasBody, type TunnelErrorInfo } from '../http/index.js';
import { StreamOpenTimeoutError, type MuxStream } from '../mux/index.js';
import type { Clock, TimerHandle } from '../shared/clock.js';
import type { TunnelErrorCode } from '../shared/errors.js';
import { sendVisitorError } from './visitor-response.js';

/** How an exchange ended. */
export type ExchangeOutcome =
  | 'completed'
  | 'visitor-gone'
  | 'agent-reset'
  | 'bad-gateway'
  | 'response-header-timeout'
  | 'idle-timeout'
  | 'relay-error';

/** What happened, for the access log and counters. */
export interface ExchangeResult {
  outcome: ExchangeOutcome;
  /** Status sent to the visitor (the agent's, or the relay's own error status); undefined if none was sent. */
  status: number | undefined;
  /** Request body bytes sent to the agent. */
  bytesToAgent: number;
  /** Response body bytes received from the agent. */
  bytesFromAgent: number;
  /** What went wrong, for the log (never shown to the visitor). */
  error?: string;
  /** Code of the error response the relay sent itself (`X-Tunnel-Error`), if it did. */
  errorCode?: TunnelErrorCode;
  /** When the agent's response headers arrived (`clock.now()`), if they did. */
  responseHeadersAtMs?: number;
}

/** What `forwardHttpExchange` needs. */
export interface HttpExchangeOptions {
  req: IncomingMessage;
  res: ServerResponse;
  stream: MuxStream;
  /** Origin-form target sent to the agent (prefix and relay credentials already removed). */
  path: string;
  /** Headers sent to the agent (hop-by-hop removed, credentials stripped, X-Forwarded-* set). */
  headers: OutgoingHttpHeaders;
  /** 0 = no limit. Counted from the moment the request is fully sent. */
  responseHeaderTimeoutMs: number;
  /** 0 = no limit. No byte in either direction for this long aborts the exchange. */
  idleTimeoutMs: number;
  /** After a complete exchange, how long to wait for the agent's FIN before resetting the stream. */
  lingerMs: number;
  clock: Clock;
  /** Extra headers for the relay's own error responses (e.g. `Set-Cookie`). */
  errorHeaders?: Readonly<Record<string, string>>;
  /** Headers added to the agent's response (e.g. a new access cookie). */
  responseExtraHeaders?: Readonly<Record<string, string>>;
  /** True while the relay shuts down: an exchange that dies before its response is then answered 503. */
  isShuttingDown?: () => boolean;
}

const UPSTREAM_TIMEOUT_INFO: TunnelErrorInfo = {
  status: 504,
  code: 'ERR_RELAY_UPSTREAM_TIMEOUT',
  message: 'The device did not answer in time',
};

const SHUTTING_DOWN_INFO: TunnelErrorInfo = {
  status: 503,
  code: 'ERR_RELAY_SHUTTING_DOWN',
  message: 'The relay is shutting down',
  retryAfterS: 5,
};

/** Forwards one exchange; resolves (never rejects) once both sides are done with it. */
export function forwardHttpExchange(o: HttpExchangeOptions): Promise<ExchangeResult> {
  const { req, res, stream, clock } = o;
  return new Promise<ExchangeResult>((resolve) => {
    let bytesToAgent = 0;
    let bytesFromAgent = 0;
    let settled = false;
    let requestSent = false;
    let responseComplete = false;
    let headerTimer: TimerHandle | undefined;
    let idleTimer: TimerHandle | undefined;
    let lingerTimer: TimerHandle | undefined;
    let lastActivityMs = clock.now();
    let timedOut: ExchangeOutcome | undefined;
    let responseStarted = false;
    let failure: string | undefined;
    let errorCode: TunnelErrorCode | undefined;
    let responseHeadersAtMs: number | undefined;

    const clearTimers = (): void => {
      if (headerTimer !== undefined) clock.clearTimeout(headerTimer);
      if (idleTimer !== undefined) clock.clearTimeout(idleTimer);
      headerTimer = undefined;
      idleTimer = undefined;
    };
    const settle = (outcome: ExchangeOutcome, status: number | undefined): void => {
      if (settled) return;
      settled = true;
      clearTimers();
      resolve({
        outcome,
        status,
        bytesToAgent,
        bytesFromAgent,
        ...(failure === undefined ? {} : { error: failure }),
        ...(errorCode === undefined ? {} : { errorCode }),
        ...(responseHeadersAtMs === undefined ? {} : { responseHeadersAtMs }),
      });
    };
    const fail = (outcome: ExchangeOutcome, info: TunnelErrorInfo | undefined): void => {
      if (settled) return;
      stream.destroy();
      upstream.destroy();
      if (info !== undefined && o.isShuttingDown?.() === true) info = SHUTTING_DOWN_INFO;
      if (info !== undefined && !res.headersSent && !res.destroyed) {
        // An unread request body cannot be skipped safely: close the connection after the error.
        const extra = { ...(o.errorHeaders ?? {}), ...(req.complete ? {} : { Connection: 'close' }) };
        sendVisitorError(res, info, req.headers.accept, extra);
        errorCode = info.code;
        settle(outcome, info.status);
        return;
      }
      res.destroy();
      settle(outcome, res.headersSent ? res.statusCode : undefined);
    };
    const touch = (): void => {
      lastActivityMs = clock.now();
    };
    const armIdle = (delayMs: number): void => {
      idleTimer = clock.setTimeout(() => {
        const idleMs = clock.now() - lastActivityMs;
        if (idleMs < o.idleTimeoutMs) {
          armIdle(o.idleTimeoutMs - idleMs);
          return;
        }
        timedOut = 'idle-timeout';
        fail('idle-timeout', UPSTREAM_TIMEOUT_INFO);
      }, delayMs);
      idleTimer.unref?.();
    };
    // Close the stream politely (FIN) once the agent ended its side, when our request is complete.
    const onAgentFin = (): void => {
      if (requestSent && !stream.writableEnded && !stream.destroyed) stream.end();
    };

    let upstream: ReturnType<typeof httpRequest>;
    try {
      upstream = httpRequest({
        method: req.method,
        path: o.path,
        headers: o.headers,
        setHost: false,
        // No `agent`: with `agent: false` Node would make a fresh Agent that ignores createConnection.
        createConnection: () => {
          stream.once('end', onAgentFin);
          return stream as unknown as Socket;
        },
      });
    } catch {
      stream.destroy();
      sendVisitorError(res, { status: 400, code: 'ERR_ROUTE_BAD_PATH', message: 'The request cannot be forwarded' }, req.headers.accept);
      errorCode = 'ERR_ROUTE_BAD_PATH';
      settle('relay-error', 400);
      return;
    }

    if (o.idleTimeoutMs > 0) armIdle(o.idleTimeoutMs);

    const finishStream = (): void => {
      if (!stream.destroyed) {
        if (!stream.writableEnded) stream.end();
        stream.resume();
        lingerTimer = clock.setTimeout(() => stream.destroy(), o.lingerMs);
        lingerTimer.unref?.();
        stream.once('close', () => {
          if (lingerTimer !== undefined) clock.clearTimeout(lingerTimer);
        });
      }
    };

    res.once('close', () => {
      if (!res.writableFinished) fail('visitor-gone', undefined);
    });

    // Request body: pumped by hand rather than with pipeline(), because
    // pipeline() would destroy the visitor's request (and socket) when the
    // agent side fails, and the visitor must still get a 502/504. Without a
    // body (most requests) the request is complete now.
    if (requestHasBody(req.headers)) {
      req.on('data', (chunk: Buffer) => {
        bytesToAgent += chunk.length;
        touch();
        if (!upstream.write(chunk)) req.pause();
      });
      upstream.on('drain', () => req.resume());
      req.once('end', () => upstream.end());
    } else {
      upstream.end();
    }
    req.on('error', () => fail('visitor-gone', undefined));

    upstream.once('finish', () => {
      requestSent = true;
      if (stream.readableEnded) onAgentFin();
      if (o.responseHeaderTimeoutMs > 0 && !responseStarted) {
        headerTimer = clock.setTimeout(() => {
          timedOut = 'response-header-timeout';
          fail('response-header-timeout', UPSTREAM_TIMEOUT_INFO);
        }, o.responseHeaderTimeoutMs);
        headerTimer.unref?.();
      }
      if (responseComplete) finishStream();
    });

    upstream.on('error', (err: Error) => {
      if (timedOut !== undefined || settled) return;
      failure = err.message;
      if (responseStarted) {
        fail('agent-reset', undefined);
        return;
      }
      if (err instanceof StreamOpenTimeoutError) {
        fail('response-header-timeout', UPSTREAM_TIMEOUT_INFO);
        return;
      }
      fail('bad-gateway', {
        status: 502,
        code: 'ERR_RELAY_BAD_GATEWAY',
        message: 'The device closed the connection without a valid response',
      });
    });

    upstream.once('response', (upstreamRes: IncomingMessage) => {
      responseStarted = true;
      responseHeadersAtMs = clock.now();
      if (headerTimer !== undefined) clock.clearTimeout(headerTimer);
      headerTimer = undefined;
      touch();
      const status = upstreamRes.statusCode ?? 502;
      const rawHeaders = removeHopByHopRawHeaders(upstreamRes.rawHeaders);
      for (const [name, value] of Object.entries(o.responseExtraHeaders ?? {})) rawHeaders.push(name, value);
      try {
        res.writeHead(status, upstreamRes.statusMessage, rawHeaders);
      } catch {
        fail('bad-gateway', { status: 502, code: 'ERR_RELAY_BAD_GATEWAY', message: 'The device sent an invalid response' });
        return;
      }
      // Response body: pumped by hand rather than with pipeline(), which costs
      // an AbortController, a DOMException and a dozen listeners per exchange
      // (about 5 % of the relay's CPU per small GET).
      upstreamRes.on('data', (chunk: Buffer) => {
        bytesFromAgent += chunk.length;
        touch();
        if (!res.write(chunk)) upstreamRes.pause();
      });
      res.on('drain', () => upstreamRes.resume());
      upstreamRes.once('end', () => {
        responseComplete = true;
        const trailers = upstreamRes.rawTrailers;
        if (trailers.length > 0) {
          const pairs: [string, string][] = [];
          for (let i = 0; i + 1 < trailers.length; i += 2) pairs.push([trailers[i] as string, trailers[i + 1] as string]);
          try {
            res.addTrailers(pairs);
          } catch {
            // Invalid trailers are dropped; the body is complete.
          }
        }
        res.end();
        if (requestSent) finishStream();
      });
      res.once('finish', () => settle('completed', status));
      // The visitor going away is caught by res 'close' first; what is left is the agent cutting the body.
      upstreamRes.once('close', () => {
        if (!upstreamRes.complete) fail('agent-reset', undefined);
      });
      upstreamRes.on('error', () => {});
    });
  });
}
