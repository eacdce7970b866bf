/**
 * A visitor that speaks HTTP/1.x on a raw socket, for tests that must see
 * or send exact bytes: interim `1xx` responses, pipelining, HTTP/1.0,
 * trailers, close-delimited bodies, and what happens to the connection after
 * a response. Responses are parsed by a deliberately small reader (status
 * line, headers, Content-Length / chunked / close-delimited bodies), which is
 * test code: it fails loudly on anything it does not understand.
 */
import * as net from 'node:net';
import type { CleanupTarget } from './loopback.js';

/** A header as seen on the wire: name and value as latin1 strings (one byte per character). */
export type RawHeader = [name: string, value: string];

/** How a response body was delimited on the wire. */
export type BodyFraming = 'none' | 'content-length' | 'chunked' | 'close';

/** One response message (interim or final) as received. */
export interface RawHttpResponse {
  /** `HTTP/1.1` or `HTTP/1.0`. */
  version: string;
  status: number;
  reason: string;
  headers: RawHeader[];
  /** The head exactly as received, status line to the empty line included. */
  head: Buffer;
  body: Buffer;
  trailers: RawHeader[];
  framing: BodyFraming;
}

/** What a request produced: the interim responses, in order, then the final one. */
export interface RawExchange {
  interim: RawHttpResponse[];
  final: RawHttpResponse;
}

/** Longest head the reader accepts, in bytes. */
const MAX_HEAD_BYTES = 4 * 1024 * 1024;

/** The value of the first header called `name` (case-insensitive), or undefined. */
export function headerValue(headers: readonly RawHeader[], name: string): string | undefined {
  const lower = name.toLowerCase();
  return headers.find(([n]) => n.toLowerCase() === lower)?.[1];
}

/** Every value of the headers called `name` (case-insensitive), in order. */
export function headerValues(headers: readonly RawHeader[], name: string): string[] {
  const lower = name.toLowerCase();
  return headers.filter(([n]) => n.toLowerCase() === lower).map(([, v]) => v);
}

/** Options of `formatRequest`. */
export interface RawRequestOptions {
  method?: string;
  /** `HTTP/1.1` (default) or `HTTP/1.0`. */
  version?: string;
  /** Written in order, exactly as given (latin1). */
  headers?: readonly RawHeader[];
  /** Written after the head as is (frame it yourself with Content-Length or chunks). */
  body?: Buffer | string;
}

/** The bytes of one request: `<method> <target> <version>`, the headers as given, an empty line, the body. */
export function formatRequest(target: string, options: RawRequestOptions = {}): Buffer {
  const lines = [`${options.method ?? 'GET'} ${target} ${options.version ?? 'HTTP/1.1'}`];
  for (const [name, value] of options.headers ?? []) lines.push(`${name}: ${value}`);
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  const body = options.body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(options.body) ? options.body : Buffer.from(options.body, 'latin1');
  return Buffer.concat([head, body]);
}

/** A chunked body: each part as one chunk, then the last chunk with `trailers`. */
export function chunkedBody(parts: ReadonlyArray<Buffer | string>, trailers: readonly RawHeader[] = []): Buffer {
  const out: Buffer[] = [];
  for (const part of parts) {
    const b = Buffer.isBuffer(part) ? part : Buffer.from(part, 'latin1');
    if (b.length === 0) continue;
    out.push(Buffer.from(`${b.length.toString(16)}\r\n`, 'latin1'), b, Buffer.from('\r\n', 'latin1'));
  }
  out.push(Buffer.from('0\r\n', 'latin1'));
  for (const [name, value] of trailers) out.push(Buffer.from(`${name}: ${value}\r\n`, 'latin1'));
  out.push(Buffer.from('\r\n', 'latin1'));
  return Buffer.concat(out);
}

