/**
 * The agent's local status listener (`--status-listen`, off by default):
 *
 * - `GET /` the status page;
 * - `GET /status` the manager's `ConnectionStatus` plus `relayUrl`,
 *   `visitorUrl`, `localAddr`, `recentRequests`, `maxBodyBytes` and `now`;
 * - `GET /api/requests` `{ requests, capacity, maxBodyBytes }`, oldest first;
 * - `GET /events` Server-Sent Events: `state` (the `/status` JSON) on connect
 *   and on every manager `'state'` event, `request` (`{ request, status }`)
 *   for each recorded request, a `: heartbeat` comment every 15 s;
 * - `POST /api/requests/:id/replay` sends that request again straight to the
 *   local service and answers `{ id, result }`.
 *
 * Loopback only unless `allowRemote`; any request whose `Host` is not the
 * listen address or localhost gets `403` (DNS rebinding), and a replay must
 * carry `X-Requested-By` and no foreign `Origin` (cross-site requests).
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { systemClock, type Clock, type TimerHandle } from '../shared/clock.js';
import { ConfigError } from '../shared/errors.js';
import { noopLogger, type Logger } from '../shared/logger.js';
import { requireHostPort, requireInt } from '../shared/validate.js';
import { redactUrl } from '../transport/index.js';
import type { ConnectionStatus } from './connection-status.js';
import type { HostHeaderMode } from './local-forwarder-config.js';
import { replayRequest } from './request-replay.js';
import type { RecordedRequest, RequestRecorder } from './request-recorder.js';
import { REPLAY_REQUEST_HEADER, REPLAY_REQUEST_HEADER_VALUE, STATUS_PAGE_CSP, STATUS_PAGE_HTML } from './status-page.js';

/** What the server needs from the tunnel manager. */
export interface StatusSource {
  status(): ConnectionStatus;
  /** Calls the listener on every state change; returns the unsubscribe function. */
  subscribe(listener: (status: ConnectionStatus) => void): () => void;
}

/** `/status` and the `state` event: the manager's status and what the page shows with it. */
export interface StatusServerSnapshot extends ConnectionStatus {
  /** The relay's URL, credentials redacted. */
  relayUrl: string | null;
  visitorUrl: string | null;
  localAddr: string;
  /** Requests held by the recorder. */
  recentRequests: number;
  /** Largest request body kept for replay, in bytes. */
  maxBodyBytes: number;
  /** The server's clock (Unix ms), so the page can count down `nextRetryAt`. */
  now: number;
}

/** Options of a `StatusServer`. */
export interface StatusServerOptions {
  /** `HOST:PORT` to bind (port 0 picks one); a loopback address unless `allowRemote`. */
  listen: string;
  source: StatusSource;
  recorder: RequestRecorder;
  /** The local service, for replays. */
  localAddr: string;
  /** The forwarder's Host rule, applied to replays too; default `preserve`. */
  hostHeader?: HostHeaderMode;
  /** Shown on the page (redacted). */
  relayUrl?: string;
  /** Shown on the page when known. */
  visitorUrl?: string;
  /** Allows a non-loopback listen address (the page then shows headers to the network). Default false. */
  allowRemote?: boolean;
  /** Further `Host` names accepted besides the listen host, `localhost`, `127.0.0.1` and `[::1]`. */
  allowedHosts?: readonly string[];
  /** Interval of the SSE heartbeat comment; default 15 000. */
  heartbeatIntervalMs?: number;
  /** Most concurrent `/events` clients; default 16. */
  maxEventClients?: number;
  /** Deadline of one replay; default 30 000. */
  replayTimeoutMs?: number;
  logger?: Logger;
  clock?: Clock;
}

/** Where the server listens. */
export interface StatusServerAddress {
  /** `host:port` as bound (IPv6 in brackets). */
  address: string;
  /** `http://host:port/`. */
  url: string;
}

/** An SSE client whose unsent output exceeds this is dropped (it stopped reading). */
const MAX_EVENT_BACKLOG_BYTES = 1024 * 1024;
const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'];
/** Delay of the state event that follows request events (coalesced). */
const SETTLE_DELAY_MS = 200;

