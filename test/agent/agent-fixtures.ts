/**
 * Fixtures for agent tests: an in-test relay (a `ws` server on 127.0.0.1:0
 * whose connections become our yamux server sessions, or raw sockets), a
 * local HTTP service, and a hook recorder whose events tests wait on.
 */
import * as http from 'node:http';
import type { Socket } from 'node:net';
import type { TestContext } from 'node:test';
import { WebSocketServer, type WebSocket } from 'ws';
import type { TunnelClientHooks } from '../../src/agent/tunnel-client-hooks.js';
import { Session } from '../../src/mux/index.js';
import { WebSocketDuplex } from '../../src/transport/index.js';
import { listenOnLoopback } from '../helpers/loopback.js';

/** One hook call, in order. */
export type HookEvent =
  | { hook: 'dial'; attempt: number; atMs: number }
  | { hook: 'up'; atMs: number }
  | { hook: 'down'; err: Error | undefined; atMs: number }
  | { hook: 'failed'; attempt: number; err: Error; atMs: number }
  | { hook: 'retry'; attempt: number; delayMs: number; atMs: number };

/** Records every loop hook and lets tests wait for one. */
export class HookRecorder {
  readonly events: HookEvent[] = [];
  readonly #waiters = new Set<() => void>();

  /** Hooks to pass to a client. */
  readonly hooks: TunnelClientHooks = {
    onDialAttempt: (attempt) => this.#push({ hook: 'dial', attempt, atMs: performance.now() }),
    onSessionUp: () => this.#push({ hook: 'up', atMs: performance.now() }),
    onSessionDown: (err) => this.#push({ hook: 'down', err, atMs: performance.now() }),
    onDialFailed: (attempt, err) => this.#push({ hook: 'failed', attempt, err, atMs: performance.now() }),
    onRetryScheduled: (attempt, delayMs) => this.#push({ hook: 'retry', attempt, delayMs, atMs: performance.now() }),
  };

  /** Events of one kind. */
  of<K extends HookEvent['hook']>(hook: K): Array<Extract<HookEvent, { hook: K }>> {
    return this.events.filter((e): e is Extract<HookEvent, { hook: K }> => e.hook === hook);
  }

  /** Waits until `condition()` holds (checked after every hook); fails after `timeoutMs`, naming `what`. */
  waitFor(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!condition()) return;
        this.#waiters.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new Error(`timed out waiting for: ${what}; hooks so far: ${this.describe()}`));
      }, timeoutMs);
      this.#waiters.add(check);
    });
  }

  /** Waits until `count` events of kind `hook` were recorded. */
  waitForCount(hook: HookEvent['hook'], count: number, timeoutMs?: number): Promise<void> {
    return this.waitFor(() => this.of(hook).length >= count, `${count} x ${hook}`, timeoutMs);
  }

  /** A short text of the events, for failure messages. */
  describe(): string {
    return this.events
      .map((e) => {
        switch (e.hook) {
          case 'dial':
            return `dial(${e.attempt})`;
          case 'failed':
            return `failed(${e.attempt}, ${e.err.message})`;
          case 'retry':
            return `retry(${e.attempt}, ${e.delayMs})`;
          case 'down':
            return `down(${e.err?.message ?? 'undefined'})`;
          default:
            return e.hook;
        }
      })
      .join(' ');
  }

  #push(e: HookEvent): void {
    this.events.push(e);
    for (const w of [...this.#waiters]) w();
  }
}

/** What the in-test relay saw of one upgrade. */
export interface UpgradeSeen {
  url: string;
  headers: http.IncomingHttpHeaders;
}

/** An in-test relay endpoint. */
export interface TestRelay {
  /** `ws://127.0.0.1:PORT/tunnel/connect`. */
  url: string;
  port: number;
  /** Every upgrade request received (accepted or refused). */
  upgrades: UpgradeSeen[];
  /** Server-side sockets, in connection order. */
  sockets: WebSocket[];
  /** Server sessions (when `session` mode), in connection order. */
  sessions: Session[];
  /** Waits for the `n`-th (1-based) connection's server session. */
  session(n: number): Promise<Session>;
  /** Waits for the `n`-th (1-based) server-side socket. */
  socket(n: number): Promise<WebSocket>;
}

