/**
 * The local service of the transparency suite: a Node HTTP server on
 * 127.0.0.1:0 with the endpoints `ref-origin` lacks, which records every
 * request exactly as it saw it (target, raw headers, body, trailers, the
 * connection it came on), so a test can compare what the visitor sent with
 * what reached the device. `X-Request-Id` names a request for `seen()`.
 *
 * Endpoints (any method unless said):
 * - `/echo...`      the body back as it arrives (full duplex), chunked
 * - `/hello`        `hello from <name>\n` with Content-Length
 * - `/sha256`       `{"bytes":N,"sha256":"..."}` once the body ended (streamed, any size)
 * - `/bytes?n=N`    N pattern bytes (byte i = i mod 251) with Content-Length (HEAD: the length only)
 * - `/early?status=N[&close=1]` answers at once without reading the body (nor sending 100 Continue)
 * - `/interim`      a 103 with two Link headers, a 102, then `200 done`
 * - `/trailers`     chunked body with a `Trailer` header and two trailers
 * - `/close-delimited?n=N` N pattern bytes with neither Content-Length nor chunking, then FIN
 * - `/status?code=N[&cl=N]` empty response (an ETag, and a Content-Length when `cl` is set)
 * - `/conn-close`   `bye` with `Connection: close`, then the connection closes
 * - `/set-cookies`  three `Set-Cookie` headers; `/big-cookie?n=N` one of N bytes
 * - `/odd-header`   a header whose value has tabs, quotes and bytes 0x80-0xFF
 * - `/gzip`         a gzip body with Content-Encoding when Accept-Encoding allows it
 * - `/stream?key=K` writes a first part, waits for `release(K)`, writes the second (`/sse`: as events)
 * - `/delay?key=K`  answers once `release(K)` was called
 * - `/blocks?n=N&seed=S` N bytes of `blockSequence(N, S)` with Content-Length, hashed as sent (`sentSha256(id)`)
 */
import { createHash, randomBytes } from 'node:crypto';
import * as http from 'node:http';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import { listenOnLoopback, type CleanupTarget } from '../../helpers/loopback.js';
import { patternBytes, sendBytes } from '../../relay/relay-fixtures.js';

/** One request as the service saw it. */
export interface SeenRequest {
  /** `X-Request-Id`, if sent. */
  id: string | undefined;
  method: string;
  /** The request target exactly as received. */
  url: string;
  httpVersion: string;
  /** `[name, value, ...]` as received (Node's `rawHeaders`). */
  rawHeaders: string[];
  /** The body as far as it was read (bodies over 8 MiB keep only their hash). */
  body: Buffer;
  bodyBytes: number;
  bodySha256: string;
  /** `[name, value, ...]` trailers (Node's `rawTrailers`). */
  rawTrailers: string[];
  /** The body was read to its end. */
  complete: boolean;
  /** Which TCP connection it came on (1, 2, ... in accept order). */
  connectionId: number;
  /** Each body chunk's arrival, `performance.now()` (for ordering checks). */
  chunkTimesMs: number[];
}

/** Longest body kept in `SeenRequest.body`. */
const MAX_KEPT_BODY_BYTES = 8 * 1024 * 1024;

/** The plain text behind `/gzip`. */
export const GZIP_PLAIN_TEXT = Array.from({ length: 2000 }, (_, i) => `line ${i}\n`).join('');

/** The value of `X-Odd` sent by `/odd-header` (latin1: one character per byte). */
export const ODD_HEADER_VALUE = 'a\tb "quoted" \\ \x80\xa0\xe9\xff !#$%&\'*+-.^_`|~ end';

/** The three `Set-Cookie` values of `/set-cookies`, in order. */
export const SET_COOKIES = [
  'a=1; Path=/; HttpOnly',
  'b=2; Expires=Wed, 21 Oct 2037 07:28:00 GMT; Secure',
  'c=three, still c; SameSite=Lax',
];

/** The 103 that `/interim` sends first, byte for byte. */
export const EARLY_HINTS_HEAD =
  'HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\nLink: </app.js>; rel=preload; as=script\r\n\r\n';