/** True for `localhost`, 127.0.0.0/8 and ::1. */
function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** The agent's status listener; see the file comment for its routes. */
export class StatusServer {
  readonly #options: StatusServerOptions;
  readonly #host: string;
  readonly #port: number;
  readonly #heartbeatMs: number;
  readonly #maxClients: number;
  readonly #replayTimeoutMs: number;
  readonly #relayUrl: string | null;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #server: http.Server;
  readonly #clients = new Set<http.ServerResponse>();
  readonly #sockets = new Set<Socket>();
  readonly #replays = new AbortController();
  readonly #pendingReplays = new Set<Promise<void>>();
  #allowedHosts = new Set<string>();
  #unsubscribe: Array<() => void> = [];
  #heartbeat: TimerHandle | undefined;
  #settle: TimerHandle | undefined;
  #address: StatusServerAddress | undefined;
  #listening: Promise<StatusServerAddress> | undefined;
  #closing: Promise<void> | undefined;

  /** Validates the options (throws `ConfigError`); nothing listens until `listen()`. */
  constructor(options: StatusServerOptions) {
    const { host, port } = requireHostPort('statusListen', options.listen, true);
    if (options.allowRemote !== true && !isLoopbackHost(host)) {
      throw new ConfigError('statusListen', 'must be a loopback address (127.0.0.1, [::1], localhost)', options.listen);
    }
    requireHostPort('localAddr', options.localAddr);
    this.#options = options;
    this.#host = host;
    this.#port = port;
    this.#heartbeatMs = requireInt('heartbeatIntervalMs', options.heartbeatIntervalMs ?? 15_000, 1);
    this.#maxClients = requireInt('maxEventClients', options.maxEventClients ?? 16, 1);
    this.#replayTimeoutMs = requireInt('replayTimeoutMs', options.replayTimeoutMs ?? 30_000, 1);
    this.#relayUrl = options.relayUrl === undefined ? null : redactUrl(options.relayUrl);
    this.#logger = (options.logger ?? noopLogger).child({ component: 'status-server' });
    this.#clock = options.clock ?? systemClock;
    this.#server = http.createServer({ maxHeaderSize: 16 * 1024 }, (req, res) => this.#handle(req, res));
    this.#server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
  }

  /** The bound address, once listening. */
  get address(): StatusServerAddress | undefined {
    return this.#address;
  }

  /** Connected `/events` clients. */
  get eventClientCount(): number {
    return this.#clients.size;
  }