/** How the in-test relay treats an upgrade. */
export interface TestRelayOptions {
  /** Refuse upgrades with this status before upgrading. */
  rejectStatus?: number;
  /** `session` (default): run our yamux server over it; `raw`: leave the socket to the test. */
  mode?: 'session' | 'raw';
  /** Called with each server-side socket once upgraded. */
  onSocket?: (ws: WebSocket) => void;
}

/** Starts an in-test relay on 127.0.0.1:0, torn down after the test. */
export async function startTestRelay(t: TestContext, options: TestRelayOptions = {}): Promise<TestRelay> {
  const server = http.createServer((_req, res) => {
    res.writeHead(404).end();
  });
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  const upgrades: UpgradeSeen[] = [];
  const sockets: WebSocket[] = [];
  const sessions: Session[] = [];
  const waiters: Array<() => void> = [];
  const notify = (): void => {
    for (const w of waiters.splice(0)) w();
  };
  server.on('upgrade', (req: http.IncomingMessage, socket: Socket, head: Buffer) => {
    upgrades.push({ url: req.url ?? '', headers: req.headers });
    if (options.rejectStatus !== undefined) {
      socket.end(`HTTP/1.1 ${options.rejectStatus} Refused\r\nContent-Length: 7\r\nConnection: close\r\n\r\nrefused`);
      notify();
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      sockets.push(ws);
      ws.on('error', () => {});
      if ((options.mode ?? 'session') === 'session') {
        const session = new Session(new WebSocketDuplex(ws), { role: 'server', keepAliveIntervalMs: 0 });
        sessions.push(session);
      }
      options.onSocket?.(ws);
      notify();
    });
  });
  t.after(() => {
    for (const s of sessions) s.destroy();
    for (const ws of sockets) ws.terminate();
    wss.close();
  });
  const port = await listenOnLoopback(t, server);
  const waitUntil = async (condition: () => boolean): Promise<void> => {
    while (!condition()) await new Promise<void>((resolve) => waiters.push(resolve));
  };
  return {
    url: `ws://127.0.0.1:${port}/tunnel/connect`,
    port,
    upgrades,
    sockets,
    sessions,
    session: async (n) => {
      await waitUntil(() => sessions.length >= n);
      return sessions[n - 1] as Session;
    },
    socket: async (n) => {
      await waitUntil(() => sockets.length >= n);
      return sockets[n - 1] as WebSocket;
    },
  };
}

/** Starts a local HTTP service on 127.0.0.1:0 with `handler`; returns its `host:port`. */
export async function startLocalService(t: TestContext, handler: http.RequestListener): Promise<{ addr: string; server: http.Server }> {
  const server = http.createServer(handler);
  const port = await listenOnLoopback(t, server);
  return { addr: `127.0.0.1:${port}`, server };
}

/** Reads a whole stream as a Buffer. */
export async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c as string));
  return Buffer.concat(chunks);
}

/** A finished HTTP exchange. */
export interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** Options of `httpRequest`. */
export interface HttpRequestOptions {
  method?: string;
  headers?: http.OutgoingHttpHeaders;
  /** Sent with Content-Length, or chunked when `chunked`. */
  body?: Buffer;
  /** Send the body with `Transfer-Encoding: chunked`, in 64 KiB writes. */
  chunked?: boolean;
}

/** One HTTP/1.1 request on a fresh connection (no pooling, no decompression). */
export function httpRequest(url: string, options: HttpRequestOptions = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const headers: http.OutgoingHttpHeaders = { ...options.headers };
    if (options.body !== undefined && !options.chunked) headers['Content-Length'] = options.body.length;
    if (options.chunked) headers['Transfer-Encoding'] = 'chunked';
    const req = http.request(url, { method: options.method ?? 'GET', headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.once('error', reject);
    });
    req.once('error', reject);
    const body = options.body;
    if (body !== undefined && options.chunked) {
      for (let off = 0; off < body.length; off += 64 * 1024) req.write(body.subarray(off, off + 64 * 1024));
      req.end();
    } else {
      req.end(body);
    }
  });
}

/** The ref-origin `/bytes` pattern: byte i is i mod 251. */
export function originPattern(length: number, offset = 0): Buffer {
  const buf = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) buf[i] = (offset + i) % 251;
  return buf;
}

/** Waits until `condition()` holds (polling); fails after `timeoutMs` (default 20 s) naming `what`. */
export { waitFor as waitUntil } from '../helpers/wait-for.js';
