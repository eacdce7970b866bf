/**
 * Fixtures for the status server tests: a real relay (temp SQLite), a local
 * origin, a TunnelManager feeding a RequestRecorder, and a StatusServer on
 * 127.0.0.1:0; plus a small SSE reader and an HTTP helper that sets Host.
 */
import * as http from 'node:http';
import { TunnelManager } from '../../src/agent/index.js';
import { RequestRecorder } from '../../src/agent/request-recorder.js';
import { StatusServer, type StatusServerOptions } from '../../src/agent/status-server.js';
import {
  createAgentToken,
  splitHostPort,
  startOrigin,
  startRelay,
  waitForRegistration,
  type OriginFixture,
  type RelayFixture,
  type Scope,
} from '../relay/relay-fixtures.js';

/** Everything a status test needs. */
export interface StatusFixture {
  relayFx: RelayFixture;
  origin: OriginFixture;
  manager: TunnelManager;
  recorder: RequestRecorder;
  server: StatusServer;
  /** `127.0.0.1:PORT` of the status server. */
  address: string;
  /** `http://127.0.0.1:PORT/`. */
  url: string;
  agentName: string;
}

/** Starts relay, origin, an online agent (manager + recorder) and a status server; all closed after the test. */
export async function startStatusStack(
  t: Scope,
  options: { maxBodyBytes?: number; server?: Partial<StatusServerOptions> } = {},
): Promise<StatusFixture> {
  const relayFx = await startRelay(t);
  const origin = await startOrigin(t);
  const agentName = 'edge-status';
  const token = await createAgentToken(relayFx.relay, agentName);
  const recorder = new RequestRecorder(options.maxBodyBytes === undefined ? {} : { maxBodyBytes: options.maxBodyBytes });
  const manager = new TunnelManager({
    relayUrl: relayFx.addresses.agentUrl,
    token,
    localAddr: origin.addr,
    jitterRatio: 0,
    backoffInitialMs: 50,
    backoffMaxMs: 200,
    hooks: recorder.hooks,
    recordRequestBodyBytes: recorder.maxBodyBytes,
  });
  const server = new StatusServer({
    listen: '127.0.0.1:0',
    source: manager,
    recorder,
    localAddr: origin.addr,
    relayUrl: `${relayFx.addresses.agentUrl}?token=${token}`,
    visitorUrl: `${relayFx.addresses.publicUrl}/a/${agentName}/`,
    ...options.server,
  });
  t.after(() => server.close());
  t.after(() => manager.stop());
  const { address, url } = await server.listen();
  const registered = waitForRegistration(relayFx.relay, agentName);
  manager.start();
  await registered;
  return { relayFx, origin, manager, recorder, server, address, url, agentName };
}

/** A response read whole. */
export interface FetchResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

/** One request to `address` (`host:port`) with an explicit Host header (default: the address itself). */
export function request(
  address: string,
  path: string,
  options: { method?: string; host?: string; headers?: http.OutgoingHttpHeaders; body?: string } = {},
): Promise<FetchResult> {
  const [host, port] = splitHostPort(address);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host, port, path, method: options.method ?? 'GET', headers: { host: options.host ?? address, ...options.headers }, agent: false },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** One Server-Sent Event. */
export interface SseEvent {
  event: string;
  data: string;
  id?: string;
}

/** A minimal EventSource over node:http: parses events and heartbeat comments. */
export class SseReader {
  readonly events: SseEvent[] = [];
  comments = 0;
  ended = false;
  #buffer = '';
  #waiters: Array<() => void> = [];
  #req: http.ClientRequest | undefined;
  status = 0;

  /** Opens `path` (default `/events`) on `address`; resolves once the response head arrived. */
  static open(t: Scope, address: string, headers: http.OutgoingHttpHeaders = {}, path = '/events'): Promise<SseReader> {
    const reader = new SseReader();
    const [host, port] = splitHostPort(address);
    return new Promise((resolve, reject) => {
      const req = http.get({ host, port, path, headers: { host: address, accept: 'text/event-stream', ...headers }, agent: false }, (res) => {
        reader.status = res.statusCode ?? 0;
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => reader.#push(chunk));
        res.on('end', () => {
          reader.ended = true;
          reader.#wake();
        });
        res.on('error', () => {});
        resolve(reader);
      });
      reader.#req = req;
      req.on('error', reject);
      t.after(() => req.destroy());
    });
  }

  /** Waits for the first event named `name` (optionally matching `where`) not yet taken; fails after `timeoutMs`. */
  async next(name: string, where: (e: SseEvent) => boolean = () => true, timeoutMs = 20_000): Promise<SseEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.events.findIndex((e) => e.event === name && where(e));
      if (i >= 0) return this.events.splice(i, 1)[0] as SseEvent;
      if (this.ended) throw new Error(`event stream ended before a '${name}' event`);
      if (Date.now() > deadline) throw new Error(`Timed out waiting for a '${name}' event`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Resolves when the server ends the stream. */
  async untilEnded(): Promise<void> {
    while (!this.ended) await new Promise<void>((resolve) => this.#waiters.push(resolve));
  }

  close(): void {
    this.#req?.destroy();
  }

  #push(chunk: string): void {
    this.#buffer += chunk;
    let end: number;
    while ((end = this.#buffer.indexOf('\n\n')) >= 0) {
      const block = this.#buffer.slice(0, end);
      this.#buffer = this.#buffer.slice(end + 2);
      const event: SseEvent = { event: 'message', data: '' };
      let isComment = true;
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue;
        isComment = false;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') event.event = value;
        else if (field === 'data') event.data += event.data === '' ? value : `\n${value}`;
        else if (field === 'id') event.id = value;
      }
      if (isComment) this.comments += 1;
      else if (event.data !== '' || event.event !== 'message') this.events.push(event);
    }
    this.#wake();
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }
}
