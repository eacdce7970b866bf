/**
 * Accepts WebSocket upgrades on one path of an existing HTTP(S) server, with
 * authentication BEFORE the upgrade: a refused request gets a plain HTTP
 * error response and never becomes a WebSocket.
 *
 * Header size is bounded by Node's HTTP parser (the server's `maxHeaderSize`;
 * a bigger head gets 431 before any 'upgrade' event), and the time to
 * send the head by the server's `headersTimeout`/`requestTimeout`.
 */
import { STATUS_CODES, validateHeaderName, validateHeaderValue, type IncomingMessage, type Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from './ws-module.js';
import { ConfigError } from '../shared/errors.js';
import { noopLogger, type Logger } from '../shared/logger.js';
import { requireInt, requireString } from '../shared/validate.js';
import { warnIfBufferUtilMissing } from './buffer-util-check.js';
import { DEFAULT_MAX_PAYLOAD_BYTES, WebSocketDuplex, resolveWebSocketDuplexConfig, type WebSocketDuplexOptions } from './websocket-duplex.js';

/** Outcome of the pre-upgrade authentication hook. */
export type UpgradeAuthResult<T> =
  | { ok: true; context: T }
  | { ok: false; status: number; body: object; headers?: Record<string, string> };

/** Options of a `WebSocketListener`. */
export interface WebSocketListenerOptions<T> {
  /** Exact request path served, query ignored (e.g. '/tunnel/connect'). */
  path: string;
  /** Decides before the upgrade; a throw answers 500. */
  authenticate: (req: IncomingMessage) => Promise<UpgradeAuthResult<T>>;
  /** Extra headers for the `101` of an accepted upgrade (optional). */
  upgradeHeaders?: (req: IncomingMessage, context: T) => Record<string, string>;
  /** Receives each accepted connection; the callee owns `duplex`. */
  onConnection: (duplex: WebSocketDuplex, req: IncomingMessage, context: T) => void;
  /** Upgrades for other paths: 'reject' answers 404; 'ignore' leaves them to another 'upgrade' listener. */
  otherPaths?: 'reject' | 'ignore';
  /** Largest message accepted from a peer (default 16 MiB). */
  maxPayloadBytes?: number;
  /** Settings of each connection's duplex. */
  duplex?: WebSocketDuplexOptions;
  logger?: Logger;
}

/** Options of `WebSocketListener.close`. */
export interface ListenerCloseOptions {
  /** How long open sockets get to finish the close handshake (1001) before being terminated (default 1000). */
  graceMs?: number;
}

/** WebSocket endpoint on an existing server's 'upgrade' event, with pre-upgrade auth. */
export class WebSocketListener<T> {
  readonly #server: HttpServer | HttpsServer;
  readonly #options: WebSocketListenerOptions<T>;
  readonly #wss: WebSocketServer;
  readonly #logger: Logger;
  readonly #pending = new Set<Duplex>();
  readonly #onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => this.#handleUpgrade(req, socket, head);
  #closing: Promise<void> | undefined;

  /** Starts listening on `server`'s 'upgrade' event. */
  constructor(server: HttpServer | HttpsServer, options: WebSocketListenerOptions<T>) {
    requireString('path', options.path);
    if (!options.path.startsWith('/')) throw new ConfigError('path', "must start with '/'", options.path);
    resolveWebSocketDuplexConfig(options.duplex);
    this.#server = server;
    this.#options = options;
    this.#logger = options.logger ?? noopLogger;
    this.#wss = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      maxPayload: requireInt('maxPayloadBytes', options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES, 1024),
    });
    warnIfBufferUtilMissing(this.#logger);
    server.on('upgrade', this.#onUpgrade);
  }

  /** True when `req` targets this listener's path (for chaining several upgrade handlers). */
  handles(req: IncomingMessage): boolean {
    return pathOf(req.url) === this.#options.path;
  }

  /** Number of open WebSocket connections. */
  get connectionCount(): number {
    return this.#wss.clients.size;
  }

  /**
   * Stops accepting upgrades, drops requests still authenticating, sends
   * close 1001 to every open socket and terminates those still open after
   * `graceMs`. Idempotent: later calls return the same promise.
   */
  close({ graceMs = 1000 }: ListenerCloseOptions = {}): Promise<void> {
    this.#closing ??= this.#close(requireInt('graceMs', graceMs, 0));
    return this.#closing;
  }

  async #close(graceMs: number): Promise<void> {
    this.#server.off('upgrade', this.#onUpgrade);
    for (const socket of this.#pending) socket.destroy();
    this.#pending.clear();
    const open = [...this.#wss.clients];
    const closed = open.map((ws) => new Promise<void>((resolve) => (ws.readyState === ws.CLOSED ? resolve() : ws.once('close', () => resolve()))));
    for (const ws of open) ws.close(1001, 'server shutting down');
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
    await Promise.race([Promise.all(closed), grace]);
    clearTimeout(timer);
    for (const ws of this.#wss.clients) ws.terminate();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
  }

  #handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.#closing !== undefined) return;
    if (!this.handles(req)) {
      if ((this.#options.otherPaths ?? 'reject') === 'reject') writeJsonResponse(socket, 404, { error: 'not_found' });
      return;
    }
    void this.#authenticateThenUpgrade(req, socket, head);
  }

  async #authenticateThenUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    // Node removed its own listeners from an upgrade socket: without this, a reset during auth would crash.
    const onSocketError = (err: Error): void => this.#logger.debug('socket error before upgrade', { error: err.message });
    socket.on('error', onSocketError);
    this.#pending.add(socket);
    let result: UpgradeAuthResult<T>;
    try {
      result = await this.#options.authenticate(req);
    } catch (err) {
      this.#logger.error('upgrade authentication failed', { error: err instanceof Error ? err.message : String(err) });
      result = { ok: false, status: 500, body: { error: 'internal_error' } };
    } finally {
      this.#pending.delete(socket);
    }
    if (socket.destroyed || this.#closing !== undefined) return;
    if (!result.ok) {
      this.#reject(socket, result.status, result.body, result.headers);
      return;
    }
    socket.off('error', onSocketError);
    const extra = this.#options.upgradeHeaders?.(req, result.context);
    const lines = extra === undefined ? [] : this.#headerLines(extra);
    // ws emits 'headers' synchronously inside handleUpgrade: the listener sees this request's 101 only.
    const onHeaders = (headers: string[]): void => {
      headers.push(...lines);
    };
    if (lines.length > 0) this.#wss.on('headers', onHeaders);
    try {
      this.#upgrade(req, socket, head, result.context);
    } finally {
      this.#wss.off('headers', onHeaders);
    }
  }

  #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, context: T): void {
    this.#wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      const duplex = new WebSocketDuplex(ws, this.#options.duplex);
      try {
        this.#options.onConnection(duplex, req, context);
      } catch (err) {
        this.#logger.error('onConnection threw', { error: err instanceof Error ? err.message : String(err) });
        duplex.destroy();
      }
    });
  }

  /** `extra` as header lines, invalid names or values dropped with a warning. */
  #headerLines(extra: Record<string, string>): string[] {
    const lines: string[] = [];
    for (const [name, value] of Object.entries(extra)) {
      try {
        validateHeaderName(name);
        validateHeaderValue(name, value);
      } catch {
        this.#logger.warn('dropped an invalid upgrade header', { header: name });
        continue;
      }
      lines.push(`${name}: ${value}`);
    }
    return lines;
  }

  #reject(socket: Duplex, status: number, body: object, headers: Record<string, string> = {}): void {
    if (!Number.isInteger(status) || status < 300 || status > 599) {
      this.#logger.error('authenticate returned an invalid rejection status', { status });
      writeJsonResponse(socket, 500, { error: 'internal_error' });
      return;
    }
    writeJsonResponse(socket, status, body, headers, this.#logger);
  }
}

/** Headers the rejection writer sets itself. */
const RESERVED_HEADERS = new Set(['content-type', 'content-length', 'connection', 'transfer-encoding']);

/** Writes a complete JSON HTTP response on a raw socket, then destroys it once flushed. */
function writeJsonResponse(socket: Duplex, status: number, body: object, headers: Record<string, string> = {}, logger: Logger = noopLogger): void {
  const payload = JSON.stringify(body);
  const lines = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`,
    'Content-Type: application/json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(payload)}`,
    'Connection: close',
  ];
  for (const [name, value] of Object.entries(headers)) {
    try {
      validateHeaderName(name);
      validateHeaderValue(name, value);
    } catch {
      logger.warn('dropped an invalid rejection header', { header: name });
      continue;
    }
    if (!RESERVED_HEADERS.has(name.toLowerCase())) lines.push(`${name}: ${value}`);
  }
  socket.on('error', () => socket.destroy());
  socket.once('finish', () => socket.destroy());
  socket.end(`${lines.join('\r\n')}\r\n\r\n${payload}`);
}

function pathOf(url: string | undefined): string {
  if (url === undefined) return '';
  const queryAt = url.indexOf('?');
  return queryAt === -1 ? url : url.slice(0, queryAt);
}
