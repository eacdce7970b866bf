/**
 * A bounded ring buffer of the agent's recent requests, for the status page,
 * the terminal panel and replay. What it shows is masked (credentials in
 * headers and in the query string); what it keeps for replay is the original
 * request: method, target, headers, and the body when it was small.
 */
import { systemClock, type Clock } from '../shared/clock.js';
import { requireInt } from '../shared/validate.js';
import type { LocalRequestRecord } from './local-forwarder.js';
import type { TunnelClientHooks } from './tunnel-client-hooks.js';

/** Why a recorded request cannot be sent again. */
export type NotReplayableReason = 'upgrade' | 'body-too-large' | 'body-not-recorded';

/** One recorded request as shown to people: plain JSON, credentials masked. */
export interface RecordedRequest {
  /** Increasing from 1, unique for the recorder's life. */
  id: number;
  /** When the exchange finished, Unix ms. */
  time: number;
  method: string;
  /** Request target (path and query), query credentials masked. */
  path: string;
  /** Status sent back (0 when there was none). */
  status: number;
  durationMs: number;
  /** Request body bytes received from the visitor. */
  bytesIn: number;
  /** Response body bytes sent back. */
  bytesOut: number;
  upgrade: boolean;
  /** The forwarder's error code when the exchange failed. */
  error?: string;
  /** Request headers in received order, values of credential headers masked. */
  headers: Array<[string, string]>;
  /** True when `replayRequest()` has what it needs to send it again. */
  replayable: boolean;
  /** Set when not replayable. */
  notReplayableReason?: NotReplayableReason;
}

/** The original request, unmasked, for sending it again to the local service. */
export interface ReplayableRequest {
  method: string;
  /** Request target as received. */
  path: string;
  /** Raw headers as received (`[name, value, ...]`). */
  rawHeaders: readonly string[];
  /** The whole body (empty when there was none). */
  body: Buffer;
}

/** Options of a `RequestRecorder`. */
export interface RequestRecorderOptions {
  /** Requests kept, oldest dropped first; default 100. */
  capacity?: number;
  /** Largest body kept for replay, in bytes; default 64 KiB. Memory stays under about capacity x (this + headers). */
  maxBodyBytes?: number;
  clock?: Clock;
}

/** Defaults of `RequestRecorderOptions`. */
export const DEFAULT_REQUEST_RECORDER_CONFIG: Readonly<{ capacity: number; maxBodyBytes: number }> = Object.freeze({
  capacity: 100,
  maxBodyBytes: 64 * 1024,
});

/** A listener of newly recorded requests. */
export type RecordedRequestListener = (request: RecordedRequest) => void;

/** Header names whose values are credentials (lowercase). */
const CREDENTIAL_HEADERS: ReadonlySet<string> = new Set([
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'x-api-key',
  'x-auth-token',
  'x-access-token',
  'x-csrf-token',
  'x-xsrf-token',
]);
/** Other header names that look like they carry a secret. */
const SECRET_HEADER_NAME = /token|secret|password|passwd|api-?key|session/i;
/** Query parameters that carry credentials. */
const SECRET_QUERY_PARAM = /^(?:token|access_token|id_token|refresh_token|api_key|apikey|key|password|passwd|secret|sig|signature|auth)$/i;
/** What a masked value is shown as. */
export const MASK = '[masked]';

/** `value` of header `name` as it may be shown: credentials masked, the auth scheme and cookie names kept. */
export function maskHeaderValue(name: string, value: string): string {
  const lower = name.toLowerCase();
  if (lower === 'authorization' || lower === 'proxy-authorization') {
    const scheme = /^\s*([A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*)\s+\S/.exec(value);
    return scheme === null ? MASK : `${scheme[1] as string} ${MASK}`;
  }
  if (lower === 'cookie') {
    return value
      .split(';')
      .map((part) => {
        const eq = part.indexOf('=');
        return eq < 0 ? MASK : `${part.slice(0, eq).trim()}=${MASK}`;
      })
      .join('; ');
  }
  if (CREDENTIAL_HEADERS.has(lower) || SECRET_HEADER_NAME.test(lower)) return MASK;
  return value;
}

/** The request target with the values of credential-looking query parameters masked. */
export function maskRequestPath(path: string): string {
  const q = path.indexOf('?');
  if (q < 0) return path;
  const query = path.slice(q + 1);
  const masked = query
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      if (eq < 0) return pair;
      let name = pair.slice(0, eq);
      try {
        name = decodeURIComponent(name.replace(/\+/g, ' '));
      } catch {
        // Undecodable names are matched as written.
      }
      return SECRET_QUERY_PARAM.test(name) ? `${pair.slice(0, eq)}=${MASK}` : pair;
    })
    .join('&');
  return `${path.slice(0, q + 1)}${masked}`;
}

/** Internal entry: the public view plus what replay needs. */
interface Entry {
  view: RecordedRequest;
  replay: ReplayableRequest | undefined;
}

