/**
 * Fixtures for the hostile-input tests: a local service that records
 * everything that reaches it (TCP connections, parsed requests, upgrades,
 * bytes), and raw TCP exchanges that send exact bytes (optionally trickled)
 * and read back whatever the server answers. Loopback only, port 0.
 */
import * as http from 'node:http';
import * as net from 'node:net';
import type { Scope } from '../relay/relay-fixtures.js';
import { splitHostPort } from '../relay/relay-fixtures.js';
import { listenOnLoopback } from '../helpers/loopback.js';

/** One request a recording service received. */
export interface RecordedRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  /** Body bytes received. */
  bodyBytes: number;
  /** True once the whole body arrived (false: the request was cut). */
  complete: boolean;
}

/** A local service that records what reaches it. */
export interface RecordingService {
  /** `127.0.0.1:PORT`. */
  addr: string;
  /** TCP connections accepted, ever. */
  readonly connections: number;
  /** Bytes received on every connection, parsed or not. */
  readonly bytesReceived: number;
  /** Requests and upgrades, in arrival order. */
  requests: RecordedRequest[];
  /** Requests whose URL is not one of `except`. */
  requestsOtherThan(...except: string[]): RecordedRequest[];
}

/** Starts a recording service answering `200 <name> <url>` to everything; closed after the scope. */
export async function startRecordingService(t: Scope, name: string): Promise<RecordingService> {
  const requests: RecordedRequest[] = [];
  let connections = 0;
  let bytesReceived = 0;
  const server = http.createServer((req, res) => {
    const record: RecordedRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, bodyBytes: 0, complete: false };
    requests.push(record);
    req.on('data', (c: Buffer) => (record.bodyBytes += c.length));
    req.on('error', () => {});
    req.on('end', () => {
      record.complete = true;
      const body = `${name} ${req.url ?? ''}\n`;
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, bodyBytes: 0, complete: true });
    socket.on('error', () => {});
    socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
  });
  server.on('connect', (req: http.IncomingMessage, socket: net.Socket) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, bodyBytes: 0, complete: true });
    socket.destroy();
  });
  server.on('connection', (s: net.Socket) => {
    connections += 1;
    s.on('data', (c: Buffer) => (bytesReceived += c.length));
  });
  const port = await listenOnLoopback(t, server);
  return {
    addr: `127.0.0.1:${port}`,
    get connections() {
      return connections;
    },
    get bytesReceived() {
      return bytesReceived;
    },
    requests,
    requestsOtherThan: (...except: string[]) => requests.filter((r) => !except.includes(r.url)),
  };
}

/** What a raw exchange got back. */
export interface RawReply {
  /** Everything the server sent, as latin1 text. */
  text: string;
  /** Status of the first response, 0 when none came. */
  status: number;
  /** Statuses of every response seen (a smuggled request would add one). */
  statuses: number[];
  /** The server closed the connection (rather than us, after a complete response). */
  closedByServer: boolean;
  /** Bytes of the request actually written before the connection closed. */
  bytesWritten: number;
}

/** Options of `rawExchange`. */
export interface RawExchangeOptions {
  /** Write the request in pieces of this many bytes, one piece every `trickleIntervalMs`. */
  trickleBytes?: number;
  trickleIntervalMs?: number;
  /** Source address (a loopback alias such as 127.0.0.2). */
  localAddress?: string;
}

/**
 * Sends `request` (exact bytes) on a fresh TCP connection to `address` and
 * collects the reply until the server closes the connection, or until a
 * complete response (Content-Length or chunked framing) arrived after the
 * whole request was written.
 */
export function rawExchange(address: string, request: string | Buffer, options: RawExchangeOptions = {}): Promise<RawReply> {
  const [host, port] = splitHostPort(address);
  const bytes = typeof request === 'string' ? Buffer.from(request, 'latin1') : request;
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }) });
    let text = '';
    let written = 0;
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    const finish = (closedByServer: boolean): void => {
      if (settled) return;
      settled = true;
      if (timer !== undefined) clearInterval(timer);
      const statuses = [...text.matchAll(/(?:^|\r\n)HTTP\/1\.[01] (\d{3}) /g)].map((m) => Number(m[1]));
      resolve({ text, status: statuses[0] ?? 0, statuses, closedByServer, bytesWritten: written });
      socket.destroy();
    };
    socket.on('error', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('data', (c: Buffer) => {
      text += c.toString('latin1');
      // A response announcing Connection: close is followed by the server's close: wait for it.
      if (written === bytes.length && responseComplete(text) && !/\r\nconnection: *close\r\n/i.test(text)) finish(false);
    });
    socket.once('connect', () => {
      const step = options.trickleBytes;
      if (step === undefined) {
        socket.write(bytes);
        written = bytes.length;
        return;
      }
      timer = setInterval(() => {
        if (socket.destroyed || written >= bytes.length) {
          clearInterval(timer);
          return;
        }
        const piece = bytes.subarray(written, written + step);
        written += piece.length;
        socket.write(piece);
      }, options.trickleIntervalMs ?? 20);
    });
  });
}

/** True when `text` holds at least one complete HTTP response. */
function responseComplete(text: string): boolean {
  const headEnd = text.indexOf('\r\n\r\n');
  if (headEnd < 0) return false;
  const head = text.slice(0, headEnd).toLowerCase();
  const body = text.slice(headEnd + 4);
  const status = Number(/^http\/1\.[01] (\d{3})/.exec(head)?.[1] ?? '0');
  if (status === 101 || status === 204 || status === 304 || (status >= 100 && status < 200)) return true;
  const length = /\r\ncontent-length: *(\d+)/.exec(head);
  if (length !== null) return body.length >= Number(length[1]);
  if (/\r\ntransfer-encoding: *chunked/.test(head)) return body.includes('0\r\n\r\n');
  return false;
}

/** A plain GET head for `path` with `host` (and `Connection: close`, so the reply ends with the connection). */
export function getRequest(path: string, host: string, extraHeaders = ''): string {
  return `GET ${path} HTTP/1.1\r\nHost: ${host}\r\n${extraHeaders}Connection: close\r\n\r\n`;
}