  /** Binds and starts serving; a second call returns the first's promise. Rejects when the address cannot be bound. */
  listen(options: { signal?: AbortSignal } = {}): Promise<StatusServerAddress> {
    if (this.#listening !== undefined) return this.#listening;
    this.#listening = new Promise<StatusServerAddress>((resolve, reject) => {
      if (this.#closing !== undefined) {
        reject(new ConfigError('statusListen', 'the status server is closed', this.#options.listen));
        return;
      }
      const onError = (err: Error): void => reject(err);
      this.#server.once('error', onError);
      this.#server.listen({ host: this.#host, port: this.#port, signal: options.signal }, () => {
        this.#server.off('error', onError);
        const info = this.#server.address() as AddressInfo;
        const host = info.family === 'IPv6' ? `[${info.address}]` : info.address;
        const address = `${host}:${info.port}`;
        this.#address = { address, url: `http://${address}/` };
        const listenHost = this.#host.includes(':') ? `[${this.#host}]` : this.#host;
        const names = [...LOOPBACK_NAMES, listenHost, host, ...(this.#options.allowedHosts ?? [])];
        this.#allowedHosts = new Set(names.map((n) => n.toLowerCase()));
        this.#unsubscribe = [
          this.#options.source.subscribe(() => this.#broadcast('state', this.snapshot())),
          this.#options.recorder.subscribe((request) => {
            this.#broadcast('request', { request, status: this.snapshot() }, request.id);
            this.#settleSoon();
          }),
        ];
        this.#logger.debug('status server listening', { url: this.#address.url });
        resolve(this.#address);
      });
    });
    return this.#listening;
  }

  /** The `/status` JSON right now. */
  snapshot(): StatusServerSnapshot {
    const status = this.#options.source.status();
    return {
      ...status,
      relayUrl: this.#relayUrl,
      // --visitor-url wins: the person running the agent knows better than a relay behind a proxy.
      visitorUrl: this.#options.visitorUrl ?? status.publicUrl ?? null,
      localAddr: this.#options.localAddr,
      recentRequests: this.#options.recorder.size,
      maxBodyBytes: this.#options.recorder.maxBodyBytes,
      now: this.#clock.now(),
    };
  }

  /** Ends the event streams, aborts replays, stops listening and closes every connection. Idempotent. */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    for (const off of this.#unsubscribe.splice(0)) off();
    this.#stopHeartbeat();
    if (this.#settle !== undefined) this.#clock.clearTimeout(this.#settle);
    this.#settle = undefined;
    this.#replays.abort();
    for (const res of [...this.#clients]) res.end();
    this.#clients.clear();
    // Aborted replays still answer (with ERR_ABORTED) before connections end.
    const replaysDone = Promise.all([...this.#pendingReplays]);
    this.#closing = new Promise<void>((resolve) => {
      if (!this.#server.listening) {
        resolve();
        return;
      }
      this.#server.close(() => resolve());
      void replaysDone.then(() => {
        this.#server.closeIdleConnections();
        for (const socket of this.#sockets) {
          // Ended responses flush first; anything still open is cut.
          socket.end();
          socket.setTimeout(1000, () => socket.destroy());
        }
      });
    });
    return this.#closing;
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('X-Frame-Options', 'DENY');
    if (this.#closing !== undefined) {
      this.#json(res, 503, { error: 'ERR_SHUTTING_DOWN', message: 'The status server is closing' });
      return;
    }
    if (!this.#isAllowedHost(req.headers.host)) {
      this.#logger.warn('status request with a foreign Host refused', { host: String(req.headers.host ?? '') });
      this.#json(res, 403, { error: 'ERR_FORBIDDEN_HOST', message: 'Host not allowed: use the listen address or localhost' });
      return;
    }
    const path = (req.url ?? '/').split('?')[0] as string;
    const method = req.method ?? 'GET';
    const replay = /^\/api\/requests\/(\d{1,15})\/replay$/.exec(path);
    if (replay !== null) {
      if (method !== 'POST') return this.#notAllowed(res, 'POST');
      this.#replay(req, res, Number(replay[1]));
      return;
    }
    const one = /^\/api\/requests\/(\d{1,15})$/.exec(path);
    const routes: Record<string, () => void> = {
      '/': () => this.#page(res, method),
      '/index.html': () => this.#page(res, method),
      '/status': () => this.#json(res, 200, this.snapshot()),
      '/api/requests': () => {
        const { recorder } = this.#options;
        this.#json(res, 200, { requests: recorder.list(), capacity: recorder.capacity, maxBodyBytes: recorder.maxBodyBytes });
      },
      '/events': () => this.#events(req, res),
    };
    const route = one !== null ? () => this.#oneRequest(res, Number(one[1])) : routes[path];
    if (route === undefined) {
      this.#json(res, 404, { error: 'ERR_NOT_FOUND', message: 'No such page' });
      return;
    }
    if (method !== 'GET' && method !== 'HEAD') return this.#notAllowed(res, 'GET, HEAD');
    route();
  }

  /** Host must name this server: the listen host or a loopback name, with our port or none. */
  #isAllowedHost(value: string | undefined): boolean {
    if (value === undefined || this.#address === undefined) return false;
    const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(value.trim());
    if (m === null) return false;
    const port = m[2];
    const boundPort = this.#address.address.slice(this.#address.address.lastIndexOf(':') + 1);
    if (port !== undefined && port !== boundPort) return false;
    return this.#allowedHosts.has((m[1] as string).toLowerCase().replace(/\.$/, ''));
  }

  #page(res: http.ServerResponse, method: string): void {
    const body = Buffer.from(STATUS_PAGE_HTML, 'utf8');
    res.writeHead(200, {
      'Content-Type': 'text/html; charset=utf-8',
      'Content-Length': body.length,
      'Content-Security-Policy': STATUS_PAGE_CSP,
    });
    res.end(method === 'HEAD' ? undefined : body);
  }

  #oneRequest(res: http.ServerResponse, id: number): void {
    const request = this.#options.recorder.get(id);
    if (request === undefined) this.#json(res, 404, { error: 'ERR_NOT_FOUND', message: `No recorded request ${id}` });
    else this.#json(res, 200, request);
  }

  #json(res: http.ServerResponse, status: number, value: unknown): void {
    const body = Buffer.from(JSON.stringify(value), 'utf8');
    res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': body.length });
    res.end(res.req.method === 'HEAD' ? undefined : body);
  }

  #notAllowed(res: http.ServerResponse, allow: string): void {
    res.setHeader('Allow', allow);
    this.#json(res, 405, { error: 'ERR_METHOD_NOT_ALLOWED', message: `Use ${allow}` });
  }

  #events(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (this.#clients.size >= this.#maxClients) {
      this.#json(res, 503, { error: 'ERR_TOO_MANY_CLIENTS', message: 'Too many event streams open' });
      return;
    }
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'X-Accel-Buffering': 'no',
    });
    req.socket.setNoDelay(true);
    req.socket.setTimeout(0);
    this.#clients.add(res);
    res.once('close', () => {
      this.#clients.delete(res);
      if (this.#clients.size === 0) this.#stopHeartbeat();
    });
    let text = `retry: 3000\n\n${formatEvent('state', this.snapshot())}`;
    // A reconnecting EventSource says what it saw last: send what it missed.
    const lastId = Number(req.headers['last-event-id']);
    if (Number.isInteger(lastId) && lastId > 0) {
      const missed = this.#options.recorder.list().filter((r: RecordedRequest) => r.id > lastId);
      for (const request of missed) text += formatEvent('request', { request, status: this.snapshot() }, request.id);
    }
    res.write(text);
    this.#startHeartbeat();
  }

  #broadcast(event: string, data: unknown, id?: number): void {
    if (this.#clients.size === 0) return;
    const text = formatEvent(event, data, id);
    for (const res of [...this.#clients]) this.#send(res, text);
  }

  #send(res: http.ServerResponse, text: string): void {
    if (res.writableLength > MAX_EVENT_BACKLOG_BYTES) {
      this.#logger.debug('dropping a status event client that stopped reading');
      this.#clients.delete(res);
      res.destroy();
      return;
    }
    res.write(text);
  }

  /**
   * The stream of a request closes just after it is recorded, and counters
   * change without a manager event: send the settled state shortly after.
   */
  #settleSoon(): void {
    if (this.#settle !== undefined || this.#clients.size === 0) return;
    this.#settle = this.#clock.setTimeout(() => {
      this.#settle = undefined;
      if (this.#closing === undefined) this.#broadcast('state', this.snapshot());
    }, SETTLE_DELAY_MS);
    this.#settle.unref?.();
  }

  #startHeartbeat(): void {
    if (this.#heartbeat !== undefined) return;
    const beat = (): void => {
      this.#heartbeat = undefined;
      if (this.#clients.size === 0 || this.#closing !== undefined) return;
      for (const res of [...this.#clients]) this.#send(res, ': heartbeat\n\n');
      this.#heartbeat = this.#clock.setTimeout(beat, this.#heartbeatMs);
      this.#heartbeat.unref?.();
    };
    this.#heartbeat = this.#clock.setTimeout(beat, this.#heartbeatMs);
    this.#heartbeat.unref?.();
  }

  #stopHeartbeat(): void {
    if (this.#heartbeat === undefined) return;
    this.#clock.clearTimeout(this.#heartbeat);
    this.#heartbeat = undefined;
  }

  #replay(req: http.IncomingMessage, res: http.ServerResponse, id: number): void {
    req.resume();
    if (!this.#isSameOriginRequest(req)) {
      this.#json(res, 403, {
        error: 'ERR_CROSS_SITE',
        message: `Replay needs the ${REPLAY_REQUEST_HEADER} header and no foreign Origin`,
      });
      return;
    }
    const { recorder } = this.#options;
    const view = recorder.get(id);
    if (view === undefined) {
      this.#json(res, 404, { error: 'ERR_NOT_FOUND', message: `No recorded request ${id} (only the last ${recorder.capacity} are kept)` });
      return;
    }
    const original = recorder.getReplayable(id);
    if (original === undefined) {
      this.#json(res, 409, {
        error: 'ERR_NOT_REPLAYABLE',
        reason: view.notReplayableReason,
        message: `Request ${id} cannot be replayed (${view.notReplayableReason ?? 'unknown'})`,
      });
      return;
    }
    this.#logger.info('replaying a request to the local service', { id, method: view.method, path: view.path });
    const pending = replayRequest(original, {
      localAddr: this.#options.localAddr,
      ...(this.#options.hostHeader === undefined ? {} : { hostHeader: this.#options.hostHeader }),
      signal: this.#replays.signal,
      timeoutMs: this.#replayTimeoutMs,
    }).then((result) => {
      this.#pendingReplays.delete(pending);
      if (!res.destroyed) this.#json(res, 200, { id, result });
    });
    this.#pendingReplays.add(pending);
  }

  /** A replay must come from our own page: custom header present, `Origin` (when sent) naming this server. */
  #isSameOriginRequest(req: http.IncomingMessage): boolean {
    if (req.headers[REPLAY_REQUEST_HEADER.toLowerCase()] !== REPLAY_REQUEST_HEADER_VALUE) return false;
    const site = req.headers['sec-fetch-site'];
    if (site !== undefined && site !== 'same-origin' && site !== 'none') return false;
    const origin = req.headers.origin;
    if (origin === undefined) return true;
    return origin.toLowerCase() === `http://${String(req.headers.host ?? '').toLowerCase()}`;
  }
}

/** One SSE event; `data` as a single JSON line. */
function formatEvent(event: string, data: unknown, id?: number): string {
  return `${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}
