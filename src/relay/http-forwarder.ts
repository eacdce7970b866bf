/**
 * One visitor HTTP exchange forwarded over one yamux stream with Node's HTTP
 * client (`http.request({ createConnection: () => stream })`): both bodies
 * streamed with backpressure (request trailers included), no total timeout,
 * optional response-header and idle timeouts. A visitor that goes away
 * resets the stream (RST, never FIN: the Go client keeps writing after a
 * FIN); a stream reset by the agent destroys the visitor's connection, so a
 * cut response never looks complete. A response that completes before the
 * request body ended resets the stream, and the rest of the body is skipped
 * or the visitor's connection closed (`unread-request-body.ts`).
 *
 * `Expect: 100-continue`: with an agent that announced `interim-responses`,
 * the expectation goes to the local service and its `100` (and any `102`,
 * `103`) comes back to the visitor; with any other agent (a Go one) the
 * relay says `100` itself at once, as the Go relay does, since a 1xx cannot
 * come back on the stream.
 */
import {
  request as httpRequest,
  type IncomingMessage,
  type InformationEvent,
  type OutgoingHttpHeaders,
  type ServerResponse,
} from 'node:http';
import type { Socket } from 'node:net';
import {
  MAX_TUNNEL_HEAD_BYTES,
  expectsContinue,
  removeHopByHopRawHeaders,
  requestHasBody,
  responseWillBeChunked,
  trailerDeclaration,
  writeInterimResponse,
  type TunnelErrorInfo,
} from '../http/index.js';
import { StreamOpenTimeoutError, type MuxStream } from '../mux/index.js';
import type { Clock, TimerHandle } from '../shared/clock.js';
import type { TunnelErrorCode } from '../shared/errors.js';
import { skipUnreadRequestBody } from './unread-request-body.js';
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
  /** Applied to the agent's response headers after hop-by-hop removal (e.g. drops a `Set-Cookie` of a relay cookie). */
  filterResponseHeaders?: (rawHeaders: string[]) => string[];
  /** True while the relay shuts down: an exchange that dies before its response is then answered 503. */
  isShuttingDown?: () => boolean;
  /** The agent announced `interim-responses`: 1xx responses may come on the stream and are passed on. */
  interimResponses?: boolean;
}

/** The device did not answer within the response-header or idle timeout (ordinary requests and upgrades). */
export const UPSTREAM_TIMEOUT_INFO: TunnelErrorInfo = {
  status: 504,
  code: 'ERR_RELAY_UPSTREAM_TIMEOUT',
  message: 'The device did not answer in time',
};