/**
 * Keeps the last `capacity` requests the forwarder finished. Feed it with
 * `record()`, or pass `recorder.hooks` to the tunnel manager. Listeners run
 * synchronously; one that throws is skipped.
 */
export class RequestRecorder {
  /** Requests kept. */
  readonly capacity: number;
  /** Largest body kept for replay, in bytes. */
  readonly maxBodyBytes: number;
  /** Hooks for a `TunnelManager`/`TunnelClient` that feed this recorder. */
  readonly hooks: TunnelClientHooks;
  readonly #clock: Clock;
  readonly #ring: Array<Entry | undefined>;
  #next = 0;
  #size = 0;
  #lastId = 0;
  readonly #listeners = new Set<RecordedRequestListener>();

  /** Validates the options (throws `ConfigError`). */
  constructor(options: RequestRecorderOptions = {}) {
    this.capacity = requireInt('capacity', options.capacity ?? DEFAULT_REQUEST_RECORDER_CONFIG.capacity, 1, 100_000);
    this.maxBodyBytes = requireInt('maxBodyBytes', options.maxBodyBytes ?? DEFAULT_REQUEST_RECORDER_CONFIG.maxBodyBytes, 0, 16 * 1024 * 1024);
    this.#clock = options.clock ?? systemClock;
    this.#ring = new Array<Entry | undefined>(this.capacity).fill(undefined);
    this.hooks = { onRequest: (r: LocalRequestRecord) => void this.record(r) };
  }

  /** Requests held right now (at most `capacity`). */
  get size(): number {
    return this.#size;
  }

  /** Records a finished exchange, drops the oldest when full, tells the listeners; returns the public view. */
  record(record: LocalRequestRecord): RecordedRequest {
    const raw = record.requestHeaders ?? [];
    const headers: Array<[string, string]> = [];
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const name = raw[i] as string;
      headers.push([name, maskHeaderValue(name, raw[i + 1] as string)]);
    }
    let reason: NotReplayableReason | undefined;
    let body: Buffer | undefined;
    if (record.upgrade) reason = 'upgrade';
    else if (record.bytesIn === 0) body = Buffer.alloc(0);
    else if (record.bytesIn > this.maxBodyBytes) reason = 'body-too-large';
    else if (record.requestBody === undefined || record.requestBody.length !== record.bytesIn) reason = 'body-not-recorded';
    else body = record.requestBody;
    this.#lastId += 1;
    const view: RecordedRequest = {
      id: this.#lastId,
      time: this.#clock.now(),
      method: record.method,
      path: maskRequestPath(record.path),
      status: record.status,
      durationMs: Math.round(record.durationMs * 10) / 10,
      bytesIn: record.bytesIn,
      bytesOut: record.bytesOut,
      upgrade: record.upgrade,
      headers,
      replayable: reason === undefined,
    };
    if (record.error !== undefined) view.error = record.error;
    if (reason !== undefined) view.notReplayableReason = reason;
    const replay =
      body === undefined ? undefined : { method: record.method, path: record.path, rawHeaders: [...raw], body };
    this.#ring[this.#next] = { view, replay };
    this.#next = (this.#next + 1) % this.capacity;
    this.#size = Math.min(this.#size + 1, this.capacity);
    for (const listener of [...this.#listeners]) {
      try {
        listener(view);
      } catch {
        // A listener's failure must not stop the others, nor the forwarder.
      }
    }
    return view;
  }

  /** The requests held, oldest first (at most `limit`, the newest ones). */
  list(limit = this.capacity): RecordedRequest[] {
    const out: RecordedRequest[] = [];
    const count = Math.min(this.#size, Math.max(0, limit));
    for (let k = count; k > 0; k--) {
      const entry = this.#ring[(this.#next - k + this.capacity) % this.capacity];
      if (entry !== undefined) out.push(entry.view);
    }
    return out;
  }

  /** The request `id`, while it is still held. */
  get(id: number): RecordedRequest | undefined {
    return this.#find(id)?.view;
  }

  /** The original request `id` for replay; undefined when gone or not replayable. */
  getReplayable(id: number): ReplayableRequest | undefined {
    return this.#find(id)?.replay;
  }

  /** Calls `listener` with each new request; returns the function that unsubscribes it. */
  subscribe(listener: RecordedRequestListener): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** Forgets every request (ids keep increasing). */
  clear(): void {
    this.#ring.fill(undefined);
    this.#size = 0;
    this.#next = 0;
  }

  #find(id: number): Entry | undefined {
    // Ids are consecutive, so the entry's slot follows from the newest one.
    const age = this.#lastId - id;
    if (!Number.isInteger(id) || age < 0 || age >= this.#size) return undefined;
    const entry = this.#ring[(this.#next - 1 - age + this.capacity * 2) % this.capacity];
    return entry?.view.id === id ? entry : undefined;
  }
}
