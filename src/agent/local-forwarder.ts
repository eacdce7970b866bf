/**
 * The agent's per-stream forwarder: each tunnel stream carries exactly one
 * HTTP/1.1 exchange, which is parsed by Node's own parser (the stream is
 * handed to an internal `http.Server`), sent to the local service through a
 * keep-alive pool, and answered on the stream, which is then ended (FIN).
 * Upgrades (any protocol) are piped raw to a new local TCP connection
 * (`forward-upgrade.ts`).
 */
import http from 'node:http';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import {
  MAX_HTTP_HEAD_BYTES,
  MAX_TUNNEL_HEAD_BYTES,
  TUNNEL_ERROR_HEADER,
  expectsContinue,
  removeHopByHopRawHeaders,
  requestHasBody,
  responseWillBeChunked,
  toOriginForm,
  trailerDeclaration,
  writeInterimResponse,
  writeRawResponse,
} from '../http/index.js';
import { redactUrl } from '../transport/index.js';
import { systemClock, monotonicMs, type Clock } from '../shared/clock.js';
import { TunnelError, type TunnelErrorCode } from '../shared/errors.js';
import { noopLogger, type Logger } from '../shared/logger.js';
import {
  resolveLocalForwarderConfig,
  type LocalForwarderConfig,
  type LocalForwarderOptions,
} from './local-forwarder-config.js';
import { forwardUpgrade, type LocalUpgradeContext } from './forward-upgrade.js';
import type { LocalExchange } from './local-exchange.js';
import { localLookup } from './local-lookup.js';
import { rawHeaderPairs, rewriteHostHeader } from './local-request-head.js';
import {
  LOCAL_ERROR_MESSAGES,
  LocalServiceError,
  classifyLocalError,
  type LocalServiceErrorCode,
} from './local-service-error.js';

/**
 * One finished exchange, for the status panel and metrics. (A type alias, not
 * an interface, so it is assignable to `Record<string, unknown>`.)
 */
export type LocalRequestRecord = {
  method: string;
  /** The request target as received (path and query). */
  path: string;
  /** Status sent to the relay (for upgrades, the local service's status line; 0 when none was seen). */
  status: number;
  durationMs: number;
  /** Body bytes from the stream to the local service (for upgrades, every byte after the head). */
  bytesIn: number;
  /** Body bytes from the local service to the stream (for upgrades, every byte). */
  bytesOut: number;
  upgrade: boolean;
  /** Set when the exchange failed: a local-service code, or `ERR_ABORTED` when the stream went away first. */
  error?: TunnelErrorCode;
  /**
   * The request's headers as received from the relay (`[name, value, ...]`,
   * Node's `rawHeaders`). May carry credentials: never logged by the forwarder.
   */
  requestHeaders?: string[];
  /**
   * The whole request body, when it was at most `recordRequestBodyBytes`
   * (absent when larger, for upgrades, or when recording is off).
   */
  requestBody?: Buffer;
};

/** Construction options: the config fields plus injected dependencies. */
export interface LocalForwarderDeps extends LocalForwarderOptions {
  logger?: Logger;
  clock?: Clock;
  /** Called once per finished exchange; must not throw (errors are logged and ignored). */
  onRequest?: (record: LocalRequestRecord) => void;
  /**
   * Request bodies up to this many bytes are copied into the record's
   * `requestBody` (for a status page's replay); default 0: none are kept.
   */
  recordRequestBodyBytes?: number;
}


/** How one stream is served (it depends on the session it belongs to). */
export interface LocalStreamOptions {
  /**
   * Pass the local service's interim responses (`100`, `102`, `103`) on the
   * stream. Only for a relay that announced `interim-responses`: the Go
   * relay takes the first response on a stream for the final one.
   */
  interimResponses?: boolean;
}

/**
 * How long a request with `Expect: 100-continue` waits for the local
 * service's `100` before its body is sent anyway (Go's transport and curl
 * wait 1 s too).
 */
export const EXPECT_CONTINUE_TIMEOUT_MS = 1000;

/** Methods safe to resend when a pooled connection turns out to be dead. */
const RETRYABLE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);

/**
 * Serves one HTTP/1.1 exchange per tunnel stream against the local service.
 * Local failures before the response head give `502` with
 * `X-Tunnel-Error: ERR_AGENT_LOCAL_*`; after it, the stream is destroyed
 * (RST) so a cut body never looks complete. A stream destroyed by the relay
 * aborts the local request and discards its connection.
 */