const SWITCH_WITHOUT_UPGRADE_INFO: TunnelErrorInfo = {
  status: 502,
  code: 'ERR_RELAY_BAD_GATEWAY',
  message: 'The device switched protocols on a request that asked for no upgrade',
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
    let continueSent = false;
    let abandoned = false;
    const visitorExpectsContinue = expectsContinue(req);
    const interimResponses = o.interimResponses === true;

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
        maxHeaderSize: MAX_TUNNEL_HEAD_BYTES,
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

    /** After a complete exchange: reset the stream if it is still open `lingerMs` from now. */
    const armLinger = (): void => {
      if (lingerTimer !== undefined) clock.clearTimeout(lingerTimer);
      lingerTimer = clock.setTimeout(() => stream.destroy(), o.lingerMs);
      lingerTimer.unref?.();
    };
    stream.once('close', () => {
      if (lingerTimer !== undefined) clock.clearTimeout(lingerTimer);
    });
    const finishStream = (): void => {
      if (!stream.destroyed) {
        if (!stream.writableEnded) stream.end();
        stream.resume();
        armLinger();
      }
    };

    res.once('close', () => {
      if (!res.writableFinished) fail('visitor-gone', undefined);
    });

    // Request body: pumped by hand rather than with pipeline(), because
    // pipeline() would destroy the visitor's request (and socket) when the
    // agent side fails, and the visitor must still get a 502/504. Without a
    // body (most requests) the request is complete now.
    const onRequestData = (chunk: Buffer): void => {
      bytesToAgent += chunk.length;
      touch();
      if (!upstream.write(chunk)) req.pause();
    };
    if (requestHasBody(req.headers)) {
      req.on('data', onRequestData);
      upstream.on('drain', () => req.resume());
      req.once('end', () => {
        if (abandoned) return;
        if (req.rawTrailers.length > 0) {
          try {
            upstream.addTrailers(headerPairs(req.rawTrailers));
          } catch {
            // A trailer Node's client refuses is dropped; the body is complete.
          }
        }
        upstream.end();
      });
    } else {
      upstream.end();
    }
    // A Go agent (or an old one of ours) cannot pass the local service's 100 on: ask for the body now.
    if (visitorExpectsContinue && !interimResponses) {
      res.writeContinue();
      continueSent = true;
    }
    // The agent answered before the whole request body was sent: nothing more of it may reach the stream.
    const abandonRequest = (): void => {
      abandoned = true;
      req.off('data', onRequestData);
      stream.destroy();
      skipUnreadRequestBody(req, res, { bodyBytesRead: bytesToAgent, clock });
    };
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

    upstream.on('information', (info: InformationEvent) => {
      if (!interimResponses || settled || res.headersSent) return;
      // Never a 1xx to an HTTP/1.0 visitor (RFC 9110 section 15.2), and one 100 at most, to a visitor that asked.
      if (req.httpVersionMajor !== 1 || req.httpVersionMinor < 1) return;
      if (info.statusCode === 100 && (continueSent || !visitorExpectsContinue)) return;
      touch();
      if (writeInterimResponse(res, info) && info.statusCode === 100) continueSent = true;
    });

    upstream.on('error', (err: Error) => {
      if (timedOut !== undefined || settled || abandoned) return;
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

    // A 101 to a request that asked for no upgrade: Node's client would drop the connection and never say so.
    upstream.once('upgrade', (_res: IncomingMessage, agentSide: Socket) => {
      agentSide.destroy();
      failure = '101 to a request without an upgrade';
      fail('bad-gateway', SWITCH_WITHOUT_UPGRADE_INFO);
    });

    upstream.once('response', (upstreamRes: IncomingMessage) => {
      if (upstreamRes.statusCode === 101) {
        failure = '101 to a request without an upgrade';
        fail('bad-gateway', SWITCH_WITHOUT_UPGRADE_INFO);
        return;
      }
      responseStarted = true;
      responseHeadersAtMs = clock.now();
      if (headerTimer !== undefined) clock.clearTimeout(headerTimer);
      headerTimer = undefined;
      touch();
      const status = upstreamRes.statusCode ?? 502;
      const kept = removeHopByHopRawHeaders(upstreamRes.rawHeaders);
      const rawHeaders = o.filterResponseHeaders === undefined ? kept : o.filterResponseHeaders(kept);
      for (const [name, value] of Object.entries(o.responseExtraHeaders ?? {})) rawHeaders.push(name, value);
      if (responseWillBeChunked(res, status, req.method, rawHeaders)) rawHeaders.push(...trailerDeclaration(upstreamRes.rawHeaders));
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
          try {
            res.addTrailers(headerPairs(trailers));
          } catch {
            // Invalid trailers are dropped; the body is complete.
          }
        }
        res.end();
        if (requestSent) finishStream();
        else if (!upstream.writableEnded) abandonRequest();
        // Else the request is all written but not flushed yet: its 'finish' ends the stream.
        else armLinger();
      });
      res.once('finish', () => settle('completed', status));
      // The visitor going away is caught by res 'close' first; what is left is the agent cutting the body.
      upstreamRes.once('close', () => {
        if (!upstreamRes.complete && !abandoned) fail('agent-reset', undefined);
      });
      upstreamRes.on('error', () => {});
    });
  });
}

/** `[name, value, ...]` as pairs, for `addTrailers`. */
function headerPairs(raw: readonly string[]): [string, string][] {
  const pairs: [string, string][] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) pairs.push([raw[i] as string, raw[i + 1] as string]);
  return pairs;
}
