/**
 * A fault-injecting TCP proxy for chaos tests (frp's `test/e2e/pkg/relay`,
 * hashicorp/yamux's `pipeConn.writeBlocker`): listens on 127.0.0.1:0 and
 * forwards each connection to a target, with faults that can be switched on
 * and off for one connection (`ProxyLink`) or for all of them, including the
 * ones accepted later (`FaultyProxy`):
 *
 * - `blackhole()`: both sockets stay open, every byte (and FIN) is read and
 *   dropped, in both directions: a true half-open connection;
 * - `delay(ms)`: each chunk is forwarded `ms` after it arrived;
 * - `throttle(bytesPerSec)`: a token bucket per direction; the source socket
 *   is paused while the queue is full, so nothing is buffered without bound;
 * - `pause()` / `resume()`: stop forwarding and keep what arrives, bounded by
 *   pausing the source (TCP backpressure) once the queue is full;
 * - `reset()`: both sockets destroyed with RST (`resetAndDestroy()`).
 */
import { EventEmitter, once } from 'node:events';
import * as net from 'node:net';
import type { AddressInfo, Socket } from 'node:net';

/** Faults of one direction (or of a whole link, or of the proxy). */
export interface FaultState {
  blackholed: boolean;
  paused: boolean;
  delayMs: number;
  /** 0 = unlimited. */
  bytesPerSec: number;
}

/** No faults. */
export const NO_FAULTS: Readonly<FaultState> = Object.freeze({ blackholed: false, paused: false, delayMs: 0, bytesPerSec: 0 });

/** Options of `FaultyProxy.start`. */
export interface FaultyProxyOptions {
  /** `host:port` every accepted connection is forwarded to. */
  target: string;
  /** Bytes queued per direction before the source is paused (default 256 KiB). */
  maxQueuedBytes?: number;
}

/** Smallest write of a throttled pump (bytes), unless the chunk is smaller. */
const MIN_SLICE_BYTES = 4096;

interface QueuedChunk {
  chunk: Buffer;
  dueAtMs: number;
}

/** Which way bytes flow through a link. */
export type ProxyDirection = 'up' | 'down';

/**
 * One direction of a link: reads `source`, applies the faults, writes `sink`.
 * Counters are public so tests can assert on what the proxy saw.
 */
export class ProxyPump extends EventEmitter {
  readonly direction: ProxyDirection;
  /** Bytes read from the source. */
  bytesReceived = 0;
  /** Bytes written to the sink. */
  bytesForwarded = 0;
  /** Bytes read and dropped by a blackhole. */
  bytesDropped = 0;
  /** Largest number of bytes ever queued. */
  peakQueuedBytes = 0;
  /** Times the source was paused because the queue was full (or the sink slow). */
  sourcePauses = 0;
  readonly #source: Socket;
  readonly #sink: Socket;
  readonly #faults: FaultState;
  readonly #maxQueuedBytes: number;
  readonly #queue: QueuedChunk[] = [];
  #queuedBytes = 0;
  #sourceEnded = false;
  #sinkEnded = false;
  #waitingDrain = false;
  #timer: NodeJS.Timeout | undefined;
  #tokens = 0;
  #tokensAtMs = 0;
  #sourcePaused = false;