/** A raw connection to `host:port` that reads HTTP responses. Destroyed after the test. */
export class RawHttpConnection {
  readonly socket: net.Socket;
  #buffer: Buffer = Buffer.alloc(0);
  #ended = false;
  #error: Error | undefined;
  #waiters: Array<() => void> = [];

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
      this.#wake();
    });
    socket.on('end', () => {
      this.#ended = true;
      this.#wake();
    });
    socket.on('error', (err: Error) => {
      this.#error = err;
      this.#ended = true;
      this.#wake();
    });
    socket.on('close', () => {
      this.#ended = true;
      this.#wake();
    });
  }

  /** Connects to `address` (`host:port`). */
  static async connect(t: CleanupTarget, address: string): Promise<RawHttpConnection> {
    const i = address.lastIndexOf(':');
    const socket = net.connect(Number(address.slice(i + 1)), address.slice(0, i).replace(/^\[|\]$/g, ''));
    t.after(() => socket.destroy());
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new RawHttpConnection(socket);
  }

  /** True once the peer ended (or reset) the connection. */
  get ended(): boolean {
    return this.#ended;
  }

  /** The socket error that ended the connection, if any (a reset rather than a FIN). */
  get error(): Error | undefined {
    return this.#error;
  }

  /** Bytes received and not read as a response yet. */
  get unread(): Buffer {
    return this.#buffer;
  }

  /** Writes bytes; resolves once they are handed to the kernel. */
  write(data: Buffer | string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.write(data, (err) => (err === undefined || err === null ? resolve() : reject(err)));
    });
  }

  /** Sends a request and reads its interim and final responses. */
  async exchange(target: string, options: RawRequestOptions = {}): Promise<RawExchange> {
    await this.write(formatRequest(target, options));
    return this.readExchange(options.method);
  }

  /** Reads the interim responses and the final response of one request (`method` matters for HEAD). */
  async readExchange(method = 'GET'): Promise<RawExchange> {
    const interim: RawHttpResponse[] = [];
    for (;;) {
      const r = await this.readResponse(method);
      if (r.status >= 100 && r.status < 200 && r.status !== 101) {
        interim.push(r);
        continue;
      }
      return { interim, final: r };
    }
  }

  /** Reads one response message (an interim one included). */
  async readResponse(method = 'GET'): Promise<RawHttpResponse> {
    const headEnd = await this.#waitForHead();
    const head = this.#take(headEnd + 4);
    const text = head.toString('latin1');
    const lines = text.slice(0, -4).split('\r\n');
    const m = /^(HTTP\/1\.[01]) (\d{3})(?: (.*))?$/.exec(lines[0] ?? '');
    if (m === null) throw new Error(`not an HTTP status line: ${JSON.stringify(lines[0])}`);
    const headers: RawHeader[] = lines.slice(1).map((line) => {
      const colon = line.indexOf(':');
      if (colon <= 0) throw new Error(`bad header line: ${JSON.stringify(line)}`);
      return [line.slice(0, colon), line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '')];
    });
    const status = Number(m[2]);
    const response: RawHttpResponse = {
      version: m[1] as string,
      status,
      reason: m[3] ?? '',
      headers,
      head,
      body: Buffer.alloc(0),
      trailers: [],
      framing: 'none',
    };
    if ((status >= 100 && status < 200) || status === 204 || status === 304 || method === 'HEAD') return response;
    const te = headerValue(headers, 'transfer-encoding');
    const cl = headerValue(headers, 'content-length');
    if (te !== undefined && /chunked\s*$/i.test(te)) {
      response.framing = 'chunked';
      await this.#readChunked(response);
    } else if (cl !== undefined) {
      response.framing = 'content-length';
      const n = Number(cl);
      await this.#waitFor(() => this.#buffer.length >= n, `a ${n}-byte body`);
      response.body = this.#take(n);
    } else {
      response.framing = 'close';
      await this.#waitFor(() => this.#ended, 'the end of a close-delimited body');
      response.body = this.#take(this.#buffer.length);
    }
    return response;
  }

  /** Resolves once the peer ended the connection; returns whatever bytes arrived meanwhile. */
  async waitForEnd(): Promise<Buffer> {
    await this.#waitFor(() => this.#ended, 'the connection to end');
    return this.#take(this.#buffer.length);
  }

  /** Resolves once at least `n` unread bytes arrived (or the connection ended). */
  async waitForBytes(n: number): Promise<void> {
    await this.#waitFor(() => this.#buffer.length >= n || this.#ended, `${n} bytes`);
  }

  destroy(): void {
    this.socket.destroy();
  }

  async #readChunked(response: RawHttpResponse): Promise<void> {
    const parts: Buffer[] = [];
    for (;;) {
      const lineEnd = await this.#waitForIndex('\r\n', 'a chunk size line');
      const sizeLine = this.#take(lineEnd + 2).toString('latin1').slice(0, -2);
      const size = Number.parseInt(sizeLine.split(';')[0] ?? '', 16);
      if (!Number.isFinite(size)) throw new Error(`bad chunk size line: ${JSON.stringify(sizeLine)}`);
      if (size === 0) break;
      await this.#waitFor(() => this.#buffer.length >= size + 2, `a ${size}-byte chunk`);
      parts.push(this.#take(size));
      if (this.#take(2).toString('latin1') !== '\r\n') throw new Error('chunk not followed by CRLF');
    }
    for (;;) {
      const lineEnd = await this.#waitForIndex('\r\n', 'a trailer line');
      const line = this.#take(lineEnd + 2).toString('latin1').slice(0, -2);
      if (line === '') break;
      const colon = line.indexOf(':');
      response.trailers.push([line.slice(0, colon), line.slice(colon + 1).trim()]);
    }
    response.body = Buffer.concat(parts);
  }

  async #waitForHead(): Promise<number> {
    return this.#waitForIndex('\r\n\r\n', 'a response head');
  }

  async #waitForIndex(marker: string, what: string): Promise<number> {
    let index = -1;
    await this.#waitFor(() => {
      index = this.#buffer.indexOf(marker, 0, 'latin1');
      if (index === -1 && this.#buffer.length > MAX_HEAD_BYTES) throw new Error(`no ${what} in ${this.#buffer.length} bytes`);
      return index !== -1;
    }, what);
    return index;
  }

  #take(n: number): Buffer {
    const out = this.#buffer.subarray(0, n);
    this.#buffer = this.#buffer.subarray(n);
    return out;
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  /** Waits (on socket events, no polling) until `ready()`; fails if the connection ends first. */
  #waitFor(ready: () => boolean, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        try {
          if (ready()) {
            resolve();
            return;
          }
        } catch (err) {
          reject(err as Error);
          return;
        }
        if (this.#ended) {
          const unread = this.#buffer.subarray(0, 200).toString('latin1');
          reject(new Error(`connection ended (${this.#error?.message ?? 'FIN'}) before ${what}; unread: ${JSON.stringify(unread)}`));
          return;
        }
        this.#waiters.push(check);
      };
      check();
    });
  }
}