/** A running transparency service. */
export interface TransparencyService {
  name: string;
  /** `127.0.0.1:PORT`. */
  addr: string;
  /** Every request, in arrival order (recorded when its head arrived, updated as its body arrives). */
  requests: SeenRequest[];
  /** Connections accepted so far. */
  readonly connectionCount: number;
  /** Resolves with the request whose `X-Request-Id` is `id` once its body ended (or it was answered without reading it). */
  seen(id: string): Promise<SeenRequest>;
  /** Lets `/stream`, `/sse` or `/delay` with `key` go on. */
  release(key: string): void;
  /** Resolves with `performance.now()` of the first part written by `/stream` or `/sse` with `key`. */
  firstPartWritten(key: string): Promise<number>;
  /** SHA-256 (hex) of what `/blocks` sent for the request `id`, once it was all written. */
  sentSha256(id: string): string | undefined;
  /** The compressed bytes `/gzip` sends. */
  gzipBody: Buffer;
}

/** Starts the service; closed after `t`. */
export async function startTransparencyService(t: CleanupTarget, name = 'service'): Promise<TransparencyService> {
  const requests: SeenRequest[] = [];
  const seenWaiters = new Map<string, Array<(r: SeenRequest) => void>>();
  const finished = new Map<string, SeenRequest>();
  const releases = new Map<string, { promise: Promise<void>; resolve: () => void }>();
  const firstParts = new Map<string, { promise: Promise<number>; resolve: (ms: number) => void }>();
  const connectionIds = new WeakMap<Socket, number>();
  const sentHashes = new Map<string, string>();
  let connectionCount = 0;
  const gzipBody = gzipSync(Buffer.from(GZIP_PLAIN_TEXT));

  const releaseOf = (key: string): { promise: Promise<void>; resolve: () => void } => {
    let r = releases.get(key);
    if (r === undefined) {
      let resolve!: () => void;
      const promise = new Promise<void>((res) => (resolve = res));
      r = { promise, resolve };
      releases.set(key, r);
    }
    return r;
  };
  const firstPartOf = (key: string): { promise: Promise<number>; resolve: (ms: number) => void } => {
    let r = firstParts.get(key);
    if (r === undefined) {
      let resolve!: (ms: number) => void;
      const promise = new Promise<number>((res) => (resolve = res));
      r = { promise, resolve };
      firstParts.set(key, r);
    }
    return r;
  };
  const markSeen = (r: SeenRequest): void => {
    if (r.id === undefined || finished.has(r.id)) return;
    finished.set(r.id, r);
    for (const w of seenWaiters.get(r.id) ?? []) w(r);
    seenWaiters.delete(r.id);
  };

  /** Records the request; reads its body unless `readBody` is false. */
  const record = (req: http.IncomingMessage, readBody: boolean): SeenRequest => {
    const id = req.headers['x-request-id'];
    const seen: SeenRequest = {
      id: typeof id === 'string' ? id : undefined,
      method: req.method ?? '',
      url: req.url ?? '',
      httpVersion: req.httpVersion,
      rawHeaders: req.rawHeaders,
      body: Buffer.alloc(0),
      bodyBytes: 0,
      bodySha256: '',
      rawTrailers: [],
      complete: false,
      connectionId: connectionIds.get(req.socket) ?? 0,
      chunkTimesMs: [],
    };
    requests.push(seen);
    if (!readBody) {
      markSeen(seen);
      return seen;
    }
    const hash = createHash('sha256');
    const kept: Buffer[] = [];
    req.on('data', (chunk: Buffer) => {
      seen.chunkTimesMs.push(performance.now());
      hash.update(chunk);
      seen.bodyBytes += chunk.length;
      if (seen.bodyBytes <= MAX_KEPT_BODY_BYTES) kept.push(chunk);
    });
    req.once('end', () => {
      seen.body = Buffer.concat(kept);
      seen.bodySha256 = hash.digest('hex');
      seen.rawTrailers = req.rawTrailers;
      seen.complete = true;
      markSeen(seen);
    });
    return seen;
  };

  const handle = (req: http.IncomingMessage, res: http.ServerResponse, expectsContinue: boolean): void => {
    const url = new URL(req.url ?? '/', 'http://service');
    const path = url.pathname;
    const q = (name: string): string | null => url.searchParams.get(name);
    if (path === '/early') {
      record(req, false);
      const status = Number(q('status') ?? '417');
      const body = `early ${status}\n`;
      res.writeHead(status, { 'Content-Type': 'text/plain', 'Content-Length': body.length, ...(q('close') === '1' ? { Connection: 'close' } : {}) });
      res.end(body);
      return;
    }
    // Every other endpoint wants the body: say so first, as a server that honours Expect does.
    if (expectsContinue) res.writeContinue();
    const seen = record(req, true);
    if (path.startsWith('/echo')) {
      res.writeHead(200, { 'Content-Type': req.headers['content-type'] ?? 'application/octet-stream', 'X-Service': name });
      req.on('data', (chunk: Buffer) => {
        if (!res.write(chunk)) req.pause();
      });
      res.on('drain', () => req.resume());
      req.once('end', () => res.end());
      return;
    }
    const afterBody = (fn: () => void): void => {
      if (seen.complete) fn();
      else req.once('end', fn);
    };
    switch (path) {
      case '/hello':
        return afterBody(() => {
          const body = `hello from ${name}\n`;
          res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': body.length, 'X-Service': name });
          res.end(body);
        });
      case '/sha256':
        return afterBody(() => {
          const body = JSON.stringify({ bytes: seen.bodyBytes, sha256: seen.bodySha256 });
          res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': body.length });
          res.end(body);
        });
      case '/bytes':
        return afterBody(() => sendBytes(res, Number(q('n') ?? '0'), false, req.method === 'HEAD'));
      case '/interim':
        return afterBody(() => {
          // Written on the socket: writeEarlyHints would join the two Link headers into one.
          req.socket.write(EARLY_HINTS_HEAD);
          res.writeProcessing();
          res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': 5 });
          res.end('done\n');
        });
      case '/trailers':
        return afterBody(() => {
          res.writeHead(200, { 'Content-Type': 'text/plain', Trailer: 'X-Checksum, X-Count' });
          res.write('part one\n');
          res.write('part two\n');
          res.addTrailers([
            ['X-Checksum', 'sha256=abc123'],
            ['X-Count', '2'],
          ]);
          res.end();
        });
      case '/close-delimited':
        return afterBody(() => {
          const n = Number(q('n') ?? '0');
          const socket = req.socket;
          socket.write('HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nX-Framing: close\r\n\r\n');
          // pipeline() ends the socket after the last byte: the FIN is the end of the body.
          void pipeline(Readable.from(patternChunks(n)), socket).catch(() => socket.destroy());
        });
      case '/status':
        return afterBody(() => {
          const headers: Record<string, string> = { ETag: '"v1"' };
          const cl = q('cl');
          if (cl !== null) headers['Content-Length'] = cl;
          res.writeHead(Number(q('code') ?? '204'), headers);
          res.end();
        });
      case '/conn-close':
        return afterBody(() => {
          res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': 4, Connection: 'close' });
          res.end('bye\n');
        });
      case '/set-cookies':
        return afterBody(() => {
          const raw: string[] = ['Content-Length', '2'];
          for (const c of SET_COOKIES) raw.push('Set-Cookie', c);
          res.writeHead(200, raw);
          res.end('ok');
        });
      case '/big-cookie':
        return afterBody(() => {
          const n = Number(q('n') ?? '32768');
          res.writeHead(200, ['Set-Cookie', `big=${'c'.repeat(n - 4)}`, 'Content-Length', '2']);
          res.end('ok');
        });
      case '/odd-header':
        return afterBody(() => {
          res.writeHead(200, ['X-Odd', ODD_HEADER_VALUE, 'Content-Length', '2']);
          // A Buffer: with a string body, Node writes the head in UTF-8 along with it.
          res.end(Buffer.from('ok'));
        });
      case '/gzip':
        return afterBody(() => {
          const gzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
          const body = gzip ? gzipBody : Buffer.from(GZIP_PLAIN_TEXT);
          res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': body.length, Vary: 'Accept-Encoding', ...(gzip ? { 'Content-Encoding': 'gzip' } : {}) });
          res.end(body);
        });
      case '/stream':
      case '/sse':
        return afterBody(() => {
          const key = q('key') ?? path;
          const sse = path === '/sse';
          res.writeHead(200, { 'Content-Type': sse ? 'text/event-stream' : 'text/plain', 'Cache-Control': 'no-cache' });
          res.write(sse ? 'data: one\n\n' : 'part one\n');
          firstPartOf(key).resolve(performance.now());
          void releaseOf(key).promise.then(() => res.end(sse ? 'data: two\n\n' : 'part two\n'));
        });
      case '/blocks':
        return afterBody(() => {
          const n = Number(q('n') ?? '0');
          const hash = createHash('sha256');
          res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': n });
          const source = Readable.from(blockSequence(n, Number(q('seed') ?? '1')));
          source.on('data', (block: Buffer) => hash.update(block));
          void pipeline(source, res).then(
            () => seen.id !== undefined && sentHashes.set(seen.id, hash.digest('hex')),
            () => res.destroy(),
          );
        });
      case '/delay':
        return afterBody(() => {
          void releaseOf(q('key') ?? 'delay').promise.then(() => {
            res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': 8, 'X-Service': name });
            res.end('delayed\n');
          });
        });
      default:
        return afterBody(() => {
          res.writeHead(404, { 'Content-Length': 0 });
          res.end();
        });
    }
  };

  const server = http.createServer({ maxHeaderSize: 4 * 1024 * 1024, requireHostHeader: false, keepAliveTimeout: 60_000 });
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => handle(req, res, false));
  server.on('checkContinue', (req: http.IncomingMessage, res: http.ServerResponse) => handle(req, res, true));
  server.on('connection', (socket: Socket) => {
    connectionCount += 1;
    connectionIds.set(socket, connectionCount);
  });
  const port = await listenOnLoopback(t, server);
  t.after(() => server.closeAllConnections());
  return {
    name,
    addr: `127.0.0.1:${port}`,
    requests,
    get connectionCount() {
      return connectionCount;
    },
    seen(id: string): Promise<SeenRequest> {
      const done = finished.get(id);
      if (done !== undefined) return Promise.resolve(done);
      return new Promise((resolve) => {
        const list = seenWaiters.get(id) ?? [];
        list.push(resolve);
        seenWaiters.set(id, list);
      });
    },
    release: (key) => releaseOf(key).resolve(),
    sentSha256: (id) => sentHashes.get(id),
    firstPartWritten: (key) => firstPartOf(key).promise,
    gzipBody,
  };
}