  constructor(direction: ProxyDirection, source: Socket, sink: Socket, faults: FaultState, maxQueuedBytes: number) {
    super();
    this.direction = direction;
    this.#source = source;
    this.#sink = sink;
    this.#faults = faults;
    this.#maxQueuedBytes = maxQueuedBytes;
    source.on('data', (chunk: Buffer) => this.#onData(chunk));
    source.once('end', () => {
      this.#sourceEnded = true;
      this.#pump();
    });
    sink.on('drain', () => {
      this.#waitingDrain = false;
      this.#pump();
    });
  }

  /** True once the source sent its FIN. */
  get sourceEnded(): boolean {
    return this.#sourceEnded;
  }

  /** Bytes waiting in the queue right now. */
  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  /** Re-reads the fault state (after a change) and moves what can move. */
  refresh(): void {
    if (this.#faults.blackholed) {
      for (const q of this.#queue.splice(0)) this.bytesDropped += q.chunk.length;
      this.#queuedBytes = 0;
    }
    if (this.#faults.bytesPerSec > 0 && this.#tokensAtMs === 0) {
      this.#tokensAtMs = performance.now();
      this.#tokens = 0;
    }
    if (this.#faults.bytesPerSec === 0) this.#tokensAtMs = 0;
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    this.#pump();
  }

  /** Stops timers (the link is gone). */
  dispose(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #onData(chunk: Buffer): void {
    this.bytesReceived += chunk.length;
    if (this.#faults.blackholed) {
      this.bytesDropped += chunk.length;
      this.emit('received', chunk.length);
      return;
    }
    this.#queue.push({ chunk, dueAtMs: performance.now() + this.#faults.delayMs });
    this.#queuedBytes += chunk.length;
    if (this.#queuedBytes > this.peakQueuedBytes) this.peakQueuedBytes = this.#queuedBytes;
    this.emit('received', chunk.length);
    this.#pump();
  }

  #pump(): void {
    const f = this.#faults;
    if (this.#sink.destroyed) return;
    while (!f.blackholed && !f.paused && !this.#waitingDrain && this.#queue.length > 0) {
      const head = this.#queue[0] as QueuedChunk;
      const now = performance.now();
      if (head.dueAtMs > now) {
        this.#arm(head.dueAtMs - now);
        break;
      }
      let chunk = head.chunk;
      let partial = false;
      if (f.bytesPerSec > 0) {
        this.#refill(now);
        // Send in slices of at least MIN_SLICE_BYTES (or the whole chunk), never a trickle of tiny writes.
        const wanted = Math.min(chunk.length, MIN_SLICE_BYTES);
        if (this.#tokens < wanted) {
          this.#arm(((wanted - this.#tokens) / f.bytesPerSec) * 1000);
          break;
        }
        const allowed = Math.floor(this.#tokens);
        if (allowed < chunk.length) {
          head.chunk = chunk.subarray(allowed);
          chunk = chunk.subarray(0, allowed);
          partial = true;
        } else {
          this.#queue.shift();
        }
        this.#tokens -= chunk.length;
      } else {
        this.#queue.shift();
      }
      this.#queuedBytes -= chunk.length;
      this.bytesForwarded += chunk.length;
      if (!this.#sink.write(chunk)) this.#waitingDrain = true;
      this.emit('forwarded', chunk.length);
      if (partial) {
        // The bucket is empty: wait for the next slice's worth of tokens.
        this.#arm((MIN_SLICE_BYTES / f.bytesPerSec) * 1000);
        break;
      }
    }
    if (this.#sourceEnded && this.#queue.length === 0 && !this.#sinkEnded && !f.blackholed && !f.paused) {
      this.#sinkEnded = true;
      this.#sink.end();
    }
    this.#applySourceBackpressure();
  }

  #refill(now: number): void {
    const f = this.#faults;
    // A bucket of at most 1/20 s of bytes (at least one 16 KiB read), so a burst stays small.
    const capacity = Math.max(16 * 1024, f.bytesPerSec / 20);
    this.#tokens = Math.min(capacity, this.#tokens + ((now - this.#tokensAtMs) / 1000) * f.bytesPerSec);
    this.#tokensAtMs = now;
  }

  #arm(delayMs: number): void {
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#pump();
    }, Math.max(1, Math.ceil(delayMs)));
  }

  #applySourceBackpressure(): void {
    const full = this.#queuedBytes >= this.#maxQueuedBytes || (this.#waitingDrain && this.#queuedBytes > 0);
    if (full && !this.#sourcePaused && !this.#faults.blackholed) {
      this.#sourcePaused = true;
      this.sourcePauses += 1;
      this.#source.pause();
    } else if ((!full || this.#faults.blackholed) && this.#sourcePaused) {
      this.#sourcePaused = false;
      this.#source.resume();
    }
  }
}

/** Destroys `socket` with an RST when it has a TCP handle (else plainly). */
function resetSocket(socket: Socket): void {
  if (socket.destroyed) return;
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}

/**
 * The fault switches shared by one link (`ProxyLink`) and a whole proxy
 * (`FaultyProxy`: every open link and every later one); each subclass says in
 * `apply` where a change goes.
 */
abstract class FaultControls extends EventEmitter {
  /** Applies a fault change; returns `this`. */
  abstract apply(change: Partial<FaultState>): this;

  /** Drops every byte both ways from now on; the sockets stay open. */
  blackhole(): this {
    return this.apply({ blackholed: true });
  }

  /** Forwards each chunk `ms` after it arrived (0 = no delay). */
  delay(ms: number): this {
    return this.apply({ delayMs: ms });
  }

  /** Limits each direction to `bytesPerSec` (0 = unlimited). */
  throttle(bytesPerSec: number): this {
    return this.apply({ bytesPerSec });
  }

  /** Stops forwarding; arriving bytes are queued until the queue is full, then the source is paused. */
  pause(): this {
    return this.apply({ paused: true });
  }

  /** Forwards again what was queued while paused. */
  resume(): this {
    return this.apply({ paused: false });
  }

  /** Clears every fault. */
  heal(): this {
    return this.apply({ ...NO_FAULTS });
  }
}

/** One proxied connection: the accepted socket (`client`) and the one to the target (`upstream`). */
export class ProxyLink extends FaultControls {
  readonly id: number;
  readonly client: Socket;
  readonly upstream: Socket;
  /** client -> target. */
  readonly up: ProxyPump;
  /** target -> client. */
  readonly down: ProxyPump;
  /** Resolves once both sockets are closed. */
  readonly closed: Promise<void>;
  readonly #faults: FaultState;
  #closedCount = 0;
  #isClosed = false;

  constructor(id: number, client: Socket, upstream: Socket, faults: FaultState, maxQueuedBytes: number) {
    super();
    this.id = id;
    this.client = client;
    this.upstream = upstream;
    this.#faults = { ...faults };
    this.up = new ProxyPump('up', client, upstream, this.#faults, maxQueuedBytes);
    this.down = new ProxyPump('down', upstream, client, this.#faults, maxQueuedBytes);
    let markClosed!: () => void;
    this.closed = new Promise((resolve) => (markClosed = resolve));
    const onClose = (): void => {
      this.#closedCount += 1;
      if (this.#closedCount < 2) return;
      this.#isClosed = true;
      this.up.dispose();
      this.down.dispose();
      markClosed();
      this.emit('close');
    };
    for (const [socket, other] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      socket.once('close', onClose);
      socket.on('error', (err: NodeJS.ErrnoException) => {
        // A blackhole hides everything, failures included; otherwise an RST travels on as an RST.
        if (this.#faults.blackholed || other.destroyed) return;
        if (err.code === 'ECONNRESET') resetSocket(other);
        else other.destroy();
      });
      const pump = socket === client ? this.up : this.down;
      socket.once('close', () => {
        // After a FIN the pump ends `other` once its queue is flushed; a socket destroyed without one takes `other` down too.
        if (this.#faults.blackholed || other.destroyed || pump.sourceEnded) return;
        other.destroy();
      });
    }
  }

  /** True once both sockets are closed. */
  get isClosed(): boolean {
    return this.#isClosed;
  }

  /** The link's current faults (a copy). */
  get faults(): FaultState {
    return { ...this.#faults };
  }

  /** Destroys both sockets with RST. */
  reset(): void {
    this.up.dispose();
    this.down.dispose();
    resetSocket(this.client);
    resetSocket(this.upstream);
  }

  /** Destroys both sockets (FIN or RST as the kernel decides). */
  destroy(): void {
    this.up.dispose();
    this.down.dispose();
    this.client.destroy();
    this.upstream.destroy();
  }

  /** Applies a fault change to this link and moves what can move. */
  apply(change: Partial<FaultState>): this {
    Object.assign(this.#faults, change);
    this.up.refresh();
    this.down.refresh();
    return this;
  }
}

/** A TCP proxy on 127.0.0.1:0 with per-connection and global faults. Emits `connection` (ProxyLink). */
export class FaultyProxy extends FaultControls {
  /** Every link accepted so far, closed ones included, in order. */
  readonly links: ProxyLink[] = [];
  readonly #server: net.Server;
  readonly #targetHost: string;
  readonly #targetPort: number;
  readonly #maxQueuedBytes: number;
  readonly #faults: FaultState = { ...NO_FAULTS };
  #closing: Promise<void> | undefined;

  private constructor(options: FaultyProxyOptions) {
    super();
    const i = options.target.lastIndexOf(':');
    this.#targetHost = options.target.slice(0, i).replace(/^\[|\]$/g, '');
    this.#targetPort = Number(options.target.slice(i + 1));
    this.#maxQueuedBytes = options.maxQueuedBytes ?? 256 * 1024;
    this.#server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (client) => this.#onConnection(client));
  }

  /** Starts a proxy to `options.target` on 127.0.0.1 with a free port. */
  static async start(options: FaultyProxyOptions): Promise<FaultyProxy> {
    const proxy = new FaultyProxy(options);
    proxy.#server.listen(0, '127.0.0.1');
    await once(proxy.#server, 'listening');
    return proxy;
  }

  /** `127.0.0.1:PORT` of the proxy. */
  get addr(): string {
    return `127.0.0.1:${this.port}`;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  /** Links whose sockets are not both closed. */
  get openLinks(): ProxyLink[] {
    return this.links.filter((l) => !l.isClosed);
  }

  /** The global faults, applied to every link accepted from now on (a copy). */
  get faults(): FaultState {
    return { ...this.#faults };
  }

  /** Resolves with the next link accepted after the call. */
  nextLink(): Promise<ProxyLink> {
    return new Promise((resolve) => this.once('connection', resolve));
  }

  /** Resets (RST) every open link; later links are not affected. */
  reset(): void {
    for (const link of this.openLinks) link.reset();
  }

  /** Stops listening and destroys every link; idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
      for (const link of this.links) link.destroy();
      await closed;
    })();
    return this.#closing;
  }

  /** Applies a fault change to every open link and to the links accepted from now on. */
  apply(change: Partial<FaultState>): this {
    Object.assign(this.#faults, change);
    for (const link of this.openLinks) link.apply(change);
    return this;
  }

  #onConnection(client: Socket): void {
    if (this.#closing !== undefined) {
      client.destroy();
      return;
    }
    const upstream = net.connect({ host: this.#targetHost, port: this.#targetPort, allowHalfOpen: true });
    upstream.pause();
    const link = new ProxyLink(this.links.length + 1, client, upstream, this.#faults, this.#maxQueuedBytes);
    this.links.push(link);
    upstream.once('connect', () => {
      client.resume();
      upstream.resume();
    });
    this.emit('connection', link);
  }
}