export class LocalForwarder {
  readonly config: Readonly<LocalForwarderConfig>;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #onRecord: ((record: LocalRequestRecord) => void) | undefined;
  readonly #recordBodyBytes: number;
  readonly #server: http.Server;
  readonly #agent: http.Agent;
  readonly #hostValue: string | undefined;
  readonly #exchanges = new Map<Duplex, LocalExchange>();
  readonly #localSockets = new Set<net.Socket>();
  /** Streams whose request was refused (400/431) by the forwarder itself. */
  readonly #refusedStreams = new WeakSet<Duplex>();
  readonly #upgradeContext: LocalUpgradeContext;
  #closing: Promise<void> | undefined;

  constructor(options: LocalForwarderDeps) {
    this.config = resolveLocalForwarderConfig(options);
    this.#logger = options.logger ?? noopLogger;
    this.#clock = options.clock ?? systemClock;
    this.#onRecord = options.onRequest;
    this.#recordBodyBytes = Math.max(0, Math.floor(options.recordRequestBodyBytes ?? 0));
    const mode = this.config.hostHeader;
    this.#hostValue = mode === 'preserve' ? undefined : mode === 'local' ? this.config.localAddr : mode;
    this.#agent = new http.Agent({
      keepAlive: true,
      maxSockets: this.config.maxSockets,
      maxFreeSockets: this.config.maxFreeSockets,
    });
    this.#upgradeContext = {
      config: this.config,
      hostValue: this.#hostValue,
      logger: this.#logger,
      watchLocalSocket: (ex, socket, onTimeout) => {
        this.#trackSocket(socket);
        this.#startConnectTimer(ex, socket, onTimeout);
      },
      clearConnectTimer: (ex) => this.#clearConnectTimer(ex),
      finish: (ex, error) => this.#finish(ex, error),
    };
    this.#server = http.createServer({ requireHostHeader: false, maxHeaderSize: MAX_TUNNEL_HEAD_BYTES });
    // One exchange per stream, of any length: no server-side timeouts (the
    // relay owns visitor timeouts) and no keep-alive.
    this.#server.timeout = 0;
    this.#server.requestTimeout = 0;
    this.#server.headersTimeout = 0;
    this.#server.keepAliveTimeout = 0;
    this.#server.maxRequestsPerSocket = 1;
    // The relay may FIN its side right after the request (the Go relay may):
    // keep answering instead of ending the stream (Node's default).
    (this.#server as unknown as { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
    this.#server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => this.#onRequest(req, res));
    // Without a 'checkContinue' listener Node would answer `Expect: 100-continue` itself, on the
    // stream: a second response, which the Go relay takes for the final one. Whether a 100 comes
    // is the local service's call, passed on only where interim responses are allowed.
    this.#server.on('checkContinue', (req: http.IncomingMessage, res: http.ServerResponse) => this.#onRequest(req, res));
    this.#server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) =>
      this.#onUpgrade(req, socket, head),
    );
    this.#server.on('connect', (_req: http.IncomingMessage, socket: Duplex) => {
      writeRawResponse(socket, { status: 405, headers: { 'Content-Type': 'text/plain; charset=utf-8' }, body: 'CONNECT is not supported\n' });
    });
    this.#server.on('clientError', (err: Error, socket: Duplex) => this.#onClientError(err, socket));
  }

  /** Streams currently being served (exchanges not yet finished). */
  get activeCount(): number {
    return this.#exchanges.size;
  }

  /** Open TCP connections to the local service, pooled idle ones included. */
  get localSocketCount(): number {
    return this.#localSockets.size;
  }

  /**
   * Serves exactly one HTTP/1.1 exchange on `stream` (a mux stream, or any
   * `allowHalfOpen` Duplex), then ends it. After `close()`, destroys it.
   */
  handle(stream: Duplex, options: LocalStreamOptions = {}): void {
    if (this.#closing !== undefined) {
      stream.destroy();
      return;
    }
    const ex: LocalExchange = {
      stream,
      startedMs: monotonicMs(),
      started: false,
      done: false,
      method: '',
      path: '',
      status: 0,
      bytesIn: 0,
      bytesOut: 0,
      upgrade: false,
      retried: false,
      bodyChunks: this.#recordBodyBytes > 0 ? [] : null,
      bodyComplete: false,
      interimResponses: options.interimResponses === true,
      sentContinue: false,
      localResponseEnded: false,
    };
    this.#exchanges.set(stream, ex);
    // A reset stream emits 'error'; without a listener that would crash.
    stream.on('error', (err: Error) => this.#logger.debug('tunnel stream error', { err: err.message }));
    stream.once('close', () => this.#onStreamClose(ex));
    this.#server.emit('connection', stream);
  }

  /**
   * Destroys every active stream, every local connection and the pool;
   * resolves once all local connections are closed. Idempotent.
   */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    const sockets = [...this.#localSockets];
    const closed = Promise.all(
      sockets.map((s) => (s.closed ? Promise.resolve() : new Promise<void>((resolve) => s.once('close', () => resolve())))),
    ).then(() => undefined);
    for (const ex of [...this.#exchanges.values()]) {
      this.#finish(ex, 'ERR_ABORTED');
      ex.stream.destroy();
    }
    for (const s of sockets) s.destroy();
    this.#agent.destroy();
    this.#closing = closed;
    return closed;
  }

  #trackSocket(socket: net.Socket): void {
    if (this.#localSockets.has(socket)) return;
    this.#localSockets.add(socket);
    socket.once('close', () => this.#localSockets.delete(socket));
  }

  #startConnectTimer(ex: LocalExchange, socket: net.Socket, onTimeout: (err: LocalServiceError) => void): void {
    if (!socket.connecting) return;
    const timeoutMs = this.config.connectTimeoutMs;
    const timer = this.#clock.setTimeout(() => {
      if (ex.connectTimer !== timer) return;
      ex.connectTimer = undefined;
      if (!socket.connecting) return;
      onTimeout(
        new LocalServiceError(
          'ERR_AGENT_LOCAL_TIMEOUT',
          `Connect to the local service timed out (timeout: ${timeoutMs}ms, address: ${this.config.localAddr})`,
        ),
      );
    }, timeoutMs);
    ex.connectTimer = timer;
    socket.once('connect', () => this.#clearConnectTimer(ex));
  }

  #clearConnectTimer(ex: LocalExchange): void {
    if (ex.connectTimer === undefined) return;
    this.#clock.clearTimeout(ex.connectTimer);
    ex.connectTimer = undefined;
  }

  #onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const ex = this.#exchanges.get(req.socket);
    if (ex === undefined || ex.started || ex.done) {
      res.destroy();
      return;
    }
    ex.started = true;
    ex.method = req.method ?? 'GET';
    ex.path = toOriginForm(req.url);
    ex.rawHeaders = req.rawHeaders;
    res.shouldKeepAlive = false;
    // The local service's Date passes through; Node must not add a second one.
    res.sendDate = false;
    req.on('data', (chunk: Buffer) => {
      ex.bytesIn += chunk.length;
      if (ex.bodyChunks === null) return;
      // Copied: a chunk may be a view of a larger transport buffer.
      if (ex.bytesIn <= this.#recordBodyBytes) ex.bodyChunks.push(Buffer.from(chunk));
      else ex.bodyChunks = null;
    });
    req.once('end', () => {
      ex.bodyComplete = true;
    });
    this.#sendLocal(ex, req, res, true);
  }

  #sendLocal(ex: LocalExchange, req: http.IncomingMessage, res: http.ServerResponse, pipeBody: boolean): void {
    const headers = rewriteHostHeader(removeHopByHopRawHeaders(req.rawHeaders), this.#hostValue, this.config.localAddr);
    // Keep the request's framing: Node's client would send a chunked body of
    // a GET unframed, and a Content-Length body is already described.
    if (req.headers['transfer-encoding'] !== undefined) headers.push('Transfer-Encoding', 'chunked', ...trailerDeclaration(req.rawHeaders));
    let localReq: http.ClientRequest;
    try {
      localReq = http.request({
        host: this.config.localHost,
        port: this.config.localPort,
        method: ex.method,
        path: ex.path,
        headers,
        agent: this.#agent,
        maxHeaderSize: MAX_HTTP_HEAD_BYTES,
        lookup: localLookup,
        autoSelectFamily: true,
      } as http.RequestOptions);
    } catch (err) {
      this.#logger.warn('request cannot be forwarded', { err: (err as Error).message });
      ex.status = 400;
      res.writeHead(400, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('Bad Request\n');
      res.once('finish', () => this.#endStream(ex));
      return;
    }
    ex.localReq = localReq;
    localReq.on('socket', (socket: net.Socket) => {
      this.#trackSocket(socket);
      if (ex.localReq !== localReq) return;
      this.#startConnectTimer(ex, socket, (err) => localReq.destroy(err));
    });
    localReq.on('error', (err: Error) => this.#onLocalError(ex, req, res, localReq, err));
    localReq.on('information', (info: http.InformationEvent) => this.#onLocalInterim(ex, req, res, localReq, info));
    localReq.on('response', (localRes: http.IncomingMessage) => this.#onLocalResponse(ex, res, localReq, localRes));
    // A 101 to a request that asked for no upgrade: Node's client would drop the connection and never say so.
    localReq.on('upgrade', (_localRes: http.IncomingMessage, socket: Duplex) => {
      socket.destroy();
      this.#refuseSwitch(ex, res, localReq);
    });
    localReq.once('close', () => {
      if (ex.localReq !== localReq || req.complete) return;
      // The local connection is gone before the request body ended (the service answered early
      // and closed): read the rest off the stream, or the stream stalls with its window full.
      req.unpipe(localReq);
      req.resume();
    });
    if (ex.done) {
      localReq.destroy();
      return;
    }
    if (!pipeBody || !requestHasBody(req.headers)) {
      localReq.end();
      return;
    }
    req.once('end', () => {
      if (req.rawTrailers.length > 0 && ex.localReq === localReq) localReq.addTrailers(rawHeaderPairs(req.rawTrailers));
    });
    if (expectsContinue(req)) {
      this.#pipeAfterContinue(ex, req, res, localReq);
      return;
    }
    // Not pipeline(): on a local failure it would destroy `req`, and with it
    // the stream, before the 502 could be written. pipe() only unpipes.
    req.pipe(localReq);
  }

  /**
   * Honours `Expect: 100-continue` towards the local service, as Go's
   * transport does: the body goes once it says 100, or after
   * `EXPECT_CONTINUE_TIMEOUT_MS` of silence. A final response first means the
   * body is never sent: a service that answered early and closes must not be
   * sent bytes it will not read (its kernel would reset the connection, and
   * the response with it). On the timeout, a visitor that may still be
   * waiting for its 100 is sent one, where interim responses are allowed.
   */
  #pipeAfterContinue(ex: LocalExchange, req: http.IncomingMessage, res: http.ServerResponse, localReq: http.ClientRequest): void {
    let decided = false;
    const stop = (): void => {
      decided = true;
      this.#clock.clearTimeout(timer);
      localReq.off('continue', start);
    };
    const start = (): void => {
      if (decided) return;
      stop();
      if (ex.localReq === localReq && !localReq.destroyed) req.pipe(localReq);
    };
    // A relay that did not wait (the Go relay sends the body at once) must not see its bytes read before the decision.
    req.pause();
    const timer = this.#clock.setTimeout(() => {
      if (decided) return;
      if (ex.interimResponses && !ex.sentContinue && !ex.done && !res.headersSent) {
        res.writeContinue();
        ex.sentContinue = true;
      }
      start();
    }, EXPECT_CONTINUE_TIMEOUT_MS);
    localReq.once('continue', start);
    localReq.once('response', () => {
      if (decided) return;
      stop();
      ex.bodyWithheld = true;
    });
    localReq.once('close', stop);
  }

  #onLocalError(
    ex: LocalExchange,
    req: http.IncomingMessage,
    res: http.ServerResponse,
    localReq: http.ClientRequest,
    err: Error,
  ): void {
    if (ex.localReq !== localReq) return;
    this.#clearConnectTimer(ex);
    if (ex.done) return;
    const code = classifyLocalError(err);
    if (ex.localResponseEnded) {
      // The response is complete; only the rest of the request body could not be written.
      this.#logger.debug('local service closed before reading the whole request body', { code });
      return;
    }
    if (
      !res.headersSent &&
      localReq.reusedSocket &&
      code === 'ERR_AGENT_LOCAL_RESET' &&
      !ex.retried &&
      RETRYABLE_METHODS.has(ex.method) &&
      req.readableEnded &&
      ex.bytesIn === 0
    ) {
      // A pooled connection the local service had already closed: resend once
      // on a fresh one, as Go's transport does for idempotent requests.
      ex.retried = true;
      this.#logger.debug('pooled local connection was closed; retrying', { method: ex.method });
      this.#sendLocal(ex, req, res, false);
      return;
    }
    if (res.headersSent) {
      this.#logger.warn('local service failed mid-response', { code, err: err.message });
      this.#abortStream(ex, code, err);
      return;
    }
    this.#logger.warn('local service unreachable', { code, err: err.message, localAddr: this.config.localAddr });
    req.unpipe(localReq);
    req.resume();
    this.#respondBadGateway(ex, res, code);
  }

  /** The local service switched protocols on an ordinary request: its connection is dropped and the visitor gets a `502`. */
  #refuseSwitch(ex: LocalExchange, res: http.ServerResponse, localReq: http.ClientRequest): void {
    if (ex.localReq !== localReq || ex.done) return;
    localReq.destroy();
    this.#logger.warn('local service answered 101 to a request without an upgrade', { path: redactUrl(ex.path) });
    if (res.headersSent) {
      this.#abortStream(ex, 'ERR_AGENT_LOCAL_BAD_RESPONSE', new Error('101 to a request without an upgrade'));
      return;
    }
    this.#respondBadGateway(ex, res, 'ERR_AGENT_LOCAL_BAD_RESPONSE');
  }

  #respondBadGateway(ex: LocalExchange, res: http.ServerResponse, code: LocalServiceErrorCode): void {
    ex.status = 502;
    const body = `${LOCAL_ERROR_MESSAGES[code]}\n`;
    res.writeHead(502, {
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Length': Buffer.byteLength(body),
      'Cache-Control': 'no-store',
      'X-Tunnel-Error': code,
    });
    res.end(body);
    res.once('finish', () => this.#endStream(ex, code));
  }

  #onLocalResponse(
    ex: LocalExchange,
    res: http.ServerResponse,
    localReq: http.ClientRequest,
    localRes: http.IncomingMessage,
  ): void {
    if (ex.localReq !== localReq || ex.done) {
      localReq.destroy();
      return;
    }
    if (localRes.statusCode === 101) {
      this.#refuseSwitch(ex, res, localReq);
      return;
    }
    ex.status = localRes.statusCode ?? 502;
    const headers = removeHopByHopRawHeaders(localRes.rawHeaders);
    if (responseWillBeChunked(res, ex.status, ex.method, headers)) headers.push(...trailerDeclaration(localRes.rawHeaders));
    try {
      res.writeHead(ex.status, localRes.statusMessage, headers);
    } catch (err) {
      this.#logger.warn('local response cannot be forwarded', { err: (err as Error).message });
      localReq.destroy();
      this.#respondBadGateway(ex, res, 'ERR_AGENT_LOCAL_BAD_RESPONSE');
      return;
    }
    // Pumped by hand rather than with stream/promises pipeline(), which costs
    // an AbortController, a DOMException and a dozen listeners per exchange
    // (about 6 % of the agent's CPU per small GET in node --cpu-prof).
    localRes.on('data', (chunk: Buffer) => {
      ex.bytesOut += chunk.length;
      if (!res.write(chunk)) localRes.pause();
    });
    res.on('drain', () => localRes.resume());
    localRes.once('end', () => {
      ex.localResponseEnded = true;
      if (localRes.rawTrailers.length > 0) res.addTrailers(rawHeaderPairs(localRes.rawTrailers));
      res.end();
      // A body the service never asked for is never sent: its connection cannot carry another request.
      if (ex.bodyWithheld) localReq.destroy();
    });
    res.once('finish', () => this.#endStream(ex));
    const cut = (err: Error): void => {
      if (ex.done) return;
      const code = classifyLocalError(err);
      this.#logger.warn('local response cut', { code, err: err.message });
      localReq.destroy();
      this.#abortStream(ex, code, err);
    };
    localRes.once('error', cut);
    localRes.once('close', () => {
      if (!localRes.complete) cut(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
    });
    // The stream went away (relay reset): #onStreamClose records it; drop the local connection too.
    res.once('close', () => {
      if (!res.writableFinished) localReq.destroy();
    });
  }

  /** An interim response from the local service: passed on only where allowed, and a 100 only once, to a request that asked for it. */
  #onLocalInterim(ex: LocalExchange, req: http.IncomingMessage, res: http.ServerResponse, localReq: http.ClientRequest, info: http.InformationEvent): void {
    if (ex.localReq !== localReq || ex.done || !ex.interimResponses) return;
    if (info.statusCode === 100 && (ex.sentContinue || !expectsContinue(req))) return;
    if (writeInterimResponse(res, info) && info.statusCode === 100) ex.sentContinue = true;
  }

  #onUpgrade(req: http.IncomingMessage, stream: Duplex, head: Buffer): void {
    const ex = this.#exchanges.get(stream);
    if (ex === undefined || ex.started || ex.done) {
      stream.destroy();
      return;
    }
    forwardUpgrade(this.#upgradeContext, ex, req, head);
  }

  #onClientError(err: Error, socket: Duplex): void {
    // Answered already: the rest of the bad request keeps coming (Node's parser reports each piece) and is
    // dropped; a reset now would make the Go relay discard the answer it has not read yet.
    if (this.#refusedStreams.has(socket)) return;
    const ex = this.#exchanges.get(socket);
    const parseError = typeof (err as NodeJS.ErrnoException).code === 'string' && (err as NodeJS.ErrnoException).code?.startsWith('HPE_');
    if (ex !== undefined && !ex.started && !ex.done && parseError) {
      const tooLarge = (err as NodeJS.ErrnoException).code === 'HPE_HEADER_OVERFLOW';
      const code = tooLarge ? 'ERR_AGENT_HEADERS_TOO_LARGE' : 'ERR_AGENT_BAD_REQUEST';
      ex.status = tooLarge ? 431 : 400;
      this.#logger.debug('malformed request on a tunnel stream', { err: err.message, code });
      writeRawResponse(socket, {
        status: ex.status,
        headers: { 'Content-Type': 'text/plain; charset=utf-8', [TUNNEL_ERROR_HEADER]: code },
        body: tooLarge ? `Request head over ${MAX_TUNNEL_HEAD_BYTES} bytes\n` : 'Bad Request\n',
      });
      this.#refusedStreams.add(socket);
      this.#finish(ex, code);
      return;
    }
    socket.destroy();
  }

  /**
   * The stream closed: an exchange not finished by then was cut short (the
   * relay reset the stream, the visitor went away), except an upgrade whose
   * two directions both ended cleanly.
   */
  #onStreamClose(ex: LocalExchange): void {
    // The rest of the request body can no longer arrive: a local request still sending it must not wait for it.
    if (ex.localReq !== undefined && !ex.localReq.writableFinished) ex.localReq.destroy();
    if (ex.done) return;
    const { stream } = ex;
    const clean = ex.upgrade && stream.errored === null && stream.readableEnded && stream.writableFinished;
    this.#finish(ex, clean ? undefined : 'ERR_ABORTED');
  }

  /** The response went out complete: FIN the stream and record the exchange. */
  #endStream(ex: LocalExchange, error?: TunnelErrorCode): void {
    const { stream } = ex;
    if (!stream.destroyed && !stream.writableEnded) stream.end();
    this.#finish(ex, error);
  }

  /** The response cannot complete: destroy the stream (RST on a mux stream). */
  #abortStream(ex: LocalExchange, code: TunnelErrorCode, cause: unknown): void {
    this.#finish(ex, code);
    ex.stream.destroy(new TunnelError(code, 'The local service failed mid-response', { cause }));
  }

  /** Records the exchange once and forgets it; `error` is ignored after a clean finish. */
  #finish(ex: LocalExchange, error?: TunnelErrorCode): void {
    if (ex.done) return;
    ex.done = true;
    this.#clearConnectTimer(ex);
    this.#exchanges.delete(ex.stream);
    if (error === 'ERR_ABORTED') {
      // Destroying the request destroys its connection instead of pooling it;
      // after a complete response it is a no-op (the connection is pooled).
      ex.localReq?.destroy();
      ex.upgradeSocket?.destroy();
    }
    if (!ex.started && error === 'ERR_ABORTED') return;
    const record: LocalRequestRecord = {
      method: ex.method,
      path: ex.path,
      status: ex.status,
      durationMs: monotonicMs() - ex.startedMs,
      bytesIn: ex.bytesIn,
      bytesOut: ex.bytesOut,
      upgrade: ex.upgrade,
    };
    if (error !== undefined) record.error = error;
    // The visitor's query may carry `token=` or `access_token=`: never log it as sent.
    this.#logger.debug('exchange finished', { ...record, path: redactUrl(record.path) });
    if (this.#onRecord === undefined) return;
    if (ex.rawHeaders !== undefined) record.requestHeaders = ex.rawHeaders;
    if (ex.bodyChunks !== null && ex.bodyComplete) record.requestBody = Buffer.concat(ex.bodyChunks);
    try {
      this.#onRecord(record);
    } catch (err) {
      this.#logger.warn('onRequest callback threw', { err: err instanceof Error ? err.message : String(err) });
    }
  }
}