/** Size of one block of `blockSequence`. */
const BLOCK_BYTES = 256 * 1024;

/** 16 random blocks, made once: `blockSequence` only hands out references to them, never copies. */
let blockPool: Buffer[] | undefined;

/**
 * `totalBytes` of incompressible data without holding it: 256 KiB blocks
 * drawn from a pool of 16 random ones in an order given by `seed` (so no
 * short period repeats), the last one cut to size. The blocks are shared and
 * must not be written to.
 */
export function* blockSequence(totalBytes: number, seed: number): Generator<Buffer> {
  blockPool ??= Array.from({ length: 16 }, () => randomBytes(BLOCK_BYTES));
  let state = seed >>> 0 || 1;
  for (let offset = 0; offset < totalBytes; offset += BLOCK_BYTES) {
    // xorshift32: cheap, and enough to vary the order of the blocks.
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    const block = blockPool[state % blockPool.length] as Buffer;
    yield totalBytes - offset >= BLOCK_BYTES ? block : block.subarray(0, totalBytes - offset);
  }
}

/** N pattern bytes as 64 KiB buffers. */
function* patternChunks(n: number): Generator<Buffer> {
  for (let offset = 0; offset < n; offset += 64 * 1024) yield patternBytes(offset, Math.min(64 * 1024, n - offset));
}
