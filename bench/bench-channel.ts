/**
 * One byte channel as the workloads see it, whatever carries it: a TCP socket,
 * a mux stream (a Node `Duplex`), a raw WebSocket, or a @libp2p/yamux stream.
 * The adapters are thin and identical in cost for every system, so the
 * workloads measure the system, not the harness.
 */
import { once } from 'node:events';
import type { Duplex } from 'node:stream';
import type { Stream as Libp2pStream } from '@libp2p/interface';
import type { WebSocket } from 'ws';

/** A bidirectional byte channel with half-close. */
export interface BenchChannel {
  /** Queues `chunk`; false means wait for `drained()` before writing more. */
  write(chunk: Uint8Array): boolean;
  /** Resolves once more can be written. */
  drained(): Promise<void>;
  /** Half-closes our side (FIN, or an empty message on a raw WebSocket). */
  end(): void;
  /** Sets the receiver of incoming bytes (called once per channel). */
  onData(listener: (chunk: Uint8Array) => void): void;
  /** Sets the callback for the peer's half-close (called once per channel). */
  onEnd(listener: () => void): void;
  /** Sets the callback for a failure. */
  onError(listener: (err: Error) => void): void;
}

/** A channel over a Node `Duplex` (TCP socket or `MuxStream`). */
export function duplexChannel(duplex: Duplex): BenchChannel {
  return {
    write: (chunk) => duplex.write(chunk),
    drained: async () => {
      await once(duplex, 'drain');
    },
    end: () => {
      duplex.end();
    },
    onData: (listener) => {
      duplex.on('data', listener);
    },
    onEnd: (listener) => {
      duplex.once('end', listener);
    },
    onError: (listener) => {
      duplex.on('error', listener);
    },
  };
}

/** Bytes a raw WebSocket may have in flight before `write()` says wait (as `WebSocketDuplex`'s default). */
const RAW_WS_HIGH_WATER_MARK_BYTES = 1024 * 1024;

/**
 * A channel over a raw `ws` WebSocket: each write is one binary message, and
 * an empty binary message stands for FIN (WebSocket has no half-close).
 */
export function rawWebSocketChannel(ws: WebSocket): BenchChannel {
  let inFlightBytes = 0;
  let waiter: (() => void) | null = null;
  const sent = (bytes: number) => (): void => {
    inFlightBytes -= bytes;
    if (waiter !== null && inFlightBytes < RAW_WS_HIGH_WATER_MARK_BYTES) {
      const w = waiter;
      waiter = null;
      w();
    }
  };
  let onData: (chunk: Uint8Array) => void = () => {};
  let onEnd: () => void = () => {};
  ws.on('message', (data: Buffer) => {
    if (data.length === 0) onEnd();
    else onData(data);
  });
  return {
    write: (chunk) => {
      inFlightBytes += chunk.byteLength;
      ws.send(chunk, { binary: true, compress: false }, sent(chunk.byteLength));
      return inFlightBytes < RAW_WS_HIGH_WATER_MARK_BYTES;
    },
    drained: () =>
      inFlightBytes < RAW_WS_HIGH_WATER_MARK_BYTES ? Promise.resolve() : new Promise<void>((resolve) => (waiter = resolve)),
    end: () => ws.send(Buffer.alloc(0), { binary: true, compress: false }),
    onData: (listener) => {
      onData = listener;
    },
    onEnd: (listener) => {
      onEnd = listener;
    },
    onError: (listener) => {
      ws.on('error', listener);
    },
  };
}

/** A channel over a @libp2p/yamux stream (event-target API: `send`, `'message'`, `close()` = FIN). */
export function libp2pChannel(stream: Libp2pStream): BenchChannel {
  return {
    write: (chunk) => stream.send(chunk),
    drained: () => stream.onDrain(),
    end: () => {
      stream.close().catch(() => {});
    },
    onData: (listener) => {
      stream.addEventListener('message', (evt) => {
        const data = evt.data;
        if (data instanceof Uint8Array) listener(data);
        else for (const piece of data) listener(piece);
      });
    },
    onEnd: (listener) => {
      stream.addEventListener('remoteCloseWrite', () => listener(), { once: true });
    },
    onError: (listener) => {
      stream.addEventListener('close', (evt) => {
        if (evt.error !== undefined) listener(evt.error);
      });
    },
  };
}
